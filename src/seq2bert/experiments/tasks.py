"""Sequence-to-sequence tasks for the experiments: building them from generated pairs, scoring predictions."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

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


def toy_task(n_train: int, n_test: int, seed: int, max_words: int = 40) -> Task:
    """Toy English -> French-like translation, word level, sources of 4 to `max_words` words."""
    return make_task("toy translation", toy.generate(n_train + n_test, seed, max_words=max_words), n_test, words, words)


def score(task: Task, predictions: list[list[int]], buckets: Sequence = metrics.LENGTH_BUCKETS) -> dict:
    """Exact match, token accuracy and BLEU of greedy predictions, overall and by source length (metrics.evaluate)."""
    hypotheses = [task.tgt_vocab.decode(ids) for ids in predictions]
    references = [task.tgt_tokenize(target) for _, target in task.test_pairs]
    lengths = [len(task.src_tokenize(source)) for source, _ in task.test_pairs]
    return metrics.evaluate(hypotheses, references, lengths, buckets)


def examples(task: Task, predictions: list[list[int]], count: int = 5, joiner: str = " ") -> list[tuple[str, str, str]]:
    """(source, reference, prediction) strings for the first `count` held-out pairs."""
    rows = []
    for (source, target), ids in list(zip(task.test_pairs, predictions))[:count]:
        rows.append((source, target, joiner.join(task.tgt_vocab.decode(ids))))
    return rows


def pick_by_length(task: Task, ranges: Sequence = ((4, 10), (31, 40)), per_range: int = 2) -> list[int]:
    """Indices of the first `per_range` held-out pairs whose source length lies in each (low, high) range."""
    picked = []
    for low, high in ranges:
        inside = [i for i, (source, _) in enumerate(task.test_pairs) if low <= len(task.src_tokenize(source)) <= high]
        picked += inside[:per_range]
    return picked
