"""Subword tokenisation for real sentences (HF `tokenizers`): one byte-level BPE tokenizer per language.

Word-level vocabularies suit the toy task, whose few hundred words all occur in training. Real
text (Tatoeba) has a long tail of rare words, names and numbers; subwords split them into
frequent pieces, so nothing is out of vocabulary and the vocabulary stays small.

Why byte-level BPE (Sennrich et al. 2016; the GPT-2 variant) rather than WordPiece: a translation
model must hand back *text*, to read and to score with BLEU. Byte-level BPE starts from the 256
byte values, so any string encodes without an unknown token (accents, "œ", emoji) and decoding
gives the exact input back, spaces and punctuation included. WordPiece (BERT's, units 06-07)
splits on whitespace and punctuation first and maps unseen characters to [UNK], so "Va !" and
"Va!" come back alike and rare characters are lost. The price: a piece shows as its bytes, e.g.
"été" is the pieces 'Ã©', 't', 'Ã©' (UTF-8 bytes shown as characters; 'Ġ' marks a leading
space); :meth:`Subwords.pieces` shows them readably (a piece boundary inside "œ" gives '\\xc5', '\\x93').

Ids 0-3 are the course's special tokens, as in `seq2bert.data.text.Vocab` (PAD, BOS, EOS, UNK),
so `Encoded` data from here trains the units 01-05 models unchanged. UNK never comes out of
encoding; it is kept so that ids mean the same everywhere.

How a learner uses it (train the tokenizers on the TRAINING pairs only, so that the test
sentences stay unseen)::

    import random
    from seq2bert.data import subwords, tatoeba

    pairs = tatoeba.load(max_pairs=50_000)            # the file runs from short to long sentences
    random.Random(0).shuffle(pairs)
    train_pairs, test_pairs = pairs[:-2_000], pairs[-2_000:]
    english, french = subwords.train_pair(train_pairs, vocab_size=8_000)
    english.save("tokenizers/en"); french.save("tokenizers/fr")  # each writes <folder>/tokenizer.json
    english = subwords.Subwords.load("tokenizers/en")            # later, or in another notebook
    train = subwords.encode_pairs(train_pairs, english, french)  # an Encoded, like units 01-02
    test = subwords.encode_pairs(test_pairs, english, french)
    longest = max(max(data.src.shape[1], data.tgt_in.shape[1]) for data in (train, test))
    # model: e.g. TransformerConfig(src_vocab=len(english), tgt_vocab=len(french), max_length=longest),
    # trained with train_seq2seq(model, train, ...) as in units 01-05
    predictions, _ = translate_dataset(model, test, max_len=longest)  # id lists, ending with EOS
    hypotheses = [french.decode(ids) for ids in predictions]     # text again
    sacrebleu.corpus_bleu(hypotheses, [[target for _, target in test_pairs]])

Bad input: a missing, truncated or corrupted tokenizer.json raises `CourseError` with one line
naming the file.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from seq2bert.data.text import Encoded, Vocab, _pad
from seq2bert.files import write_atomic
from seq2bert.units import CourseError

FILE_NAME = "tokenizer.json"
SMALLEST_VOCAB = len(Vocab.SPECIALS) + 256  # the specials and one token per byte value
_SPECIAL_IDS = {token: i for i, token in enumerate(Vocab.SPECIALS)}
_FATAL = (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError)


def _byte_symbols() -> dict[str, int]:
    """The byte each symbol of the byte-level alphabet stands for (GPT-2's table, Radford et al. 2019).

    Printable Latin-1 bytes stand for themselves; the other 68 (controls, space, ...) are shifted
    to chr(256 + k) in byte order, so that every token is a visible string.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    return {**{chr(b): b for b in printable}, **{chr(256 + k): b for k, b in enumerate(others)}}


BYTE_OF_SYMBOL = _byte_symbols()


class Subwords:
    """A byte-level BPE tokenizer for one language whose ids 0-3 are Vocab's PAD, BOS, EOS, UNK."""

    PAD, BOS, EOS, UNK = Vocab.PAD, Vocab.BOS, Vocab.EOS, Vocab.UNK

    def __init__(self, tokenizer: Tokenizer, where: str = "this tokenizer"):
        problem = _problem(tokenizer)
        if problem:
            raise CourseError(f"{where} {problem}")
        # Text that happens to contain "<eos>" is text, not the end of the sentence (not saved in the JSON).
        tokenizer.encode_special_tokens = True
        self.tokenizer = tokenizer

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 8_000, min_frequency: int = 2) -> Subwords:
        """Learn BPE merges from `texts` up to `vocab_size` tokens (fewer if no pair is frequent enough)."""
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < SMALLEST_VOCAB:
            raise CourseError(f"vocab_size must be an integer of at least {SMALLEST_VOCAB} "
                              f"(4 special tokens + 256 bytes), got {vocab_size!r}")
        if isinstance(min_frequency, bool) or not isinstance(min_frequency, int) or min_frequency < 1:
            raise CourseError(f"min_frequency must be an integer of at least 1, got {min_frequency!r}")
        texts = list(texts)
        for k, text in enumerate(texts):
            _check_text(text, f"text {k}")
        tokenizer = Tokenizer(models.BPE(unk_token=Vocab.SPECIALS[Vocab.UNK]))
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                      special_tokens=list(Vocab.SPECIALS), show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        tokenizer.train_from_iterator(texts, trainer, length=len(texts))
        return cls(tokenizer)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Subwords:
        """The tokenizer saved in folder `path` (or in the tokenizer.json file `path`)."""
        path = Path(path).expanduser()
        file = path if path.suffix == ".json" else path / FILE_NAME
        if not file.is_file():
            raise CourseError(f"{file} does not exist; save a tokenizer there first with Subwords.save({str(path)!r})")
        try:
            raw = file.read_bytes()
        except OSError as error:
            raise CourseError(f"cannot read {file} ({error.strerror or error})") from None
        try:
            text = raw.decode("utf-8")
            json.loads(text)
        except (UnicodeDecodeError, ValueError) as error:
            raise CourseError(f"{file} is not valid JSON (truncated or corrupted?): {_first_line(error)}") from None
        try:
            tokenizer = Tokenizer.from_str(text)
        except BaseException as error:  # the Rust side may also panic (a BaseException)
            if isinstance(error, _FATAL):
                raise
            raise CourseError(f"{file} is not a tokenizer.json the tokenizers library can read: "
                              f"{_first_line(error)}") from None
        return cls(tokenizer, where=str(file))

    def save(self, folder: str | os.PathLike) -> Path:
        """Write `folder`/tokenizer.json (atomically, creating the folder); returns its path."""
        file = Path(folder).expanduser() / FILE_NAME
        try:
            return write_atomic(file, self.tokenizer.to_str(pretty=True))
        except OSError as error:
            raise CourseError(f"cannot write {file} ({error.strerror or error})") from None

    def __len__(self) -> int:
        return self.tokenizer.get_vocab_size()

    def __repr__(self) -> str:
        return f"Subwords({len(self)} tokens)"

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, without BOS or EOS."""
        _check_text(text, "the text to encode")
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, ids: Iterable[int]) -> str:
        """The text of `ids` up to the first EOS, skipping PAD and BOS (UNK shows as "<unk>")."""
        kept = []
        for i in ids:
            i = int(i)
            if i == self.EOS:
                break
            if not 0 <= i < len(self):
                raise CourseError(f"id {i} is outside this vocabulary of {len(self)} tokens")
            if i not in (self.PAD, self.BOS):
                kept.append(i)
        return self.tokenizer.decode(kept, skip_special_tokens=False)

    def piece_bytes(self, text: str) -> list[bytes]:
        """The UTF-8 bytes of each piece `text` is cut into."""
        symbols = self.tokenizer.encode(text, add_special_tokens=False).tokens
        return [bytes(BYTE_OF_SYMBOL[c] for c in symbol) for symbol in symbols]

    def pieces(self, text: str) -> list[str]:
        """The pieces `text` is cut into, as text; bytes of a character cut in two show as escapes, e.g. '\\xc5'."""
        return [piece.decode("utf-8", "backslashreplace") for piece in self.piece_bytes(text)]


def _problem(tokenizer: Tokenizer) -> str:
    """Why `tokenizer` cannot serve here, or "" if it can."""
    if not isinstance(tokenizer, Tokenizer):
        return f"is a {type(tokenizer).__name__}, not a tokenizers.Tokenizer"
    wrong = [f"{token}={tokenizer.token_to_id(token)}" for token, i in _SPECIAL_IDS.items()
             if tokenizer.token_to_id(token) != i]
    if wrong:
        return (f"does not give the course's special ids ({', '.join(wrong)}; "
                f"expected {', '.join(f'{t}={i}' for t, i in _SPECIAL_IDS.items())})")
    pre = tokenizer.pre_tokenizer
    if not (isinstance(pre, pre_tokenizers.ByteLevel) and not pre.add_prefix_space and tokenizer.normalizer is None
            and isinstance(tokenizer.decoder, decoders.ByteLevel) and isinstance(tokenizer.model, models.BPE)):
        # anything else (a normaliser, a prefix space) would not give the exact text back
        return "is not a byte-level BPE tokenizer as Subwords.train makes them"
    missing = [c for c in pre_tokenizers.ByteLevel.alphabet() if tokenizer.token_to_id(c) is None]
    if missing:
        return f"lacks {len(missing)} of the 256 byte tokens, so some text could not be encoded"
    return ""


def _check_text(text: str, what: str) -> None:
    """A clear error for what the tokenizer cannot take: not a str, or not encodable as UTF-8."""
    if not isinstance(text, str):
        raise CourseError(f"{what} is a {type(text).__name__}, not a str")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise CourseError(f"{what} holds {text[error.start]!r} at position {error.start}, a lone surrogate "
                          "that is not Unicode text (decode the file it came from with errors='replace'?)") from None


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def train_pair(pairs: Sequence[tuple[str, str]], vocab_size: int = 8_000,
               min_frequency: int = 2) -> tuple[Subwords, Subwords]:
    """A source and a target tokenizer, each trained on its side of the (training) pairs only."""
    if not pairs:
        raise CourseError("cannot train tokenizers on no pairs")
    return (Subwords.train((s for s, _ in pairs), vocab_size, min_frequency),
            Subwords.train((t for _, t in pairs), vocab_size, min_frequency))


def encode_pairs(pairs: Sequence[tuple[str, str]], source: Subwords, target: Subwords) -> Encoded:
    """Subword ids of every (source, target) pair, padded: tgt_in = BOS + target, tgt_out = target + EOS."""
    src_ids, tgt_ids = [], []
    for k, (src_text, tgt_text) in enumerate(pairs):
        ids = source.encode(src_text)
        if not ids:
            raise CourseError(f"pair {k} has an empty source ({src_text!r}); every source needs a token")
        src_ids.append(ids)
        tgt_ids.append(target.encode(tgt_text))
    src_len = np.array([len(ids) for ids in src_ids], dtype=np.int64)
    tgt_len = np.array([len(ids) + 1 for ids in tgt_ids], dtype=np.int64)  # + EOS
    t = int(tgt_len.max(initial=0))
    return Encoded(
        src=_pad(src_ids, int(src_len.max(initial=0))),  # (N, S)
        src_len=src_len,
        tgt_in=_pad([[Vocab.BOS, *ids] for ids in tgt_ids], t),  # (N, T)
        tgt_out=_pad([[*ids, Vocab.EOS] for ids in tgt_ids], t),  # (N, T)
        tgt_len=tgt_len,
    )
