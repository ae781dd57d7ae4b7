"""The notebooks' experiment helpers: the interface the course sources call, and scoring by length."""
from __future__ import annotations

import numpy as np
import pytest

from seq2bert import experiments, metrics
from seq2bert.data import toy as toy_module


@pytest.fixture(scope="module")
def toy():
    task = experiments.toy_task(300, 60, seed=3)
    perfect = [task.tgt_vocab.encode(task.tgt_tokenize(target)) for _, target in task.test_pairs]
    return task, perfect


def test_the_names_the_course_sources_call_are_still_there():
    for name in ("dates_task", "toy_task", "score", "examples", "accuracy_by_position", "alignment_accuracy",
                 "reordered_example"):
        assert callable(getattr(experiments, name)), name


def test_score_uses_bahdanau_buckets_by_default(toy):
    task, perfect = toy
    scores = experiments.score(task, perfect)
    assert scores["exact_match"] == 1.0 and scores["count"] == 60
    assert set(scores["count_by_length"]) <= {"4–10", "11–20", "21–30", "31–40"}  # toy sources have 4-40 words
    assert sum(scores["count_by_length"].values()) == 60


def test_score_with_other_buckets_reports_the_rest_as_other(toy):
    task, perfect = toy
    lengths = [len(task.src_tokenize(source)) for source, _ in task.test_pairs]
    scores = experiments.score(task, perfect, buckets=(("short", 1, 15),))
    assert scores["count_by_length"] == {"short": sum(n <= 15 for n in lengths), "other": sum(n > 15 for n in lengths)}


def test_wrong_predictions_lower_the_score(toy):
    task, perfect = toy
    wrong = [ids[:1] for ids in perfect]  # only the first word
    scores = experiments.score(task, wrong)
    assert scores["exact_match"] == 0.0 and 0 < scores["token_accuracy"] < 0.5



def teacher_forced_perfect(task):
    return [task.test.tgt_out[i, : task.test.tgt_len[i]].copy() for i in range(len(task.test))]


def test_accuracy_by_position_judges_each_position_on_its_own(toy):
    task, _ = toy
    perfect = teacher_forced_perfect(task)
    curves = experiments.accuracy_by_position(task, perfect, buckets=((4, 40),))
    assert set(curves["4–40 words"].values()) == {1.0} and len(curves["4–40 words"]) >= 10
    wrong_third = [p.copy() for p in perfect]
    for p in wrong_third:
        p[2] = 0  # <pad> is never a right guess
    curve = experiments.accuracy_by_position(task, wrong_third, buckets=((4, 40),))["4–40 words"]
    assert curve[2] == 0.0 and curve[1] == curve[3] == 1.0  # no shift: position 3 is still right


def test_accuracy_by_position_refuses_free_running_output(toy):
    task, perfect = toy
    with pytest.raises(ValueError, match="teacher_forced_predictions"):
        experiments.accuracy_by_position(task, [ids[:-1] for ids in teacher_forced_perfect(task)])


def test_exact_match_if_independent_is_p_to_the_length(toy):
    task, _ = toy
    perfect = teacher_forced_perfect(task)
    rows = experiments.exact_match_if_independent(task, perfect)
    assert all(row == {"token_accuracy": 1.0, "expected": 1.0, "exact_match": 1.0} for row in rows.values())
    one_wrong = [p.copy() for p in perfect]
    one_wrong[0][0] = 0
    bucket = metrics.length_bucket(len(task.test_pairs[0][0].split()))
    row = experiments.exact_match_if_independent(task, one_wrong)[bucket]
    members = [i for i, (s, _) in enumerate(task.test_pairs) if metrics.length_bucket(len(s.split())) == bucket]
    tokens = sum(int(task.test.tgt_len[i]) for i in members)
    p = 1 - 1 / tokens
    assert row["token_accuracy"] == pytest.approx(p)
    expected = sum(p ** int(task.test.tgt_len[i]) for i in members) / len(members)
    assert row["expected"] == pytest.approx(expected) and row["exact_match"] == pytest.approx(1 - 1 / len(members))


