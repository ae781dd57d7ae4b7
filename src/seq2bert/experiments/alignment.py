"""Does attention look where it should? Attention compared with the toy grammar's gold word alignment."""
from __future__ import annotations

import numpy as np

from seq2bert.data import toy
from seq2bert.experiments.tasks import Task

# Words that agree with a noun other than themselves get three rows in `alignment_by_class`.
AGREEING = ("article", "adjective")


def _exact(task: Task, target: str, ids: list[int]) -> bool:
    return task.tgt_vocab.decode(ids) == task.tgt_tokenize(target)


def alignment_by_class(task: Task, predictions: list[list[int]], attention: list) -> dict[str, dict]:
    """Per word class, how often the strongest attention weight falls on the gold source word.

    Counted over held-out sentences translated exactly (so positions line up). Articles and
    adjectives get three rows: on their own English word (the gold link; for "des", which has
    none, the noun), on the noun they agree with (which alone reveals gender and number), and
    on either. Articles get a fourth, "on the word before its own": with a bidirectional encoder
    the state just before a noun phrase has read the whole phrase backwards. Returns
    {row: {"accuracy", "count"}}, e.g. row "article on its noun".
    """
    hits: dict[str, int] = {}
    counts: dict[str, int] = {}

    def add(row: str, hit: bool) -> None:
        hits[row] = hits.get(row, 0) + int(hit)
        counts[row] = counts.get(row, 0) + 1

    for (source, target), ids, weights in zip(task.test_pairs, predictions, attention):
        if not _exact(task, target, ids):
            continue
        for position, word in enumerate(toy.target_words(source, target)):
            strongest = int(np.argmax(weights[position]))
            on_word = strongest in word.sources
            if word.word_class in AGREEING:
                on_noun = strongest == word.noun
                add(f"{word.word_class} on its own word", on_word)
                add(f"{word.word_class} on its noun", on_noun)
                add(f"{word.word_class} on either", on_word or on_noun)
                if word.word_class == "article":  # where a backward encoder state has just read the phrase
                    add("article on the word before its own", strongest == min(word.sources) - 1)
            else:
                add(word.word_class, on_word)
    order = [c for c in toy.WORD_CLASSES if c not in AGREEING]
    order += [f"{c} on {where}" for c in AGREEING for where in ("its own word", "its noun", "either")]
    order.insert(order.index("article on either") + 1, "article on the word before its own")
    return {row: {"accuracy": hits[row] / counts[row], "count": counts[row]} for row in order if row in counts}


def alignment_accuracy(task: Task, predictions: list[list[int]], attention: list) -> float:
    """Share of target words whose strongest attention falls on a source word that explains them.

    For nouns, verbs and function words that is the word they translate; an article or an
    adjective may also look at the noun it agrees with, since only the noun tells its gender and
    number (see alignment_by_class).
    """
    rows = alignment_by_class(task, predictions, attention)
    counted = [row for row in rows if row in toy.WORD_CLASSES or row.endswith(" on either")]
    total = sum(rows[row]["count"] for row in counted)
    return sum(rows[row]["accuracy"] * rows[row]["count"] for row in counted) / max(total, 1)


def reordered_example(task: Task, predictions: list[list[int]], min_words: int = 6, max_words: int = 14) -> int:
    """Index of a short, exactly translated held-out pair whose alignment crosses (noun–adjective swap)."""
    for index, ((source, target), ids) in enumerate(zip(task.test_pairs, predictions)):
        if not min_words <= len(source.split()) <= max_words or not _exact(task, target, ids):
            continue
        links = sorted(toy.alignment(source, target))
        if any(s1 < s2 and t1 > t2 for s1, t1 in links for s2, t2 in links):
            return index
    raise LookupError("no exactly translated held-out sentence with crossing alignments")


def digits_on_same_digit(task: Task, predictions: list[list[int]], attention: list) -> float:
    """Dates: share of output digits whose strongest attention falls on a source character equal to them.

    Counted over exactly right held-out outputs, for digits that occur somewhere in the source
    (a month written as a name has no digit to look at).
    """
    hits = total = 0
    for (source, target), ids, weights in zip(task.test_pairs, predictions, attention):
        if not _exact(task, target, ids):
            continue
        characters = task.src_tokenize(source)
        for position, character in enumerate(task.tgt_tokenize(target)):
            if character.isdigit() and character in characters:
                total += 1
                hits += int(characters[int(np.argmax(weights[position]))] == character)
    return hits / max(total, 1)
