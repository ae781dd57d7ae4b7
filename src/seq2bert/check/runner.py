"""Running an exercise check: call the learner's function on every case, judge, and explain.

A check never raises for a learner: whatever the learner's function does, the result is a
CheckResult, and the notebook carries on with either the learner's function (passed) or the
reference. Under nbgrader (NBGRADER_EXECUTION set) a check that did not pass assigns the
reference and then raises, so nbgrader scores the cell zero (seq2bert.check.nbgrader_mode).
"""
from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from seq2bert import report
from seq2bert.check import nbgrader_mode, registry
from seq2bert.check.fake_decoder import StepMisuse
from seq2bert.check.frameworks import Framework, load_framework
from seq2bert.check.originality import SWITCHED_OFF, Watch, call_watched
from seq2bert.check.spec import Case, Exercise, Seeded, describe_array
from seq2bert.units import get_framework

NOT_ATTEMPTED = "not attempted yet: replace the `raise NotImplementedError` with your code and re-run this cell"
USING_REFERENCE = "(the rest of this notebook uses the reference implementation)"
_MARKS = {"passed": "✅", "failed": "❌", "not_attempted": "⏳"}
# Problems that make a result unreadable, in the order a hint reports them.
_BLOCKING = ("uses_reference", "not_attempted", "wrong_type", "mutated", "wrong_dtype")


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

    # ok, uses_reference, not_attempted, wrong_type, mutated, wrong_dtype, misuse, raised,
    # mismatch, judged, not_reproducible
    kind: str
    index: int  # 1-based case number
    hint: str = ""  # ready-made hint for kinds other than mismatch
    got: tuple = ()  # the learner's normalised result, one array per output (mismatch)
    expected: tuple = ()  # the reference's normalised result (mismatch)
    part: int = 0  # which output differs first (mismatch)
    varies: bool = False  # a random function's result changed with the seed (judged cases)


def evaluate(name: str, framework: str | Framework, function: Any) -> CheckResult:
    """Check `function` against exercise `name` in `framework` (a name or a loaded Framework)."""
    exercise = registry.get(name)
    fw = framework if isinstance(framework, Framework) else load_framework(get_framework(framework))
    cases = exercise.make_cases(np.random.default_rng(zlib.crc32(name.encode())))

    def result(status: str, hint: str = "", mistake: str = "") -> CheckResult:
        return CheckResult(name, fw.name, status, hint, len(cases), mistake)

    if not callable(function):
        return result("failed", f"pass the function itself, check.{name}({name}), not {type(function).__name__}")
    if function is fw.reference(name):  # imported, or left bound by an earlier check that did not pass
        path = registry.get(name).references[fw.name].replace(":", ".")
        return result("failed", f"this exercise asks for your own code, but `{name}` is the course's reference "
                                f"`{path}` itself: write your own; if you re-ran this check after one that did not "
                                "pass, the notebook had switched to the reference, so re-run the cell that defines "
                                f"your `{name}` first")
    try:
        watch = Watch(fw.forbidden(name))
        outcomes = [_run_case(exercise, fw, function, case, index, watch) for index, case in enumerate(cases, 1)]
        hint, mistake = _diagnose(exercise, fw, function, cases, outcomes)
    except Exception as error:  # a bug in the check itself must not stop the notebook
        return result("failed", f"the check itself failed ({type(error).__name__}: {error}); please report this")
    if hint is None:
        return result("passed")
    if hint == NOT_ATTEMPTED:
        return result("not_attempted", NOT_ATTEMPTED)
    return result("failed", hint, mistake)


def _parts(exercise: Exercise, result: Any) -> tuple:
    """A reference or mistake result as one NumPy array per output."""
    if len(exercise.outputs) == 1:
        return (np.asarray(result),)
    return tuple(np.asarray(part) for part in result)


def _form(exercise: Exercise, parts: tuple) -> Any:
    """One array per output back to the form the exercise's callables use."""
    return parts[0] if len(exercise.outputs) == 1 else tuple(parts)


