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
from seq2bert.cli import main
from seq2bert.units import CourseError


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


@pytest.mark.slow
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
        assert table["01", framework]["mode"] == "fast"
        assert table["01", framework]["budget"] == "60"  # unit 01's budget in the catalogue
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
    assert "over budget" not in result.stdout + result.stderr  # tiny notebooks, far below 60 s




@pytest.mark.slow
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
    assert not results[1].fast and results[1].budget is None  # budgets are for fast mode only
    assert results[0].executed == out / "pytorch" / "01_seq2seq.ipynb"
    assert results[2].status == "failed: kernel died in cell 2 (see 02_bahdanau_attention.kernel.log)"
    assert "about to die" in (out / "tensorflow" / "02_bahdanau_attention.kernel.log").read_text()
    assert not (out / "pytorch" / "02_bahdanau_attention.kernel.log").exists()  # empty logs are removed


def test_summary_formats():
    results = [runner.RunResult("01", "pytorch", Path("01_seq2seq.ipynb"), "ok", 3.21, (("bleu", 1 / 3),), budget=60),
               runner.RunResult("02", "tensorflow", Path("02_x.ipynb"), "failed: a|b", 1.0, fast=False)]
    text = runner.summary_csv(results)
    assert text.splitlines() == ["unit,framework,notebook,mode,status,seconds,budget,metrics",
                                 "01,pytorch,01_seq2seq.ipynb,fast,ok,3.2,60,bleu=0.3333",
                                 "02,tensorflow,02_x.ipynb,full,failed: a|b,1.0,,"]
    markdown = runner.summary_markdown(results)
    assert "failed: a\\|b" in markdown and "1 of 2 notebooks ok" in markdown
    assert "over budget" not in markdown


def _timed(unit: str, framework: str, seconds: float, budget: float | None, status: str = "ok") -> runner.RunResult:
    return runner.RunResult(unit, framework, Path(f"{unit}_x.ipynb"), status, seconds, budget=budget)


def test_overruns_are_flagged_in_the_summary():
    results = [_timed("01", "pytorch", 75.04, 60), _timed("01", "tensorflow", 60.0, 60),
               _timed("02", "pytorch", 120.0, None), _timed("02", "tensorflow", 95.0, 90, status="failed: x")]
    assert [r.over_budget for r in results] == [True, False, False, True]  # exactly the budget is not over it
    assert runner.budget_warnings(results) == ["over budget: pytorch/01_x.ipynb took 75.0 s, budget 60 s",
                                               "over budget: tensorflow/02_x.ipynb took 95.0 s, budget 90 s"]
    markdown = runner.summary_markdown(results)
    assert "2 notebook(s) over budget" in markdown
    assert "- over budget: pytorch/01_x.ipynb took 75.0 s, budget 60 s" in markdown


@pytest.mark.parametrize("seconds, strict, status", [(30.0, False, 0), (30.0, True, 0), (61.0, False, 0),
                                                     (61.0, True, 1)])
def test_budget_overruns_warn_and_fail_only_when_strict(course, tmp_path, monkeypatch, capsys, seconds, strict, status):
    monkeypatch.setattr(runner, "run_notebooks", lambda paths, out, **options: [_timed("01", "pytorch", seconds, 60)])
    args = ["run", "--course", str(course), "--out", str(tmp_path / "out"), "--units", "01", "--frameworks", "pt"]
    assert main(args + (["--strict-budgets"] if strict else [])) == status
    warned = "warning: over budget: pytorch/01_x.ipynb took 61.0 s, budget 60 s" in capsys.readouterr().err
    assert warned == (seconds > 60)


README = """# course

Intro.

{start}
| unit | framework | fast mode | fast-mode budget | full mode |
|---|---|---|---|---|
| 01 | PyTorch | 32 | 60 | 144 |
| 01 | TensorFlow | 42 | 60 | 159 |
{end}

The whole run takes about 6 minutes.
""".format(start=runner.TIMINGS_START, end=runner.TIMINGS_END)


def _summary(*rows: tuple[str, str, str, str, str]) -> list[dict[str, str]]:
    return [dict(zip(("unit", "framework", "mode", "status", "seconds"), row)) for row in rows]


