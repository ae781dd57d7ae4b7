"""Exercise checks (seq2bert.check), for both frameworks: verdicts, hints, payloads, fallbacks.

Learner-style wrong answers written in each framework are in test_checks_torch.py and
test_checks_tf.py; here every known mistake of the table is replayed through NumPy.
"""
from __future__ import annotations

import functools
import importlib
import inspect
import math
import subprocess
import textwrap
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from seq2bert import report
from seq2bert.check import all_exercises, evaluate, exercise_names, exercises
from seq2bert.check.spec import lengths_mask
from seq2bert.units import CourseError, get_unit

REPO = Path(__file__).resolve().parents[1]
FRAMEWORKS = ["pytorch", "tensorflow"]
USING_REFERENCE = "(the rest of this notebook uses the reference implementation)"
EXERCISES = all_exercises()
OPS = {"pytorch": "seq2bert.torch.ops", "tensorflow": "seq2bert.tf.ops"}


def own_copy(function):
    """The same code typed again by a learner: a new function compiled from the reference's source."""
    namespace = dict(function.__globals__)
    exec(compile(textwrap.dedent(inspect.getsource(function)), "<learner cell>", "exec"), namespace)
    return namespace[function.__name__]


@pytest.fixture(scope="module", params=FRAMEWORKS)
def checks(request):
    return exercises(request.param)


@pytest.fixture
def shown(monkeypatch):
    """Every (payload, text) the checks hand to report.show_check."""
    calls = []
    monkeypatch.setattr(report, "show_check", lambda payload, text: calls.append((payload, text)))
    return calls


def through_numpy(fw, numpy_function):
    """A learner function in framework `fw` that computes `numpy_function` on NumPy copies."""
    def to_numpy_args(args):
        converted = []
        for arg in args:
            if fw.is_tensor(arg):
                converted.append(fw.to_numpy(arg))
            elif callable(arg):  # greedy_decode's step, attention_step's layers: NumPy in, NumPy out
                converted.append(_numpy_callable(fw, arg))
            else:
                converted.append(arg)
        return converted

    def as_tensor(output):
        output = np.asarray(output)
        return fw.to_tensor(output.astype(np.float32) if output.dtype == np.float64 else output)

    def learner(*args):
        output = numpy_function(*to_numpy_args(args))
        if isinstance(output, float):  # an exercise whose result is a plain number (a learning rate)
            return output
        return tuple(map(as_tensor, output)) if isinstance(output, tuple) else as_tensor(output)

    return learner


class _numpy_callable:
    """A callable given to the learner in framework `fw`, called with and returning NumPy arrays.

    Its callable attributes (a DecoderLayer's sub-layers) are wrapped the same way; others pass through.
    """

    def __init__(self, fw, function):
        self._fw, self._function = fw, function

    def _to_numpy(self, value):
        return self._fw.to_numpy(value) if self._fw.is_tensor(value) else value

    def __call__(self, *args):
        output = self._function(*(self._fw.to_tensor(arg) if isinstance(arg, np.ndarray) else arg for arg in args))
        return tuple(map(self._to_numpy, output)) if isinstance(output, tuple) else self._to_numpy(output)

    def __getattr__(self, name):
        value = getattr(self._function, name)
        return _numpy_callable(self._fw, value) if callable(value) else value


@pytest.mark.parametrize("name", list(EXERCISES))
def test_correct_learner_code_passes_and_learner_function_is_returned(checks, shown, name):
    learner = own_copy(checks.framework.reference(name))
    assert getattr(checks, name)(learner) is learner
    (payload, text), = shown
    cases = payload["cases"]
    assert cases >= 4
    assert payload == {"exercise": name, "framework": checks.framework.name, "status": "passed",
                       "hint": "", "cases": cases}
    assert text == f"✅ {name}: passed ({cases} cases)"


@pytest.mark.parametrize("name", list(EXERCISES))
def test_stub_is_not_attempted_and_reference_is_used(checks, shown, name):
    def stub(*args):
        raise NotImplementedError("write this function")

    assert getattr(checks, name)(stub) is checks.framework.reference(name)
    (payload, text), = shown
    assert payload["status"] == "not_attempted"
    assert "replace the `raise NotImplementedError`" in payload["hint"]
    assert text.startswith(f"⏳ {name}: not attempted yet") and text.endswith(USING_REFERENCE)


