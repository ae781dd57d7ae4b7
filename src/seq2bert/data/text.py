"""Tokenisation, vocabularies, padding and batching for sequence pairs (NumPy only).

Shapes: N pairs, S source length, T target length (both padded to the longest in the set).
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np


# a word (letters/digits, with inner apostrophes: "don't", "l'eau") or one punctuation mark
_WORD = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")


def chars(text: str) -> list[str]:
    """One token per character, spaces included."""
    return list(text)


def words(text: str) -> list[str]:
    """Words and punctuation marks as separate tokens; case is kept."""
    return _WORD.findall(text)


class Vocab:
    """Token <-> id mapping; ids 0-3 are the special tokens."""

    PAD, BOS, EOS, UNK = 0, 1, 2, 3
    SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")

    def __init__(self, tokens: Sequence[str]):
        tokens = tuple(tokens)
        if tokens[:4] != self.SPECIALS:
            raise ValueError(f"a vocabulary must start with {self.SPECIALS}, got {tokens[:4]}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("a vocabulary cannot hold the same token twice")
        self.tokens = tokens  # id -> token
        self._ids = {token: i for i, token in enumerate(tokens)}

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], min_freq: int = 1) -> Vocab:
        """Specials, then every token seen at least `min_freq` times, in sorted order."""
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1, got {min_freq}")
        counts = Counter(token for tokens in token_lists for token in tokens)
        kept = sorted(t for t, c in counts.items() if c >= min_freq and t not in cls.SPECIALS)
        return cls((*cls.SPECIALS, *kept))

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self._ids

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens: {' '.join(self.tokens[4:12])}{' ...' if len(self) > 12 else ''})"

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Token ids; tokens not in the vocabulary become UNK."""
        return [self._ids.get(token, self.UNK) for token in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens up to the first EOS, without PAD and BOS."""
        out = []
        for i in ids:
            i = int(i)
            if i == self.EOS:
                break
            if not 0 <= i < len(self.tokens):
                raise ValueError(f"id {i} is outside this vocabulary of {len(self.tokens)} tokens")
            if i not in (self.PAD, self.BOS):
                out.append(self.tokens[i])
        return out


@dataclass(frozen=True)
class Encoded:
    """Padded id arrays for N sequence pairs."""

    src: np.ndarray  # (N, S) int64 source ids, PAD after src_len
    src_len: np.ndarray  # (N,) int64 source lengths
    tgt_in: np.ndarray  # (N, T) int64 decoder inputs: BOS + target ids, then PAD
    tgt_out: np.ndarray  # (N, T) int64 decoder labels: target ids + EOS, then PAD
    tgt_len: np.ndarray  # (N,) int64 target lengths counting the EOS

    def __len__(self) -> int:
        return len(self.src_len)

    def subset(self, indices: Sequence[int] | np.ndarray) -> Encoded:
        """The pairs at `indices`, padded only as far as the longest of them needs."""
        idx = np.asarray(indices, dtype=np.int64)
        src_len, tgt_len = self.src_len[idx], self.tgt_len[idx]
        s = int(src_len.max(initial=0))
        t = int(tgt_len.max(initial=0))
        # (N, S) -> (n, s) and (N, T) -> (n, t)
        return Encoded(self.src[idx, :s], src_len, self.tgt_in[idx, :t], self.tgt_out[idx, :t], tgt_len)


def _pad(rows: list[list[int]], width: int) -> np.ndarray:
    out = np.full((len(rows), width), Vocab.PAD, dtype=np.int64)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def encode_pairs(pairs: Sequence[tuple[str, str]],
                 src_tokenize: Callable[[str], list[str]], tgt_tokenize: Callable[[str], list[str]],
                 src_vocab: Vocab, tgt_vocab: Vocab) -> Encoded:
    """Tokenise, map to ids and pad every (source, target) pair."""
    src_ids, tgt_ids = [], []
    for k, (source, target) in enumerate(pairs):
        ids = src_vocab.encode(src_tokenize(source))
        if not ids:
            raise ValueError(f"pair {k} has an empty source ({source!r}); every source needs a token")
        src_ids.append(ids)
        tgt_ids.append(tgt_vocab.encode(tgt_tokenize(target)))
    src_len = np.array([len(ids) for ids in src_ids], dtype=np.int64)
    tgt_len = np.array([len(ids) + 1 for ids in tgt_ids], dtype=np.int64)  # + EOS
    t = int(tgt_len.max(initial=0))
    return Encoded(
        src=_pad(src_ids, int(src_len.max(initial=0))),
        src_len=src_len,
        tgt_in=_pad([[Vocab.BOS, *ids] for ids in tgt_ids], t),
        tgt_out=_pad([[*ids, Vocab.EOS] for ids in tgt_ids], t),
        tgt_len=tgt_len,
    )


def batches(data: Encoded, batch_size: int, seed: int, *, pool: int = 16) -> Iterator[Encoded]:
    """Endless random batches of min(batch_size, N) pairs, reshuffled every epoch.

    Each epoch shuffles all pairs, sorts each run of `pool` * batch_size of them by length and
    cuts it into batches, then shuffles the batches: every batch is a random set of pairs of
    similar length, so little time goes into padding. `pool=1` gives plain random batches.
    A remainder smaller than a batch waits for the next epoch's shuffle.
    """
    n = len(data)
    if n == 0:
        raise ValueError("cannot draw batches from an empty data set")
    if batch_size < 1 or pool < 1:
        raise ValueError(f"batch_size and pool must be >= 1, got {batch_size} and {pool}")
    size = min(batch_size, n)
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(n)
        order = order[: n - n % size]  # whole batches only
        chunks = []
        for start in range(0, len(order), pool * size):
            run = order[start : start + pool * size]
            # stable sort by (source length, target length); ties keep their random order
            run = run[np.lexsort((data.tgt_len[run], data.src_len[run]))]
            chunks += [run[i : i + size] for i in range(0, len(run), size)]
        for k in rng.permutation(len(chunks)):
            yield data.subset(chunks[k])