def _normalised(exercise: Exercise, parts: tuple, case: Case) -> tuple:
    return _parts(exercise, exercise.normalise(_form(exercise, parts), case))


def _expected(exercise: Exercise, case: Case, function=None) -> tuple:
    function = function or exercise.reference
    return _normalised(exercise, _parts(exercise, function(*case.args.values())), case)


def _uses_reference_hint(fw: Framework, label: str) -> str:
    if label == SWITCHED_OFF:
        return ("your function switched off the check's watch (sys.setprofile), so the check cannot tell "
                f"whose code it runs: write the computation with {fw.title} operations and leave the profiler alone")
    return (f"this exercise asks for your own code, but your function uses `{label.replace(':', '.')}`, "
            f"which already solves it: write the computation yourself with {fw.title} operations")


def _call(exercise: Exercise, fw: Framework, function: Callable, case: Case, index: int,
          watch: Watch) -> tuple[list, Any, _Outcome | None]:
    """(the arguments passed, the learner's raw output, the problem if the call itself went wrong)."""
    args = [argument.for_framework(fw) for argument in case.arguments.values()]
    watch.found = ""
    try:
        output = call_watched(watch, function, args)
    except NotImplementedError:
        output, problem = None, _Outcome("not_attempted", index, NOT_ATTEMPTED)
    except StepMisuse as error:
        output, problem = None, _Outcome("misuse", index, f"{error} (case {index}: {case.label})")
    except Exception as error:
        output, problem = None, _Outcome("raised", index, f"your function raised {_describe_error(error)} on case "
                                                          f"{index} ({case.label}; inputs: {case.describe()})")
    else:
        problem = None
    if watch.found:
        return args, None, _Outcome("uses_reference", index, _uses_reference_hint(fw, watch.found))
    return args, output, problem


def _learner_parts(exercise: Exercise, fw: Framework, output: Any, index: int) -> tuple[tuple, _Outcome | None]:
    """The learner's output as one NumPy array per output, or the problem that prevents it."""
    count = len(exercise.outputs)
    if count == 1:
        items, prefix = (output,), ""
    elif isinstance(output, (tuple, list)) and len(output) == count:
        items, prefix = tuple(output), "{position} of the {count} results: "
    else:
        what = f"a {type(output).__name__} of {len(output)}" if isinstance(output, (tuple, list)) else \
            ("None" if output is None else f"a {type(output).__name__}")
        return (), _Outcome("wrong_type", index, f"your function returned {what}, expected a tuple of {count} "
                                                 f"{fw.tensor_type}s: {_output_names(exercise)}")
    parts = []
    for position, (item, declared) in enumerate(zip(items, exercise.outputs), 1):
        lead = prefix.format(position=_ordinal(position), count=count)
        if declared.kind == "number":  # a plain Python number, e.g. a learning rate
            if not _is_real_number(item):
                return (), _Outcome("wrong_type", index, lead + _number_hint(fw, item))
            parts.append(np.asarray(float(item)))
            continue
        if not fw.is_tensor(item):
            return (), _Outcome("wrong_type", index, lead + fw.wrong_type_hint(item))
        try:
            array = fw.to_numpy(item)
        except Exception:  # e.g. bfloat16, which NumPy cannot hold
            return (), _Outcome("wrong_dtype", index, f"{declared.phrase} dtype {item.dtype}, which this check "
                                                      "cannot read: return the dtype of the inputs")
        dtype_hint = _dtype_hint(declared.phrase, declared.kind, array)
        if dtype_hint:
            return (), _Outcome("wrong_dtype", index, dtype_hint)
        parts.append(array)
    return tuple(parts), None


def _is_real_number(value: Any) -> bool:
    """A Python or NumPy int or float (a 0-d array too), but not a bool or a tensor."""
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (int, float, np.integer, np.floating)):
        return True
    return isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf"


