"""Fast mode and the sizes of every unit's experiments, read from this one place.

Fast mode (``SEQ2BERT_FAST=1``, set by tests and ``make run``) only shrinks sizes and step
counts; the code path is the same in both modes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

FAST_ENV = "SEQ2BERT_FAST"


def fast_mode() -> bool:
    """True when SEQ2BERT_FAST is set to a true value (1, true, yes, on)."""
    return os.environ.get(FAST_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Sizes:
    """How much data and how many optimiser steps a unit's experiments use."""

    date_train: int  # training pairs for the date-normalisation task
    date_steps: int  # optimiser steps on dates
    toy_train: int  # training pairs for the toy translation task
    toy_steps: int  # optimiser steps on toy translation
    eval_pairs: int  # held-out pairs for every reported metric
    batch_size: int  # pairs per optimiser step
    embed: int  # token embedding width
    hidden: int  # GRU state width (and attention width)
    learning_rate: float  # Adam step size


# Step budgets were calibrated on a 2-core CPU; see README ("Timings").
_SIZES = {
    "01": {
        "fast": Sizes(date_train=6000, date_steps=400, toy_train=8000, toy_steps=400,
                      eval_pairs=400, batch_size=64, embed=64, hidden=128, learning_rate=6e-3),
        "full": Sizes(date_train=20000, date_steps=2000, toy_train=40000, toy_steps=2000,
                      eval_pairs=1000, batch_size=64, embed=64, hidden=128, learning_rate=4e-3),
    },
    "02": {
        "fast": Sizes(date_train=6000, date_steps=600, toy_train=8000, toy_steps=300,
                      eval_pairs=400, batch_size=64, embed=64, hidden=128, learning_rate=6e-3),
        "full": Sizes(date_train=20000, date_steps=1000, toy_train=40000, toy_steps=1200,
                      eval_pairs=1000, batch_size=64, embed=64, hidden=128, learning_rate=4e-3),
    },
}


def sizes(unit: str, fast: bool | None = None) -> Sizes:
    """The sizes for `unit` ("01", "02", ...) in fast or full mode (default: from the env)."""
    if unit not in _SIZES:
        raise KeyError(f"no sizes for unit {unit!r}; known units: {', '.join(sorted(_SIZES))}")
    mode = "fast" if (fast_mode() if fast is None else fast) else "full"
    return _SIZES[unit][mode]


def quiet() -> bool:
    """Progress bars stay quiet in fast mode and on CI; learners in full mode see them."""
    return fast_mode() or bool(os.environ.get("CI"))


# Small recurrent models on a CPU: one thread per process is 2-3x faster than two here
# (measured: attention step 0.08 s vs 0.16 s at batch 64), because thread hand-offs cost more
# than these small matrix products gain. It also lets two notebooks run side by side.
CPU_THREADS = 1
