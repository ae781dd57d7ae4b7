"""Does attention look where it should? Attention compared with the toy grammar's gold word alignment."""
from __future__ import annotations

import numpy as np

from seq2bert.data import toy
from seq2bert.experiments.tasks import Task


def _gold_links(source: str, target: str) -> dict[int, set[int]]:
    """Target position -> the source positions it translates (from the toy grammar)."""
    links: dict[int, set[int]] = {}
    for s, t in toy.alignment(source, target):
        links.setdefault(t, set()).add(s)
    return links


def alignment_accuracy(task: Task, predictions: list[list[int]], attention: list) -> float:
    """Share of target words whose strongest attention falls on a source word they translate.

    Counted over held-out sentences translated exactly (so positions line up), against the
    toy grammar's gold word alignment.
    """
    hits = total = 0
    for (source, target), ids, weights in zip(task.test_pairs, predictions, attention):
        if task.tgt_vocab.decode(ids) != task.tgt_tokenize(target):
            continue
        for t, sources in _gold_links(source, target).items():
            total += 1
            hits += int(int(np.argmax(weights[t])) in sources)
    return hits / max(total, 1)


def reordered_example(task: Task, predictions: list[list[int]], min_words: int = 6, max_words: int = 14) -> int:
    """Index of a short, exactly translated held-out pair whose alignment crosses (noun–adjective swap)."""
    for index, ((source, target), ids) in enumerate(zip(task.test_pairs, predictions)):
        if not min_words <= len(source.split()) <= max_words or task.tgt_vocab.decode(ids) != target.split():
            continue
        links = sorted(toy.alignment(source, target))
        if any(s1 < s2 and t1 > t2 for s1, t1 in links for s2, t2 in links):
            return index
    raise LookupError("no exactly translated held-out sentence with crossing alignments")
