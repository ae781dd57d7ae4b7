"""Where a fixed-size encoder state runs out: quality by target position for short and long sources."""
from __future__ import annotations

from seq2bert.experiments.tasks import Task


def accuracy_by_position(task: Task, predictions: list[list[int]], buckets: tuple = ((4, 10), (31, 40))) -> dict:
    """Token accuracy at each target position, for held-out sources in each length range.

    Shows where a fixed-size encoder state runs out: for long sources the first target words
    can still be right while later ones degrade.
    """
    curves = {}
    for low, high in buckets:
        hits, totals = {}, {}
        for (source, target), ids in zip(task.test_pairs, predictions):
            if not low <= len(task.src_tokenize(source)) <= high:
                continue
            hypothesis, reference = task.tgt_vocab.decode(ids), task.tgt_tokenize(target)
            for position, token in enumerate(reference):
                totals[position] = totals.get(position, 0) + 1
                hits[position] = hits.get(position, 0) + int(position < len(hypothesis) and hypothesis[position] == token)
        # Positions with few examples are noise; keep those reached by at least 10 references.
        curves[f"{low}–{high} words"] = {p: hits[p] / totals[p] for p in sorted(totals) if totals[p] >= 10}
    return curves
