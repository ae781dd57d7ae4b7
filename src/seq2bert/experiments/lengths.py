"""Where a fixed-size encoder state runs out: quality by target position, and what exact match owes to length."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from seq2bert import metrics
from seq2bert.experiments.tasks import Task


def accuracy_by_position(task: Task, teacher_forced: Sequence, buckets: tuple = ((4, 10), (31, 40)),
                         min_count: int = 10) -> dict:
    """Token accuracy at each target position under teacher forcing, per source-length range.

    `teacher_forced[i]` holds the model's arg-max at every position of held-out target i (its
    <eos> included) when fed the true previous tokens, so position t is always compared with
    reference token t: a missing or extra word in a free-running translation would shift every
    later position and blur the curve. Positions reached by fewer than `min_count` references are
    left out as noise. Returns {"4–10 words": {position: accuracy}, ...}.
    """
    curves = {}
    for low, high in buckets:
        hits, totals = {}, {}
        for (source, _), best, reference in _aligned(task, teacher_forced):
            if not low <= len(task.src_tokenize(source)) <= high:
                continue
            for position, (guess, token) in enumerate(zip(best, reference)):
                totals[position] = totals.get(position, 0) + 1
                hits[position] = hits.get(position, 0) + int(guess == token)
        curves[f"{low}–{high} words"] = {p: hits[p] / totals[p] for p in sorted(totals) if totals[p] >= min_count}
    return curves


def _aligned(task: Task, teacher_forced: Sequence):
    """(pair, prediction, reference ids with <eos>) per held-out pair; refuses predictions of another length."""
    for i, (pair, best) in enumerate(zip(task.test_pairs, teacher_forced)):
        reference = task.test.tgt_out[i, : int(task.test.tgt_len[i])]
        if len(best) != len(reference):
            raise ValueError(f"a teacher-forced prediction has {len(best)} positions, its reference "
                             f"{len(reference)}: pass teacher_forced_predictions(...), not greedy output")
        yield pair, best, reference


def exact_match_if_independent(task: Task, teacher_forced: Sequence) -> dict:
    """Per length bucket, the exact match that per-token errors alone would give, next to the real one.

    Greedy output is exactly right when the model's arg-max is right at every position given the
    right prefix, i.e. under teacher forcing. With p the bucket's teacher-forced token accuracy,
    independent errors would leave a reference of T tokens whole with probability p ** T. Exact
    match falls with length for ANY model with per-token errors; only p itself falling with
    length points to a length-specific weakness. Returns {bucket: {"token_accuracy", "expected",
    "exact_match"}} over the buckets with examples, in `metrics.LENGTH_BUCKETS` order.
    """
    rows: dict[str, list[tuple[int, int]]] = {}
    for (source, _), best, reference in _aligned(task, teacher_forced):
        bucket = metrics.length_bucket(len(task.src_tokenize(source)))
        rows.setdefault(bucket, []).append((int(np.sum(np.asarray(best) == reference)), len(reference)))
    result = {}
    for bucket in (*(name for name, _, _ in metrics.LENGTH_BUCKETS), metrics.OTHER_BUCKET):
        if bucket in rows:
            right, lengths = np.array(rows[bucket]).T
            accuracy = right.sum() / lengths.sum()
            result[bucket] = {"token_accuracy": float(accuracy), "expected": float(np.mean(accuracy ** lengths)),
                              "exact_match": float(np.mean(right == lengths))}
    return result
