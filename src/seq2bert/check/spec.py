"""What an exercise check is made of: the exercise, its test cases, its arguments and known mistakes.

Everything here is framework-neutral NumPy; seq2bert.check.frameworks turns arguments into
tensors. A case's arguments say themselves how they are converted (the Argument protocol):
`Tensor` becomes a tensor of the framework, `Plain` is passed as it is, `Seeded` becomes a
random generator of the framework seeded the same way, and a FakeDecoder becomes a step
function. For brevity a Case wraps a bare ndarray in `Tensor` and any other bare value in `Plain`.

The callables of an exercise (reference, mistakes, hints, normalise, judge) see the result in the
form the learner's function returns it: one array, or a tuple of arrays when the exercise has
several outputs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Union, runtime_checkable

import numpy as np


@runtime_checkable
class Argument(Protocol):
    """How one argument of a case reaches the learner's function and the NumPy reference."""

    def for_framework(self, fw: Any) -> Any:
        """The value passed to the learner's function in framework `fw`."""

    def for_numpy(self) -> Any:
        """A fresh value passed to the NumPy reference and to the known mistakes."""

    def describe(self) -> str:
        """How hints show this argument."""

    def mutated(self, fw: Any, passed: Any) -> bool:
        """Whether the learner's function changed `passed` (the value it was given) in place."""


@dataclass(frozen=True, eq=False)
class Tensor:
    """An array passed as a tensor (bool stays bool, integers become the framework's id dtype)."""

    array: np.ndarray

    def for_framework(self, fw: Any) -> Any:
        return fw.to_tensor(self.array)

    def for_numpy(self) -> np.ndarray:
        return self.array.copy()

    def mutated(self, fw: Any, passed: Any) -> bool:
        return not np.array_equal(fw.to_numpy(passed), self.array)

    def describe(self) -> str:
        if self.array.size <= 8:
            return describe_array(self.array)
        kind = "ints" if self.array.dtype.kind in "iu" else str(self.array.dtype)  # int32 or int64 by framework
        return f"{kind} {self.array.shape}"


@dataclass(frozen=True)
class Plain:
    """A Python value (an int, a float, a string) passed unchanged."""

    value: Any

    def for_framework(self, fw: Any) -> Any:
        return self.value

    def for_numpy(self) -> Any:
        return self.value

    def describe(self) -> str:
        return str(self.value)

    def mutated(self, fw: Any, passed: Any) -> bool:
        return False


@dataclass(frozen=True)
class Seeded:
    """A random generator of the framework, seeded with `seed` (NumPy's for the references)."""

    seed: int

    def for_framework(self, fw: Any) -> Any:
        return fw.generator(self.seed)

    def for_numpy(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)

    def describe(self) -> str:
        return f"a generator seeded with {self.seed}"

    def mutated(self, fw: Any, passed: Any) -> bool:
        return False  # drawing from the generator is what it is for


def as_argument(value: Any) -> Argument:
    """A bare ndarray becomes Tensor, any other bare value Plain; Arguments stay as they are."""
    if isinstance(value, Argument):
        return value
    if isinstance(value, np.ndarray):
        return Tensor(value)
    return Plain(value)


@dataclass(frozen=True)
class Case:
    """One set of inputs for an exercise, in the order of the function's arguments."""

    label: str  # what the case is about, shown in hints ("batch of 1")
    arguments: Mapping[str, Argument]  # argument name -> how it is passed (bare values are wrapped)

    def __post_init__(self) -> None:
        object.__setattr__(self, "arguments", {name: as_argument(value) for name, value in self.arguments.items()})

    @property
    def args(self) -> dict[str, Any]:
        """The arguments as NumPy sees them (arrays, numbers, generators), for hints and mistakes."""
        return {name: argument.for_numpy() for name, argument in self.arguments.items()}

    def describe(self) -> str:
        return ", ".join(f"{name}={argument.describe()}" for name, argument in self.arguments.items())


@dataclass(frozen=True)
class Output:
    """One result of an exercise: how hints name it and the dtype family it must have."""

    phrase: str  # the result with its verb, used in hints ("the weights have")
    kind: str  # "bool", "int", "float" (float32) or "number" (a plain Python float, not a tensor)


Result = Union[np.ndarray, tuple]  # one array, or one array per Output
# A hint is either fixed text or made from the case and the learner's result (NumPy).
Hint = Union[str, Callable[[Case, Result], str]]


@dataclass(frozen=True)
class Mistake:
    """A plausible wrong implementation (in NumPy) and what to tell a learner whose result matches it."""

    name: str  # short id, e.g. "no_mask"; CheckResult.mistake reports it
    wrong: Callable[..., Result]  # same arguments as the exercise
    hint: Hint  # actionable advice for this mistake


def _unchanged(result: Result, case: Case) -> Result:
    return result


@dataclass(frozen=True)
class Exercise:
    """A function learners write, with everything needed to check it in either framework.

    A deterministic exercise has a NumPy `reference` the learner's result must match within
    (rtol, atol). A random one (it takes a `Seeded` argument) has a `judge` instead, which reads
    the learner's result and returns a hint when it breaks the contract (statistics, rules); the
    check also demands the same result for the same seed.
    """

    name: str  # the function's name, also the check's name
    unit: str  # "01", "02", ...: the unit whose notebook asks for it
    outputs: tuple[Output, ...]  # what the function returns; several outputs come as a tuple
    make_cases: Callable[[np.random.Generator], list[Case]]  # inputs, from a seeded generator
    # The course's own implementation per framework, "module:function"; the notebook falls back to
    # it, and a learner's function that calls it earns no credit.
    references: Mapping[str, str]
    reference: Callable[..., Result] | None = None  # NumPy re-implementation of the contract
    judge: Callable[[Case, Result], str | None] | None = None  # for random functions, see above
    mistakes: tuple[Mistake, ...] = ()  # tried in order; the first whose result matches gives the hint
    grad_arg: str | None = None  # float argument the result must stay differentiable in
    # Applied to expected, learner and mistake results before comparing (greedy_decode trims padding).
    normalise: Callable[[Result, Case], Result] = field(default=_unchanged)
    rtol: float = 1e-5  # float32 results are compared with the float64 reference at this tolerance
    atol: float = 1e-5
    # Library functions that solve the exercise outright, per framework ("module:function"),
    # treated like the reference (e.g. a fused attention kernel).
    forbidden: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.reference is None) == (self.judge is None):
            raise ValueError(f"exercise {self.name!r} needs exactly one of reference and judge")
        if not self.outputs:
            raise ValueError(f"exercise {self.name!r} declares no outputs")
        if self.grad_arg is not None and self.reference is None:
            raise ValueError(f"exercise {self.name!r}: a gradient check compares with the reference, so it needs one")


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


def describe_array(array: np.ndarray) -> str:
    """A small array printed in full, a large one by its shape."""
    array = np.asarray(array)
    if array.size > 16:
        return f"an array of shape {array.shape}"
    return np.array2string(array, precision=4, separator=", ", max_line_width=10_000, floatmode="maxprec")
