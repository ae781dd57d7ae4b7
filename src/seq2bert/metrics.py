"""Quality metrics for sequence-to-sequence outputs: exact match, token accuracy, BLEU, by length.

A sequence is a list of tokens, all str or all int (NumPy arrays and integers are accepted),
without BOS, EOS or padding: strip those before scoring. `predictions[i]` is scored against
`references[i]`.

- exact match: the fraction of predictions identical to their reference.
- token accuracy: position-wise. Position j of a reference counts as correct when the
  prediction has the same token at position j; a prediction is truncated to its reference's
  length, and missing positions (a prediction that is too short) count as wrong. Over a set of
  examples it is total correct positions / total reference tokens, so long references weigh
  more than short ones. References must not be empty.
- BLEU: corpus BLEU (sacrebleu, 0-100) of the space-joined tokens, with sacrebleu's own
  tokenisation turned off because the tokens are already the units to compare.

Length buckets group examples by source length. They are a parameter, `(name, shortest,
longest)` triples with inclusive, non-overlapping ranges; the default, `LENGTH_BUCKETS`, is
Bahdanau et al. (2015), Figure 2: "4–10", "11–20", "21–30", "31–40" (the dash is an en dash).
Any source length is accepted: one that falls in no bucket goes to the catch-all bucket
"other" (`OTHER_BUCKET`), reported after the named ones when it has examples.
"""
from __future__ import annotations

from typing import Any, Hashable, Sequence

import numpy as np

# (name, shortest, longest) source lengths, inclusive.
LENGTH_BUCKETS = (("4–10", 4, 10), ("11–20", 11, 20), ("21–30", 21, 30), ("31–40", 31, 40))
BUCKET_ORDER = tuple(name for name, _, _ in LENGTH_BUCKETS)
OTHER_BUCKET = "other"  # lengths outside every bucket


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_buckets(buckets: Sequence) -> tuple[tuple[str, int, int], ...]:
    """`buckets` as a tuple of (name, shortest, longest), or a ValueError saying what is wrong."""
    checked = []
    for bucket in buckets:
        if not (isinstance(bucket, (tuple, list)) and len(bucket) == 3 and isinstance(bucket[0], str)
                and _is_int(bucket[1]) and _is_int(bucket[2]) and 0 <= bucket[1] <= bucket[2]):
            raise ValueError(f"a length bucket is (name, shortest, longest) with 0 <= shortest <= longest, got {bucket!r}")
        checked.append((bucket[0], int(bucket[1]), int(bucket[2])))
    if not checked:
        raise ValueError("there are no length buckets")
    names = [name for name, _, _ in checked]
    if len(set(names)) < len(names) or OTHER_BUCKET in names:
        raise ValueError(f"length bucket names must be unique and not {OTHER_BUCKET!r}, got {names}")
    ranges = sorted((low, high, name) for name, low, high in checked)
    for (_, high, name), (low, _, later) in zip(ranges, ranges[1:]):
        if low <= high:
            raise ValueError(f"length buckets {name!r} and {later!r} overlap")
    return tuple(checked)


def _bucket_of(length: Any, buckets: tuple[tuple[str, int, int], ...]) -> str:
    if not _is_int(length):
        raise ValueError(f"a source length must be an int, got {length!r}")
    if length < 0:
        raise ValueError(f"a source length cannot be negative, got {length}")
    for name, shortest, longest in buckets:
        if shortest <= length <= longest:
            return name
    return OTHER_BUCKET


def length_bucket(length: int, buckets: Sequence = LENGTH_BUCKETS) -> str:
    """The name of the bucket holding a source length in tokens, or OTHER_BUCKET if none does."""
    return _bucket_of(length, check_buckets(buckets))


def _tokens(sequence: Any, what: str) -> list:
    """A sequence as a list of plain str or int tokens; rejects strings and mixed types."""
    if isinstance(sequence, (str, bytes)):
        raise ValueError(f"{what} is a string; pass a list of tokens (e.g. text.split())")
    if isinstance(sequence, np.ndarray):
        sequence = sequence.tolist()
    try:
        tokens = list(sequence)
    except TypeError:
        raise ValueError(f"{what} is not a sequence of tokens: {sequence!r}") from None
    plain = []
    for token in tokens:
        if isinstance(token, str):
            plain.append(token)
        elif isinstance(token, (int, np.integer)) and not isinstance(token, bool):
            plain.append(int(token))
        else:
            raise ValueError(f"{what} holds {token!r}; tokens must be str or int")
    if len({type(token) for token in plain}) > 1:
        raise ValueError(f"{what} mixes str and int tokens")
    return plain


def _pairs(predictions: Sequence, references: Sequence) -> list[tuple[list, list]]:
    """Checked (prediction, reference) token lists; both sides must use the same token type."""
    if len(predictions) != len(references):
        raise ValueError(f"got {len(predictions)} predictions but {len(references)} references")
    if len(references) == 0:
        raise ValueError("there are no examples to score")
    pairs = []
    for index, (prediction, reference) in enumerate(zip(predictions, references)):
        prediction = _tokens(prediction, f"prediction {index}")
        reference = _tokens(reference, f"reference {index}")
        if prediction and reference and type(prediction[0]) is not type(reference[0]):
            raise ValueError(f"prediction {index} holds {type(prediction[0]).__name__} tokens but reference "
                             f"{index} holds {type(reference[0]).__name__} tokens; decode both the same way")
        pairs.append((prediction, reference))
    return pairs


