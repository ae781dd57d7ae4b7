"""Why attention scores are scaled by 1/sqrt(d_k): the numbers behind unit 03's plots.

Queries and keys are random vectors with independent unit-variance entries, so q·k has
variance d_k (Vaswani et al. 2017, footnote 4). Without the scale the scores spread out as d_k
grows, the softmax saturates on one key, its entropy falls towards 0 and its Jacobian (the
gradient that reaches the scores) vanishes; with the scale both stay put. NumPy only, so the
PyTorch and TensorFlow notebooks show the same numbers.

Shape legend: N random queries, S keys per query, Dk key width.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

_CHUNK = 256  # queries drawn at a time, so wide keys do not need one large array


@dataclass(frozen=True)
class ScalingSweep:
    """Per key width d_k: the spread of q·k and what the softmax does with it, unscaled and scaled."""

    widths: np.ndarray  # (W,) the d_k values
    keys: int  # S, keys each query attends over; log(S) is the largest possible entropy
    dot_variance: np.ndarray  # (W,) variance of q·k over all draws (about d_k)
    entropy: np.ndarray  # (W,) mean attention entropy in nats, softmax(q·k)
    entropy_scaled: np.ndarray  # (W,) the same for softmax(q·k / sqrt(d_k))
    gradient_norm: np.ndarray  # (W,) mean Frobenius norm of the softmax Jacobian, unscaled scores
    gradient_norm_scaled: np.ndarray  # (W,) the same with scaled scores
    top_weight: np.ndarray  # (W,) mean largest attention weight, unscaled
    top_weight_scaled: np.ndarray  # (W,) the same, scaled

    @property
    def max_entropy(self) -> float:
        """log(S): the entropy of uniform weights over the keys."""
        return float(np.log(self.keys))

    def rows(self) -> list[dict]:
        """One dict per d_k, for printing a table."""
        names = ("dot_variance", "entropy", "entropy_scaled", "gradient_norm", "gradient_norm_scaled",
                 "top_weight", "top_weight_scaled")
        return [{"d_k": int(width), **{name: float(getattr(self, name)[i]) for name in names}}
                for i, width in enumerate(self.widths)]


def softmax(scores: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, shifted by the row maximum so it cannot overflow."""
    shifted = scores - scores.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def entropy(weights: np.ndarray) -> np.ndarray:
    """Entropy in nats of each row of weights (..., S) -> (...); 0 log 0 counts as 0."""
    logs = np.log(np.where(weights > 0, weights, 1.0))
    return -(weights * logs).sum(axis=-1)


def softmax_jacobian_norm(weights: np.ndarray) -> np.ndarray:
    """Frobenius norm of d softmax / d scores = diag(p) - p p^T for each row p (..., S) -> (...)."""
    jacobian = weights[..., :, None] * np.eye(weights.shape[-1]) \
        - weights[..., :, None] * weights[..., None, :]  # (..., S, 1) * (..., 1, S) -> (..., S, S)
    return np.sqrt((jacobian ** 2).sum(axis=(-2, -1)))


def scaling_sweep(widths: Sequence[int], queries: int = 1000, keys: int = 16, seed: int = 0) -> ScalingSweep:
    """Draw `queries` random queries and `keys` random keys each, N(0, 1) entries, for every d_k in `widths`."""
    widths = np.asarray(list(widths), dtype=int)
    if widths.ndim != 1 or len(widths) == 0 or (widths < 1).any():
        raise ValueError(f"widths must be a non-empty list of positive key widths, got {list(widths)}")
    if queries < 2 or keys < 2:
        raise ValueError(f"need at least 2 queries and 2 keys per query, got {queries} and {keys}")
    rng = np.random.default_rng(seed)
    results = {name: [] for name in ("dot_variance", "entropy", "entropy_scaled", "gradient_norm",
                                     "gradient_norm_scaled", "top_weight", "top_weight_scaled")}
    for width in widths:
        dots = []
        for start in range(0, queries, _CHUNK):
            count = min(_CHUNK, queries - start)
            q = rng.standard_normal((count, 1, width))  # (N, 1, Dk)
            k = rng.standard_normal((count, keys, width))  # (N, S, Dk)
            dots.append((q * k).sum(axis=-1))  # (N, 1, Dk) * (N, S, Dk) summed over Dk -> (N, S)
        dots = np.concatenate(dots)  # (N, S)
        results["dot_variance"].append(dots.var())
        for suffix, scores in (("", dots), ("_scaled", dots / np.sqrt(width))):
            weights = softmax(scores)
            results["entropy" + suffix].append(entropy(weights).mean())
            results["gradient_norm" + suffix].append(softmax_jacobian_norm(weights).mean())
            results["top_weight" + suffix].append(weights.max(axis=-1).mean())
    return ScalingSweep(widths=widths, keys=keys, **{name: np.asarray(values) for name, values in results.items()})
