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