def _number_hint(fw: Framework, value: Any) -> str:
    if value is None:
        return "your function returned None: did you forget the `return` statement?"
    if fw.is_tensor(value):
        return (f"your function returned a {fw.tensor_type}, expected a plain Python float: compute it with "
                "Python arithmetic (min, math.sqrt or ** 0.5), no tensors needed")
    if isinstance(value, np.ndarray):
        return f"your function returned a NumPy array of shape {value.shape}, expected a plain Python float"
    return f"your function returned a {type(value).__name__}, expected a plain Python float"


def _run_case(exercise: Exercise, fw: Framework, function: Callable, case: Case, index: int,
              watch: Watch) -> _Outcome:
    args, output, problem = _call(exercise, fw, function, case, index, watch)
    if problem is not None:
        return problem
    for (arg_name, argument), arg in zip(case.arguments.items(), args):
        if argument.mutated(fw, arg):
            return _Outcome("mutated", index, f"your function changed its argument `{arg_name}` in place: use "
                                              "out-of-place operations (e.g. masked_fill, not masked_fill_) so "
                                              "the caller's tensor stays as it was")
    got, problem = _learner_parts(exercise, fw, output, index)
    if problem is not None:
        return problem
    got = _normalised(exercise, got, case)
    if exercise.judge is not None:
        return _judge_case(exercise, fw, function, case, index, watch, got)
    expected = _expected(exercise, case)
    part = _first_difference(exercise, got, expected)
    if part is None:
        return _Outcome("ok", index)
    return _Outcome("mismatch", index, got=got, expected=expected, part=part)


def _judge_case(exercise: Exercise, fw: Framework, function: Callable, case: Case, index: int,
                watch: Watch, got: tuple) -> _Outcome:
    """A random function: its result must satisfy the judge and be the same for the same seed."""
    verdict = exercise.judge(case, _form(exercise, got))
    if verdict:
        return _Outcome("judged", index, f"{verdict} (case {index}: {case.label})")
    if not any(isinstance(argument, Seeded) for argument in case.arguments.values()):
        return _Outcome("ok", index)
    again, problem = _rerun(exercise, fw, function, case, index, watch)
    if problem is not None:
        return problem
    if not _equal(got, again):
        return _Outcome("not_reproducible", index,
                        "called twice with generators of the same seed, your function gave different results: "
                        "draw every random number from the generator argument (pass generator= / use its "
                        f"methods), not from the global random state (case {index}: {case.label})")
    reseeded = Case(case.label, {name: Seeded(argument.seed + 1000) if isinstance(argument, Seeded) else argument
                                 for name, argument in case.arguments.items()})
    other, problem = _rerun(exercise, fw, function, reseeded, index, watch)
    if problem is not None:
        return problem
    return _Outcome("ok", index, varies=not _equal(got, other))


def _rerun(exercise: Exercise, fw: Framework, function: Callable, case: Case, index: int,
           watch: Watch) -> tuple[tuple, _Outcome | None]:
    """The learner's normalised result on `case` called afresh, or the problem that prevents it."""
    _, output, problem = _call(exercise, fw, function, case, index, watch)
    if problem is not None:
        return (), problem
    parts, problem = _learner_parts(exercise, fw, output, index)
    if problem is not None:
        return (), problem
    return _normalised(exercise, parts, case), None


def _equal(a: tuple, b: tuple) -> bool:
    return all(x.shape == y.shape and np.array_equal(x, y, equal_nan=True) for x, y in zip(a, b))


def _first_difference(exercise: Exercise, got: tuple, expected: tuple) -> int | None:
    for part, (a, b) in enumerate(zip(got, expected)):
        if not _same(a, b, exercise):
            return part
    return None