def test_update_timings_replaces_one_mode_and_keeps_the_other():
    summary = _summary(("01", "pytorch", "fast", "ok", "35.4"), ("01", "tensorflow", "fast", "ok", "40.6"),
                       ("02", "tensorflow", "fast", "ok", "71.2"), ("02", "pytorch", "fast", "ok", "66.5"))
    text = runner.update_timings(README, summary)
    before, table, after = text.split(runner.TIMINGS_START)[0], *text.split(runner.TIMINGS_START)[1].split(runner.TIMINGS_END)
    assert before == README.split(runner.TIMINGS_START)[0] and after == README.split(runner.TIMINGS_END)[1]
    assert table.strip().splitlines() == [
        "| unit | framework | fast mode | fast-mode budget | full mode |",
        "|---|---|---|---|---|",
        "| 01 | PyTorch | 35 | 60 | 144 |",  # full-mode seconds kept from the old table
        "| 01 | TensorFlow | 41 | 60 | 159 |",
        "| 02 | PyTorch | 66 | 160 | — |",  # new rows in catalogue order; budgets from the catalogue
        "| 02 | TensorFlow | 71 | 160 | — |",
    ]
    full = runner.update_timings(text, _summary(("02", "pytorch", "full", "ok", "221.0")))
    assert "| 02 | PyTorch | 66 | 160 | 221 |" in full and "| 01 | PyTorch | 35 | 60 | 144 |" in full
    assert runner.update_timings(full, _summary(("02", "pytorch", "full", "ok", "221.0"))) == full  # idempotent


@pytest.mark.parametrize("readme, summary, message", [
    ("# no table\n", _summary(("01", "pytorch", "fast", "ok", "3")), "needs exactly one timing table"),
    (README + runner.TIMINGS_START, _summary(("01", "pytorch", "fast", "ok", "3")), "needs exactly one timing table"),
    (README.replace(runner.TIMINGS_START, "@@").replace(runner.TIMINGS_END, runner.TIMINGS_START).replace("@@", runner.TIMINGS_END),
     _summary(("01", "pytorch", "fast", "ok", "3")), "needs exactly one timing table"),
    (README, [], "lists no notebooks"),
    (README, _summary(("01", "pytorch", "fast", "failed: cell 3: boom", "3")), "failed notebooks: pytorch/01"),
    (README, _summary(("01", "pytorch", "fast", "ok", "soon")), "'soon' is not a number"),
    (README, _summary(("01", "pytorch", "quick", "ok", "3")), "neither fast nor full"),
    (README, _summary(("01", "jax", "fast", "ok", "3")), "unknown framework"),
])
def test_update_timings_refuses_bad_input(readme, summary, message):
    with pytest.raises(CourseError, match=message):
        runner.update_timings(readme, summary)


def test_update_readme_command_rewrites_only_the_table(course, tmp_path, capsys):
    out = tmp_path / "out"
    runner.write_summary([_timed("01", "pytorch", 33.3, 60), _timed("01", "tensorflow", 44.4, 60)], out)
    readme = course / "README.md"
    readme.write_text(README, encoding="utf-8")
    assert main(["run", "--course", str(course), "--out", str(out), "--update-readme"]) == 0
    text = readme.read_text(encoding="utf-8")
    assert "| 01 | PyTorch | 33 | 60 | 144 |" in text and "| 01 | TensorFlow | 44 | 60 | 159 |" in text
    assert text.replace("| 33 |", "| 32 |").replace("| 44 |", "| 42 |") == README
    assert not (out / "pytorch").exists()  # nothing was run
    assert "updated the timing table" in capsys.readouterr().out


def test_update_readme_needs_a_summary(course, tmp_path, capsys):
    (course / "README.md").write_text(README, encoding="utf-8")
    assert main(["run", "--course", str(course), "--out", str(tmp_path / "none"), "--update-readme"]) == 2
    assert "run `seq2bert run` first" in capsys.readouterr().err
    old = tmp_path / "old"
    old.mkdir()
    (old / "summary.csv").write_text("unit,framework,notebook,status,seconds,metrics\n01,pytorch,a,ok,3,\n")
    assert main(["run", "--course", str(course), "--out", str(old), "--update-readme"]) == 2
    assert "lacks the column(s) mode" in capsys.readouterr().err
    assert (course / "README.md").read_text(encoding="utf-8") == README


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


def test_the_course_readme_has_a_timing_table_the_generator_keeps():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert runner.update_timings(readme, _summary(("01", "pytorch", "fast", "ok", "1"))) != readme
    table = readme.split(runner.TIMINGS_START)[1].split(runner.TIMINGS_END)[0]
    fast = [line.split("|")[3].strip() for line in table.strip().splitlines()[2:]]
    rows = [("01", "pytorch"), ("01", "tensorflow"), ("02", "pytorch"), ("02", "tensorflow")]
    same = _summary(*((unit, fw, "fast", "ok", seconds) for (unit, fw), seconds in zip(rows, fast)))
    assert runner.update_timings(readme, same) == readme  # regenerating from the same numbers changes nothing
