"""Unit 05's experiments: schedules, checkpoints, the race, headlines; a tiny end-to-end run per framework."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from seq2bert import metrics
from seq2bert.experiments import transformer as experiment
from seq2bert.experiments.tasks import toy_task
from seq2bert.settings import TransformerSizes

LONG = metrics.BUCKET_ORDER[-1]

TINY = TransformerSizes(toy_train=300, eval_pairs=24, max_words=10, steps=4, rnn_steps=4, plain_steps=0,
                        checkpoint_every=2, checkpoint_pairs=8, beam_pairs=6, ablation_steps=0, warmup_steps=0,
                        why_steps=0, width=16, heads=2, layers=1, ffn=32, batch_size=8, warmup=2)


def scores(token_accuracy: float, exact_match: float, long_exact: float | None = None) -> dict:
    by_length = {"4–10": exact_match}
    if long_exact is not None:
        by_length[LONG] = long_exact
    return {"token_accuracy": token_accuracy, "exact_match": exact_match, "bleu": 50.0,
            "count_by_length": {b: 1 for b in by_length}, "exact_match_by_length": by_length,
            "token_accuracy_by_length": {b: token_accuracy for b in by_length},
            "bleu_by_length": {b: 50.0 for b in by_length}}


def run_with(checkpoints, name="m", scored=None) -> experiment.Run:
    return experiment.Run(name, 10, [1.0] * 10, 5.0, scored, checkpoints)


def point(seconds, exact, long_exact):
    return {"step": 0, "seconds": seconds, "token_accuracy": exact, "exact_match": exact, "bleu": 0.0,
            "exact_match_by_length": {LONG: long_exact}, "token_accuracy_by_length": {LONG: long_exact}}


def test_schedule_warms_up_then_decays_and_without_warmup_starts_at_the_peak():
    sizes = dataclasses.replace(TINY, peak_learning_rate=1e-3, warmup=4, no_warmup_learning_rate=3e-3)
    warm = experiment.learning_rate_schedule(sizes)
    cold = experiment.learning_rate_schedule(sizes, warmup=False)
    assert warm(1) == pytest.approx(2.5e-4) and warm(4) == pytest.approx(1e-3) and warm(16) == pytest.approx(5e-4)
    assert cold(1) == cold(4) == pytest.approx(3e-3)  # the peak from the first step...
    assert cold(16) == pytest.approx(1.5e-3)  # ...then the same 1/sqrt(step) decay
    with pytest.raises(ValueError, match="from 1"):
        cold(0)


def test_subset_keeps_the_first_pairs_and_the_vocabularies():
    task = toy_task(60, 20, seed=3, max_words=8)
    small = experiment.subset(task, 5)
    assert small.test_pairs == task.test_pairs[:5] and len(small.test) == 5
    np.testing.assert_array_equal(small.test.src, task.test.src[:5, : small.test.src.shape[1]])
    assert small.src_vocab is task.src_vocab and small.train is task.train


def test_quality_at_takes_the_last_checkpoint_within_the_time():
    run = run_with([point(2.0, 0.1, 0.0), point(4.0, 0.5, 0.2), point(6.0, 0.9, 0.7)])
    assert experiment.quality_at(run, 1.0) == 0.0  # nothing trained yet
    assert experiment.quality_at(run, 5.0) == 0.5
    assert experiment.quality_at(run, 6.0, bucket=LONG) == 0.7
    assert experiment.curve(run, bucket=LONG) == ([2.0, 4.0, 6.0], [0.0, 0.2, 0.7])


def test_race_compares_both_models_at_the_shorter_training_time():
    fast_learner = run_with([point(2.0, 0.3, 0.1), point(4.0, 0.9, 0.8), point(8.0, 0.99, 0.95)], "T")
    rnn = run_with([point(1.0, 0.2, 0.0), point(3.0, 0.5, 0.3), point(5.0, 0.6, 0.4)], "R")
    outcome = experiment.race(fast_learner, rnn)
    assert outcome == {"seconds": 5.0, "T": 0.8, "R": 0.4}
    with pytest.raises(ValueError, match="checkpoint_every"):
        experiment.race(run_with([], "T"), rnn)


def test_check_headline_holds_the_fast_and_full_targets():
    assert experiment.check_headline(run_with([], scored=scores(0.80, 0.30)), fast=True) == []
    missed = experiment.check_headline(run_with([], scored=scores(0.79, 0.31)), fast=True)
    assert len(missed) == 1 and "token accuracy 0.790" in missed[0] and "0.8" in missed[0]
    assert len(experiment.check_headline(run_with([], scored=scores(0.9, 0.29)), fast=True)) == 1
    # full mode: 0.97 / 0.90 overall and 0.75 exact match on the longest sources
    assert experiment.check_headline(run_with([], scored=scores(0.97, 0.90, 0.75)), fast=False) == []
    missed = experiment.check_headline(run_with([], scored=scores(0.97, 0.90, 0.74)), fast=False)
    assert len(missed) == 1 and LONG in missed[0]
    assert "no held-out source" in experiment.check_headline(run_with([], scored=scores(0.99, 0.99)), fast=False)[0]
    assert len(experiment.check_headline(run_with([], scored=scores(0.96, 0.95, 0.9)), fast=False)) == 1
    with pytest.raises(ValueError, match="no scores"):
        experiment.check_headline(run_with([]), fast=True)


def test_headlines_and_table_name_every_bucket():
    runs = {"Transformer": run_with([], "Transformer", scores(0.9, 0.5, 0.2)), "skipped": None}
    values = experiment.headlines(runs)
    assert values["exact match, Transformer"] == 0.5
    assert values[f"exact match {LONG} words, Transformer"] == 0.2
    assert values["training seconds per step, Transformer"] == 0.5
    text = experiment.table(runs)
    assert "Transformer" in text and LONG in text and "0.200" in text and "skipped" not in text


def test_rms_of_sinusoids_is_a_root_half():
    positions = np.arange(10)[:, None] / 10000 ** (np.arange(0, 8, 2) / 8)  # (T, D/2)
    table = np.stack([np.sin(positions), np.cos(positions)], axis=-1).reshape(10, 8)  # (T, D/2, 2) -> (T, D)
    assert experiment.rms(table) == pytest.approx(math.sqrt(0.5))


def test_unknown_framework_is_named():
    with pytest.raises(ValueError, match="'pytorch' or 'tensorflow', not 'jax'"):
        experiment.train_transformer("jax", toy_task(40, 8, seed=0, max_words=6), TINY, 2)


def test_warmup_experiment_reuses_a_run_trained_the_same_way(monkeypatch):
    trained = []

    def fake_train(framework, task, sizes, steps, seed=0, name="", warmup=True, **changes):
        trained.append((name, warmup, changes))
        return experiment.Run(name, steps, [0.0], 1.0, setting={**changes, "warmup": warmup, "embedding_factor": 1.0})

    monkeypatch.setattr(experiment, "train_transformer", fake_train)
    sizes = dataclasses.replace(TINY, warmup_steps=5)
    post = experiment.Run("post-LN", 5, [1.0], 2.0, setting={"norm": "post", "warmup": True, "embedding_factor": 1.0})
    baseline = experiment.Run("unit 05", 5, [1.0], 2.0, setting={"warmup": True, "embedding_factor": 1.0})
    other_steps = experiment.Run("post-LN, longer", 9, [1.0], 2.0, setting=post.setting)
    runs = experiment.warmup_experiment("pytorch", None, sizes, reuse={"a": post, "b": baseline, "c": other_steps})
    assert list(runs) == ["pre-LN, with warm-up", "pre-LN, no warm-up", "post-LN, with warm-up", "post-LN, no warm-up"]
    assert runs["post-LN, with warm-up"].history == [1.0] and runs["pre-LN, with warm-up"].seconds == 2.0
    assert trained == [("pre-LN, no warm-up", False, {"norm": "pre"}), ("post-LN, no warm-up", False, {"norm": "post"})]
    assert experiment.warmup_experiment("pytorch", None, dataclasses.replace(TINY, warmup_steps=0)) == {}


@pytest.fixture
def one_thread():
    """Train as the notebooks do (seq2bert.session): one thread is faster for so small a model."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_a_tiny_main_run_race_and_beam_in_each_framework(framework, one_thread):
    task = toy_task(TINY.toy_train, TINY.eval_pairs, seed=0, max_words=TINY.max_words)
    run = experiment.main_run(framework, task, TINY, seed=0)
    assert run.steps == 4 and len(run.history) == 4 and all(np.isfinite(run.history))
    assert [point["step"] for point in run.checkpoints] == [2, 4]
    assert 0 < run.checkpoints[0]["seconds"] <= run.checkpoints[1]["seconds"] <= run.seconds
    assert run.scores["count"] == TINY.eval_pairs and 0.0 <= run.scores["token_accuracy"] <= 1.0
    assert run.setting == {"warmup": True, "embedding_factor": 1.0}
    rivals = experiment.baselines(framework, task, TINY, seed=0)
    assert list(rivals) == ["attention RNN (unit 02)"]  # plain_steps=0 skips unit 01's model
    rnn = rivals["attention RNN (unit 02)"]
    assert rnn.scores["count"] == TINY.eval_pairs and len(rnn.checkpoints) == 2
    outcome = experiment.race(run, rnn, bucket="4–10")
    assert outcome["seconds"] == min(run.seconds, rnn.seconds) and set(outcome) == {"seconds", run.name, rnn.name}
    beam = experiment.greedy_against_beam(framework, run, task, TINY)
    assert beam["greedy"]["count"] == beam["beam"]["count"] == TINY.beam_pairs


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_embedding_scale_shows_positions_drowned_by_n01_embeddings(framework):
    task = toy_task(200, 10, seed=0, max_words=10)
    sizes = dataclasses.replace(TINY, width=128, heads=4)
    scale = experiment.embedding_scale(framework, task, sizes)
    assert scale["position_rms"] == pytest.approx(math.sqrt(0.5), abs=1e-6)
    assert 0.8 < scale["token_rms"] < 1.2  # N(0, 1/D) x sqrt(D): RMS about 1, next to positions of 0.71
    assert scale["token_rms_scaled"] == pytest.approx(math.sqrt(128) * scale["token_rms"], rel=1e-5)
    assert scale["ratio_scaled"] > 14  # ~11.3 / 0.71: the positions are a rounding error
