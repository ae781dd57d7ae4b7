"""nbgrader compatibility: under nbgrader a check that did not pass fails its grade cell.

The round trip runs real nbgrader (generate_assignment, then autograde) on unit 01's PyTorch
solution notebook in fast mode; it is marked slow.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from seq2bert.check import exercises, nbgrader_mode
from seq2bert.units import get_unit

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "u01"


def wrong_padding_mask(lengths, max_len):
    import torch

    return torch.ones(len(lengths), max_len, dtype=torch.bool)  # padding counted as real tokens


def right_padding_mask(lengths, max_len):
    import torch

    return torch.arange(max_len)[None, :] < lengths[:, None]  # (1, S) < (B, 1) -> (B, S)


@pytest.fixture
def notebook_namespace(monkeypatch) -> dict:
    """Stands in for the kernel's user namespace, where check cells bind their result."""
    namespace: dict = {}
    monkeypatch.setattr(nbgrader_mode, "_user_namespace", lambda: namespace)
    return namespace


def test_for_learners_a_failed_check_does_not_raise(monkeypatch, notebook_namespace, capsys):
    monkeypatch.delenv(nbgrader_mode.ENVIRONMENT_VARIABLE, raising=False)
    fallback = exercises("pytorch").padding_mask(wrong_padding_mask)
    assert fallback is not wrong_padding_mask and callable(fallback)
    assert "❌ padding_mask" in capsys.readouterr().out
    assert notebook_namespace == {}


def test_under_nbgrader_a_failed_check_binds_the_fallback_then_raises(monkeypatch, notebook_namespace, capsys):
    monkeypatch.delenv(nbgrader_mode.ENVIRONMENT_VARIABLE, raising=False)
    learners_fallback = exercises("pytorch").padding_mask(wrong_padding_mask)
    capsys.readouterr()
    monkeypatch.setenv(nbgrader_mode.ENVIRONMENT_VARIABLE, "autograde")
    with pytest.raises(nbgrader_mode.ExerciseNotPassed, match=r"^padding_mask: wrong values") as raised:
        exercises("pytorch").padding_mask(wrong_padding_mask)
    assert notebook_namespace["padding_mask"] is learners_fallback  # the rest of the notebook runs on
    shown = capsys.readouterr()
    assert "❌ padding_mask" in shown.out and shown.err == ""
    assert str(raised.value).split(": ", 1)[1] in shown.out  # the learner's hint, word for word


def test_under_nbgrader_an_unattempted_exercise_fails_too(monkeypatch, notebook_namespace):
    def stub(lengths, max_len):
        raise NotImplementedError("Exercise: build a (B, max_len) bool mask from the lengths")

    monkeypatch.setenv(nbgrader_mode.ENVIRONMENT_VARIABLE, "validate")
    with pytest.raises(nbgrader_mode.ExerciseNotPassed, match="^padding_mask: not attempted yet"):
        exercises("pytorch").padding_mask(stub)
    assert callable(notebook_namespace["padding_mask"]) and notebook_namespace["padding_mask"] is not stub


def test_under_nbgrader_a_passing_check_is_quiet_and_returns_the_function(monkeypatch, notebook_namespace, capsys):
    monkeypatch.setenv(nbgrader_mode.ENVIRONMENT_VARIABLE, "autograde")
    assert exercises("pytorch").padding_mask(right_padding_mask) is right_padding_mask
    shown = capsys.readouterr()
    assert "✅ padding_mask: passed" in shown.out and shown.err == ""
    assert notebook_namespace == {}


# ---------------------------------------------------------------------------------------------
# The real round trip


NBGRADER_CONFIG = '''\
c = get_config()
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = "seq2bert"
c.Execute.kernel_name = "python3"
c.Execute.timeout = 300  # seconds per cell
'''


