"""Order tasks for a sequence tagger, and the best accuracy any model blind to positions can reach.

Inputs are sequences of T tokens drawn uniformly and independently from 0 .. V-1 (defaults: T 12,
V 16); the target is one token per position, so a tagger predicts all T at once:

- "previous": y_i = x_(i-1); position 0 has no previous token, its target is BOS, an extra
  symbol with id V that never appears in the inputs (so the tagger's vocabulary is V + 1);
- "reverse":  y_i = x_(T-1-i);
- "shift":    y_i = x_((i - SHIFT) mod T), the sequence rotated SHIFT places to the right;
- "sort":     y = the tokens in ascending order.

Every answer depends on where tokens are, not only on which tokens there are. A model without
positions (self-attention alone) is permutation equivariant: its output at i depends only on x_i
and on the bag (multiset) of tokens, and equal tokens get equal outputs. `position_blind_ceiling`
gives the best such model's expected accuracy, exactly (see `expected_pair_counts`).
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

TASKS = ("previous", "reverse", "shift", "sort")
SHIFT = 3  # places the "shift" task rotates by
LENGTH = 12  # default sequence length (T)
VOCAB = 16  # default number of input tokens (V); targets add BOS


def bos(vocab: int) -> int:
    """The id of the "no previous token" target: V, one past the input tokens."""
    return vocab


def output_vocab(vocab: int) -> int:
    """The tagger's vocabulary for V input tokens: V + 1 (the inputs and BOS)."""
    return vocab + 1


def _check(task: str, length: int, vocab: int) -> None:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}: choose one of {', '.join(TASKS)}")
    if length < 1 or vocab < 1:
        raise ValueError(f"length and vocab must be positive, got {length} and {vocab}")


def source_positions(task: str, length: int) -> np.ndarray | None:
    """(T,) the input position each target copies (-1 for BOS); None for "sort", whose targets are not copies."""
    _check(task, length, 1)
    positions = np.arange(length)
    if task == "previous":
        return positions - 1  # position 0 -> -1, BOS
    if task == "reverse":
        return positions[::-1].copy()
    if task == "shift":
        return (positions - SHIFT) % length
    return None


def targets(tokens: np.ndarray, task: str, vocab: int = VOCAB) -> np.ndarray:
    """(N, T) targets of (N, T) input tokens for `task`."""
    tokens = np.asarray(tokens)
    if tokens.ndim != 2:
        raise ValueError(f"expected tokens of shape (N, T), got shape {tokens.shape}")
    _check(task, tokens.shape[1], vocab)
    if task == "sort":
        return np.sort(tokens, axis=1)
    source = source_positions(task, tokens.shape[1])
    copied = tokens[:, np.maximum(source, 0)]  # (N, T): the token at each source position
    return np.where(source >= 0, copied, bos(vocab))


def generate(task: str, count: int, length: int = LENGTH, vocab: int = VOCAB, seed: int = 0):
    """`count` uniform random sequences and their targets: (tokens (N, T), targets (N, T)), int64."""
    _check(task, length, vocab)
    tokens = np.random.default_rng(seed).integers(0, vocab, (count, length))
    return tokens, targets(tokens, task, vocab)


def batches(task: str, batch_size: int, length: int = LENGTH, vocab: int = VOCAB,
            seed: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """An endless stream of fresh (tokens, targets) batches: every step sees new sequences."""
    _check(task, length, vocab)
    rng = np.random.default_rng(seed)
    while True:
        tokens = rng.integers(0, vocab, (batch_size, length))
        yield tokens, targets(tokens, task, vocab)


def expected_pair_counts(counts: np.ndarray, task: str, length: int) -> np.ndarray:
    """E[number of positions i with x_i = a and y_i = t] over all arrangements of one bag: (V, V + 1).

    `counts[a]` = n_a, how often token a occurs (sum T). I.i.d. uniform tokens make every
    arrangement of a bag equally likely, so the token at one position is a with probability
    n_a / T, and the tokens at two different positions are (a, t) with probability
    n_a (n_t - [a = t]) / (T (T - 1)). Summed over positions, for a task whose target at i
    copies position s(i):
      - s(i) = i (a copy of itself; the middle of "reverse" when T is odd): n_a / T, if t = a;
      - s(i) != i: n_a (n_t - [a = t]) / (T (T - 1)) each;
      - BOS (position 0 of "previous"): n_a / T, to t = BOS.
    For "previous" this gives n_a n_t / T for t != a, n_a (n_a - 1) / T for t = a and n_a / T
    for BOS. For "sort" the target at i is the bag's i-th smallest token whatever the
    arrangement, so the n_t positions whose target is t hold a with probability n_a / T each:
    n_a n_t / T.
    """
    n = np.asarray(counts, dtype=np.float64)
    vocab = len(n)
    expected = np.zeros((vocab, vocab + 1))
    if task == "sort":
        expected[:, :vocab] = np.outer(n, n) / length
        return expected
    source = source_positions(task, length)
    itself = int(np.sum(source == np.arange(length)))
    other = int(np.sum((source >= 0) & (source != np.arange(length))))
    starts = int(np.sum(source < 0))
    pairs = np.outer(n, n) - np.diag(n)  # n_a (n_t - [a = t])
    if length > 1:
        expected[:, :vocab] = other * pairs / (length * (length - 1))
    expected[:, :vocab] += itself * np.diag(n) / length
    expected[:, vocab] = starts * n / length
    return expected


def position_blind_ceiling(tokens: np.ndarray, task: str, vocab: int = VOCAB) -> float:
    """The expected accuracy of the best predictor blind to positions, on these sequences (N, T).

    Such a predictor answers the same t at every position holding a, given the bag; the best t
    for a is the one with the largest expected count (`expected_pair_counts`). Averaged over
    the sequences: mean over sequences of sum_a max_t E[a, t] / T. It is well above 1/V: the
    answer is one of the sequence's own tokens, so a blind guess among them is already right
    1/T of the time, and a token that repeats is more often the answer. For "previous" the best
    guess for a is its most frequent other token, or a itself if n_a - 1 is larger, giving
    (1/T^2) sum_a n_a max(1, max_(t != a) n_t, n_a - 1): about 0.20 for T 12 and V 16.
    """
    tokens = np.asarray(tokens)
    if tokens.ndim != 2:
        raise ValueError(f"expected tokens of shape (N, T), got shape {tokens.shape}")
    _check(task, tokens.shape[1], vocab)
    if tokens.size and (tokens.min() < 0 or tokens.max() >= vocab):
        raise ValueError(f"tokens must lie in 0 .. {vocab - 1}")
    length = tokens.shape[1]
    total = 0.0
    for row in tokens:
        expected = expected_pair_counts(np.bincount(row, minlength=vocab), task, length)
        total += expected.max(axis=1).sum() / length  # tokens absent from the bag contribute 0
    return float(total / len(tokens))


def accuracy(predictions: np.ndarray, targets_: np.ndarray) -> float:
    """The fraction of positions predicted right."""
    return float(np.mean(np.asarray(predictions) == np.asarray(targets_)))


def accuracy_by_position(predictions: np.ndarray, targets_: np.ndarray) -> np.ndarray:
    """(T,) the fraction of sequences predicted right at each position."""
    return np.mean(np.asarray(predictions) == np.asarray(targets_), axis=0)
