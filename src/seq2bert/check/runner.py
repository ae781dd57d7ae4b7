"""Running an exercise check: call the learner's function on every case, judge, and explain.

A check never raises: whatever the learner's function does, the result is a CheckResult, and
the notebook carries on with either the learner's function (passed) or the reference.
"""
from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from seq2bert import report
from seq2bert.check import attention, nbgrader_mode, seq2seq
from seq2bert.check.decoder import FakeDecoder, StepMisuse
from seq2bert.check.frameworks import Framework, load_framework
from seq2bert.check.spec import Case, Exercise
from seq2bert.units import get_framework

EXERCISES: dict[str, Exercise] = {exercise.name: exercise for exercise in (*seq2seq.EXERCISES, *attention.EXERCISES)}

# float32 results are compared with the float64 NumPy references at this tolerance.
RTOL = ATOL = 1e-5
NOT_ATTEMPTED = "not attempted yet: replace the `raise NotImplementedError` with your code and re-run this cell"
USING_REFERENCE = "(the rest of this notebook uses the reference implementation)"
_MARKS = {"passed": "✅", "failed": "❌", "not_attempted": "⏳"}


@dataclass(frozen=True)
class CheckResult:
    """The verdict on one exercise, as shown to the learner and read by the grader."""

    exercise: str  # exercise name, e.g. "masked_softmax"
    framework: str  # "pytorch" or "tensorflow"
    status: str  # "passed", "failed" or "not_attempted"
    hint: str  # what to do next; empty when passed
    cases: int  # how many input cases the check has
    mistake: str = ""  # name of the recognised known mistake, if any (not in the payload)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def payload(self) -> dict[str, Any]:
        """The machine-readable form the notebook grader reads."""
        return {"exercise": self.exercise, "framework": self.framework, "status": self.status,
                "hint": self.hint, "cases": self.cases}

    def text(self) -> str:
        """The line a learner reads."""
        mark = _MARKS[self.status]
        if self.passed:
            return f"{mark} {self.exercise}: passed ({self.cases} cases)"
        hint = NOT_ATTEMPTED if self.status == "not_attempted" else self.hint
        return f"{mark} {self.exercise}: {hint}\n   {USING_REFERENCE}"


@dataclass(frozen=True)
class _Outcome:
    """What happened on one case: a problem kind ("ok" when fine) with its details."""

    kind: str  # ok, not_attempted, wrong_type, mutated, wrong_dtype, misuse, raised, mismatch
    index: int  # 1-based case number
    hint: str = ""  # ready-made hint for kinds other than mismatch
    got: np.ndarray | None = None  # the learner's normalised output (mismatch)
    expected: np.ndarray | None = None  # the reference's normalised output (mismatch)


def evaluate(name: str, framework: str | Framework, function: Any) -> CheckResult:
    """Check `function` against exercise `name` in `framework` (a name or a loaded Framework)."""
    exercise = EXERCISES[name]
    fw = framework if isinstance(framework, Framework) else load_framework(get_framework(framework))
    cases = exercise.make_cases(np.random.default_rng(zlib.crc32(name.encode())))

    def result(status: str, hint: str = "", mistake: str = "") -> CheckResult:
        return CheckResult(name, fw.name, status, hint, len(cases), mistake)

    if not callable(function):
        return result("failed", f"pass the function itself, check.{name}({name}), not {type(function).__name__}")
    try:
        outcomes = [_run_case(exercise, fw, function, case, index) for index, case in enumerate(cases, 1)]
        hint, mistake = _diagnose(exercise, fw, function, cases, outcomes)
    except Exception as error:  # a bug in the check itself must not stop the notebook
        return result("failed", f"the check itself failed ({type(error).__name__}: {error}); please report this")
    if hint is None:
        return result("passed")
    if hint == NOT_ATTEMPTED:
        return result("not_attempted", NOT_ATTEMPTED)
    return result("failed", hint, mistake)


def _framework_args(fw: Framework, case: Case) -> list:
    def convert(value):
        if isinstance(value, FakeDecoder):
            return value.step_function(fw.to_tensor, fw.loose_numpy)
        return fw.to_tensor(value) if isinstance(value, np.ndarray) else value

    return [convert(value) for value in case.args.values()]


def _numpy_args(case: Case) -> list:
    def convert(value):
        if isinstance(value, FakeDecoder):
            return value.step_function(np.asarray, np.asarray)
        return value.copy() if isinstance(value, np.ndarray) else value

    return [convert(value) for value in case.args.values()]


