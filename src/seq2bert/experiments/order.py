"""Unit 04's order experiment: one small encoder per kind of positions, trained on an order task.

A model without positions stays at the position-blind ceiling (seq2bert.data.order); with
sinusoidal, learned or rotary positions it learns the task. Trained on length 12 and tested on
longer sequences, added absolute positions fail past position 11 while rotary positions (which
only see offsets) carry over. Framework-neutral: the framework's modules are imported on use.
"""
from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field

import numpy as np

from seq2bert.configs import POSITIONS, EncoderConfig
from seq2bert.data import order
from seq2bert.settings import MultiHeadSizes

FRAMEWORKS = {"pytorch": "seq2bert.torch", "tensorflow": "seq2bert.tf"}


# Sizes: unit 04's catalogue entry (settings.MultiHeadSizes, in seq2bert.units). Calibrated
# over seeds 0-2 (both frameworks track each other step for step): on "previous" every encoding
# passes 0.95 by step 100 (0.987-0.997) and 0.999 by 125; 75 steps leave sinusoidal at 0.38-0.41.
# On "reverse" sinusoidal needs ~150 steps, learned ~100, rotary ~500 (0.96; 0.97 at 600).

TARGET = 0.95  # accuracy every kind of positions must reach on the training length
CEILING_SLACK = 0.02  # how far above the position-blind ceiling the model without positions may land


@dataclass
class PositionsResult:
    """One trained tagger: accuracy per evaluated length, per-position accuracy, losses, seconds."""

    positions: str  # "none" | "sinusoidal" | "learned" | "rotary"
    accuracy: dict  # {length: fraction of positions right}
    by_position: dict  # {length: (T,) accuracy at each position}
    losses: list  # training loss per step
    seconds: float  # training time, wall clock
    model: object = field(repr=False, default=None)  # the trained tagger (for heat-maps)


def _framework(framework: str):
    """(transformer module, tagging module) of "pytorch" or "tensorflow"."""
    if framework not in FRAMEWORKS:
        raise ValueError(f"framework must be 'pytorch' or 'tensorflow', not {framework!r}")
    package = FRAMEWORKS[framework]
    return importlib.import_module(f"{package}.transformer"), importlib.import_module(f"{package}.tagging")


def evaluation_sets(task: str, sizes: MultiHeadSizes, seed: int = 1234) -> dict:
    """{length: (tokens, targets)}: held-out sequences, drawn apart from any training stream."""
    return {length: order.generate(task, sizes.eval_sequences, length, sizes.vocab, seed=seed + length)
            for length in sizes.eval_lengths}


def train_positions(framework: str, task: str, positions: str, steps: int, sizes: MultiHeadSizes,
                    seed: int = 0, evaluation: dict | None = None) -> PositionsResult:
    """Train one tagger with `positions` on `task` for `steps` steps and test it on every evaluation length."""
    transformer, tagging = _framework(framework)
    evaluation = evaluation if evaluation is not None else evaluation_sets(task, sizes)
    config = EncoderConfig(vocab=order.output_vocab(sizes.vocab), positions=positions,
                           max_length=max(64, *evaluation))
    model = transformer.SequenceTagger(config, seed=seed)
    stream = order.batches(task, sizes.batch_size, sizes.length, sizes.vocab, seed=seed)
    start = time.perf_counter()
    losses = tagging.train_tagger(model, stream, steps, sizes.learning_rate, sizes.warmup,
                                  label=f"{task}, {positions} positions")
    seconds = time.perf_counter() - start
    accuracy, by_position = {}, {}
    for length, (tokens, targets) in evaluation.items():
        predictions = tagging.predict_tags(model, tokens)
        accuracy[length] = order.accuracy(predictions, targets)
        by_position[length] = order.accuracy_by_position(predictions, targets)
    return PositionsResult(positions, accuracy, by_position, losses, seconds, model)


def compare_positions(framework: str, task: str, steps: int, sizes: MultiHeadSizes, seed: int = 0,
                      settings: tuple = POSITIONS) -> dict:
    """{positions: PositionsResult} for each setting, same data and the same evaluation sets,
    plus "ceiling": {length: the position-blind ceiling on that evaluation set}."""
    evaluation = evaluation_sets(task, sizes)
    results = {positions: train_positions(framework, task, positions, steps, sizes, seed, evaluation)
               for positions in settings}
    ceiling = {length: order.position_blind_ceiling(tokens, task, sizes.vocab)
               for length, (tokens, _) in evaluation.items()}
    return {"results": results, "ceiling": ceiling}


def check_headline(comparison: dict, length: int = order.LENGTH, longer: int = 16) -> list[str]:
    """The asserted results, as messages for each one missed (empty when all hold): every kind of
    positions >= TARGET at the training length; none <= the ceiling + CEILING_SLACK; rotary >= TARGET at `longer`."""
    results, ceiling = comparison["results"], comparison["ceiling"]
    missed = [f"{name} positions reached {result.accuracy[length]:.3f} at length {length}, below {TARGET}"
              for name, result in results.items() if name != "none" and result.accuracy[length] < TARGET]
    if "none" in results and results["none"].accuracy[length] > ceiling[length] + CEILING_SLACK:
        missed.append(f"without positions the model reached {results['none'].accuracy[length]:.3f}, above the "
                      f"position-blind ceiling {ceiling[length]:.3f} + {CEILING_SLACK}: is position leaking in?")
    if "rotary" in results and longer in results["rotary"].accuracy and results["rotary"].accuracy[longer] < TARGET:
        missed.append(f"rotary positions reached {results['rotary'].accuracy[longer]:.3f} at length {longer}, below {TARGET}")
    return missed


def table(comparison: dict) -> list[dict]:
    """One row per setting: positions, accuracy at each length, seconds (for printing or a DataFrame)."""
    rows = []
    for positions, result in comparison["results"].items():
        row = {"positions": positions}
        row.update({f"accuracy @{length}": round(value, 4) for length, value in result.accuracy.items()})
        row["seconds"] = round(result.seconds, 1)
        rows.append(row)
    rows.append({"positions": "position-blind ceiling",
                 **{f"accuracy @{length}": round(value, 4) for length, value in comparison["ceiling"].items()}})
    return rows


def mean_accuracy(results: list, length: int) -> float:
    """The mean accuracy at `length` of several PositionsResults (e.g. over seeds)."""
    return float(np.mean([result.accuracy[length] for result in results]))
