"""`seq2bert grade` on the course's real unit-01 notebooks: the course's own reference earns nothing.

Slow (each submission trains unit 01's fast-mode models): one batch of three submissions.
"""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
STEM = "01_seq2seq"
EXERCISES = ("padding_mask", "masked_cross_entropy", "greedy_decode")

pytestmark = pytest.mark.slow


# How a learner might hand in the course's own implementation instead of writing it.
DISGUISES = {
    "padding_mask": "from seq2bert.torch.ops import padding_mask",
    "masked_cross_entropy": ("from seq2bert.torch import ops\n\n\n"
                             "def masked_cross_entropy(logits, targets, pad_id):\n"
                             "    return ops.masked_cross_entropy(logits, targets, pad_id)"),
    "greedy_decode": "from seq2bert.torch.ops import greedy_decode as _decode\n\ngreedy_decode = _decode",
}


def _disguised() -> nbformat.NotebookNode:
    """The PyTorch student copy whose exercise cells hand in the course's references."""
    notebook = nbformat.read(REPO / "notebooks" / "pytorch" / f"{STEM}.ipynb", as_version=4)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in EXERCISES and cell.metadata["nbgrader"].get("solution"):
            cell.source = DISGUISES[grade_id]
    return notebook


def test_reference_in_disguise_scores_zero_and_own_code_scores_full(tmp_path):
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    nbformat.write(_disguised(), submissions / "disguised.ipynb")
    solution = nbformat.read(REPO / "solutions" / "pytorch" / f"{STEM}.ipynb", as_version=4)
    nbformat.write(solution, submissions / "own_code.ipynb")
    grades = tmp_path / "grades.csv"
    done = subprocess.run([sys.executable, "-m", "seq2bert", "grade", str(submissions), "--csv", str(grades),
                           "--cell-timeout", "300", "--timeout", "600"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=1500)
    assert done.returncode in (0, 1), done.stderr[-2000:]
    with grades.open(newline="", encoding="utf-8") as handle:
        rows = {Path(row["submission"]).stem: row for row in csv.DictReader(handle)}
    assert float(rows["own_code"]["score"]) == float(rows["own_code"]["max_score"]) > 0, rows["own_code"]
    disguised = rows["disguised"]
    assert float(disguised["score"]) == 0, disguised
    for name in EXERCISES:
        assert disguised[f"{name}_status"] == "failed", (name, disguised)
        assert disguised[f"{name}_hint"].startswith("this exercise asks for your own code"), (name, disguised)
