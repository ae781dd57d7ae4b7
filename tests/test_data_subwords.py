"""Subword tokenizers for real data, on the Tatoeba fixture only (nothing here downloads)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

from seq2bert.data import subwords, tatoeba
from seq2bert.data.subwords import Subwords
from seq2bert.data.text import Vocab, batches
from seq2bert.units import CourseError

FIXTURE = Path(__file__).parent / "fixtures" / "fra-eng-small.zip"
PAIRS = tatoeba.load(FIXTURE)
TRAIN, HELD_OUT = PAIRS[:-3], PAIRS[-3:]
ENGLISH, FRENCH = subwords.train_pair(TRAIN, vocab_size=400, min_frequency=1)
SPECIALS = list(Vocab.SPECIALS)


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    """A folder holding FRENCH's tokenizer.json."""
    folder = tmp_path_factory.mktemp("tokenizers") / "fr"
    FRENCH.save(folder)
    return folder / subwords.FILE_NAME


def learned_pieces(tokenizer: Subwords) -> list[bytes]:
    """The bytes of every merged token (not a special, not a single byte)."""
    symbols = [tokenizer.tokenizer.id_to_token(i) for i in range(subwords.SMALLEST_VOCAB, len(tokenizer))]
    return [bytes(subwords.BYTE_OF_SYMBOL[c] for c in symbol) for symbol in symbols]


def test_special_ids_match_vocab_and_every_byte_is_a_token():
    table = subwords.BYTE_OF_SYMBOL
    assert sorted(table.values()) == list(range(256)) and set(table) == set(pre_tokenizers.ByteLevel.alphabet())
    for tokenizer in (ENGLISH, FRENCH):
        assert all(tokenizer.tokenizer.token_to_id(c) is not None for c in subwords.BYTE_OF_SYMBOL)
        assert [tokenizer.tokenizer.token_to_id(t) for t in SPECIALS] == [0, 1, 2, 3]
        assert (tokenizer.PAD, tokenizer.BOS, tokenizer.EOS, tokenizer.UNK) == (0, 1, 2, 3)
        assert subwords.SMALLEST_VOCAB < len(tokenizer) <= 400


def test_each_language_learns_from_its_own_training_side_only():
    sides = {id(ENGLISH): [s for s, _ in TRAIN], id(FRENCH): [t for _, t in TRAIN]}
    for tokenizer in (ENGLISH, FRENCH):
        text = "\n".join(sides[id(tokenizer)]).encode("utf-8")
        pieces = learned_pieces(tokenizer)
        assert len(pieces) > 20
        assert all(piece in text for piece in pieces), [p for p in pieces if p not in text]
    french = learned_pieces(FRENCH)
    assert b" voiture" in french and b" voiture" not in learned_pieces(ENGLISH)
    # words seen only in the held-out pairs were not learned as pieces
    assert b" bo\xc3\xaete" not in french and b" oiseau" not in french and len(FRENCH.encode(" oiseau")) > 1


def test_encode_pairs_gives_the_course_layout_and_decodes_back():
    data = subwords.encode_pairs(PAIRS, ENGLISH, FRENCH)
    assert len(data) == len(PAIRS) and data.src.dtype == data.tgt_in.dtype == np.int64
    for k, (source, target) in enumerate(PAIRS):
        src, tgt = ENGLISH.encode(source), FRENCH.encode(target)
        n, t = len(src), len(tgt) + 1
        assert data.src_len[k] == n and data.tgt_len[k] == t
        assert data.src[k, :n].tolist() == src and not data.src[k, n:].any()
        assert data.tgt_in[k, :t].tolist() == [Vocab.BOS, *tgt] and not data.tgt_in[k, t:].any()
        assert data.tgt_out[k, :t].tolist() == [*tgt, Vocab.EOS] and not data.tgt_out[k, t:].any()
        assert ENGLISH.decode(data.src[k]) == source
        assert FRENCH.decode(data.tgt_out[k]) == FRENCH.decode(data.tgt_in[k]) == target
    assert data.src.shape[1] == data.src_len.max() and data.tgt_in.shape[1] == data.tgt_len.max()
    batch = next(batches(data, 4, seed=0))  # the units' batching takes it as it is
    assert len(batch) == 4