def _run_case(exercise: Exercise, fw: Framework, function: Callable, case: Case, index: int) -> _Outcome:
    args = _framework_args(fw, case)
    try:
        output = function(*args)
    except NotImplementedError:
        return _Outcome("not_attempted", index, NOT_ATTEMPTED)
    except StepMisuse as error:
        return _Outcome("misuse", index, f"{error} (case {index}: {case.label})")
    except Exception as error:
        return _Outcome("raised", index, f"your function raised {_describe_error(error)} on case {index} "
                                         f"({case.label}; inputs: {_describe_inputs(case)})")
    for (arg_name, original), arg in zip(case.args.items(), args):
        if isinstance(original, np.ndarray) and not np.array_equal(fw.to_numpy(arg), original):
            return _Outcome("mutated", index, f"your function changed its argument `{arg_name}` in place: use "
                                              "out-of-place operations (e.g. masked_fill, not masked_fill_) so "
                                              "the caller's tensor stays as it was")
    if not fw.is_tensor(output):
        return _Outcome("wrong_type", index, fw.wrong_type_hint(output))
    try:
        got = fw.to_numpy(output)
    except Exception:  # e.g. bfloat16, which NumPy cannot hold
        return _Outcome("wrong_dtype", index, f"{exercise.output} dtype {output.dtype}, which this check "
                                              "cannot read: return the dtype of the inputs")
    dtype_hint = _dtype_hint(exercise, got)
    if dtype_hint:
        return _Outcome("wrong_dtype", index, dtype_hint)
    got = exercise.normalise(got, case)
    expected = exercise.normalise(np.asarray(exercise.reference(*_numpy_args(case))), case)
    if _same(got, expected):
        return _Outcome("ok", index)
    return _Outcome("mismatch", index, got=got, expected=expected)


def _diagnose(exercise: Exercise, fw: Framework, function: Callable, cases: list[Case],
              outcomes: list[_Outcome]) -> tuple[str | None, str]:
    """(hint for the most telling problem or None when every case passed, recognised mistake name)."""
    for kind in ("not_attempted", "wrong_type", "mutated", "wrong_dtype"):
        for outcome in outcomes:
            if outcome.kind == kind:
                return outcome.hint, ""
    for outcome in outcomes:
        if outcome.kind == "mismatch":
            hint, mistake = _matching_mistake(exercise, cases[outcome.index - 1], outcome)
            if hint:
                return hint, mistake
    for outcome in outcomes:
        if outcome.kind == "misuse":
            return outcome.hint, ""
    for outcome in outcomes:
        if outcome.kind == "raised":
            return outcome.hint, ""
        if outcome.kind == "mismatch":
            return _generic_hint(exercise, cases[outcome.index - 1], outcome, len(cases)), ""
    if exercise.grad_arg:
        return _gradient_hint(exercise, fw, function, cases[0]), ""
    return None, ""


def _matching_mistake(exercise: Exercise, case: Case, outcome: _Outcome) -> tuple[str | None, str]:
    """(hint, name) of the first known mistake whose output on `case` equals the learner's."""
    for mistake in exercise.mistakes:
        try:
            wrong = exercise.normalise(np.asarray(mistake.wrong(*_numpy_args(case))), case)
        except Exception:  # this mistake cannot even run on this case
            continue
        if _same(wrong, outcome.expected) or not _same(wrong, outcome.got):
            continue
        hint = mistake.hint(case, outcome.got) if callable(mistake.hint) else mistake.hint
        if outcome.got.shape != outcome.expected.shape:
            hint = f"{_shape_phrase(exercise, outcome)}: {hint}"
        return hint, mistake.name
    return None, ""


def _generic_hint(exercise: Exercise, case: Case, outcome: _Outcome, count: int) -> str:
    where = f"case {outcome.index} of {count} ({case.label}; inputs: {_describe_inputs(case)})"
    got, expected = outcome.got, outcome.expected
    if got.shape != expected.shape:
        return f"{_shape_phrase(exercise, outcome)} on {where}: {_shape_advice(got.shape, expected.shape)}"
    close = np.isclose(got.astype(np.float64), expected.astype(np.float64), rtol=RTOL, atol=ATOL)
    differing = np.argwhere(~close)
    first = tuple(int(i) for i in differing[0]) if expected.ndim and len(differing) else ()
    at = f" at index {first}" if first else ""
    text = f"wrong values on {where}:{at} expected {_describe_array(expected[first])}, got {_describe_array(got[first])}"
    if expected.ndim and expected.size <= 16:
        text += f"; all expected: {_describe_array(expected)}, all got: {_describe_array(got)}"
    if got.dtype.kind == "f" and np.isnan(got).any():
        text += " (NaN appears: look for log of a non-positive number, 0 * inf, or inf - inf)"
    return text