def exercise_cells(path: Path) -> dict[str, str]:
    """grade_id -> source of every nbgrader solution (exercise) cell of a built notebook."""
    notebook = nbformat.read(path, as_version=4)
    return {cell.metadata["nbgrader"]["grade_id"]: cell.source for cell in notebook.cells
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution")}


def notebook_function(fw, source: str, name: str):
    """Run an exercise cell with the imports the notebook's setup cells provide; the function it defines.

    Like the notebook, the cell also sees its unit's other exercises (after their checks: the
    learner's function or the reference), e.g. unit 04's multi_head_attention calls split_heads.
    """
    namespace = {"np": np, "math": math, "ops": importlib.import_module(OPS[fw.name]),
                 "attention": importlib.import_module(OPS[fw.name].replace(".ops", ".attention"))}
    namespace["torch" if fw.name == "pytorch" else "tf"] = fw.torch if fw.name == "pytorch" else fw.tf
    namespace.update({other: fw.reference(other) for other in exercise_names(EXERCISES[name].unit) if other != name})
    exec(compile(source, f"<exercise cell {name}>", "exec"), namespace)
    return namespace[name]


@pytest.mark.parametrize("name", list(EXERCISES))
def test_notebook_solution_passes_and_notebook_stub_is_not_attempted(checks, name):
    """The cells learners actually get: the solution copy passes, the student stub is 'not attempted'."""
    fw = checks.framework
    unit = get_unit(EXERCISES[name].unit)
    copies = {solution: unit.notebook(REPO, fw.name, solution) for solution in (True, False)}
    solution_result = evaluate(name, fw, notebook_function(fw, exercise_cells(copies[True])[name], name))
    assert solution_result.status == "passed", solution_result.hint
    stub_result = evaluate(name, fw, notebook_function(fw, exercise_cells(copies[False])[name], name))
    assert stub_result.status == "not_attempted", stub_result.hint
    for path in copies.values():  # and each copy has a graded cell checking the learner's function
        graded = {cell.metadata["nbgrader"]["grade_id"]: cell for cell in nbformat.read(path, as_version=4).cells
                  if cell.metadata.get("nbgrader", {}).get("grade")}
        check_cell = graded[f"check_{name}"].source
        assert f".{name}({name})" in check_cell and f"{name} = " in check_cell, (path, check_cell)


@pytest.mark.parametrize("name, mistake", [(name, mistake) for name, exercise in EXERCISES.items()
                                           for mistake in exercise.mistakes])
def test_every_known_mistake_is_recognised(checks, name, mistake):
    result = evaluate(name, checks.framework, through_numpy(checks.framework, mistake.wrong))
    assert result.status == "failed"
    assert result.mistake == mistake.name, result.hint
    if isinstance(mistake.hint, str):
        assert result.hint.endswith(mistake.hint)


@pytest.mark.parametrize("exercise", list(EXERCISES.values()), ids=list(EXERCISES))
def test_every_exercise_has_at_least_three_distinct_mistakes(exercise):
    names = [mistake.name for mistake in exercise.mistakes]
    hints = {mistake.hint for mistake in exercise.mistakes if isinstance(mistake.hint, str)}
    assert len(set(names)) == len(names) >= 3
    assert len(hints) >= 3


def wrong_shape(fw, name, part=0):
    dtype = {"bool": bool, "int": np.int64}.get(EXERCISES[name].outputs[part].kind, np.float32)
    return lambda *args: fw.to_tensor(np.zeros((1, 2, 3), dtype=dtype))


def raise_value_error(*args):
    raise ValueError("boom")


BAD_FUNCTIONS = {
    "raises ValueError": (lambda fw, name: raise_value_error, "your function raised ValueError: boom on case 1"),
    "returns None": (lambda fw, name: lambda *args: None, "returned None: did you forget the `return`"),
    "returns NumPy": (lambda fw, name: lambda *args: np.zeros(3, np.float32), "returned a NumPy array"),
    "returns a list": (lambda fw, name: lambda *args: [fw.to_tensor(np.zeros(2))], "stack the pieces"),
    "returns a float": (lambda fw, name: lambda *args: 0.5, "don't call .item()"),
    "wrong shape": (wrong_shape, "shape (1, 2, 3) but expected"),
}


# What the hints say instead when the result should be a plain Python number (a learning rate).
NUMBER_PHRASES = {"returns a list": "expected a plain Python float", "returns a float": "wrong values",
                  "wrong shape": "expected a plain Python float"}


@pytest.mark.parametrize("name", list(EXERCISES))
@pytest.mark.parametrize("bad", list(BAD_FUNCTIONS))
def test_bad_functions_fail_without_raising(checks, shown, name, bad):
    make, phrase = BAD_FUNCTIONS[bad]
    if EXERCISES[name].outputs[0].kind == "number":
        phrase = NUMBER_PHRASES.get(bad, phrase)
    function = make(checks.framework, name)
    count = len(EXERCISES[name].outputs)
    if count > 1 and bad == "wrong shape":  # each result of its own dtype, all of the wrong shape
        function = lambda *args: tuple(wrong_shape(checks.framework, name, part)(*args) for part in range(count))
    elif count > 1:  # an exercise with several results gets the bad one in each place
        function = lambda *args, bad_one=function: (bad_one(*args),) * count
    returned = getattr(checks, name)(function)
    assert returned is checks.framework.reference(name)
    (payload, text), = shown
    assert payload["status"] == "failed" and payload["exercise"] == name
    assert phrase in payload["hint"]
    assert text.startswith(f"❌ {name}: ") and text.endswith(USING_REFERENCE)


def test_passing_a_result_instead_of_a_function(checks, shown):
    checks.masked_softmax(checks.framework.to_tensor(np.zeros((2, 3), np.float32)))
    assert "pass the function itself, check.masked_softmax(masked_softmax)" in shown[0][0]["hint"]


def test_unknown_mismatch_shows_the_first_failing_case(checks):
    def almost(lengths, max_len):
        mask = lengths_mask(lengths, max_len)
        mask[-1, 0] = False
        return mask

    result = evaluate("padding_mask", checks.framework, through_numpy(checks.framework, almost))
    assert result.status == "failed" and result.mistake == ""
    assert result.hint.startswith("wrong values on case 1 of 7 (random lengths; inputs: lengths=[")
    assert "max_len=6): at index (3, 0) expected True, got False" in result.hint


def test_unknown_shape_gets_generic_advice(checks):
    wrong = through_numpy(checks.framework, lambda scores, mask: np.zeros(scores.shape[0], np.float32))
    result = evaluate("masked_softmax", checks.framework, wrong)
    assert "the weights have shape (3,) but expected (3, 6) on case 1 of 5" in result.hint
    assert "an axis is missing" in result.hint


def test_int_mask_is_rejected_with_a_dtype_hint(checks):
    wrong = through_numpy(checks.framework, lambda lengths, max_len: lengths_mask(lengths, max_len).astype(np.int64))
    result = evaluate("padding_mask", checks.framework, wrong)
    assert "the mask has dtype int" in result.hint and "but should be bool" in result.hint


def test_float64_result_is_rejected(checks):
    fw = checks.framework

    def float64_context(weights, values):
        return _as_float64(fw, own_copy(fw.reference("context_vector"))(weights, values))

    result = evaluate("context_vector", fw, float64_context)
    assert "dtype float64 but should be float32" in result.hint


def _as_float64(fw, tensor):
    if fw.name == "pytorch":
        return tensor.double()
    return fw.tf.cast(tensor, fw.tf.float64)


def test_result_built_outside_the_framework_fails_the_gradient_check(checks):
    fw = checks.framework

    def detached_softmax(scores, mask):
        return fw.to_tensor(fw.to_numpy(own_copy(fw.reference("masked_softmax"))(scores, mask)))

    result = evaluate("masked_softmax", fw, detached_softmax)
    assert "cannot be differentiated with respect to `scores`" in result.hint


def test_check_output_without_monkeypatch_is_printed(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "IPython.display", None)  # plain Python: show_check prints
    exercises("pytorch").padding_mask(lambda lengths, max_len: None)
    assert "❌ padding_mask: your function returned None" in capsys.readouterr().out


def test_unknown_framework_and_exercise_are_clear_errors():
    with pytest.raises(CourseError, match="unknown framework"):
        exercises("jax")
    # The list follows registration order, which depends on which test files ran first in this process.
    with pytest.raises(AttributeError, match=r"the checks are: (\w+, )*masked_softmax\b"):
        exercises("pytorch").masked_sofmax
    assert "masked_softmax" in dir(exercises("pytorch"))


def test_exercise_names_by_unit():
    assert sorted(exercise_names("01")) == ["greedy_decode", "last_real_state", "masked_cross_entropy", "padding_mask"]
    assert sorted(exercise_names("02")) == ["additive_scores", "attention_step", "context_vector", "masked_softmax"]
    # unit 03's checks are registered once units.py lists seq2bert.check.dot_product, or a test file imports it
    assert sorted(exercise_names()) == sorted(n for unit in ("01", "02", "03", "04", "05") for n in exercise_names(unit))


@pytest.mark.parametrize("framework, other", [("tensorflow", "torch"), ("pytorch", "tensorflow")])
def test_checks_import_only_their_framework(framework, other):
    program = (
        "import sys\n"
        "from seq2bert.check import exercises\n"
        f"check = exercises({framework!r})\n"
        "def padding_mask(lengths, max_len):\n"
        "    raise NotImplementedError\n"
        "check.padding_mask(padding_mask)\n"
        f"assert {other!r} not in sys.modules, 'imported {other}'\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "padding_mask: not attempted" in done.stdout


def _reference_module(fw, name: str) -> str:
    """Where the course's reference of `name` lives in `fw` (ops for units 01-02, attention for unit 03)."""
    return EXERCISES[name].references[fw.name].partition(":")[0]


def _reference_in_disguise(fw, name: str, how: str):
    reference = fw.reference(name)
    module = importlib.import_module(_reference_module(fw, name))

    def calls_it(*args):
        return reference(*args)

    def through_the_module(*args):
        return getattr(module, name)(*args)

    @functools.wraps(reference)
    def decorated(*args):
        return reference(*args)

    return {"itself": reference, "called": calls_it, "module attribute": through_the_module,
            "partial": functools.partial(reference), "decorated": decorated}[how]


@pytest.mark.parametrize("how", ["itself", "called", "module attribute", "partial", "decorated"])
@pytest.mark.parametrize("name", list(EXERCISES))
def test_the_course_reference_earns_no_credit(checks, shown, name, how):
    """Handing in the course's own implementation, however wrapped, fails with a plain explanation."""
    learner = _reference_in_disguise(checks.framework, name, how)
    assert getattr(checks, name)(learner) is checks.framework.reference(name)
    (payload, text), = shown
    assert payload["status"] == "failed"
    path = f"{_reference_module(checks.framework, name)}.{name}"
    if how == "itself":  # imported, or what a learner meets when re-running a check after a failed one
        assert payload["hint"].startswith(f"this exercise asks for your own code, but `{name}` is the course's "
                                          f"reference `{path}` itself")
        assert f"re-run the cell that defines your `{name}` first" in payload["hint"]
    else:
        assert payload["hint"].startswith(f"this exercise asks for your own code, but your function uses `{path}`")


def test_reference_of_the_other_framework_earns_no_credit():
    """A PyTorch learner who hands in the TensorFlow reference (wrapped to take torch tensors)."""
    import tensorflow as tf
    import torch

    from seq2bert.tf import ops as tf_ops

    def padding_mask(lengths, max_len):
        return torch.from_numpy(tf_ops.padding_mask(tf.constant(lengths.numpy()), max_len).numpy())

    result = evaluate("padding_mask", "pytorch", padding_mask)
    assert result.hint.startswith("this exercise asks for your own code, but your function uses `seq2bert.tf.ops.padding_mask`")


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_reference_called_in_a_thread_or_with_the_watch_switched_off_earns_no_credit(framework):
    import threading

    fw = exercises(framework).framework
    reference = fw.reference("padding_mask")

    def in_a_thread(lengths, max_len):
        box = []
        worker = threading.Thread(target=lambda: box.append(reference(lengths, max_len)))
        worker.start()
        worker.join()
        return box[0]

    def switched_off(lengths, max_len):
        sys.setprofile(None)
        return reference(lengths, max_len)

    assert "your function uses" in evaluate("padding_mask", fw, in_a_thread).hint
    assert "switched off the check's watch" in evaluate("padding_mask", fw, switched_off).hint
    assert sys.getprofile() is None


def test_result_with_right_values_but_cut_off_gradient_fails(checks):
    """The values match, and a gradient exists (0 * weights), but it is not the true one."""
    fw = checks.framework
    reference = own_copy(fw.reference("context_vector"))

    def detached_weights(weights, values):
        frozen = fw.to_tensor(fw.to_numpy(weights))
        return reference(frozen, values) + 0 * (weights.sum() if fw.name == "pytorch" else fw.tf.reduce_sum(weights))

    result = evaluate("context_vector", fw, detached_weights)
    assert result.status == "failed"
    assert result.hint.startswith("the result has the right values, but its gradient with respect to `weights` is wrong")


def test_empty_sequence_gets_an_all_false_row(checks):
    def at_least_one(lengths, max_len):
        return lengths_mask(np.maximum(lengths, 1), max_len)

    result = evaluate("padding_mask", checks.framework, through_numpy(checks.framework, at_least_one))
    assert result.status == "failed" and "an empty sequence" in result.hint
