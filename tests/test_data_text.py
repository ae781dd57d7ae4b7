"""Tokenisers, vocabularies, padding and batches."""
from __future__ import annotations

from itertools import islice

import numpy as np
import pytest

from seq2bert.data import text
from seq2bert.data.text import Encoded, Vocab

PAIRS = [("a b c", "x y"), ("b", "y y y z"), ("c a", ""), ("a a a a b", "z")]


def encoded_pairs(pairs=PAIRS):
    src_vocab = Vocab.build(text.words(s) for s, _ in pairs)
    tgt_vocab = Vocab.build(text.words(t) for _, t in pairs)
    return text.encode_pairs(pairs, text.words, text.words, src_vocab, tgt_vocab), src_vocab, tgt_vocab


def test_tokenisers():
    assert text.chars("5 Mar") == ["5", " ", "M", "a", "r"]
    assert text.words("Don't go, Tom!") == ["Don't", "go", ",", "Tom", "!"]
    assert text.words("the  big cat ") == ["the", "big", "cat"]
    assert text.words("J'aime le thé.") == ["J'aime", "le", "thé", "."]


def test_vocab_specials_order_and_min_freq():
    vocab = Vocab.build([["b", "a", "b"], ["c", "b", "a"]], min_freq=2)
    assert (Vocab.PAD, Vocab.BOS, Vocab.EOS, Vocab.UNK) == (0, 1, 2, 3)
    assert vocab.tokens == ("<pad>", "<bos>", "<eos>", "<unk>", "a", "b")
    assert len(vocab) == 6 and "a" in vocab and "c" not in vocab
    assert Vocab.build([["c", "b", "a"]]).tokens[4:] == Vocab.build([["a", "c", "b"]]).tokens[4:] == ("a", "b", "c")
    assert Vocab.build([["<eos>", "a"]]).tokens == (*Vocab.SPECIALS, "a")


def test_vocab_round_trip_unknown_and_decode_rules():
    vocab = Vocab.build([list("hello world")])
    tokens = list("low red")
    ids = vocab.encode(tokens)
    assert ids[tokens.index("e")] != Vocab.UNK and ids[tokens.index("d")] != Vocab.UNK
    assert vocab.decode(vocab.encode(list("hello"))) == list("hello")
    assert vocab.encode(["é", "h"])[0] == Vocab.UNK
    h, e = vocab.encode(["h", "e"])
    assert vocab.decode([Vocab.BOS, h, Vocab.PAD, e, Vocab.EOS, h, h]) == ["h", "e"]
    assert vocab.decode(np.array([h, Vocab.UNK])) == ["h", "<unk>"]
    with pytest.raises(ValueError, match="outside"):
        vocab.decode([len(vocab)])


def test_vocab_rejects_bad_token_lists():
    with pytest.raises(ValueError, match="start with"):
        Vocab(["a", "b"])
    with pytest.raises(ValueError, match="twice"):
        Vocab([*Vocab.SPECIALS, "a", "a"])
    with pytest.raises(ValueError, match="min_freq"):
        Vocab.build([["a"]], min_freq=0)


def test_encode_pairs_pads_and_shifts():
    data, src_vocab, tgt_vocab = encoded_pairs()
    assert len(data) == 4
    assert data.src.dtype == data.tgt_in.dtype == data.src_len.dtype == np.int64
    assert data.src.shape == (4, 5) and data.tgt_in.shape == data.tgt_out.shape == (4, 5)
    assert data.src_len.tolist() == [3, 1, 2, 5]
    assert data.tgt_len.tolist() == [3, 5, 1, 2]  # target words + EOS
    for i, (source, target) in enumerate(PAIRS):
        n, m = data.src_len[i], data.tgt_len[i]
        assert src_vocab.decode(data.src[i]) == source.split()
        assert (data.src[i, n:] == Vocab.PAD).all() and (data.src[i, :n] != Vocab.PAD).all()
        assert data.tgt_in[i, 0] == Vocab.BOS and data.tgt_out[i, m - 1] == Vocab.EOS
        assert (data.tgt_in[i, 1:m] == data.tgt_out[i, : m - 1]).all()  # teacher forcing shift
        assert (data.tgt_in[i, m:] == Vocab.PAD).all() and (data.tgt_out[i, m:] == Vocab.PAD).all()
        assert tgt_vocab.decode(data.tgt_out[i]) == target.split()


