"""`seq2bert grade`: sandboxed execution, anti-tampering, scoring and the CSV, on tiny notebooks."""
from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import nbformat
import pytest

from seq2bert.files import write_atomic
from seq2bert import grade, grade_worker
from seq2bert.report import CHECK_MIME

_spec = importlib.util.spec_from_file_location("mini_course", Path(__file__).parent / "fixtures" / "grading" / "mini_course.py")
mc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mc)

TIMEOUT = 20  # overall seconds per submission in these tests
CELL_TIMEOUT = 5


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", TF_CPP_MIN_LOG_LEVEL="3",
               INSTRUCTOR_SECRET="do-not-leak")
    env.pop("SEQ2BERT_FAST", None)
    return env


def _grade_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "seq2bert", "grade", *args], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=600)


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {Path(row["submission"]).stem: row for row in csv.DictReader(handle)}


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _solution(**answers: str) -> nbformat.NotebookNode:
    return mc.make_notebook("pytorch", "solution", answers=answers or None)


def _insert_after(notebook: nbformat.NotebookNode, grade_id: str, source: str) -> nbformat.NotebookNode:
    index = next(i for i, c in enumerate(notebook.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(source))
    return notebook


def _process_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in state and "\nState:\tX" not in state


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Grade a batch of good, broken and hostile submissions once; tests read its results."""
    base = tmp_path_factory.mktemp("grading")
    course = mc.write_course(base / "course")
    instructor = base / "instructor"  # the grader's cwd, holding the submissions
    subs = instructor / "submissions"
    outside = base / "outside"  # an absolute path the test itself reads (pid files)
    outside.mkdir()

    mc.write(_solution(), subs / "good.ipynb")
    mc.write(mc.make_notebook("pytorch", "student", answers={"add": mc.SOLUTIONS["add"], "scale": mc.WRONG["scale"]}),
             subs / "partial.ipynb")
    (subs / "broken.ipynb").write_text('{"cells": [', encoding="utf-8")
    (subs / "not_notebook.ipynb").write_text(json.dumps({"hello": "world"}), encoding="utf-8")
    wrong = _solution()
    wrong.metadata["seq2bert"]["unit"] = "07"
    mc.write(wrong, subs / "wrong_unit.ipynb")

    # Passes only in the sandbox: fast mode, HOME = cwd, the instructor's variables absent.
    probe = ('import os\n'
             'def add(a, b):\n'
             '    sandboxed = (os.environ.get("SEQ2BERT_FAST") == "1" and os.environ["HOME"] == os.getcwd()\n'
             '                 and "INSTRUCTOR_SECRET" not in os.environ)\n'
             '    return a + b if sandboxed else None\n')
    mc.write(_solution(add=probe), subs / "env_probe.ipynb")

    hard = _solution(scale=(
        "import os, signal\n"
        f"open({str(outside / 'hang_pid.txt')!r}, 'w').write(str(os.getpid()))\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)  # ignore the cell-timeout interrupt\n"
        "while True:\n    pass\n"))
    mc.write(hard, subs / "hang_hard.ipynb")
    mc.write(_solution(scale="while True:\n    pass\n"), subs / "hang_soft.ipynb")
    mc.write(_insert_after(_solution(), "check_add", "hog = bytearray(2 * 1024**3)  # 2 GB\n"), subs / "memory_hog.ipynb")
    mc.write(_insert_after(_solution(), "check_add", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"),
             subs / "kernel_dies.ipynb")
    victim = instructor / "victim.txt"
    victim.parent.mkdir(parents=True, exist_ok=True)
    victim.write_text("instructor data\n")
    escape = _insert_after(_solution(), "check_scale", (
        "import os, shutil, subprocess\n"
        "open('../escape.txt', 'w').write('escaped')\n"
        f"os.symlink({str(victim)!r}, '../executed.ipynb')  # hoping the grader writes through it\n"
        "sleeper = subprocess.Popen(['sleep', '300'], start_new_session=True)  # a detached straggler\n"
        f"open({str(outside / 'sleeper_pid.txt')!r}, 'w').write(str(sleeper.pid))\n"
        "open(os.path.expanduser('~/home.txt'), 'w').write('home')\n"
        "for name in ['good.ipynb', 'submissions/good.ipynb', '../submissions/good.ipynb', 'grades.csv']:\n"
        "    try:\n        os.remove(name)\n    except OSError:\n        pass\n"
        "for name in os.listdir('.'):\n"
        "    shutil.rmtree(name) if os.path.isdir(name) else os.remove(name)\n"
        "print('deleted', os.listdir('.'))\n"))
    mc.write(escape, subs / "escape.ipynb")

    tampered = mc.make_notebook("pytorch", "student")  # both exercises still stubs
    check = next(c for c in tampered.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "check_add")
    check.source = ("from seq2bert.report import show_check\n"
                    "show_check({'exercise': 'add', 'framework': 'pytorch', 'status': 'passed', 'hint': '', 'cases': 2}, 'add: passed')\n")
    check.metadata["nbgrader"]["points"] = 100
    check.outputs = [nbformat.v4.new_output("display_data", data={CHECK_MIME: {"exercise": "add", "status": "passed"}, "text/plain": "add: passed"})]
    _insert_after(tampered, "scale", "from seq2bert.report import show_check\n"
                  "show_check({'exercise': 'scale', 'framework': 'pytorch', 'status': 'passed', 'hint': '', 'cases': 2}, 'scale: passed')\n")
    mc.write(tampered, subs / "tampered.ipynb")

    flood = ("import sys\n"
             "for _ in range(10):\n"
             "    sys.stdout.write('one of a million short lines\\n' * 50_000)\n"
             "sys.stdout.write('x' * 8_000_000)  # and one giant line\n")
    mc.write(_insert_after(_solution(), "check_add", flood), subs / "flood.ipynb")

    deleted = _solution()
    deleted.cells = [c for c in deleted.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "check_scale"]
    mc.write(deleted, subs / "deleted_check.ipynb")

    (instructor / "grades.csv").write_text("old grades\n", encoding="utf-8")
    before = {p.name: p.read_bytes() for p in subs.iterdir()}
    snapshot = _snapshot(instructor)
    start = time.monotonic()
    result = _grade_cli("submissions", "--csv", "grades.csv", "--course", str(course),
                        "--cell-timeout", str(CELL_TIMEOUT), "--timeout", str(TIMEOUT), "--memory-mb", "512",
                        "--executed", str(base / "executed"), cwd=instructor)
    elapsed = time.monotonic() - start
    return {"result": result, "rows": _rows(instructor / "grades.csv"), "instructor": instructor, "subs": subs,
            "before": before, "snapshot": snapshot, "outside": outside, "elapsed": elapsed, "base": base}


def test_batch_exit_code_and_summary(batch):
    result = batch["result"]
    assert result.returncode == 1, result.stderr  # some submissions could not be graded
    assert "Traceback" not in result.stderr
    for name in ("good.ipynb", "hang_hard.ipynb", "tampered.ipynb"):
        assert name in result.stdout
    assert "hints for failed exercises:" in result.stdout
    assert len(batch["rows"]) == len(batch["before"])


def test_csv_columns_are_stable(batch):
    with (batch["instructor"] / "grades.csv").open(newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    assert header == ["submission", "unit", "framework", "score", "max_score",
                      "add_status", "add_points", "add_hint", "scale_status", "scale_points", "scale_hint",
                      "seconds", "repairs", "notes", "error"]


def test_good_notebook_gets_full_marks(batch):
    row = batch["rows"]["good"]
    assert (row["unit"], row["framework"], row["score"], row["max_score"]) == ("02", "pytorch", "5", "5")
    assert (row["add_status"], row["add_points"], row["scale_status"], row["scale_points"]) == ("passed", "2", "passed", "3")
    assert row["error"] == "" and row["repairs"] == "" and row["notes"] == ""


def test_partial_notebook_gets_the_hint(batch):
    row = batch["rows"]["partial"]
    assert row["score"] == "2" and row["add_status"] == "passed"
    assert (row["scale_status"], row["scale_points"]) == ("failed", "0")
    assert row["scale_hint"] == mc.TESTS["scale"][1]


def test_broken_files_are_reported_not_graded(batch):
    rows = batch["rows"]
    assert rows["broken"]["error"].startswith("not a notebook: invalid JSON")
    assert rows["not_notebook"]["error"].startswith("not a notebook")
    assert rows["wrong_unit"]["error"] == "wrong unit: the notebook says unit '07', which this course does not have"
    for name in ("broken", "not_notebook", "wrong_unit"):
        assert rows[name]["score"] == "" and rows[name]["add_status"] == ""


def test_sandbox_environment(batch):
    row = batch["rows"]["env_probe"]
    assert row["add_status"] == "passed", row  # fast mode, HOME = cwd, no instructor variables


def test_hang_is_killed_and_the_batch_goes_on(batch):
    row = batch["rows"]["hang_hard"]
    assert row["error"] == f"timed out after {TIMEOUT} s"
    assert row["add_status"] == "passed"  # reported before the hang
    assert row["scale_status"] == "not_run" and row["score"] == "2"
    assert float(row["seconds"]) < TIMEOUT + 10
    pid = int((batch["outside"] / "hang_pid.txt").read_text())
    assert not _process_alive(pid), "the hanging kernel survived"
    # Graded after the hang: the later submissions in the batch still ran.
    assert batch["rows"]["tampered"]["unit"] == "02" and batch["rows"]["tampered"]["error"] == ""


def test_cell_timeout_interrupts_and_continues(batch):
    row = batch["rows"]["hang_soft"]
    assert row["add_status"] == "passed"
    assert row["scale_status"] == "failed" and "NameError" in row["scale_hint"]
    assert f"interrupted after the {CELL_TIMEOUT} s cell timeout" in row["error"]


def test_memory_hog_hits_the_cap(batch):
    row = batch["rows"]["memory_hog"]
    assert "memory limit" in row["error"]
    assert row["score"] == "5"  # the MemoryError stayed in its cell


def test_kernel_death_marks_later_checks_not_run(batch):
    row = batch["rows"]["kernel_dies"]
    assert row["error"] == "kernel died, signal 9"
    assert (row["add_status"], row["scale_status"]) == ("passed", "not_run")


def test_hostile_writes_stay_in_the_sandbox(batch):
    row = batch["rows"]["escape"]
    assert row["score"] == "5" and row["error"] == ""
    instructor = batch["instructor"]
    after = _snapshot(instructor)
    assert {k: v for k, v in after.items() if k != "grades.csv"} == \
        {k: v for k, v in batch["snapshot"].items() if k != "grades.csv"}
    assert not list(batch["base"].rglob("escape.txt")) and not list(batch["base"].rglob("home.txt"))
    assert (instructor / "victim.txt").read_text() == "instructor data\n"  # not written through a symlink
    sleeper = int((batch["outside"] / "sleeper_pid.txt").read_text())
    assert not _process_alive(sleeper), "a detached child of the notebook survived grading"
    for name, data in batch["before"].items():
        assert (batch["subs"] / name).read_bytes() == data  # submissions are only read


def test_flood_of_output_is_capped(batch):
    row = batch["rows"]["flood"]
    assert row["score"] == "5" and row["error"] == ""
    executed = nbformat.read(str(batch["base"] / "executed" / "flood.ipynb"), as_version=4)
    flood = next(c for c in executed.cells if "giant line" in c.source)
    kept = "".join(o.get("text", "") for o in flood.outputs)
    assert kept.startswith("one of a million short lines\n")
    assert len(kept) < grade_worker.MAX_CELL_OUTPUT_CHARS + 1000  # 22 MB were printed
    assert "further output of this cell dropped" in kept
    assert (batch["base"] / "executed" / "flood.ipynb").stat().st_size < 2 * grade_worker.MAX_CELL_OUTPUT_CHARS


def test_tampered_check_cell_is_restored(batch):
    row = batch["rows"]["tampered"]
    assert row["add_status"] == "not_attempted" and row["scale_status"] == "not_attempted"
    assert row["score"] == "0" and row["max_score"] == "5"  # the student's points=100 are ignored
    assert "restored edited check_add" in row["repairs"]
    assert "show_check" in row["notes"]
    assert row["add_hint"] == "" and row["scale_hint"] == ""  # hints only for failed exercises


def test_deleted_check_cell_is_reinserted(batch):
    row = batch["rows"]["deleted_check"]
    assert row["scale_status"] == "passed" and row["score"] == "5"
    assert "re-inserted deleted check_scale" in row["repairs"]


# ----------------------------------------------------------------------------- no kernel needed


@pytest.fixture()
def releases(tmp_path):
    return grade.find_releases(mc.write_course(tmp_path / "course"))


def test_reinserted_check_goes_right_after_its_exercise(releases):
    notebook = _solution()
    notebook.cells = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "check_add"]
    notebook.cells.insert(3, nbformat.v4.new_markdown_cell("student notes"))
    repaired, repairs = grade.restore_grade_cells(notebook, releases["02", "pytorch"])
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in repaired.cells]
    assert ids.index("check_add") == ids.index("add") + 1
    assert repairs == ("re-inserted deleted check_add",)


def test_copied_and_fake_grade_cells_lose_their_grading_role(releases):
    notebook = _solution()
    copy = nbformat.v4.new_code_cell("print('copy')", metadata={"nbgrader": {"grade_id": "check_add", "grade": True, "points": 9}})
    fake = nbformat.v4.new_code_cell("print('fake')", metadata={"nbgrader": {"grade_id": "bonus", "grade": True, "points": 9}})
    notebook.cells += [copy, fake]
    repaired, repairs = grade.restore_grade_cells(notebook, releases["02", "pytorch"])
    graded = [c for c in repaired.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert [c.metadata.nbgrader.grade_id for c in graded] == ["check_add", "check_scale"]
    assert len(repairs) == 2 and all(r.startswith("ungraded extra cell") for r in repairs)


def test_stale_outputs_are_cleared(releases):
    notebook = _solution()
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("stream", text="old")]
    repaired, _ = grade.restore_grade_cells(notebook, releases["02", "pytorch"])
    assert all(not c.outputs for c in repaired.cells if c.cell_type == "code")


def test_identify_without_metadata(releases, tmp_path):
    notebook = _solution()
    del notebook.metadata["seq2bert"]
    with pytest.raises(grade.SubmissionError, match="PyTorch or the TensorFlow"):
        grade.identify(notebook, tmp_path / "mine.ipynb", releases)
    notebook.cells[1].source += "\nimport tensorflow as tf"
    assert grade.identify(notebook, tmp_path / "mine.ipynb", releases).framework == "tensorflow"
    plain = _solution()
    del plain.metadata["seq2bert"]
    assert grade.identify(plain, tmp_path / "pytorch" / "mine.ipynb", releases).framework == "pytorch"
    assert grade.identify(plain, tmp_path / "pytorch" / "mine.ipynb", releases).unit == "02"


def test_identify_rejects_other_units(releases, tmp_path):
    with pytest.raises(grade.SubmissionError, match="wrong unit: expected unit 01, got unit 02"):
        grade.identify(_solution(), tmp_path / "a.ipynb", releases, expected_unit="01")
    stranger = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    with pytest.raises(grade.SubmissionError, match="not a course notebook"):
        grade.identify(stranger, tmp_path / "b.ipynb", releases)


@pytest.mark.parametrize("data, message", [
    (b"\xff\xfe", "not UTF-8"),
    (b"[1, 2]", "JSON without"),
    (b'{"nbformat": 3, "cells": []}', "nbformat 3"),
    (b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code"}]}', "not a notebook"),
])
def test_parse_rejects_non_notebooks(data, message):
    with pytest.raises(grade.SubmissionError, match=message):
        grade.parse_notebook(data)


def test_scoring_without_a_final_event_reports_the_worker_failure(releases):
    release = releases["02", "pytorch"]
    execution = grade.Execution(events=({"event": "cell", "index": 3, "grade_id": "check_add",
                                         "checks": [{"exercise": "add", "status": "passed"}], "error": None},),
                                timed_out=False, seconds=1.0, exit_code=1, stderr_tail="ImportError: no nbclient\n")
    results, error, graded = grade.score(release, execution, grade.GradeOptions())
    assert [r.status for r in results] == ["passed", "not_run"]
    assert error == "grader worker failed: ImportError: no nbclient" and not graded


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "grades.csv"
    target.write_text("old\n")
    with pytest.raises(TypeError):
        write_atomic(target, None)  # writing fails midway
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["grades.csv"]


@pytest.mark.parametrize("args, message", [
    (["missing.ipynb", "--csv", "out.csv"], "no such submission"),
    (["sub.ipynb", "--csv", "nowhere/out.csv"], "does not exist"),
    (["sub.ipynb", "--csv", "sub.ipynb"], "is one of the submissions"),
    (["sub.ipynb", "--csv", "out.csv", "--cell-timeout", "0"], "must be positive"),
    (["sub.ipynb", "--csv", "out.csv", "--unit", "99"], "there is no unit"),
    (["sub.ipynb", "--csv", "out.csv", "--executed", "sub.ipynb"], "is a file, not a folder"),
    (["sub.ipynb", "--csv", "out.csv", "--memory-mb", "-5"], "must not be negative"),
    (["sub.ipynb", "--csv", "out.csv", "--max-processes", "-1"], "must not be negative"),
    (["sub.ipynb", "--csv", "out.csv", "--course", "nowhere"], "no such folder"),
    (["sub.ipynb", "--csv", "out.csv", "--course", "empty"], "no release notebooks"),
])
def test_bad_arguments_exit_2_without_writing(tmp_path, args, message):
    course = mc.write_course(tmp_path / "course")
    (tmp_path / "empty").mkdir()
    mc.write(_solution(), tmp_path / "sub.ipynb")
    result = _grade_cli("--course", str(course), *args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out.csv").exists()


def test_all_graded_exits_0_and_full_mode_drops_fast(tmp_path):
    course = mc.write_course(tmp_path / "course")
    fast_only = 'import os\ndef add(a, b):\n    return a + b if os.environ.get("SEQ2BERT_FAST") == "1" else None\n'
    mc.write(_solution(add=fast_only), tmp_path / "subs" / "fast_only.ipynb")
    result = _grade_cli("subs/fast_only.ipynb", "--csv", "grades.csv", "--course", str(course), "--full",
                        "--executed", "executed", "--cell-timeout", str(CELL_TIMEOUT), "--timeout", str(TIMEOUT),
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    row = _rows(tmp_path / "grades.csv")["fast_only"]
    assert (row["add_status"], row["scale_status"], row["score"]) == ("failed", "passed", "3")
    executed = nbformat.read(str(tmp_path / "executed" / "fast_only.ipynb"), as_version=4)
    assert any(CHECK_MIME in o.get("data", {}) for c in executed.cells if c.cell_type == "code" for o in c.outputs)


def test_csv_guards_against_spreadsheet_formulas():
    result = grade.ExerciseResult("add", "failed", 0.0, 2.0, hint='=HYPERLINK("http://evil","fix")')
    grades = [grade.SubmissionGrade("=cmd|' /C calc'!A0.ipynb", "02", "pytorch", (result,),
                                    notes=("+1 note",), error="@SUM(1)", graded=True)]
    row = next(csv.DictReader(grade.csv_text(grades, ["add"]).splitlines()))
    assert row["submission"] == "'=cmd|' /C calc'!A0.ipynb"
    assert row["add_hint"] == '\'=HYPERLINK("http://evil","fix")'
    assert (row["notes"], row["error"]) == ("'+1 note", "'@SUM(1)")
    assert (row["add_status"], row["score"], row["max_score"]) == ("failed", "0", "2")  # plain cells untouched


# ----------------------------------------------------------------------------- one submission cannot change another's grade

# Appended to seq2bert/report.py by a hostile exercise cell: every later check would "pass".
_ALWAYS_PASS = ("\n_real_show_check = show_check\n\n"
                "def show_check(payload, text):\n"
                "    _real_show_check(dict(payload, status='passed', hint=''), 'add: passed')\n")


def test_a_package_rewriting_submission_cannot_change_the_next_grade(tmp_path):
    # The grader runs from a throwaway copy of the source, so a failure of the protection
    # cannot damage this checkout.
    source = tmp_path / "src"
    shutil.copytree(Path(grade.__file__).parent, source / "seq2bert", ignore=shutil.ignore_patterns("__pycache__"))
    original = _snapshot(source)
    course = mc.write_course(tmp_path / "course")
    release = course / "notebooks" / "pytorch" / f"{mc.STEM}.ipynb"
    release_bytes = release.read_bytes()
    hostile = (
        "import json, os, seq2bert, seq2bert.report\n"
        "print('seq2bert from', seq2bert.__file__)\n"
        "path = seq2bert.report.__file__\n"
        "os.chmod(path, 0o644)  # the copy is read-only, but its owner (and root) can change that\n"
        f"open(path, 'a').write({_ALWAYS_PASS!r})\n"
        f"release = json.load(open({str(release)!r}))\n"
        "for cell in release['cells']:\n"
        "    if cell['metadata'].get('nbgrader', {}).get('grade', False):\n"
        "        cell['source'] = \"from seq2bert.report import show_check\\nshow_check({'exercise': 'add', 'status': 'passed'}, 'ok')\\n\"\n"
        f"json.dump(release, open({str(release)!r}, 'w'))\n"
        + mc.STUBS["add"])
    mc.write(mc.make_notebook("pytorch", "student", answers={"add": hostile}), tmp_path / "subs" / "a_hostile.ipynb")
    mc.write(mc.make_notebook("pytorch", "student"), tmp_path / "subs" / "b_untouched.ipynb")
    temp = tmp_path / "temp"
    temp.mkdir()
    env = dict(_env(), PYTHONPATH=str(source), TMPDIR=str(temp))
    result = subprocess.run([sys.executable, "-m", "seq2bert", "grade", "subs", "--csv", "grades.csv", "--course", str(course),
                             "--executed", "executed", "--cell-timeout", str(CELL_TIMEOUT), "--timeout", str(TIMEOUT)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    rows = _rows(tmp_path / "grades.csv")
    assert (rows["a_hostile"]["score"], rows["b_untouched"]["score"]) == ("0", "0")
    assert rows["b_untouched"]["add_status"] == rows["b_untouched"]["scale_status"] == "not_attempted"
    notes = rows["a_hostile"]["notes"]
    assert "changed the course code, restored for the next submission" in notes
    assert "seq2bert copy: src/seq2bert/report.py" in notes and str(release) in notes
    assert rows["b_untouched"]["notes"] == ""
    # The kernel imported the private copy, not the installed (writable) package.
    executed = nbformat.read(str(tmp_path / "executed" / "a_hostile.ipynb"), as_version=4)
    printed = next(o.text for c in executed.cells for o in c.get("outputs", []) if "seq2bert from" in o.get("text", ""))
    imported = Path(printed.split("seq2bert from", 1)[1].strip())
    assert imported.parent.name == "seq2bert" and imported.parents[2].name.startswith("seq2bert-grade-pkg-")
    assert temp in imported.parents  # the copy lives in the grader's temporary folder...
    assert source not in imported.parents
    assert _snapshot(source) == original and release.read_bytes() == release_bytes
    assert list(temp.iterdir()) == []  # ...and is removed with the sandboxes when the batch ends


def test_pristine_copy_finds_and_undoes_every_change(tmp_path):
    package, quizzes = tmp_path / "pkg", tmp_path / "quizzes"
    (package / "check").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "check" / "runner.py").write_text("RESULT = 'real'\n")
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "stale.pyc").write_bytes(b"\0")  # never copied
    quizzes.mkdir()
    (quizzes / "02.yml").write_text("questions: []\n")
    with grade.PristineCopy(package, quizzes) as pristine:
        src = pristine.python_path
        assert sorted(p.relative_to(pristine.root).as_posix() for p in pristine.root.rglob("*") if p.is_file()) == [
            "quizzes/02.yml", "src/seq2bert/__init__.py", "src/seq2bert/check/runner.py"]
        assert (src / "seq2bert" / "check" / "runner.py").stat().st_mode & 0o777 == 0o444
        assert (src / "seq2bert").stat().st_mode & 0o777 == 0o555 and (pristine.root / "course").is_dir()
        assert pristine.verify() == []
        first = pristine.root
        runner = src / "seq2bert" / "check" / "runner.py"
        os.chmod(runner, 0o644)
        runner.write_text("RESULT = 'forged'\n")
        os.chmod(src, 0o755)
        (src / "sitecustomize.py").write_text("import os\n")  # would run in every later sandbox
        os.chmod(src / "seq2bert", 0o755)
        (src / "seq2bert" / "__init__.py").unlink()
        assert pristine.verify() == ["src", "src/seq2bert", "src/seq2bert/__init__.py", "src/seq2bert/check/runner.py",
                                     "src/sitecustomize.py"]
        assert not first.exists() and pristine.root != first
        assert (pristine.python_path / "seq2bert" / "check" / "runner.py").read_text() == "RESULT = 'real'\n"
        assert not (pristine.python_path / "sitecustomize.py").exists() and pristine.verify() == []
    assert not pristine.root.exists()


def test_changed_release_notebooks_are_restored(releases):
    release = releases["02", "pytorch"]
    assert grade.restore_releases(releases) == []
    release.path.write_text("{}")
    assert grade.restore_releases(releases) == [str(release.path)]
    assert release.path.read_bytes() == release.data and grade.restore_releases(releases) == []


# ----------------------------------------------------------------------------- bounded reading


def _feed_pipe(blocks: list[bytes]) -> tuple[object, threading.Thread]:
    """A pipe's reading end, with a thread writing `blocks` into the other end."""
    read_fd, write_fd = os.pipe()

    def write() -> None:
        try:
            with os.fdopen(write_fd, "wb") as out:
                for block in blocks:
                    out.write(block)
        except BrokenPipeError:  # the reader stopped early
            pass

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    return os.fdopen(read_fd, "rb", buffering=0), writer


def test_report_reading_drops_giant_lines_with_bounded_memory():
    done = json.dumps({"event": "done"}).encode() + b"\n"
    reports, writer = _feed_pipe([b'{"event": "cell", "hint": "' + b"x" * 12 * 2**20 + b'"}\n', done])
    collected = grade._Reports([])
    tracemalloc.start()
    try:
        outcome = grade._collect_reports(reports, time.monotonic() + 60, collected)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        reports.close()
        writer.join()
    assert outcome == "closed" and collected.events == [{"event": "done"}] and collected.dropped_lines == 1
    assert peak < 3 * grade.MAX_REPORT_LINE_BYTES  # the 12 MB line was never held


def test_report_reading_stops_past_the_total_cap():
    line = json.dumps({"event": "cell", "index": 0, "grade_id": None, "checks": [], "error": None}).encode() + b"\n"
    flood = line * (2 * grade.MAX_REPORT_BYTES // len(line))
    reports, writer = _feed_pipe([flood, json.dumps({"event": "done"}).encode() + b"\n"])
    collected = grade._Reports([])
    try:
        outcome = grade._collect_reports(reports, time.monotonic() + 60, collected)
    finally:
        reports.close()
        writer.join()
    assert outcome == "overflow" and {"event": "done"} not in collected.events
    assert collected.total <= grade.MAX_REPORT_BYTES + 65536


def test_overflowing_reports_are_an_error_not_a_grade(releases):
    execution = grade.Execution(events=({"event": "done"},), timed_out=False, seconds=1.0, exit_code=None,
                                stderr_tail="", overflow=True, dropped_lines=2)
    results, error, graded = grade.score(releases["02", "pytorch"], execution, grade.GradeOptions())
    assert error == "stopped: the worker reported more than 16 MB; 2 report line(s) over 1 MB dropped" and not graded


def test_worker_events_keep_only_small_known_fields():
    payload = {"exercise": "add", "status": "passed", "hint": "h" * 10**5, "cases": 10**400, "extra": "x" * 10**6}
    outputs = [nbformat.v4.new_output("display_data", data={CHECK_MIME: {**payload, "status": str(i)}}) for i in range(20)]
    cell = nbformat.v4.new_code_cell("", outputs=outputs, metadata={"nbgrader": {"grade_id": ["not", "a", "string"]}})
    event = grade_worker._cell_event(cell, 3, {"content": {"status": "error", "ename": "E" * 10**4, "evalue": "v"}})
    assert len(json.dumps(event)) < 20_000 and event["grade_id"] is None
    assert [c["status"] for c in event["checks"]] == [str(i) for i in range(12, 20)]  # the newest are kept
    assert event["checks"][-1]["hint"] == "h" * grade_worker.MAX_FIELD_CHARS and "extra" not in event["checks"][-1]
    assert event["checks"][-1]["cases"] == "a very large integer" and len(event["error"]["ename"]) == 100


# ----------------------------------------------------------------------------- fork bombs

FORKS = 300  # bounded, so that the test cannot hurt the machine even if the limit fails


def test_fork_bomb_hits_the_process_limit_and_the_batch_goes_on(tmp_path):
    if os.geteuid() == 0 and grade.pids_cgroup_parent() is None:
        pytest.skip("running as root with no pids cgroup: Linux ignores RLIMIT_NPROC for root, "
                    "so the grader has no way to limit processes here")
    course = mc.write_course(tmp_path / "course")
    bomb = ("import os, time\n"
            "children = 0\n"
            f"for _ in range({FORKS}):\n"
            "    try:\n"
            "        pid = os.fork()\n"
            "    except OSError as error:\n"
            "        print('fork refused after', children, 'children:', error)\n"
            "        break\n"
            "    if pid == 0:\n"
            "        time.sleep(3)\n"
            "        os._exit(0)\n"
            "    children += 1\n"
            "else:\n"
            "    print('all forks succeeded')\n")
    mc.write(_insert_after(_solution(), "check_add", bomb), tmp_path / "subs" / "a_bomb.ipynb")
    mc.write(_solution(), tmp_path / "subs" / "b_good.ipynb")
    result = _grade_cli("subs", "--csv", "grades.csv", "--course", str(course), "--executed", "executed",
                        "--max-processes", "64", "--cell-timeout", str(CELL_TIMEOUT), "--timeout", str(TIMEOUT),
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = _rows(tmp_path / "grades.csv")
    assert (rows["a_bomb"]["score"], rows["b_good"]["score"]) == ("5", "5")
    executed = nbformat.read(str(tmp_path / "executed" / "a_bomb.ipynb"), as_version=4)
    printed = "".join(o.get("text", "") for c in executed.cells if "os.fork()" in c.source for o in c.outputs)
    assert "fork refused after" in printed, printed
    assert int(printed.split("fork refused after")[1].split()[0]) < 64


def test_process_limit_for_an_unprivileged_grader_is_rlimit_nproc(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(grade, "_user_tasks", lambda: 37)  # what the user already runs
    assert grade.process_limit(100, "unused") == grade.ProcessLimit(nproc=137)
    assert grade.process_limit(0, "unused") == grade.ProcessLimit()


NOBODY = 65534


def _become_nobody() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def test_rlimit_nproc_stops_forks_of_an_unprivileged_user():
    # Loaded now: once the child is "nobody" it may not be able to read the standard library.
    importlib.import_module("resource")
    become = _become_nobody if os.geteuid() == 0 else None  # root is exempt from RLIMIT_NPROC
    uid = NOBODY if become else os.getuid()
    fork_loop = ("import os, time\nchildren = 0\nfor _ in range(40):\n    try:\n        pid = os.fork()\n"
                 "    except OSError:\n        break\n    if pid == 0:\n        time.sleep(2)\n        os._exit(0)\n"
                 "    children += 1\nprint(children)\n")
    def runs(python: str) -> bool:
        try:
            return subprocess.run([python, "-c", "pass"], preexec_fn=become, cwd="/", capture_output=True).returncode == 0
        except OSError:
            return False

    runnable = [python for python in dict.fromkeys([sys.executable, "/usr/bin/python3"]) if runs(python)]
    if not runnable:
        pytest.skip(f"no Python interpreter that user {uid} may run")
    tasks = sum(1 for p in Path("/proc").glob("[0-9]*/task/[0-9]*") if p.stat().st_uid == uid)
    limit = grade.ProcessLimit(nproc=tasks + 10)

    def limited() -> None:
        if become:
            become()
        grade._limit_resources(0, limit)

    result = subprocess.run([runnable[0], "-c", fork_loop], preexec_fn=limited, capture_output=True, text=True,
                            timeout=60, cwd="/")
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) < 10  # far fewer than the 40 it tried


def _message(msg_type: str, content: dict) -> dict:
    return {"msg_type": msg_type, "header": {"msg_type": msg_type}, "parent_header": {"msg_id": "m"}, "content": content}


def test_worker_keeps_bounded_output_but_always_the_latest_check_results():
    cells = [nbformat.v4.new_code_cell("") for _ in range(20)]
    cells.append(mc.check_cell("add", "pytorch"))
    client = grade_worker.CappedClient(nbformat.v4.new_notebook(cells=cells))
    client.reset_execution_trackers()  # as execute() and execute_cell() do
    client.clear_before_next_output = False
    half = grade_worker.MAX_CELL_OUTPUT_CHARS // 2
    for index in range(20):
        for _ in range(3):  # 1.5 MB per cell, 30 MB in all
            client.output(cells[index].outputs, _message("stream", {"name": "stdout", "text": "x" * half}), None, index)
    kept = [sum(len(o.get("text", "")) for o in c.outputs if o.get("name") == "stdout") for c in cells[:20]]
    assert max(kept) == grade_worker.MAX_CELL_OUTPUT_CHARS and sum(kept) == grade_worker.MAX_OUTPUT_CHARS
    assert all("further output of this cell dropped" in c.outputs[-1].text for c in cells[:20])
    check = cells[20]
    for number in range(12):  # the budget is spent, yet check results of a graded cell are kept
        data = {CHECK_MIME: {"exercise": "add", "status": f"s{number}"}, "text/plain": "add"}
        client.output(check.outputs, _message("display_data", {"data": data, "metadata": {}}), None, 20)
    statuses = [o.data[CHECK_MIME]["status"] for o in check.outputs if CHECK_MIME in o.get("data", {})]
    assert statuses == [f"s{n}" for n in range(4, 12)]
    huge = {CHECK_MIME: {"exercise": "add", "status": "passed", "hint": "h" * 10**6}, "text/plain": "add"}
    client.output(check.outputs, _message("display_data", {"data": huge, "metadata": {}}), None, 20)
    assert [o.data[CHECK_MIME]["status"] for o in check.outputs if CHECK_MIME in o.get("data", {})][-1] == "s11"
