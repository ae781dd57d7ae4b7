"""Framework-neutral pieces of the notebooks' experiments: building tasks and scoring them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from seq2bert import metrics
from seq2bert.data import dates, toy
from seq2bert.data.text import Encoded, Vocab, chars, encode_pairs, words


@dataclass(frozen=True)
class Task:
    """A sequence-to-sequence task: vocabularies, encoded train/test data, raw test pairs."""

    name: str  # "dates" or "toy translation"
    src_vocab: Vocab  # source tokens
    tgt_vocab: Vocab  # target tokens
    train: Encoded  # training pairs, encoded
    test: Encoded  # held-out pairs, encoded
    test_pairs: list  # held-out (source, target) strings
    src_tokenize: Callable[[str], list]  # chars or words
    tgt_tokenize: Callable[[str], list]  # chars or words

    @property
    def max_target_len(self) -> int:
        """A decoding limit comfortably above every target in the task."""
        return int(self.test.tgt_out.shape[1]) + 5


def make_task(name: str, pairs: list, n_test: int, src_tokenize, tgt_tokenize) -> Task:
    """Split pairs into train/test (test = the last n_test) and encode both with train vocabularies."""
    train_pairs, test_pairs = pairs[:-n_test], pairs[-n_test:]
    src_vocab = Vocab.build(src_tokenize(s) for s, _ in train_pairs)
    tgt_vocab = Vocab.build(tgt_tokenize(t) for _, t in train_pairs)
    encode = lambda ps: encode_pairs(ps, src_tokenize, tgt_tokenize, src_vocab, tgt_vocab)  # noqa: E731
    return Task(name, src_vocab, tgt_vocab, encode(train_pairs), encode(test_pairs), test_pairs,
                src_tokenize, tgt_tokenize)


def dates_task(n_train: int, n_test: int, seed: int) -> Task:
    """Human-written dates -> ISO dates, character level."""
    return make_task("dates", dates.generate(n_train + n_test, seed), n_test, chars, chars)


def toy_task(n_train: int, n_test: int, seed: int) -> Task:
    """Toy English -> French-like translation, word level, sources of 4–40 words."""
    return make_task("toy translation", toy.generate(n_train + n_test, seed), n_test, words, words)


def score(task: Task, predictions: list[list[int]]) -> dict:
    """Exact match, token accuracy and BLEU of greedy predictions, overall and by source length."""
    hypotheses = [task.tgt_vocab.decode(ids) for ids in predictions]
    references = [task.tgt_tokenize(target) for _, target in task.test_pairs]
    lengths = [len(task.src_tokenize(source)) for source, _ in task.test_pairs]
    return metrics.evaluate(hypotheses, references, lengths)


def examples(task: Task, predictions: list[list[int]], count: int = 5, joiner: str = " ") -> list[tuple[str, str, str]]:
    """(source, reference, prediction) strings for the first `count` held-out pairs."""
    rows = []
    for (source, target), ids in list(zip(task.test_pairs, predictions))[:count]:
        rows.append((source, target, joiner.join(task.tgt_vocab.decode(ids))))
    return rows


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