def uniform_attention(task, predictions):
    return [np.full((len(ids), len(task.src_tokenize(s))), 1.0) for (s, _), ids in zip(task.test_pairs, predictions)]


def attention_on(task, predictions, pick):
    """One-hot attention: target word -> source index chosen by pick(TargetWord)."""
    weights = []
    for (source, target), ids in zip(task.test_pairs, predictions):
        rows = np.zeros((len(ids), len(source.split())))
        for t, word in enumerate(toy_module.target_words(source, target)):
            rows[t, pick(word)] = 1.0
        weights.append(rows)
    return weights


def test_alignment_by_class_counts_articles_on_their_noun_as_explained(toy):
    task, perfect = toy
    on_gold = attention_on(task, perfect, lambda w: w.sources[0])
    rows = experiments.alignment_by_class(task, perfect, on_gold)
    assert rows["article on its own word"]["accuracy"] == 1.0 and rows["noun"]["accuracy"] == 1.0
    assert experiments.alignment_accuracy(task, perfect, on_gold) == 1.0
    on_noun = attention_on(task, perfect, lambda w: w.noun if w.noun >= 0 else w.sources[0])
    rows = experiments.alignment_by_class(task, perfect, on_noun)
    assert rows["article on its noun"]["accuracy"] == 1.0 and rows["adjective on its noun"]["accuracy"] == 1.0
    assert rows["adjective on its own word"]["accuracy"] == 0.0
    assert experiments.alignment_accuracy(task, perfect, on_noun) == 1.0
    before = attention_on(task, perfect, lambda w: max(w.sources[0] - 1, 0) if w.word_class == "article" else w.sources[0])
    rows = experiments.alignment_by_class(task, perfect, before)
    starts = sum(1 for (s, t), ids in zip(task.test_pairs, perfect)
                 for w in toy_module.target_words(s, t) if w.word_class == "article" and w.sources[0] == 0)
    count = rows["article on the word before its own"]["count"]
    assert rows["article on the word before its own"]["accuracy"] == pytest.approx((count - starts) / count)
    on_first = attention_on(task, perfect, lambda w: 0)
    assert experiments.alignment_accuracy(task, perfect, on_first) < 0.3


def test_alignment_skips_inexact_translations(toy):
    task, perfect = toy
    wrong = [ids[:1] for ids in perfect]
    assert experiments.alignment_by_class(task, wrong, uniform_attention(task, wrong)) == {}


def test_digits_on_same_digit():
    task = experiments.dates_task(100, 20, seed=1)
    perfect = [task.tgt_vocab.encode(task.tgt_tokenize(t)) for _, t in task.test_pairs]
    copying, elsewhere = [], []
    for (source, target), ids in zip(task.test_pairs, perfect):
        chars = task.src_tokenize(source)
        rows = np.zeros((len(ids), len(chars)))
        other = np.zeros_like(rows)
        for t, c in enumerate(task.tgt_tokenize(target)):
            rows[t, chars.index(c) if c in chars else 0] = 1.0
            other[t, next((j for j, x in enumerate(chars) if x != c), 0)] = 1.0
        copying.append(rows)
        elsewhere.append(other)
    assert experiments.digits_on_same_digit(task, perfect, copying) == 1.0
    assert experiments.digits_on_same_digit(task, perfect, elsewhere) == 0.0


def test_pick_by_length(toy):
    task, _ = toy
    picked = experiments.pick_by_length(task, ((4, 10), (31, 40)), 2)
    lengths = [len(task.test_pairs[i][0].split()) for i in picked]
    assert len(picked) == 4 and all(4 <= n <= 10 for n in lengths[:2]) and all(31 <= n <= 40 for n in lengths[2:])