def _shape_phrase(exercise: Exercise, outcome: _Outcome) -> str:
    return f"{exercise.output} shape {outcome.got.shape} but expected {outcome.expected.shape}"


def _shape_advice(got: tuple, expected: tuple) -> str:
    if expected == ():
        return "return a single number (a 0-d tensor), e.g. by summing and dividing"
    if len(got) == len(expected) and got == expected[::-1]:
        return "are two axes swapped?"
    if len(got) == len(expected) - 1:
        return "an axis is missing: did you sum or reduce over an axis you should keep?"
    if len(got) == len(expected) + 1:
        return "there is an extra axis: did you forget to reduce over one, or to squeeze it?"
    return "check which axes your operations combine and keep"


def _gradient_hint(exercise: Exercise, fw: Framework, function: Callable, case: Case) -> str | None:
    args = _framework_args(fw, case)
    index = list(case.args).index(exercise.grad_arg)
    try:
        keeps = fw.keeps_gradient(function, args, index)
    except Exception as error:
        return f"your function raised {_describe_error(error)} when called for gradients (case 1: {case.label})"
    if keeps:
        return None
    return (f"the result cannot be differentiated with respect to `{exercise.grad_arg}`: compute it with "
            f"{fw.title} operations only (no .numpy(), .item() or new tensors built from computed values) "
            "so training can back-propagate through it")


def _dtype_hint(exercise: Exercise, got: np.ndarray) -> str:
    kind = got.dtype.kind
    if exercise.kind == "bool" and kind != "b":
        return (f"{exercise.output} dtype {got.dtype} but should be bool: a comparison such as "
                "positions < lengths already gives booleans, don't convert it to numbers")
    if exercise.kind == "int" and kind not in "iu":
        return f"{exercise.output} dtype {got.dtype} but should hold integer token ids (argmax gives integers)"
    if exercise.kind == "float" and got.dtype != np.float32:
        return f"{exercise.output} dtype {got.dtype} but should be float32, like the inputs"
    return ""


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape:
        return False
    return bool(np.allclose(a.astype(np.float64), b.astype(np.float64), rtol=RTOL, atol=ATOL, equal_nan=True))


def _describe_error(error: Exception) -> str:
    # TensorFlow prefixes op errors with an internal node name that means nothing to a learner.
    message = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", str(error).strip())
    message = message.splitlines()[0] if message else ""
    if len(message) > 200:
        message = message[:197] + "..."
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _describe_array(array: np.ndarray) -> str:
    array = np.asarray(array)
    if array.size > 16:
        return f"an array of shape {array.shape}"
    return np.array2string(array, precision=4, separator=", ", max_line_width=10_000, floatmode="maxprec")


def _describe_inputs(case: Case) -> str:
    parts = []
    for name, value in case.args.items():
        if isinstance(value, np.ndarray):
            kind = "ints" if value.dtype.kind in "iu" else str(value.dtype)  # int32 or int64 by framework
            shown = _describe_array(value) if value.size <= 8 else f"{kind} {value.shape}"
            parts.append(f"{name}={shown}")
        else:
            parts.append(f"{name}={value}")
    return ", ".join(parts)


class ExerciseChecks:
    """The exercise checks of one framework: `check.masked_softmax(masked_softmax)`."""

    def __init__(self, framework: str) -> None:
        self.framework = load_framework(get_framework(framework))

    def run(self, name: str, function: Any) -> Callable:
        """Check `function`, show the result, and return the function the notebook should use."""
        result = evaluate(name, self.framework, function)
        report.show_check(result.payload(), result.text())
        fallback = function if result.passed else self.framework.reference(name)
        nbgrader_mode.fail_unless_passed(result, fallback)  # raises under nbgrader only
        return fallback

    def __getattr__(self, name: str) -> Callable:
        if name not in EXERCISES:
            raise AttributeError(f"there is no exercise check {name!r}; the checks are: {', '.join(EXERCISES)}")

        def check(function: Any) -> Callable:
            return self.run(name, function)

        check.__name__ = name
        check.__doc__ = f"Check your `{name}`: prints the verdict and returns the function to use from now on."
        return check

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *EXERCISES})


def exercises(framework: str) -> ExerciseChecks:
    """The exercise checks for "pytorch" or "tensorflow" (imports only that framework)."""
    return ExerciseChecks(framework)


def exercise_names(unit: str | None = None) -> list[str]:
    """Names of the checked exercises, optionally of one unit ("01", "02")."""
    return [name for name, exercise in EXERCISES.items() if unit is None or exercise.unit == unit]
