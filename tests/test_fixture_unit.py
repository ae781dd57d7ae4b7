"""Adding a unit is a course source, a lesson, a quiz, a topic check module, model modules and one
catalogue entry: the fixture unit 91 (tests/fixtures/unit_fixture/) is added exactly that way,
and then builds, runs, checks, grades and validates like units 01-02, in both frameworks.

The unit reaches the package only through SEQ2BERT_EXTRA_UNITS=unit91 with its folder on
PYTHONPATH; no file of the seq2bert package names it.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from seq2bert.report import CHECK_MIME

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "unit_fixture"
PACKAGE = Path(__file__).resolve().parents[1] / "src" / "seq2bert"
STEM = "91_statistics"
FRAMEWORKS = ("pytorch", "tensorflow")
POINTS = {"masked_mean_std": 2, "keep_mask": 1}


def _env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(FIXTURE), os.environ.get("PYTHONPATH", "")) if p)
    return dict(os.environ, SEQ2BERT_EXTRA_UNITS="unit91", PYTHONPATH=path, SEQ2BERT_FAST="1",
                TF_CPP_MIN_LOG_LEVEL="3", OMP_WAIT_POLICY="PASSIVE")


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "seq2bert", *args], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A course root holding only the fixture unit's source, lesson and quiz, built."""
    root = tmp_path_factory.mktemp("course")
    for folder in ("course", "lessons", "quizzes"):
        shutil.copytree(FIXTURE / folder, root / folder)
    done = _cli("build", "--root", str(root), cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    return root


def _checks(executed: Path) -> dict[str, str]:
    notebook = nbformat.read(str(executed), as_version=4)
    found = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            payload = output.get("data", {}).get(CHECK_MIME)
            if payload is not None:
                payload = json.loads(payload) if isinstance(payload, str) else payload
                found[payload["exercise"]] = payload["status"]
    return found


def test_no_package_file_names_the_fixture_unit():
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "unit91" not in text and "statistics_checks" not in text and STEM not in text, path


def test_build_makes_four_notebooks_with_nbgrader_metadata(course):
    for framework in FRAMEWORKS:
        for folder, solution in (("notebooks", False), ("solutions", True)):
            notebook = nbformat.read(str(course / folder / framework / f"{STEM}.ipynb"), as_version=4)
            grading = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"] for c in notebook.cells
                       if "nbgrader" in c.metadata}
            assert {grade_id: meta.get("points") for grade_id, meta in grading.items() if meta["grade"]} == \
                {f"check_{name}": points for name, points in POINTS.items()}
            exercises = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("solution")]
            assert len(exercises) == 2
            assert all(("BEGIN SOLUTION" in c.source) == solution for c in exercises)
            assert all(("raise NotImplementedError" in c.source) != solution for c in exercises)


def test_quiz_validates_and_units_lists_it(course):
    done = _cli("quiz", "validate", str(course / "quizzes" / f"{STEM}.yml"), cwd=course)
    assert done.returncode == 0, done.stdout + done.stderr
    done = _cli("units", cwd=course)
    assert done.returncode == 0 and "91" in done.stdout and "Statistics with a mask" in done.stdout, done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("copy, status", [("solution", "passed"), ("student", "not_attempted")])
def test_notebooks_run_and_checks_judge_them(course, tmp_path, copy, status):
    out = tmp_path / "run"
    done = _cli("run", "--units", "91", "--course", str(course), "--copy", copy, "--out", str(out), cwd=course)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    executed = sorted(out.rglob(f"{STEM}*.ipynb"))
    assert len(executed) == 2, executed
    for path in executed:
        assert _checks(path) == {name: status for name in POINTS}, path


@pytest.mark.slow
def test_grader_scores_the_fixture_unit(course, tmp_path):
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    shutil.copy(course / "solutions" / "tensorflow" / f"{STEM}.ipynb", submissions / "solved.ipynb")
    shutil.copy(course / "notebooks" / "pytorch" / f"{STEM}.ipynb", submissions / "untouched.ipynb")
    grades = tmp_path / "grades.csv"
    done = _cli("grade", str(submissions), "--course", str(course), "--csv", str(grades),
                "--cell-timeout", "120", "--timeout", "400", cwd=tmp_path)
    assert done.returncode in (0, 1), done.stderr[-3000:]
    with grades.open(newline="", encoding="utf-8") as handle:
        rows = {Path(row["submission"]).stem: row for row in csv.DictReader(handle)}
    assert rows["solved"]["unit"] == "91" and float(rows["solved"]["score"]) == sum(POINTS.values()), rows["solved"]
    assert float(rows["untouched"]["score"]) == 0, rows["untouched"]


def test_twin_models_start_identical_and_agree_without_a_name_list():
    torch = pytest.importorskip("torch")
    pytest.importorskip("tensorflow")
    sys.path.insert(0, str(FIXTURE))
    try:
        import statistics_tf
        import statistics_torch

        from seq2bert.tf import weights as tf_weights
        from seq2bert.torch import weights as torch_weights
    finally:
        sys.path.remove(str(FIXTURE))
    torch_model = statistics_torch.Standardise(6)
    tf_model = statistics_tf.Standardise(6)
    x = np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32)
    tf_model(x)  # build
    start = torch_weights.initial_weights(torch_model, seed=3)
    tf_start = tf_weights.initial_weights(tf_model, seed=3)
    assert start.keys() == tf_start.keys() and all(np.array_equal(start[k], tf_start[k]) for k in start)
    torch_weights.load_weights(torch_model, start)
    tf_weights.load_torch_state(tf_model, torch_weights.torch_state(torch_model))
    with torch.no_grad():
        expected = torch_model(torch.from_numpy(x)).numpy()
    assert np.abs(np.asarray(tf_model(x)) - expected).max() <= 1e-5
