"""Unit 02's model retrained with another attention scorer: quality by source length and seconds per step.

Framework-neutral: the notebook passes its framework's `Seq2Seq`, `train_seq2seq` and
`translate_dataset`, so the PyTorch and TensorFlow twins run the same experiment.
"""
from __future__ import annotations

import dataclasses
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Sequence

from seq2bert import metrics
from seq2bert.configs import SCORES, Seq2SeqConfig
from seq2bert.experiments.tasks import Task
from seq2bert.experiments.tasks import score as score_predictions

QUALITY = ("token_accuracy", "exact_match", "bleu")  # the metrics compared, as metrics.evaluate names them


@dataclass(frozen=True)
class ScorerRun:
    """One model trained with one scorer."""

    score: str  # Seq2SeqConfig.score: "additive" or "scaled_dot"
    scores: dict  # experiments.score of its greedy translations of the held-out pairs
    history: list  # training loss at every step
    seconds: float  # wall-clock seconds of the whole training call
    seconds_per_step: float  # median seconds of a training step after the first (TensorFlow traces in the first)


@dataclass(frozen=True)
class Comparison:
    """The runs of `compare_scorers`, by scorer, in the order they were trained."""

    runs: dict  # score -> ScorerRun

    def table(self) -> list[dict]:
        """One row per length bucket with examples, then "all": {"bucket", "count", (score, metric): value}."""
        first = next(iter(self.runs.values())).scores
        rows = []
        for bucket, count in [*first["count_by_length"].items(), ("all", first["count"])]:
            row = {"bucket": bucket, "count": count}
            for score, run in self.runs.items():
                for name in QUALITY:
                    row[score, name] = run.scores[name] if bucket == "all" else run.scores[f"{name}_by_length"][bucket]
            rows.append(row)
        return rows

    def seconds_per_step(self) -> dict[str, float]:
        return {score: run.seconds_per_step for score, run in self.runs.items()}

    def format(self) -> str:
        """The table as aligned text (token accuracy, exact match, BLEU per scorer), then seconds per step."""
        names = {"token_accuracy": "tok acc", "exact_match": "exact", "bleu": "BLEU"}
        header = f"{'words':>7} {'pairs':>5}" + "".join(f" | {score:^26}" for score in self.runs)
        sub = f"{'':>7} {'':>5}" + "".join(" | " + " ".join(f"{names[n]:>8}" for n in QUALITY) for _ in self.runs)
        lines = [header, sub]
        for row in self.table():
            cells = "".join(" | " + " ".join(f"{row[score, n]:8.3f}" if n != "bleu" else f"{row[score, n]:8.1f}"
                                             for n in QUALITY) for score in self.runs)
            lines.append(f"{row['bucket']:>7} {row['count']:>5}{cells}")
        lines.append("seconds per training step: " + ", ".join(f"{score} {seconds:.4f}"
                                                               for score, seconds in self.seconds_per_step().items()))
        return "\n".join(lines)


def timed(function: Callable, *args, **kwargs):
    """(function(*args, **kwargs), wall-clock seconds it took)."""
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def compare_scorers(task: Task, config: Seq2SeqConfig, model_class: Callable, train: Callable, translate: Callable,
                    steps: int, batch_size: int, learning_rate: float, seed: int = 0,
                    scores: Sequence[str] = SCORES, buckets: Sequence = metrics.LENGTH_BUCKETS) -> Comparison:
    """Train `config`'s model once per scorer on the same data, from the same seed; score each.

    `model_class(config, seed)` builds a model, `train(model, data, steps, batch_size,
    learning_rate, seed=, label=, step_seconds=)` trains it, appending each step's wall-clock
    seconds to the `step_seconds` list, and `translate(model, data, max_len)` decodes the held-out
    pairs (a framework's Seq2Seq, train_seq2seq and translate_dataset). Seconds per step are the
    median over the steps after the first, so the first call's fixed cost (TensorFlow traces its
    step function then) and the odd slow step on a shared machine do not count.
    """
    unknown = [score for score in scores if score not in SCORES]
    if unknown or not scores:
        raise ValueError(f"scores must be some of {', '.join(SCORES)}, got {list(scores)}")
    if steps < 2:
        raise ValueError(f"steps must be at least 2 (the first step is not timed), got {steps}")
    runs = {}
    for score in scores:
        model = model_class(dataclasses.replace(config, attention=True, score=score), seed=seed)
        step_seconds: list[float] = []
        history, seconds = timed(train, model, task.train, steps, batch_size, learning_rate, seed=seed, label=score,
                                 step_seconds=step_seconds)
        if len(step_seconds) != steps:
            raise ValueError(f"train reported {len(step_seconds)} step times for {steps} steps")
        predictions, _ = translate(model, task.test, task.max_target_len)
        runs[score] = ScorerRun(score, score_predictions(task, predictions, buckets), list(history), seconds,
                                statistics.median(step_seconds[1:]))
    return Comparison(runs)
