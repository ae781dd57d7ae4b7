"""experiments.compare_scorers: one model per scorer, scored by length, median seconds per step."""
from __future__ import annotations

import numpy as np
import pytest

from seq2bert import experiments
from seq2bert.configs import Seq2SeqConfig
from seq2bert.experiments import compare


@pytest.fixture(scope="module")
def task():
    return experiments.toy_task(200, 40, seed=1)


def tiny_config(task):
    return Seq2SeqConfig(src_vocab=len(task.src_vocab), tgt_vocab=len(task.tgt_vocab), embed=8, hidden=16)


def fake_framework(step_times):
    """A model, train and translate whose training steps report `step_times[score]` seconds, in order."""
    built = []

    def model_class(config, seed):
        built.append((config.score, seed))
        return config

    def train(model, data, steps, batch_size, learning_rate, seed=0, label="", step_seconds=None):
        step_seconds.extend(step_times[model.score][:steps])
        return [1.0] * steps

    def translate(model, data, max_len):
        return [[] for _ in range(len(data))], None  # empty translations: every score is 0

    return model_class, train, translate, built


def test_seconds_per_step_are_the_median_after_the_first_step(task):
    # The first step carries the fixed cost (tracing); one later step is an outlier (a busy machine).
    times = {"additive": [5.0, 0.3, 0.3, 9.0, 0.3, 0.31], "scaled_dot": [4.0, 0.1, 0.12, 0.1, 0.1, 0.1]}
    model_class, train, translate, built = fake_framework(times)
    result = experiments.compare_scorers(task, tiny_config(task), model_class, train, translate, steps=6,
                                         batch_size=8, learning_rate=1e-2, seed=7)
    assert result.seconds_per_step() == pytest.approx({"additive": 0.3, "scaled_dot": 0.1})
    assert built == [("additive", 7), ("scaled_dot", 7)]  # one model per scorer, same seed, no throwaway runs


def test_bad_arguments_get_a_clear_error(task):
    model_class, train, translate, _ = fake_framework({"additive": [0.1] * 3, "scaled_dot": [0.1]})
    args = (task, tiny_config(task), model_class, train, translate)
    with pytest.raises(ValueError, match="scores must be some of additive, scaled_dot, got \\['dot'\\]"):
        experiments.compare_scorers(*args, steps=10, batch_size=8, learning_rate=1e-2, scores=["dot"])
    with pytest.raises(ValueError, match="steps must be at least 2"):
        experiments.compare_scorers(*args, steps=1, batch_size=8, learning_rate=1e-2)
    with pytest.raises(ValueError, match="train reported 1 step times for 3 steps"):
        experiments.compare_scorers(*args, steps=3, batch_size=8, learning_rate=1e-2, scores=["scaled_dot"])


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_a_real_comparison_on_tiny_sizes(task, framework):
    if framework == "pytorch":
        from seq2bert.torch.seq2seq import Seq2Seq
        from seq2bert.torch.train import train_seq2seq, translate_dataset
    else:
        from seq2bert.tf.seq2seq import Seq2Seq
        from seq2bert.tf.train import train_seq2seq, translate_dataset
    config = Seq2SeqConfig(src_vocab=len(task.src_vocab), tgt_vocab=len(task.tgt_vocab), embed=8, hidden=16,
                           attention=False)  # compare_scorers turns attention on
    result = experiments.compare_scorers(task, config, Seq2Seq, train_seq2seq, translate_dataset, steps=4,
                                         batch_size=16, learning_rate=1e-2)
    assert list(result.runs) == ["additive", "scaled_dot"]
    for score, run in result.runs.items():
        # No timing asserts: step times depend on the machine and what else runs on it.
        assert run.score == score and len(run.history) == 4 and run.seconds > 0 and np.isfinite(run.seconds_per_step)
        assert run.scores["count"] == 40
    # The two scorers give different models (different weights, different losses after the first step).
    assert result.runs["additive"].history[-1] != result.runs["scaled_dot"].history[-1]
    rows = result.table()
    assert [row["bucket"] for row in rows] == [*result.runs["additive"].scores["count_by_length"], "all"]
    assert sum(row["count"] for row in rows[:-1]) == rows[-1]["count"] == 40
    for row in rows:
        for score in result.runs:
            assert set(row) >= {(score, name) for name in compare.QUALITY}
    all_row = rows[-1]
    assert all_row["scaled_dot", "bleu"] == result.runs["scaled_dot"].scores["bleu"]
    text = result.format()
    assert "additive" in text and "scaled_dot" in text and "seconds per training step" in text
    assert len(text.splitlines()) == 2 + len(rows) + 1


def test_the_table_reads_each_bucket_from_its_own_run():
    def run(score, offset):
        by_length = {name: {"4–10": offset + 0.1, "31–40": offset + 0.2} for name in compare.QUALITY}
        scores = {"count": 3, "count_by_length": {"4–10": 2, "31–40": 1},
                  **{name: offset for name in compare.QUALITY},
                  **{f"{name}_by_length": value for name, value in by_length.items()}}
        return compare.ScorerRun(score, scores, [], 1.0, 0.5)

    result = compare.Comparison({"additive": run("additive", 0.0), "scaled_dot": run("scaled_dot", 0.5)})
    rows = result.table()
    assert [(row["bucket"], row["count"]) for row in rows] == [("4–10", 2), ("31–40", 1), ("all", 3)]
    assert rows[1]["additive", "exact_match"] == pytest.approx(0.2)
    assert rows[1]["scaled_dot", "exact_match"] == pytest.approx(0.7)
    assert rows[2]["scaled_dot", "bleu"] == pytest.approx(0.5)
    assert np.isclose(result.seconds_per_step()["scaled_dot"], 0.5)
