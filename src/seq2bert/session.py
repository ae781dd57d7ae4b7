"""`seq2bert.setup()`: the first call of every notebook (seeds, plot style, fast mode)."""
from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import Any

import numpy as np

from seq2bert.settings import CPU_THREADS, fast_mode, sizes
from seq2bert.units import get_framework, get_unit


@dataclass(frozen=True)
class Session:
    """What a notebook needs to know about this run."""

    unit: str  # "01", "02", ...
    framework: str  # "pytorch" or "tensorflow"
    fast: bool  # fast mode (tests, CI, `make run`) or full mode (learners)
    seed: int  # the seed every generator and model starts from
    sizes: Any  # this unit's own sizes dataclass (e.g. Seq2SeqSizes), in this run's mode

    def __str__(self) -> str:
        mode = "fast (CI/tests)" if self.fast else "full"
        return f"seq2bert unit {self.unit} · {self.framework} · {mode} mode · seed {self.seed}"


def limit_threads(framework: str) -> None:
    """Run the framework on CPU_THREADS threads (faster for this course's small models)."""
    if framework == "pytorch":
        import torch

        torch.set_num_threads(CPU_THREADS)
    else:
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(CPU_THREADS)
            tf.config.threading.set_inter_op_parallelism_threads(CPU_THREADS)
        except RuntimeError:  # TensorFlow already started (setup called twice): keep its threads
            pass


def seed_everything(seed: int, framework: str) -> None:
    """Seed Python, NumPy and the chosen framework."""
    random.seed(seed)
    np.random.seed(seed)
    if framework == "pytorch":
        import torch

        torch.manual_seed(seed)
    else:
        import keras

        keras.utils.set_random_seed(seed)


def setup(unit: str, framework: str, seed: int = 0, plots: bool = True) -> Session:
    """Prepare a notebook: quiet logs, seeds, plot style; returns the run's Session."""
    framework = get_framework(framework)
    unit = get_unit(unit).number
    # Both must be set before the framework is first imported to take effect.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    limit_threads(framework)
    seed_everything(seed, framework)
    if framework == "tensorflow":
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")
    if plots:
        from seq2bert.plot import use_course_style

        use_course_style()
    fast = fast_mode()
    return Session(unit=unit, framework=framework, fast=fast, seed=seed, sizes=sizes(unit, fast))