def test_subwords_shorten_real_sentences_and_show_readable_pieces():
    sentence = "Le chat a une sœur."  # "sœur" is only in a held-out pair: its letters stay apart
    assert FRENCH.pieces("Le chat dort.") == ["Le", " chat", " dort", "."]
    assert b"".join(FRENCH.piece_bytes(sentence)) == sentence.encode("utf-8")
    assert FRENCH.pieces(sentence) == ["Le", " chat", " a", " une", " ", "s", "\\xc5", "\\x93", "u", "r", "."]
    assert len(FRENCH.encode("Il a une voiture rouge.")) < len("Il a une voiture rouge.".encode("utf-8")) / 2


def test_decode_stops_at_eos_and_skips_padding():
    ids = FRENCH.encode("Le chat dort.")
    assert FRENCH.decode([Vocab.BOS, *ids, Vocab.EOS, *FRENCH.encode(" Salut"), Vocab.PAD]) == "Le chat dort."
    assert FRENCH.decode(np.array([Vocab.PAD, Vocab.BOS, *ids, Vocab.PAD, Vocab.PAD])) == "Le chat dort."
    assert FRENCH.decode([Vocab.UNK, *ids]) == "<unk>Le chat dort."  # a model may emit UNK; it stays visible
    assert FRENCH.decode([]) == ""
    with pytest.raises(CourseError, match="id 400 is outside this vocabulary"):
        FRENCH.decode([*ids, 400])
    with pytest.raises(CourseError, match="id -1 is outside"):
        FRENCH.decode([-1])


def test_text_that_spells_a_special_token_is_text():
    text = "<eos> <pad><bos>x<unk>"
    ids = FRENCH.encode(text)
    assert not set(ids) & {0, 1, 2, 3} and FRENCH.decode(ids) == text


def test_save_and_load_keep_every_id(saved, tmp_path):
    assert saved.is_file() and json.loads(saved.read_text(encoding="utf-8"))["model"]["type"] == "BPE"
    for loaded in (Subwords.load(saved.parent), Subwords.load(saved)):
        assert len(loaded) == len(FRENCH)
        for _, target in PAIRS:
            assert loaded.encode(target) == FRENCH.encode(target)
        assert loaded.encode("<eos>") == FRENCH.encode("<eos>")  # still text after a reload
    nested = FRENCH.save(tmp_path / "a" / "b")
    assert nested == tmp_path / "a" / "b" / "tokenizer.json"
    assert sorted(p.name for p in nested.parent.iterdir()) == ["tokenizer.json"]  # no temporary file left


def test_a_missing_tokenizer_names_the_file(tmp_path):
    with pytest.raises(CourseError) as caught:
        Subwords.load(tmp_path / "nothing")
    assert_one_line_naming(caught.value, tmp_path / "nothing" / "tokenizer.json")
    assert "does not exist" in str(caught.value)
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(CourseError) as caught:
        FRENCH.save(tmp_path / "a-file")  # the folder the learner named is a file
    assert_one_line_naming(caught.value, tmp_path / "a-file" / "tokenizer.json")
    assert "cannot write" in str(caught.value) and (tmp_path / "a-file").read_text() == "not a folder"