def _diagnose(exercise: Exercise, fw: Framework, function: Callable, cases: list[Case],
              outcomes: list[_Outcome]) -> tuple[str | None, str]:
    """(hint for the most telling problem or None when every case passed, recognised mistake name)."""
    for kind in _BLOCKING:
        for outcome in outcomes:
            if outcome.kind == kind:
                return outcome.hint, ""
    hint, mistake = _known_mistake(exercise, cases, outcomes)
    if hint:
        return hint, mistake
    for kind in ("misuse", "judged", "not_reproducible"):
        for outcome in outcomes:
            if outcome.kind == kind:
                return outcome.hint, ""
    for outcome in outcomes:
        if outcome.kind == "raised":
            return outcome.hint, ""
        if outcome.kind == "mismatch":
            return _generic_hint(exercise, cases[outcome.index - 1], outcome, len(cases)), ""
    seeded = any(isinstance(a, Seeded) for case in cases for a in case.arguments.values())
    if exercise.judge is not None and seeded and not any(outcome.varies for outcome in outcomes):
        return ("your function gives the same result whatever the generator's seed: draw the random numbers "
                "from the generator argument instead of fixing a seed or a pattern yourself"), ""
    if exercise.grad_arg:
        return _gradient_hint(exercise, fw, function, cases[0]), ""
    return None, ""


def _known_mistake(exercise: Exercise, cases: list[Case], outcomes: list[_Outcome]) -> tuple[str | None, str]:
    """(hint, name) of the first known mistake that explains the learner's result on every wrong case.

    A mistake explains a case when its result equals the learner's; it must differ from the
    reference on at least one of them (a case where it happens to agree with the reference,
    such as a length-1 sequence, tells nothing). A mistake that cannot run on a case is not
    held against it.
    """
    mismatches = [outcome for outcome in outcomes if outcome.kind == "mismatch"]
    for mistake in exercise.mistakes:
        telling: _Outcome | None = None
        for outcome in mismatches:
            try:
                wrong = _expected(exercise, cases[outcome.index - 1], mistake.wrong)
            except Exception:  # this mistake cannot even run on this case
                continue
            if _first_difference(exercise, wrong, outcome.got) is not None:
                break
            if telling is None and _first_difference(exercise, wrong, outcome.expected) is not None:
                telling = outcome
        else:
            if telling is not None:
                got = _form(exercise, telling.got)
                case = cases[telling.index - 1]
                hint = mistake.hint(case, got) if callable(mistake.hint) else mistake.hint
                if telling.got[telling.part].shape != telling.expected[telling.part].shape:
                    hint = f"{_shape_phrase(exercise, telling)}: {hint}"
                return hint, mistake.name
    return None, ""


def _generic_hint(exercise: Exercise, case: Case, outcome: _Outcome, count: int) -> str:
    where = f"case {outcome.index} of {count} ({case.label}; inputs: {case.describe()})"
    got, expected = outcome.got[outcome.part], outcome.expected[outcome.part]
    if got.shape != expected.shape:
        return f"{_shape_phrase(exercise, outcome)} on {where}: {_shape_advice(got.shape, expected.shape)}"
    close = np.isclose(got.astype(np.float64), expected.astype(np.float64), rtol=exercise.rtol, atol=exercise.atol)
    differing = np.argwhere(~close)
    first = tuple(int(i) for i in differing[0]) if expected.ndim and len(differing) else ()
    at = f" at index {first}" if first else ""
    subject = "" if len(exercise.outputs) == 1 else f" in {_subject(exercise.outputs[outcome.part].phrase)}"
    text = (f"wrong values{subject} on {where}:{at} expected {describe_array(expected[first])}, "
            f"got {describe_array(got[first])}")
    if expected.ndim and expected.size <= 16:
        text += f"; all expected: {describe_array(expected)}, all got: {describe_array(got)}"
    if got.dtype.kind == "f" and np.isnan(got).any():
        text += " (NaN appears: look for log of a non-positive number, 0 * inf, or inf - inf)"
    return text


def _subject(phrase: str) -> str:
    """ "the weights have" -> "the weights" """
    return phrase.rsplit(" ", 1)[0]


def _output_names(exercise: Exercise) -> str:
    return ", ".join(_subject(output.phrase) for output in exercise.outputs)


def _ordinal(position: int) -> str:
    return {1: "first", 2: "second", 3: "third"}.get(position, f"result {position}")


