"""The notebooks' experiment helpers: the interface the course sources call, and scoring by length."""
from __future__ import annotations

import pytest

from seq2bert import experiments


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
    curves = experiments.accuracy_by_position(task, perfect, buckets=((4, 40),))
    assert set(curves["4–40 words"].values()) == {1.0}
