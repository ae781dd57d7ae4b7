"""`seq2bert run`: headless execution, summaries and failure handling, on tiny notebooks."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from seq2bert import runner


def _notebook(unit: str, framework: str, *sources: str) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata["seq2bert"] = {"unit": unit, "framework": framework, "copy": "solution"}
    return notebook


def _write(notebook: nbformat.NotebookNode, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(path))
    return path


@pytest.fixture()
def course(tmp_path):
    """A course root: unit 01 runs in both frameworks, unit 02 fails in PyTorch, TF 02 is missing."""
    root = tmp_path / "course"
    (root / "course").mkdir(parents=True)
    (root / "quizzes").mkdir()
    for framework in ("pytorch", "tensorflow"):
        folder = root / "solutions" / framework
        folder.mkdir(parents=True)
        (folder / "vocab.txt").write_text(f"{framework} words\n")
        _write(_notebook("01", framework,
                         "import os\nassert os.environ.get('SEQ2BERT_FAST') == '1', 'not in fast mode'",
                         "words = open('vocab.txt').read().split()  # relative to the notebook's folder",
                         "from seq2bert.report import headline\n"
                         "headline('bleu', 12.5)\nheadline('accuracy', 0.875, split='test')"),
               folder / "01_seq2seq.ipynb")
    _write(_notebook("02", "pytorch", "x = 1", "raise ValueError('attention weights do not sum to 1')"),
           root / "solutions" / "pytorch" / "02_bahdanau_attention.ipynb")
    return root


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("SEQ2BERT_FAST", None)
    return env


def test_run_cli_writes_executed_notebooks_and_summaries(course, tmp_path):
    out = tmp_path / "out"
    source = course / "solutions" / "pytorch" / "01_seq2seq.ipynb"
    before = source.read_bytes()
    result = subprocess.run([sys.executable, "-m", "seq2bert", "run", "--course", str(course), "--out", str(out),
                             "--units", "01", "02", "--frameworks", "pytorch", "tf"],
                            env=_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr  # one notebook failed
    assert "Traceback" not in result.stderr
    for name in ("01_seq2seq.ipynb", "02_bahdanau_attention.ipynb"):
        assert f"start  pytorch/{name}" in result.stderr
    assert "finish pytorch/01_seq2seq.ipynb: ok in " in result.stderr

    with (out / "summary.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    table = {(r["unit"], r["framework"]): r for r in rows}
    assert [(r["unit"], r["framework"]) for r in rows] == [("01", "pytorch"), ("01", "tensorflow"),
                                                            ("02", "pytorch"), ("02", "tensorflow")]
    for framework in ("pytorch", "tensorflow"):
        assert table["01", framework]["status"] == "ok"
        assert table["01", framework]["metrics"] == "bleu=12.5; accuracy=0.875"
        assert float(table["01", framework]["seconds"]) > 0
    assert table["02", "pytorch"]["status"] == "failed: cell 2: ValueError: attention weights do not sum to 1"
    assert table["02", "tensorflow"]["status"].startswith("failed: notebook missing")

    executed = nbformat.read(str(out / "pytorch" / "01_seq2seq.ipynb"), as_version=4)
    assert executed.cells[2].outputs, "the executed copy keeps its outputs"
    assert (out / "pytorch" / "02_bahdanau_attention.ipynb").exists()  # failed ones too, for debugging
    assert source.read_bytes() == before  # the course's notebook is only read
    markdown = (out / "summary.md").read_text()
    assert "| 01   | pytorch" in markdown and "2 of 4 notebooks ok" in markdown
    assert "2 of 4 notebooks ok" in result.stdout and "bleu=12.5" in result.stdout


def test_run_notebooks_api_reports_timeouts_and_full_mode(tmp_path):
    slow = _write(_notebook("01", "pytorch", "import time\ntime.sleep(60)"), tmp_path / "nb" / "pytorch" / "01_seq2seq.ipynb")
    fast_check = _write(_notebook("02", "pytorch", "import os\nassert 'SEQ2BERT_FAST' not in os.environ"),
                        tmp_path / "nb" / "pytorch" / "02_bahdanau_attention.ipynb")
    dies = _write(_notebook("02", "tensorflow", "import os\nos.write(2, b'about to die')",
                            "import signal\nos.kill(os.getpid(), signal.SIGKILL)"),
                  tmp_path / "nb" / "tensorflow" / "02_bahdanau_attention.ipynb")
    out = tmp_path / "out"
    results = runner.run_notebooks([slow, fast_check, dies], out, cell_timeout=2, fast=False, progress=False)
    assert results[0].status == "failed: cell 1 timed out after 2 s"
    assert results[1].status == "ok" and results[1].metrics == ()
    assert results[0].executed == out / "pytorch" / "01_seq2seq.ipynb"
    assert results[2].status == "failed: kernel died in cell 2 (see 02_bahdanau_attention.kernel.log)"
    assert "about to die" in (out / "tensorflow" / "02_bahdanau_attention.kernel.log").read_text()
    assert not (out / "pytorch" / "02_bahdanau_attention.kernel.log").exists()  # empty logs are removed


def test_summary_formats():
    results = [runner.RunResult("01", "pytorch", Path("01_seq2seq.ipynb"), "ok", 3.21, (("bleu", 1 / 3),)),
               runner.RunResult("02", "tensorflow", Path("02_x.ipynb"), "failed: a|b", 1.0)]
    text = runner.summary_csv(results)
    assert text.splitlines() == ["unit,framework,notebook,status,seconds,metrics",
                                 "01,pytorch,01_seq2seq.ipynb,ok,3.2,bleu=0.3333",
                                 "02,tensorflow,02_x.ipynb,failed: a|b,1.0,"]
    markdown = runner.summary_markdown(results)
    assert "failed: a\\|b" in markdown and "1 of 2 notebooks ok" in markdown


@pytest.mark.parametrize("args, message", [
    (["--units", "99"], "there is no unit"),
    (["--frameworks", "jax"], "unknown framework"),
    (["--cell-timeout", "-1"], "must be positive"),
])
def test_bad_arguments_exit_2(course, tmp_path, args, message):
    result = subprocess.run([sys.executable, "-m", "seq2bert", "run", "--course", str(course),
                             "--out", str(tmp_path / "out"), *args],
                            env=_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
