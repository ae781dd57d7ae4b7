"""A constructed next-token table where greedy decoding misses the most probable sentence (NumPy only).

Translating "un chat", the model is unsure how to start: "the" (0.55) beats "a" (0.40). But after
"the" it hesitates, while after "a" it is sure of "cat". Greedy takes "the" and ends with
"the cat <eos>" (0.55 x 0.35 x 0.90 = 0.173); a beam of two keeps "a" alive and finds
"a cat <eos>" (0.40 x 0.90 x 0.95 = 0.342), twice as probable. Both frameworks' notebooks and
tests decode this same table (seq2bert.{torch,tf}.decoding.TableModel).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>", "the", "a", "cat", "dog")  # ids 0..7, specials as data.text.Vocab
PAD, BOS, EOS = 0, 1, 2
SOURCE = "un chat"

# P(next word | words so far); a prefix not listed (e.g. one that already ended) gives <eos> with probability 1.
NEXT = {
    (): {"the": 0.55, "a": 0.40, "dog": 0.05},
    ("the",): {"cat": 0.35, "dog": 0.30, "<eos>": 0.20, "a": 0.15},
    ("a",): {"cat": 0.90, "dog": 0.10},
    ("the", "cat"): {"<eos>": 0.90, "dog": 0.10},
    ("a", "cat"): {"<eos>": 0.95, "dog": 0.05},
}


def words(ids: Sequence[int]) -> tuple[str, ...]:
    """Token ids -> words, without BOS and stopping before PAD."""
    out = []
    for token in ids:
        if token == PAD:
            break
        if token != BOS:
            out.append(TOKENS[int(token)])
    return tuple(out)


def next_token_probabilities(prefix: Sequence[str]) -> dict[str, float]:
    """The table's row for the words so far (an ended or unknown prefix: <eos> for sure)."""
    return NEXT.get(tuple(prefix), {"<eos>": 1.0})


def next_token_log_probs(prefixes: np.ndarray) -> np.ndarray:
    """prefixes (N, t) token ids fed so far (BOS first) -> (N, V) log-probabilities (-inf where 0)."""
    prefixes = np.asarray(prefixes)
    if prefixes.ndim != 2:
        raise ValueError(f"prefixes must have shape (N, t), got {prefixes.shape}")
    out = np.full((prefixes.shape[0], len(TOKENS)), -np.inf)
    for row, ids in enumerate(prefixes):
        for word, p in next_token_probabilities(words(ids)).items():
            out[row, TOKENS.index(word)] = np.log(p)
    return out


def sequence_probability(ids: Sequence[int]) -> float:
    """P(sentence) under the table: the product of each word's probability, up to and including <eos>."""
    sentence = words(ids)
    if "<eos>" in sentence:
        sentence = sentence[: sentence.index("<eos>") + 1]
    p = 1.0
    for k, word in enumerate(sentence):
        p *= next_token_probabilities(sentence[:k]).get(word, 0.0)
    return p
