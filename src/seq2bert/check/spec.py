"""What an exercise check is made of: test cases, known mistakes, and the exercise itself.

Everything here is framework-neutral NumPy; seq2bert.check.frameworks converts to tensors.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Union

import numpy as np


@dataclass(frozen=True)
class Case:
    """One set of inputs for an exercise, in the order of the function's arguments."""

    label: str  # what the case is about, shown in hints ("batch of 1")
    args: Mapping[str, Any]  # argument name -> NumPy array, Python number or FakeDecoder


# A hint is either fixed text or made from the case and the learner's (NumPy) output.
Hint = Union[str, Callable[[Case, np.ndarray], str]]


@dataclass(frozen=True)
class Mistake:
    """A plausible wrong implementation (in NumPy) and what to tell a learner whose output matches it."""

    name: str  # short id, e.g. "no_mask"; CheckResult.mistake reports it
    wrong: Callable[..., np.ndarray]  # same arguments as the exercise
    hint: Hint  # actionable advice for this mistake


def _unchanged(output: np.ndarray, case: Case) -> np.ndarray:
    return output


@dataclass(frozen=True)
class Exercise:
    """A function learners write, with everything needed to check it in either framework."""

    name: str  # the function's name, also the check's name
    unit: str  # "01", "02", ...
    output: str  # how hints name the result, with its verb ("the mask has", "the scores have")
    kind: str  # dtype family of the result: "bool", "int" or "float" (float32)
    make_cases: Callable[[np.random.Generator], list[Case]]  # inputs, from a seeded generator
    reference: Callable[..., np.ndarray]  # NumPy re-implementation of the contract
    mistakes: tuple[Mistake, ...]  # tried in order; the first whose output matches gives the hint
    grad_arg: str | None = None  # float argument the result must stay differentiable in
    # Applied to expected, learner and mistake outputs before comparing (greedy_decode trims padding).
    normalise: Callable[[np.ndarray, Case], np.ndarray] = field(default=_unchanged)


def lengths_mask(lengths: np.ndarray, max_len: int) -> np.ndarray:
    """(B,) lengths -> (B, max_len) bool mask, True at real tokens."""
    return np.arange(max_len)[None, :] < np.asarray(lengths)[:, None]  # (1, S) < (B, 1) -> (B, S)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax in float64."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.max(axis=axis, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable log-softmax in float64."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.max(axis=axis, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=axis, keepdims=True))
