"""Unit 02's model retrained with another attention scorer: quality by source length and seconds per step.

Framework-neutral: the notebook passes its framework's `Seq2Seq`, `train_seq2seq` and
`translate_dataset`, so the PyTorch and TensorFlow twins run the same experiment.
"""
from __future__ import annotations

import dataclasses
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
    seconds_per_step: float  # training seconds per step, the call's fixed cost (TensorFlow's tracing) removed


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
                    scores: Sequence[str] = SCORES, overhead_steps: int = 2,
                    buckets: Sequence = metrics.LENGTH_BUCKETS) -> Comparison:
    """Train `config`'s model once per scorer on the same data, from the same seed; score each.

    `model_class(config, seed)` builds a model, `train(model, data, steps, batch_size,
    learning_rate, seed=, label=)` trains it and `translate(model, data, max_len)` decodes the
    held-out pairs (a framework's Seq2Seq, train_seq2seq and translate_dataset). Seconds per step
    are (t(steps) - t(overhead_steps)) / (steps - overhead_steps), where t(n) is the wall-clock
    time of a training call of n steps: a throwaway run of `overhead_steps` measures what every
    call costs once (TensorFlow traces its step function then), so it is not spread over the
    steps. With overhead_steps=0 the fixed cost is kept in.
    """
    unknown = [score for score in scores if score not in SCORES]
    if unknown or not scores:
        raise ValueError(f"scores must be some of {', '.join(SCORES)}, got {list(scores)}")
    if not 0 <= overhead_steps < steps:
        raise ValueError(f"overhead_steps must be in 0..steps-1 = 0..{steps - 1}, got {overhead_steps}")
    runs = {}
    for score in scores:
        scored = dataclasses.replace(config, attention=True, score=score)
        overhead = 0.0
        if overhead_steps:
            throwaway = model_class(scored, seed=seed)
            _, overhead = timed(train, throwaway, task.train, overhead_steps, batch_size, learning_rate,
                                seed=seed, label=f"{score}, timing the fixed cost")
        model = model_class(scored, seed=seed)
        history, seconds = timed(train, model, task.train, steps, batch_size, learning_rate, seed=seed, label=score)
        predictions, _ = translate(model, task.test, task.max_target_len)
        runs[score] = ScorerRun(score, score_predictions(task, predictions, buckets), list(history), seconds,
                                (seconds - overhead) / (steps - overhead_steps))
    return Comparison(runs)