def test_encode_pairs_maps_unknown_words_and_rejects_empty_sources():
    _, src_vocab, tgt_vocab = encoded_pairs()
    data = text.encode_pairs([("a q", "x w")], text.words, text.words, src_vocab, tgt_vocab)
    assert data.src[0, 1] == Vocab.UNK and data.tgt_out[0, 1] == Vocab.UNK
    with pytest.raises(ValueError, match="empty source"):
        text.encode_pairs([("a", "x"), ("  ", "x")], text.words, text.words, src_vocab, tgt_vocab)


def test_subset_trims_to_its_own_longest():
    data, _, _ = encoded_pairs()
    sub = data.subset([2, 0])
    assert isinstance(sub, Encoded) and len(sub) == 2
    assert sub.src.shape == (2, 3) and sub.tgt_in.shape == (2, 3)
    assert (sub.src == data.src[[2, 0], :3]).all() and (sub.tgt_out == data.tgt_out[[2, 0], :3]).all()
    assert sub.src_len.tolist() == [2, 3] and sub.tgt_len.tolist() == [1, 3]


def numbered(n: int) -> Encoded:
    """Pairs whose first source id tells them apart, with lengths 1..7."""
    pairs = [(" ".join([f"w{i}"] + ["a"] * (i % 7)), "x " * (i % 5)) for i in range(n)]
    return encoded_pairs(pairs)[0]


def test_batches_are_deterministic_trimmed_and_cover_each_epoch():
    data = numbered(100)
    first = list(islice(text.batches(data, 10, seed=3), 20))
    again = list(islice(text.batches(data, 10, seed=3), 20))
    other = list(islice(text.batches(data, 10, seed=4), 20))
    assert all((a.src == b.src).all() for a, b in zip(first, again))
    assert any(a.src.shape != b.src.shape or (a.src != b.src).any() for a, b in zip(first, other))
    for batch in first:
        assert len(batch) == 10
        assert batch.src.shape[1] == batch.src_len.max() and batch.tgt_in.shape[1] == batch.tgt_len.max()
    for epoch in (first[:10], first[10:]):
        ids = np.concatenate([b.src[:, 0] for b in epoch])
        assert sorted(ids.tolist()) == sorted(data.src[:, 0].tolist())
    # the next epoch makes new batches, not the same batches in a new order
    def batch_sets(epoch):
        return {frozenset(b.src[:, 0].tolist()) for b in epoch}

    assert batch_sets(first[:10]) != batch_sets(first[10:])


def test_batches_pool_cuts_padding_but_stays_random():
    data = numbered(640)

    def padding(pool):
        chosen = list(islice(text.batches(data, 32, seed=0, pool=pool), 60))
        return np.mean([(b.src == Vocab.PAD).mean() for b in chosen]), chosen

    pooled, chosen = padding(16)
    plain, _ = padding(1)
    assert pooled < plain / 2
    # the batches cut from one pool do not come in length order
    maxima = [int(b.src_len.max()) for b in chosen[:16]]
    assert maxima != sorted(maxima) and maxima != sorted(maxima, reverse=True)


def test_batches_smaller_than_batch_size_and_bad_arguments():
    data = numbered(5)
    assert all(len(b) == 5 for b in islice(text.batches(data, 64, seed=0), 3))
    with pytest.raises(ValueError):
        next(text.batches(data, 0, seed=0))
    with pytest.raises(ValueError, match="empty"):
        next(text.batches(data.subset([]), 4, seed=0))