def test_truncated_and_corrupted_files_name_the_file(saved, tmp_path):
    good = saved.read_bytes()
    bad = tmp_path / "bad" / "tokenizer.json"
    bad.parent.mkdir()
    cases = {
        "truncated": (good[: len(good) // 2], "not valid JSON"),
        "empty": (b"", "not valid JSON"),
        "binary": (bytes(range(256)), "not valid JSON"),
        "not a tokenizer": (b'{"hello": 1}', "tokenizers library can read"),
        "broken merges": (good.replace(b'"merges": [', b'"merges": [7, '), "tokenizers library can read"),
    }
    for name, (content, words) in cases.items():
        bad.write_bytes(content)
        with pytest.raises(CourseError) as caught:
            Subwords.load(bad.parent)
        assert_one_line_naming(caught.value, bad)
        assert words in str(caught.value), name


def test_a_tokenizer_that_would_change_the_text_or_the_ids_is_refused(tmp_path):
    texts = [t for _, t in TRAIN]
    wordpiece = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wordpiece.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordPieceTrainer(special_tokens=["[PAD]", "[UNK]"], show_progress=False)
    wordpiece.train_from_iterator(texts, trainer)
    lowercasing = Tokenizer.from_str(FRENCH.tokenizer.to_str())
    lowercasing.normalizer = normalizers.Lowercase()
    cases = [(wordpiece, r"special ids \(<pad>=None"), (lowercasing, "not a byte-level BPE tokenizer")]
    for tokenizer, words in cases:
        path = tmp_path / "other.json"
        tokenizer.save(str(path))
        with pytest.raises(CourseError, match=words) as caught:
            Subwords.load(path)
        assert_one_line_naming(caught.value, path)


def test_bad_arguments():
    with pytest.raises(CourseError, match="vocab_size must be an integer of at least 260"):
        Subwords.train(["a"], vocab_size=100)
    with pytest.raises(CourseError, match="min_frequency"):
        Subwords.train(["a"], vocab_size=300, min_frequency=0)
    with pytest.raises(CourseError, match="text 1 is a bytes, not a str"):
        Subwords.train(["a", b"b"], vocab_size=300)
    with pytest.raises(CourseError, match="no pairs"):
        subwords.train_pair([])
    with pytest.raises(CourseError, match="the text to encode is a NoneType, not a str"):
        FRENCH.encode(None)
    with pytest.raises(CourseError, match=r"text 0 holds '\\udc80' at position 1, a lone surrogate"):
        Subwords.train(["a\udc80b"], vocab_size=300)
    with pytest.raises(CourseError, match="lone surrogate"):
        subwords.encode_pairs([("Hi.", "Sal\udcffut.")], ENGLISH, FRENCH)
    with pytest.raises(CourseError, match="pair 1 has an empty source"):
        subwords.encode_pairs([("Hi.", "Salut."), ("", "Rien.")], ENGLISH, FRENCH)
    with pytest.raises(CourseError, match="not a tokenizers.Tokenizer"):
        Subwords("tokenizer.json")


def assert_one_line_naming(error: Exception, path: Path) -> None:
    message = str(error)
    assert "\n" not in message and str(path) in message, message


TRICKY = [*SPECIALS, " ", "  ", "é", "e\u0301", "œ", "😀", "\t", "\n", "\r\n", "\x00", "\ufeff", " voiture"]


@settings(max_examples=300, deadline=None, database=None)
@given(text=st.text() | st.lists(st.sampled_from(TRICKY) | st.text(max_size=3)).map("".join))
def test_decode_inverts_encode_on_any_text(text):
    for tokenizer in (ENGLISH, FRENCH):
        ids = tokenizer.encode(text)
        assert Vocab.UNK not in ids and tokenizer.decode(ids) == text
        assert b"".join(tokenizer.piece_bytes(text)) == text.encode("utf-8")
        assert tokenizer.decode([Vocab.BOS, *ids, Vocab.EOS, Vocab.PAD]) == text


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_loading_arbitrary_bytes_fails_cleanly_or_gives_a_working_tokenizer(saved, tmp_path, data):
    good = saved.read_bytes()
    content = data.draw(st.one_of(
        st.binary(max_size=300),
        st.integers(0, len(good)).map(lambda n: good[:n]),  # cut anywhere
        st.tuples(st.integers(0, len(good) - 1), st.binary(min_size=1, max_size=4))  # a few bytes overwritten
        .map(lambda spot: good[: spot[0]] + spot[1] + good[spot[0] + len(spot[1]):]),
    ), label="content")
    path = tmp_path / "tokenizer.json"
    path.write_bytes(content)
    try:
        loaded = Subwords.load(path)
    except CourseError as error:
        assert_one_line_naming(error, path)
        return
    for _, target in PAIRS:  # a corruption that still loads must still give the text back
        assert loaded.decode(loaded.encode(target)) == target


@settings(max_examples=100, deadline=None, database=None)
# st.text() leaves out lone surrogates (Unicode category Cs); a list of characters keeps them
@given(text=st.lists(st.characters() | st.characters(categories=["Cs"]), min_size=1).map("".join))
def test_any_python_string_round_trips_or_is_refused_clearly(text):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        with pytest.raises(CourseError, match="lone surrogate"):
            FRENCH.encode(text)
        return
    assert FRENCH.decode(FRENCH.encode(text)) == text