def _matches(prediction: list, reference: list) -> int:
    """How many positions of `reference` the prediction gets right."""
    return sum(1 for p, r in zip(prediction, reference) if p == r)


def exact_matches(predictions: Sequence, references: Sequence) -> list[float]:
    """1.0 where a prediction equals its reference, else 0.0, per example."""
    return [float(p == r) for p, r in _pairs(predictions, references)]


def exact_match(predictions: Sequence, references: Sequence) -> float:
    """The fraction of predictions identical to their reference."""
    return float(np.mean(exact_matches(predictions, references)))


def token_counts(predictions: Sequence, references: Sequence) -> list[tuple[int, int]]:
    """(correct positions, reference length) per example; see the module docstring."""
    counts = []
    for index, (prediction, reference) in enumerate(_pairs(predictions, references)):
        if not reference:
            raise ValueError(f"reference {index} is empty; token accuracy needs at least one reference token")
        counts.append((_matches(prediction, reference), len(reference)))
    return counts


def token_accuracy(predictions: Sequence, references: Sequence) -> float:
    """Correct positions over reference tokens, summed over all examples."""
    counts = token_counts(predictions, references)
    return sum(c for c, _ in counts) / sum(n for _, n in counts)


def _joined(tokens: list) -> str:
    return " ".join(str(token) for token in tokens)


def bleu(predictions: Sequence, references: Sequence) -> float:
    """Corpus BLEU (0-100) of the space-joined tokens, one reference per prediction."""
    import sacrebleu

    pairs = _pairs(predictions, references)
    hypotheses = [_joined(p) for p, _ in pairs]
    targets = [_joined(r) for _, r in pairs]
    return float(sacrebleu.corpus_bleu(hypotheses, [targets], tokenize="none").score)


def by_bucket(values_per_example: Sequence[float], buckets_per_example: Sequence[Hashable],
              order: Sequence[Hashable], weights: Sequence[float] | None = None) -> dict:
    """The (weighted) mean value of each bucket, in `order`; buckets without examples are left out."""
    values = np.asarray(values_per_example, dtype=float)
    buckets = list(buckets_per_example)
    weights = np.ones_like(values) if weights is None else np.asarray(weights, dtype=float)
    if not (len(values) == len(buckets) == len(weights)):
        raise ValueError(f"got {len(values)} values, {len(buckets)} buckets and {len(weights)} weights; "
                         f"they must match one to one")
    unknown = sorted({str(b) for b in buckets if b not in order})
    if unknown:
        raise ValueError(f"bucket(s) {', '.join(unknown)} are not in the order {list(order)}")
    means = {}
    for bucket in order:
        chosen = np.array([b == bucket for b in buckets], dtype=bool)
        if chosen.any():
            means[bucket] = float(np.sum(values[chosen] * weights[chosen]) / np.sum(weights[chosen]))
    return means


def evaluate(predictions: Sequence, references: Sequence, source_lengths: Sequence[int],
             buckets: Sequence = LENGTH_BUCKETS) -> dict[str, Any]:
    """Overall and per-length-bucket exact match, token accuracy and BLEU.

    Returns {"count", "exact_match", "token_accuracy", "bleu"} for all examples and, for each of
    those, a "<name>_by_length" dict {bucket: value} over the buckets that have examples, in the
    order of `buckets`, then OTHER_BUCKET for sources in none of them. Per bucket, token accuracy
    pools positions and BLEU is the corpus BLEU of that bucket, as overall.
    """
    buckets = check_buckets(buckets)
    pairs = _pairs(predictions, references)
    predictions = [p for p, _ in pairs]
    references = [r for _, r in pairs]
    if len(source_lengths) != len(pairs):
        raise ValueError(f"got {len(source_lengths)} source lengths for {len(pairs)} examples")
    names = [_bucket_of(n, buckets) for n in source_lengths]
    order = (*(name for name, _, _ in buckets), OTHER_BUCKET)
    exact = exact_matches(predictions, references)
    counts = token_counts(predictions, references)
    correct_share = [c / n for c, n in counts]
    lengths = [n for _, n in counts]
    result: dict[str, Any] = {
        "count": len(pairs),
        "exact_match": float(np.mean(exact)),
        "token_accuracy": sum(c for c, _ in counts) / sum(lengths),
        "bleu": bleu(predictions, references),
        "count_by_length": {},
        "exact_match_by_length": by_bucket(exact, names, order),
        "token_accuracy_by_length": by_bucket(correct_share, names, order, weights=lengths),
        "bleu_by_length": {},
    }
    for bucket in order:
        members = [i for i, b in enumerate(names) if b == bucket]
        if members:
            result["count_by_length"][bucket] = len(members)
            result["bleu_by_length"][bucket] = bleu([predictions[i] for i in members],
                                                    [references[i] for i in members])
    return result
