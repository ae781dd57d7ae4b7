"""Learning-rate schedules as plain Python functions of the step (no framework needed)."""
from __future__ import annotations

import math


def transformer_learning_rate(step: int, peak: float, warmup: int) -> float:
    """Linear warm-up to `peak` over `warmup` steps, then decay as 1/sqrt(step) (Vaswani et al. 2017).

    lr(step) = peak * min(step / warmup, sqrt(warmup / step)), for steps counted from 1; both
    branches meet at step = warmup, where lr = peak.
    """
    if isinstance(step, bool) or int(step) != step or step < 1:
        raise ValueError(f"steps are counted from 1, got step {step!r}")
    if isinstance(warmup, bool) or int(warmup) != warmup or warmup < 1:
        raise ValueError(f"warmup must be a whole number of steps >= 1, got {warmup!r}")
    if not peak > 0:
        raise ValueError(f"the peak learning rate must be > 0, got {peak!r}")
    return peak * min(step / warmup, math.sqrt(warmup / step))


def vaswani_peak(width: int, warmup: int) -> float:
    """The paper's peak width^-0.5 * warmup^-0.5: its lrate formula is transformer_learning_rate with this peak."""
    if width < 1 or warmup < 1:
        raise ValueError(f"width and warmup must be >= 1, got width {width} and warmup {warmup}")
    return width ** -0.5 * warmup ** -0.5