def _shape_phrase(exercise: Exercise, outcome: _Outcome) -> str:
    phrase = exercise.outputs[outcome.part].phrase
    return f"{phrase} shape {outcome.got[outcome.part].shape} but expected {outcome.expected[outcome.part].shape}"


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
    """None when the learner's result back-propagates like the course's; otherwise what is wrong.

    The gradient of a random weighting of the (first float) result is compared with the one the
    course's reference gives, so a result with the right values but cut off from its inputs
    (.detach(), tf.stop_gradient, a NumPy round trip plus 0 * x) is caught.
    """
    index = list(case.arguments).index(exercise.grad_arg)
    # With several outputs, the first float one must carry the gradient.
    part = next(i for i, output in enumerate(exercise.outputs) if output.kind == "float")
    single = len(exercise.outputs) == 1

    def selecting(inner: Callable) -> Callable:
        def differentiable(*call_args):
            output = inner(*call_args)
            return output if single else output[part]
        return differentiable

    def gradient_of(inner: Callable):
        args = [argument.for_framework(fw) for argument in case.arguments.values()]
        return fw.gradient(selecting(inner), args, index, weights)

    expected_output = _expected(exercise, case)[part] if exercise.reference is not None else None
    shape = expected_output.shape if expected_output is not None else ()
    weights = np.random.default_rng(0).uniform(0.5, 1.5, size=shape).astype(np.float32)
    try:
        got = gradient_of(function)
    except Exception as error:
        return f"your function raised {_describe_error(error)} when called for gradients (case 1: {case.label})"
    subject = "the result" if single else _subject(exercise.outputs[part].phrase)
    if got is None:
        return (f"{subject} cannot be differentiated with respect to `{exercise.grad_arg}`: compute it with "
                f"{fw.title} operations only (no .numpy(), .item() or new tensors built from computed values) "
                "so training can back-propagate through it")
    expected = gradient_of(fw.reference(exercise.name))
    if expected is not None and not np.allclose(got, expected, rtol=1e-4, atol=1e-5):
        return (f"{subject} has the right values, but its gradient with respect to `{exercise.grad_arg}` is wrong "
                f"(case 1: {case.label}): part of the computation is cut off from back-propagation (.detach(), "
                "tf.stop_gradient, or values rebuilt from .numpy()); compute everything from the inputs")
    return None


def _dtype_hint(phrase: str, kind: str, got: np.ndarray) -> str:
    if kind == "bool" and got.dtype.kind != "b":
        return (f"{phrase} dtype {got.dtype} but should be bool: a comparison such as "
                "positions < lengths already gives booleans, don't convert it to numbers")
    if kind == "int" and got.dtype.kind not in "iu":
        return f"{phrase} dtype {got.dtype} but should hold integer token ids (argmax gives integers)"
    if kind == "float" and got.dtype != np.float32:
        return f"{phrase} dtype {got.dtype} but should be float32, like the inputs"
    return ""


def _same(a: np.ndarray, b: np.ndarray, exercise: Exercise) -> bool:
    if a.shape != b.shape:
        return False
    return bool(np.allclose(a.astype(np.float64), b.astype(np.float64), rtol=exercise.rtol, atol=exercise.atol,
                            equal_nan=True))


def _describe_error(error: Exception) -> str:
    # TensorFlow prefixes op errors with an internal node name that means nothing to a learner.
    message = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", str(error).strip())
    message = message.splitlines()[0] if message else ""
    if len(message) > 200:
        message = message[:197] + "..."
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


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

    def reference(self, name: str) -> Callable:
        """The course's own implementation of exercise `name` (what the notebook falls back to)."""
        return self.framework.reference(name)

    def __getattr__(self, name: str) -> Callable:
        if name.startswith("__") or name not in registry.all_exercises():
            known = ", ".join(registry.all_exercises())
            raise AttributeError(f"there is no exercise check {name!r}; the checks are: {known}")

        def check(function: Any) -> Callable:
            return self.run(name, function)

        check.__name__ = name
        check.__doc__ = f"Check your `{name}`: prints the verdict and returns the function to use from now on."
        return check

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *registry.all_exercises()})


def exercises(framework: str) -> ExerciseChecks:
    """The exercise checks for "pytorch" or "tensorflow" (imports only that framework)."""
    return ExerciseChecks(framework)