def nbgrader(course: Path, *arguments: str) -> None:
    # nbgrader runs the `alembic` program of its own environment, so that must be on PATH.
    env = {**os.environ, "SEQ2BERT_FAST": "1",
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    env.pop(nbgrader_mode.ENVIRONMENT_VARIABLE, None)
    done = subprocess.run([sys.executable, "-m", "nbgrader", *arguments], cwd=course, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, f"nbgrader {' '.join(arguments)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def problems(notebook: nbformat.NotebookNode) -> list[tuple[str | None, str]]:
    """(grade_id, what) for every error and every stderr output in an executed notebook."""
    found = []
    for cell in notebook.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                found.append((grade_id, output.ename))
            elif output.output_type == "stream" and output.name == "stderr":
                found.append((grade_id, f"stderr: {output.text[:200]}"))
    return found


@pytest.mark.slow
def test_real_nbgrader_scores_solution_full_student_copy_zero_and_a_mistake_zero(tmp_path):
    unit = get_unit("01")
    name = f"{unit.stem}.ipynb"
    source = tmp_path / "source" / ASSIGNMENT / name
    source.parent.mkdir(parents=True)
    shutil.copy(unit.notebook(REPO, "pytorch", solution=True), source)
    (tmp_path / "nbgrader_config.py").write_text(NBGRADER_CONFIG.format(root=str(tmp_path)))
    nbgrader(tmp_path, "generate_assignment", ASSIGNMENT, "--force")

    release = nbformat.read(tmp_path / "release" / ASSIGNMENT / name, as_version=4)
    assert "solution" not in release.cells[0].source.lower()
    stubbed = [cell for cell in release.cells if cell.metadata.get("nbgrader", {}).get("solution")]
    assert stubbed and all("raise NotImplementedError" in cell.source for cell in stubbed)

    solution = nbformat.read(source, as_version=4)
    points = {cell.metadata.nbgrader.grade_id: cell.metadata.nbgrader.points for cell in solution.cells
              if cell.metadata.get("nbgrader", {}).get("grade")}
    assert len(points) == 4 and all(value > 0 for value in points.values())  # unit 01 has four checked exercises
    # A known mistake in one exercise: the loss also averages over padding.
    mistake = nbformat.read(source, as_version=4)
    right = "return (per_token * keep).sum() / keep.sum()"
    edited = [cell for cell in mistake.cells if right in cell.source]
    assert len(edited) == 1
    edited[0].source = edited[0].source.replace(right, "return per_token.mean()")
    submissions = {"solution": solution, "untouched": release, "mistake": mistake}
    for student, notebook in submissions.items():
        (tmp_path / "submitted" / student / ASSIGNMENT).mkdir(parents=True)
        nbformat.write(notebook, tmp_path / "submitted" / student / ASSIGNMENT / name)

    nbgrader(tmp_path, "autograde", ASSIGNMENT, "--force")

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gradebook:
        scores = {student: {grade.name: grade.score for grade in
                            gradebook.find_submission_notebook(Path(name).stem, ASSIGNMENT, student).grades}
                  for student in submissions}
    wrong = "check_masked_cross_entropy"
    assert scores["solution"] == points
    assert scores["untouched"] == {grade_id: 0 for grade_id in points}
    assert scores["mistake"] == {**points, wrong: 0}

    # Only the failing checks raise; nothing writes to stderr; every other cell ran.
    graded = {student: nbformat.read(tmp_path / "autograded" / student / ASSIGNMENT / name, as_version=4)
              for student in submissions}
    assert problems(graded["solution"]) == []
    assert problems(graded["untouched"]) == [(grade_id, "ExerciseNotPassed") for grade_id in points]
    assert problems(graded["mistake"]) == [(wrong, "ExerciseNotPassed")]
    failed = next(cell for cell in graded["mistake"].cells if cell.metadata.get("nbgrader", {}).get("grade_id") == wrong)
    error = next(output for output in failed.outputs if output.output_type == "error")
    assert re.match(r"masked_cross_entropy: the loss also averages over padding", error.evalue)
