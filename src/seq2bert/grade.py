"""`seq2bert grade`: grade student notebooks, each in its own sandboxed process.

For every submission the grader
1. reads it (the file itself is never written) and finds its unit and framework, from
   ``metadata["seq2bert"]`` or else from the grade ids of its exercise cells;
2. restores every check cell (nbgrader ``grade: true``) from the course's release notebook of
   that unit and framework, re-inserts check cells the student deleted right after their exercise
   cell, and clears all outputs, so only fresh results count;
3. executes the repaired copy with nbclient in a child process (`seq2bert.grade_worker`) inside
   a new temporary directory that is its cwd and HOME, with SEQ2BERT_FAST=1 unless ``--full``,
   a minimal environment (the instructor's variables and tokens are not passed), a per-cell
   timeout (a hanging cell is interrupted and the next cell runs), an overall wall-clock timeout
   after which the worker's process group, the kernel's process group and every process carrying
   the sandbox's marker variable are killed, and resource limits set in the child before exec;
4. scores the check results the worker streamed over a private pipe (the kernel does not inherit
   it, so notebook code cannot write there): passed earns the check cell's points; failed,
   not attempted and not run (the notebook died or timed out before the check) earn 0.

One submission cannot change what the next is graded with:
- the worker and kernel import seq2bert from a private copy made once per batch (first on their
  PYTHONPATH, ahead of editable and site installs), read-only (0444/0555); since chmod does not
  stop root, the copy is also hashed and rebuilt from memory before and after every submission;
- check cells come from the release notebooks read once at the start; a release file changed on
  disk is rewritten as it was. Either repair is listed in that submission's notes.

Caps on what the grader reads: the worker keeps at most 1 MB of output per cell and 16 MB per
notebook (a notebook printing 10^7 lines keeps the first MB and a notice), sends only small
check fields, and the grader drops report lines over 1 MB and stops a worker that reports more
than 16 MB.

Process limit (``--max-processes``, default 512 tasks, threads included): for a non-root grader
RLIMIT_NPROC is set to the user's current task count plus the limit. Linux does not apply
RLIMIT_NPROC to root, so a root grader instead puts each sandbox in a pids cgroup (``pids.max``)
when the pids controller is mounted and writable (cgroup v1, or a v2 cgroup with pids enabled);
otherwise root gets no process limit and the grader warns. Linux only.

Memory cap (measured on Linux with torch 2.13 CPU and TensorFlow 2.21): importing both maps
about 2.3 GB of address space while only about 0.45 GB of it is data (VmData) and 0.8 GB is
resident. Under RLIMIT_AS the TensorFlow import fails below about 2 GB ("failed to map segment
from shared object") and a too-large torch tensor kills the process inside OpenBLAS instead of
raising. Under RLIMIT_DATA the same imports work down to 512 MB, and allocating 2 GB with numpy,
torch or a bytearray raises MemoryError (torch: RuntimeError "can't allocate memory") in the
cell. So the cap is RLIMIT_DATA (Linux 4.7+ counts anonymous mmaps in it). The unit 01 solution
notebooks (fast mode, both frameworks) still grade 5/5 under ``--memory-mb 1024``; the 6144
default leaves room for full mode and the bigger later units. RLIMIT_DATA does not count shared
or file-backed mappings, and macOS does not enforce it for mmap; only a container (cgroup)
bounds memory completely. ``--memory-mb 0`` turns the cap off.

What the sandbox does not stop: relative writes land in the temporary directory, but a hostile
notebook can still read or write any absolute path the grading user may touch (the rest of the
Python installation included, which is not verified), start processes that drop the marker
variable from their environment, or monkeypatch seq2bert inside its own kernel before a check
runs. Run the grader as an unprivileged user or inside a container for
untrusted submissions; cells that mention the check machinery are flagged in the report's notes.
"""
from __future__ import annotations

import argparse
import copy
import csv
import dataclasses
import hashlib
import io
import json
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from seq2bert.cli import whole_number
from seq2bert.files import spreadsheet_safe, write_atomic
from seq2bert.units import FRAMEWORKS, UNITS, CourseError, course_root, get_framework, get_unit

STATUSES = ("passed", "failed", "not_attempted", "not_run")
SYMBOLS = {"passed": "✓", "failed": "✗", "not_attempted": "–", "not_run": "·"}
MAX_NOTEBOOK_BYTES = 50 * 2**20  # a student notebook larger than this is rejected unread
MAX_REPORT_LINE_BYTES = 2**20  # one event line from the worker; a longer line is dropped
MAX_REPORT_BYTES = 16 * 2**20  # all the worker may report about one submission; then it is stopped
FILE_SIZE_LIMIT = 2**30  # RLIMIT_FSIZE for the sandbox: no single file above 1 GiB
MARKER_VAR = "SEQ2BERT_GRADE_SANDBOX"
PACKAGE_DIR = Path(__file__).resolve().parent  # the seq2bert package the grader itself runs
# Only these variables of the instructor's environment reach the sandbox.
PASSED_ENV = ("LANG", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONPATH", "VIRTUAL_ENV", "OMP_NUM_THREADS",
              "OMP_WAIT_POLICY", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_CPP_MIN_LOG_LEVEL",
              "CUDA_VISIBLE_DEVICES", "JUPYTER_PATH", "SEQ2BERT_EXTRA_UNITS")
# Text in a student-editable cell that suggests tampering with the checks.
SUSPICIOUS = ("show_check", "CHECK_MIME", "vnd.seq2bert", "sys.modules", "IPython.display")


class SubmissionError(Exception):
    """A submission that cannot be graded (its message goes into the report's error column)."""


@dataclass(frozen=True)
class GradeOptions:
    """How each submission is executed."""

    cell_timeout: int = 300  # seconds one cell may run before it is interrupted
    timeout: int = 1800  # seconds the whole notebook may run before everything is killed
    memory_mb: int = 6144  # RLIMIT_DATA of the worker and kernel, 0 for no cap
    max_processes: int = 512  # tasks (processes and threads) the sandbox may add, 0 for no limit
    fast: bool = True  # SEQ2BERT_FAST=1 in the sandbox
    expected_unit: str | None = None  # reject submissions of another unit
    kernel_name: str = "python3"  # kernel spec the worker starts


@dataclass(frozen=True)
class CheckCell:
    """One graded check cell of a release notebook."""

    grade_id: str  # nbgrader grade id, "check_<exercise>"
    exercise: str  # exercise name, the grade id without "check_"
    points: float  # points for passing
    cell: Any  # the authoritative nbformat cell


@dataclass(frozen=True)
class Release:
    """The release notebook of one unit and framework: the source of truth for check cells."""

    unit: str
    framework: str
    path: Path
    notebook: Any
    checks: tuple[CheckCell, ...]
    data: bytes = b""  # the file as read at the start of the batch, to restore it if a notebook changes it

    @property
    def grade_ids(self) -> set[str]:
        return {gid for gid in (_grade_id(cell) for cell in self.notebook.cells) if gid}


@dataclass(frozen=True)
class ExerciseResult:
    """The outcome of one exercise in one submission."""

    exercise: str
    status: str  # one of STATUSES
    points: float
    max_points: float
    hint: str = ""


@dataclass(frozen=True)
class Execution:
    """What the sandboxed worker reported about one run."""

    events: tuple[dict[str, Any], ...]
    timed_out: bool
    seconds: float
    exit_code: int | None
    stderr_tail: str
    executed: Any = None  # the executed notebook, when the worker got to write it
    overflow: bool = False  # the worker reported more than MAX_REPORT_BYTES and was stopped
    dropped_lines: int = 0  # report lines longer than MAX_REPORT_LINE_BYTES, dropped unread


@dataclass(frozen=True)
class SubmissionGrade:
    """The grade of one submission: one CSV row."""

    submission: str
    unit: str = ""
    framework: str = ""
    results: tuple[ExerciseResult, ...] = ()
    repairs: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    error: str = ""
    graded: bool = False  # executed to the end, so every check had its chance
    seconds: float = 0.0

    @property
    def score(self) -> float:
        return sum(result.points for result in self.results)

    @property
    def max_score(self) -> float:
        return sum(result.max_points for result in self.results)


# ----------------------------------------------------------------------------- notebooks


def _grade_id(cell: Any) -> str | None:
    """The nbgrader grade id of a cell, or None."""
    meta = cell.get("metadata", {}).get("nbgrader")
    if isinstance(meta, dict) and isinstance(meta.get("grade_id"), str):
        return meta["grade_id"]
    return None


def _is_grade_cell(cell: Any) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader")
    return isinstance(meta, dict) and bool(meta.get("grade"))


def _source(cell: Any) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def parse_notebook(data: bytes) -> Any:
    """Parse and validate notebook bytes, or raise SubmissionError saying why they are not one."""
    import nbformat

    try:
        raw = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise SubmissionError("not a notebook: the file is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise SubmissionError(f"not a notebook: invalid JSON (line {error.lineno}, column {error.colno})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list) or not isinstance(raw.get("nbformat"), int):
        raise SubmissionError("not a notebook: JSON without the 'nbformat' and 'cells' fields")
    if raw["nbformat"] != 4:
        raise SubmissionError(f"not a notebook: nbformat {raw['nbformat']} (only version 4 is supported)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            notebook = nbformat.reads(json.dumps(raw), as_version=4)
            nbformat.validator.normalize(notebook)
            nbformat.validate(notebook)
    except Exception as error:  # nbformat raises many kinds on malformed input
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise SubmissionError(f"not a notebook: {first[:160]}") from None
    return notebook


def _read_notebook_bytes(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_NOTEBOOK_BYTES:
            raise SubmissionError(f"not a notebook: {size / 2**20:.0f} MB is larger than the {MAX_NOTEBOOK_BYTES // 2**20} MB limit")
        return path.read_bytes()
    except OSError as error:
        raise SubmissionError(f"cannot read the file: {error.strerror or error}") from None


def load_submission(path: Path) -> Any:
    """Read a submission (only read, never written) and parse it."""
    return parse_notebook(_read_notebook_bytes(path))


def _release_checks(notebook: Any) -> tuple[CheckCell, ...]:
    checks = []
    for cell in notebook.cells:
        gid = _grade_id(cell)
        if gid and _is_grade_cell(cell):
            exercise = gid[len("check_"):] if gid.startswith("check_") else gid
            points = float(cell.metadata["nbgrader"].get("points", 0) or 0)
            checks.append(CheckCell(gid, exercise, points, cell))
    return tuple(checks)


def find_releases(root: Path) -> dict[tuple[str, str], Release]:
    """Every release notebook under `root` (student copies; solution copies where those are missing)."""
    releases = {}
    for unit in UNITS:
        for framework in FRAMEWORKS:
            for solution in (False, True):
                path = unit.notebook(root, framework, solution=solution)
                if not path.is_file():
                    continue
                try:
                    data = _read_notebook_bytes(path)
                    notebook = parse_notebook(data)
                except SubmissionError as error:
                    raise CourseError(f"release notebook {path} is broken: {error}") from None
                releases[unit.number, framework] = Release(unit.number, framework, path, notebook,
                                                           _release_checks(notebook), data)
                break
    if not releases:
        raise CourseError(f"no release notebooks under {root}/notebooks; run `seq2bert build` first")
    return releases


def restore_releases(releases: dict[tuple[str, str], Release]) -> list[str]:
    """Release notebooks whose file changed since the batch began; each is rewritten as it was.

    Grading always uses the copies read at the start; restoring keeps the next batch honest too.
    """
    changed = []
    for release in releases.values():
        try:
            fd = os.open(release.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            with os.fdopen(fd, "rb") as handle:
                current = handle.read(len(release.data) + 1)
        except OSError:
            current = None
        if current != release.data:
            changed.append(str(release.path))
            try:
                write_atomic(release.path, release.data)
            except OSError:
                changed[-1] += " (could not be restored)"
    return changed


def _framework_hint(notebook: Any, path: Path) -> str | None:
    """Guess the framework from imports in the code, then from the file's path."""
    code = "\n".join(_source(c) for c in notebook.cells if c.get("cell_type") == "code")
    torch = "import torch" in code or "from torch" in code
    tf = "import tensorflow" in code or "from tensorflow" in code or "import keras" in code
    if torch != tf:
        return "pytorch" if torch else "tensorflow"
    parts = {part.lower() for part in path.parts}
    found = [fw for fw in FRAMEWORKS if fw in parts or any(fw in part for part in parts)]
    return found[0] if len(found) == 1 else None


def identify(notebook: Any, path: Path, releases: dict[tuple[str, str], Release],
             expected_unit: str | None = None) -> Release:
    """The release notebook a submission belongs to, or SubmissionError."""
    ids = {gid for gid in (_grade_id(cell) for cell in notebook.cells) if gid}
    overlap = {key: len(ids & release.grade_ids) for key, release in releases.items()}
    meta = notebook.metadata.get("seq2bert")
    if isinstance(meta, dict) and meta.get("unit") and meta.get("framework"):
        try:
            unit = get_unit(meta["unit"]).number
        except CourseError:
            raise SubmissionError(f"wrong unit: the notebook says unit {str(meta['unit'])[:20]!r}, "
                                  "which this course does not have") from None
        try:
            framework = get_framework(meta["framework"])
        except CourseError:
            raise SubmissionError(f"unknown framework {str(meta['framework'])[:20]!r} in the notebook's metadata") from None
        best = max(overlap.values(), default=0)
        if best and overlap.get((unit, framework), 0) == 0:
            other = sorted({key[0] for key, count in overlap.items() if count == best})
            raise SubmissionError(f"wrong unit: the metadata says unit {unit} but the exercises are unit {', '.join(other)}'s")
    else:
        best = max(overlap.values(), default=0)
        if best == 0:
            raise SubmissionError("not a course notebook: no seq2bert metadata and no known exercise cells")
        keys = [key for key, count in overlap.items() if count == best]
        units = sorted({key[0] for key in keys})
        if len(units) > 1:
            raise SubmissionError(f"cannot tell the unit: the exercises match units {', '.join(units)}")
        unit = units[0]
        frameworks = [key[1] for key in keys]
        if len(frameworks) > 1:
            hint = _framework_hint(notebook, path)
            if hint not in frameworks:
                raise SubmissionError("cannot tell whether this is the PyTorch or the TensorFlow notebook")
            frameworks = [hint]
        framework = frameworks[0]
    if expected_unit is not None and unit != expected_unit:
        raise SubmissionError(f"wrong unit: expected unit {expected_unit}, got unit {unit}")
    if (unit, framework) not in releases:
        raise SubmissionError(f"no release notebook for unit {unit} ({framework}); run `seq2bert build`")
    return releases[unit, framework]


def _fresh(cell: Any) -> Any:
    """A copy of an authoritative cell with no outputs."""
    new = copy.deepcopy(cell)
    if new.get("cell_type") == "code":
        new["outputs"] = []
        new["execution_count"] = None
    return new


def _same_cell(a: Any, b: Any) -> bool:
    return (a.get("cell_type") == b.get("cell_type") and _source(a) == _source(b)
            and a.get("metadata", {}).get("nbgrader") == b.get("metadata", {}).get("nbgrader"))


def _insertion_point(cells: list[Any], release: Release, check: CheckCell) -> int:
    """Where a deleted check cell goes: right after the nearest earlier graded cell still present."""
    release_cells = list(release.notebook.cells)
    at = next(i for i, cell in enumerate(release_cells) if _grade_id(cell) == check.grade_id)
    positions = {gid: i for i, gid in enumerate(_grade_id(cell) for cell in cells) if gid}
    for earlier in reversed(release_cells[:at]):
        gid = _grade_id(earlier)
        if gid in positions:
            return positions[gid] + 1
    return len(cells)


def restore_grade_cells(notebook: Any, release: Release) -> tuple[Any, tuple[str, ...]]:
    """A copy of the submission whose check cells are the release's, plus the repairs made."""
    authoritative = {check.grade_id: check for check in release.checks}
    repaired = copy.deepcopy(notebook)
    repairs: list[str] = []
    seen: set[str] = set()
    cells = []
    for cell in repaired.cells:
        gid = _grade_id(cell)
        if gid in authoritative and gid not in seen:
            seen.add(gid)
            fresh = _fresh(authoritative[gid].cell)
            if not _same_cell(cell, fresh):
                repairs.append(f"restored edited {gid}")
            cells.append(fresh)
            continue
        if gid in authoritative or _is_grade_cell(cell):
            # A copy of a check cell or a made-up grade cell: keep the code, drop the grading role.
            cell.metadata.pop("nbgrader", None)
            repairs.append(f"ungraded extra cell {gid!r}")
        cells.append(cell)
    for check in release.checks:
        if check.grade_id not in seen:
            cells.insert(_insertion_point(cells, release, check), _fresh(check.cell))
            repairs.append(f"re-inserted deleted {check.grade_id}")
    used: set[str] = set()
    for cell in cells:
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        if "id" in cell:
            if cell["id"] in used:
                cell["id"] = uuid.uuid4().hex[:12]
            used.add(cell["id"])
    repaired.cells = cells
    return repaired, tuple(repairs)


def suspicious_cells(notebook: Any, release: Release) -> tuple[str, ...]:
    """Notes on code cells the course did not write that mention the check machinery."""
    course_sources = {_source(cell) for cell in release.notebook.cells}
    notes = []
    for index, cell in enumerate(notebook.cells, start=1):
        if cell.get("cell_type") != "code" or _is_grade_cell(cell) or _source(cell) in course_sources:
            continue
        words = [word for word in SUSPICIOUS if word in _source(cell)]
        if words:
            notes.append(f"cell {index} mentions {', '.join(words)}")
    return tuple(notes)


# ----------------------------------------------------------------------------- pristine package


class PristineCopy:
    """A private, read-only copy of the seq2bert package that every sandbox imports first.

    Layout: ROOT/src/seq2bert/ (the package), ROOT/quizzes/ (the course's quizzes) and an empty
    ROOT/course/, so that course_root() inside the kernel is ROOT. The bytes are kept in memory;
    `verify` compares every path under ROOT (type, mode, SHA-256) with them and rebuilds the
    copy from memory if anything differs, because chmod does not stop a grader running as root.
    """

    def __init__(self, package: Path, quizzes: Path | None = None):
        self.files: dict[str, bytes] = {}
        for prefix, folder in (("src/seq2bert", package), ("quizzes", quizzes)):
            if folder is None or not folder.is_dir():
                continue
            for path in sorted(folder.rglob("*")):
                if "__pycache__" in path.parts or path.is_symlink() or not path.is_file():
                    continue
                self.files[f"{prefix}/{path.relative_to(folder).as_posix()}"] = path.read_bytes()
        dirs = {"src", "src/seq2bert", "quizzes", "course"}
        for name in self.files:
            parts = name.split("/")
            dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))
        self.expected: dict[str, tuple] = {name: ("dir", 0o555) for name in dirs}
        self.expected.update({name: ("file", 0o444, hashlib.sha256(data).hexdigest()) for name, data in self.files.items()})
        self.root = self._write()

    @property
    def python_path(self) -> Path:
        """The folder to put first on the sandbox's PYTHONPATH."""
        return self.root / "src"

    def _write(self) -> Path:
        root = Path(tempfile.mkdtemp(prefix="seq2bert-grade-pkg-"))
        for name in sorted(name for name, kind in self.expected.items() if kind[0] == "dir"):
            (root / name).mkdir(parents=True, exist_ok=True)
        for name, data in self.files.items():
            (root / name).write_bytes(data)
            os.chmod(root / name, 0o444)
        for name in sorted((n for n, kind in self.expected.items() if kind[0] == "dir"), key=len, reverse=True):
            os.chmod(root / name, 0o555)
        os.chmod(root, 0o555)
        return root

    def _state(self) -> dict[str, tuple]:
        state: dict[str, tuple] = {}
        for folder, dirnames, filenames in os.walk(self.root):  # never follows symlinks
            for name in dirnames + filenames:
                path = os.path.join(folder, name)
                key = os.path.relpath(path, self.root).replace(os.sep, "/")
                info = os.lstat(path)
                mode = stat.S_IMODE(info.st_mode)
                if stat.S_ISDIR(info.st_mode):
                    state[key] = ("dir", mode)
                elif stat.S_ISREG(info.st_mode):
                    with open(path, "rb") as handle:
                        state[key] = ("file", mode, hashlib.sha256(handle.read()).hexdigest())
                else:
                    state[key] = ("other", mode)
        return state

    def verify(self) -> list[str]:
        """Paths that differ from the pristine copy ([] if none); the copy is rebuilt if any do."""
        try:
            state = self._state() if stat.S_IMODE(os.lstat(self.root).st_mode) == 0o555 else {}
        except OSError:
            state = {}
        changed = sorted(name for name in set(state) | set(self.expected) if state.get(name) != self.expected.get(name))
        if changed:
            self.close()
            self.root = self._write()
        return changed

    def close(self) -> None:
        """Remove the copy (making its folders writable again first)."""
        for folder, dirnames, _ in os.walk(self.root):
            for name in dirnames:
                path = os.path.join(folder, name)
                if not os.path.islink(path):
                    os.chmod(path, 0o755)
        if self.root.is_dir() and not self.root.is_symlink():
            os.chmod(self.root, 0o755)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "PristineCopy":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _summarise(paths: list[str], limit: int = 3) -> str:
    shown = ", ".join(paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def protect_course_code(pristine: PristineCopy, releases: dict[tuple[str, str], Release]) -> list[str]:
    """Verify (and restore) the pristine package copy and the release notebooks; what had changed."""
    return [f"seq2bert copy: {name}" for name in pristine.verify()] + restore_releases(releases)


# ----------------------------------------------------------------------------- sandbox


@dataclass(frozen=True)
class ProcessLimit:
    """How the sandbox's process count is capped: RLIMIT_NPROC, a pids cgroup, or not at all."""

    nproc: int | None = None  # RLIMIT_NPROC to set (it counts every task of the user)
    cgroup: Path | None = None  # a pids cgroup the worker joins before exec


def _user_tasks() -> int:
    """Tasks (processes and threads) running under this real user id, as RLIMIT_NPROC counts them."""
    uid, total = str(os.getuid()), 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = dict(line.split(":", 1) for line in (entry / "status").read_text().splitlines() if ":" in line)
        except (OSError, ValueError):
            continue
        if fields.get("Uid", "").split()[:1] == [uid]:
            total += int(fields.get("Threads", "1").strip() or 1)
    return total


def pids_cgroup_parent() -> Path | None:
    """The pids-cgroup folder of this process, if the pids controller is mounted there writable (Linux)."""
    try:
        memberships = Path("/proc/self/cgroup").read_text().splitlines()
        mounts = [line.split() for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    except OSError:
        return None
    for membership in memberships:
        _, controllers, path = membership.split(":", 2)
        for fields in mounts:
            tail = fields[fields.index("-") + 1:] if "-" in fields else []
            if len(tail) < 3:
                continue
            folder = Path(fields[4]) / os.path.relpath(path, fields[3])
            if controllers and "pids" in controllers.split(",") and tail[0] == "cgroup" and "pids" in tail[2].split(","):
                return folder if os.access(folder, os.W_OK) else None
            if not controllers and tail[0] == "cgroup2":
                try:
                    if "pids" in (folder / "cgroup.subtree_control").read_text().split() and os.access(folder, os.W_OK):
                        return folder
                except OSError:
                    pass
    return None


def process_limit(max_processes: int, marker: str) -> ProcessLimit:
    """Prepare the process limit of one sandbox (see the module docstring for what works where)."""
    if max_processes <= 0 or not Path("/proc/self").is_dir():
        return ProcessLimit()
    if os.geteuid() != 0:
        return ProcessLimit(nproc=_user_tasks() + max_processes)
    parent = pids_cgroup_parent()  # Linux ignores RLIMIT_NPROC for root
    if parent is None:
        return ProcessLimit()
    folder = parent / f"seq2bert-grade-{marker}"
    try:
        folder.mkdir()
        (folder / "pids.max").write_text(str(max_processes))
    except OSError:
        _remove_cgroup(folder)
        return ProcessLimit()
    return ProcessLimit(cgroup=folder)


def _remove_cgroup(folder: Path | None) -> None:
    """Kill whatever is left in a sandbox's cgroup (even processes that dropped the marker), then remove it."""
    if folder is None or not folder.is_dir():
        return
    for _ in range(50):
        try:
            pids = [int(pid) for pid in (folder / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            pids = []
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            folder.rmdir()
            return
        except OSError:
            time.sleep(0.05)  # killed processes take a moment to leave


def _limit_resources(memory_mb: int, limit: ProcessLimit = ProcessLimit()) -> None:
    """Runs in the child between fork and exec: cap data memory, file size and process count, no core dumps."""
    import resource

    def cap(kind: int, value: int) -> None:
        hard = resource.getrlimit(kind)[1]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (value, value))

    if memory_mb > 0:
        cap(resource.RLIMIT_DATA, memory_mb * 2**20)
    cap(resource.RLIMIT_FSIZE, FILE_SIZE_LIMIT)
    cap(resource.RLIMIT_CORE, 0)
    if limit.nproc is not None:
        cap(resource.RLIMIT_NPROC, limit.nproc)
    if limit.cgroup is not None:  # a failure here stops the start: no sandbox without its limit
        (limit.cgroup / "cgroup.procs").write_text(str(os.getpid()))


def _sandbox_env(home: Path, marker: str, fast: bool, python_path: Path | None = None) -> dict[str, str]:
    env = {name: os.environ[name] for name in PASSED_ENV if name in os.environ}
    if python_path is not None:  # the pristine copy goes before everything, editable installs included
        env["PYTHONPATH"] = os.pathsep.join([str(python_path), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))])
    # The kernel spec may say plain "python": make it this interpreter.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)])
    env.update(HOME=str(home), TMPDIR=str(home / "tmp"), MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1",
               PYTHONNOUSERSITE="1", JUPYTER_PLATFORM_DIRS="1", **{MARKER_VAR: marker})
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if fast:
        env["SEQ2BERT_FAST"] = "1"
    return env


def _processes_with_marker(marker: str) -> list[int]:
    """Pids of processes whose environment carries this sandbox's marker (Linux /proc)."""
    needle = f"{MARKER_VAR}={marker}".encode()
    found = []
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _has_marker(pid: int, marker: str) -> bool:
    """Whether process `pid` belongs to this sandbox (True where /proc cannot tell)."""
    try:
        return f"{MARKER_VAR}={marker}".encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except FileNotFoundError:
        return not Path("/proc/self").exists()
    except OSError:
        return False


def _kill_everything(worker: subprocess.Popen, kernel_pids: Iterable[int], marker: str) -> None:
    """Kill the worker's and kernels' process groups and every process of the sandbox."""
    groups = [worker.pid] if worker.poll() is None else []  # a reaped worker's pid may be reused
    groups += [pid for pid in kernel_pids if _has_marker(pid, marker)]
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for _ in range(3):  # children forked during the sweep are caught by the next pass
        pids = _processes_with_marker(marker)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.05)
    try:
        worker.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def _read_notebook_nofollow(path: Path) -> Any:
    """Read the worker's executed notebook without following a symlink a notebook may have planted."""
    import nbformat

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_NOTEBOOK_BYTES + 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return nbformat.reads(data.decode("utf-8"), as_version=4)
    except Exception:
        return None


@dataclass
class _Reports:
    """The worker's events as they arrive, read with bounded memory."""

    events: list[dict[str, Any]]
    total: int = 0  # bytes read so far
    dropped_lines: int = 0
    pending: bytearray = dataclasses.field(default_factory=bytearray)
    skipping: bool = False  # inside an over-long line: drop bytes up to its end

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        while chunk:
            end = chunk.find(b"\n")
            part, chunk = (chunk, b"") if end < 0 else (chunk[:end], chunk[end + 1:])
            if not self.skipping:
                self.pending += part
                if len(self.pending) > MAX_REPORT_LINE_BYTES:
                    self.pending.clear()
                    self.skipping = True
                    self.dropped_lines += 1
            if end >= 0:
                if not self.skipping:
                    self._parse(bytes(self.pending))
                self.pending.clear()
                self.skipping = False

    def _parse(self, line: bytes) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            return
        if isinstance(event, dict):
            self.events.append(event)


def _collect_reports(reports: Any, deadline: float, collected: _Reports) -> str:
    """Read the worker's JSON-lines reports into `collected` until the worker closes the pipe
    ("closed"), the deadline passes ("timeout") or it sent more than MAX_REPORT_BYTES ("overflow")."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return "timeout"
        ready, _, _ = select.select([reports], [], [], min(remaining, 1.0))
        if not ready:
            continue
        chunk = reports.read(65536)
        if not chunk:
            return "closed"  # the worker closed its end: it is done or dead
        collected.feed(chunk)
        if collected.total > MAX_REPORT_BYTES:
            return "overflow"


def execute_sandboxed(notebook: Any, options: GradeOptions, python_path: Path | None = None) -> Execution:
    """Run a (repaired) notebook in a fresh temporary directory in its own process tree.

    `python_path` (the pristine package copy) is put first on the sandbox's PYTHONPATH.
    """
    import nbformat

    start = time.monotonic()
    deadline = start + options.timeout
    with tempfile.TemporaryDirectory(prefix="seq2bert-grade-") as tmp, tempfile.TemporaryFile() as log:
        work = Path(tmp) / "work"  # cwd and HOME of the notebook
        (work / "tmp").mkdir(parents=True)
        nbformat.write(notebook, str(work / "submission.ipynb"))
        executed_path = Path(tmp) / "executed.ipynb"
        marker = uuid.uuid4().hex
        read_fd, write_fd = os.pipe()
        limit = process_limit(options.max_processes, marker)
        command = [sys.executable, "-m", "seq2bert.grade_worker", "submission.ipynb", str(executed_path),
                   "--report-fd", str(write_fd), "--cell-timeout", str(options.cell_timeout),
                   "--kernel", options.kernel_name]
        with os.fdopen(read_fd, "rb", buffering=0) as reports:
            try:
                worker = subprocess.Popen(
                    command, cwd=work, env=_sandbox_env(work, marker, options.fast, python_path),
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                    pass_fds=(write_fd,), start_new_session=True,
                    preexec_fn=lambda: _limit_resources(options.memory_mb, limit))
            except BaseException:
                _remove_cgroup(limit.cgroup)
                raise
            finally:
                os.close(write_fd)  # only the worker holds the writing end now
            events: list[dict[str, Any]] = []
            collected = _Reports(events)
            try:
                outcome = _collect_reports(reports, deadline, collected)
                timed_out = outcome == "timeout"
                if outcome == "closed":
                    try:
                        worker.wait(timeout=max(1.0, deadline - time.monotonic()))
                    except subprocess.TimeoutExpired:
                        timed_out = True
            finally:  # also on KeyboardInterrupt: never leave a sandbox running
                kernel_pids = [e["pid"] for e in events if e.get("event") == "kernel" and isinstance(e.get("pid"), int)]
                _kill_everything(worker, kernel_pids, marker)
                _remove_cgroup(limit.cgroup)
        log.seek(0, io.SEEK_END)
        log.seek(max(0, log.tell() - 4000))
        stderr_tail = log.read().decode("utf-8", "replace")
        executed = _read_notebook_nofollow(executed_path)
    return Execution(tuple(events), timed_out, time.monotonic() - start, worker.returncode, stderr_tail, executed,
                     overflow=outcome == "overflow", dropped_lines=collected.dropped_lines)


# ----------------------------------------------------------------------------- scoring


def _is_memory_error(error: dict[str, Any]) -> bool:
    text = f"{error.get('ename', '')} {error.get('evalue', '')}"
    return ("MemoryError" in text or "can't allocate memory" in text
            or "Cannot allocate memory" in text or "OutOfMemory" in text)


def score(release: Release, execution: Execution, options: GradeOptions) -> tuple[tuple[ExerciseResult, ...], str, bool]:
    """Per-exercise results, the error text and whether the notebook ran to the end."""
    by_grade_id: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    memory_hit = False
    final = None
    for event in execution.events:
        kind = event.get("event")
        if kind == "cell":
            if event.get("grade_id"):
                by_grade_id[event["grade_id"]] = event
            error = event.get("error") or {}
            cell = int(event.get("index", -1)) + 1
            if error and _is_memory_error(error):
                memory_hit = True
                notes.append(f"memory limit: {error.get('ename')} in cell {cell}")
            elif error.get("ename") == "KeyboardInterrupt":
                notes.append(f"cell {cell} interrupted after the {options.cell_timeout} s cell timeout")
        elif kind in {"done", "dead", "crash"}:
            final = event
    results = []
    for check in release.checks:
        event = by_grade_id.get(check.grade_id)
        if event is None:
            results.append(ExerciseResult(check.exercise, "not_run", 0.0, check.points))
            continue
        payloads = event.get("checks") or []
        payload = payloads[-1] if payloads else {}
        status = payload.get("status")
        if status not in STATUSES[:3]:  # a check always reports one of these; "not_run" is ours
            error = event.get("error") or {}
            hint = f"the check cell raised {error['ename']}: {error['evalue']}" if error else "the check cell showed no result"
            results.append(ExerciseResult(check.exercise, "failed", 0.0, check.points, hint[:300]))
            continue
        points = check.points if status == "passed" else 0.0
        hint = str(payload.get("hint", ""))[:300] if status == "failed" else ""
        results.append(ExerciseResult(check.exercise, status, points, check.points, hint))
    if execution.dropped_lines:
        notes.append(f"{execution.dropped_lines} report line(s) over {MAX_REPORT_LINE_BYTES // 2**20} MB dropped")
    graded = final is not None and final.get("event") == "done" and not execution.timed_out and not execution.overflow
    if execution.timed_out:
        error = f"timed out after {options.timeout} s"
    elif execution.overflow:
        error = f"stopped: the worker reported more than {MAX_REPORT_BYTES // 2**20} MB"
    elif final is None:
        tail = execution.stderr_tail.strip().splitlines()
        if memory_hit or any("MemoryError" in line for line in tail):
            error = "memory limit (the grader worker died)"
        else:
            error = f"grader worker failed: {tail[-1][:160] if tail else f'exit code {execution.exit_code}'}"
    elif final["event"] == "dead":
        code = final.get("exit")
        signal_text = f", signal {-code}" if isinstance(code, int) and code < 0 else ""
        error = f"kernel died{signal_text}" + (" (memory limit)" if memory_hit else "")
    elif final["event"] == "crash":
        error = f"execution failed: {final.get('message', '')}"
    else:
        error = ""
    text = "; ".join(part for part in [error, *notes] if part)
    return tuple(results), text, graded


def _course_of(releases: dict[tuple[str, str], Release]) -> Path | None:
    """The course root the release notebooks came from (ROOT/notebooks/FRAMEWORK/NAME.ipynb)."""
    return next((release.path.parents[2] for release in releases.values()), None)


def grade_submission(path: Path, releases: dict[tuple[str, str], Release], options: GradeOptions,
                     executed_dir: Path | None = None, pristine: PristineCopy | None = None) -> SubmissionGrade:
    """Grade one submission against `pristine` (a fresh copy of the package if None); never raises for a bad submission."""
    import nbformat

    if pristine is None:
        course = _course_of(releases)
        with PristineCopy(PACKAGE_DIR, course / "quizzes" if course else None) as own:
            return grade_submission(path, releases, options, executed_dir, own)

    start = time.monotonic()
    try:
        notebook = load_submission(path)
        release = identify(notebook, path, releases, options.expected_unit)
    except SubmissionError as error:
        return SubmissionGrade(str(path), error=str(error), seconds=time.monotonic() - start)
    repaired, repairs = restore_grade_cells(notebook, release)
    notes = suspicious_cells(repaired, release)
    try:
        execution = execute_sandboxed(repaired, options, pristine.python_path)
    except (OSError, subprocess.SubprocessError) as error:
        return SubmissionGrade(str(path), release.unit, release.framework, repairs=repairs, notes=notes,
                               error=f"cannot start the grader worker: {error}", seconds=time.monotonic() - start)
    results, error, graded = score(release, execution, options)
    if executed_dir is not None and execution.executed is not None:
        try:
            write_atomic(executed_dir / f"{path.stem}.ipynb", nbformat.writes(execution.executed))
        except OSError as problem:
            notes += (f"executed copy not saved: {problem.strerror or problem}",)
    return SubmissionGrade(str(path), release.unit, release.framework, results, repairs, notes, error,
                           graded, time.monotonic() - start)


def grade_submissions(paths: list[Path], releases: dict[tuple[str, str], Release], options: GradeOptions,
                      progress: Callable[[str], None] | None = None,
                      executed_dir: Path | None = None) -> list[SubmissionGrade]:
    """Grade every submission in turn against the release notebooks (see find_releases).

    One pristine copy of the package serves the batch; it and the release notebooks are verified
    (and restored if changed) before and after every submission, and the submission's notes say so.
    """
    grades = []
    course = _course_of(releases)
    with PristineCopy(PACKAGE_DIR, course / "quizzes" if course else None) as pristine:
        for number, path in enumerate(paths, start=1):
            if progress:
                progress(f"[{number}/{len(paths)}] {path.name} ...")
            before = protect_course_code(pristine, releases)
            grade = grade_submission(path, releases, options, executed_dir, pristine)
            after = protect_course_code(pristine, releases)
            notes = list(grade.notes)
            if before:  # only a process that escaped the previous sandbox could have done this
                notes.append(f"course code changed before this submission, restored: {_summarise(before)}")
            if after:
                notes.append(f"changed the course code, restored for the next submission: {_summarise(after)}")
            grades.append(dataclasses.replace(grade, notes=tuple(notes)))
            _report_progress(progress, number, len(paths), path, grades[-1])
    return grades


def _report_progress(progress: Callable[[str], None] | None, number: int, total: int, path: Path,
                     grade: SubmissionGrade) -> None:
    if progress:
        outcome = f"{_number(grade.score)}/{_number(grade.max_score)}" if grade.results else "not graded"
        tail = f" ({grade.error})" if grade.error else ""
        progress(f"[{number}/{total}] {path.name}: {outcome} in {grade.seconds:.1f} s{tail}")


# ----------------------------------------------------------------------------- reports


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def exercise_columns(grades: list[SubmissionGrade], releases: dict[tuple[str, str], Release] | None = None) -> list[str]:
    """Exercise names in a stable order: by unit, then release order (framework-independent)."""
    names: list[str] = []
    keys = sorted({(g.unit, g.framework) for g in grades if g.unit},
                  key=lambda k: (k[0], FRAMEWORKS.index(k[1]) if k[1] in FRAMEWORKS else 9))
    for key in keys:
        if releases and key in releases:
            ordered = [check.exercise for check in releases[key].checks]
        else:
            ordered = [r.exercise for g in grades if (g.unit, g.framework) == key for r in g.results]
        names.extend(name for name in ordered if name not in names)
    return names


def csv_text(grades: list[SubmissionGrade], exercises: list[str]) -> str:
    """The grades as CSV: one row per submission, three columns (status, points, hint) per exercise."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = ["submission", "unit", "framework", "score", "max_score"]
    for name in exercises:
        header += [f"{name}_status", f"{name}_points", f"{name}_hint"]
    writer.writerow([spreadsheet_safe(name) for name in header] + ["seconds", "repairs", "notes", "error"])
    for grade in grades:
        by_name = {r.exercise: r for r in grade.results}
        row = [grade.submission, grade.unit, grade.framework,
               _number(grade.score) if grade.results else "", _number(grade.max_score) if grade.results else ""]
        for name in exercises:
            result = by_name.get(name)
            row += [result.status, _number(result.points), result.hint] if result else ["", "", ""]
        row += [f"{grade.seconds:.1f}", "; ".join(grade.repairs), "; ".join(grade.notes), grade.error]
        writer.writerow([spreadsheet_safe(cell) for cell in row])  # names, hints and notes come from students
    return out.getvalue()


def summary_table(grades: list[SubmissionGrade], exercises: list[str]) -> str:
    """A readable table: one line per submission, one symbol per exercise."""
    header = ["submission", "unit", "score", *exercises, "error"]
    rows = []
    for grade in grades:
        by_name = {r.exercise: r for r in grade.results}
        unit = f"{grade.unit} {grade.framework}".strip()
        score_text = f"{_number(grade.score)}/{_number(grade.max_score)}" if grade.results else "-"
        marks = [SYMBOLS[by_name[n].status] if n in by_name else "" for n in exercises]
        error = grade.error if len(grade.error) <= 70 else grade.error[:67] + "..."
        rows.append([Path(grade.submission).name, unit, score_text, *marks, error])
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    legend = "  ".join(f"{symbol} {status.replace('_', ' ')}" for status, symbol in SYMBOLS.items())
    hints = [f"  {Path(g.submission).name} / {r.exercise}: {r.hint}"
             for g in grades for r in g.results if r.status == "failed" and r.hint]
    return "\n".join(lines + ["", legend] + (["", "hints for failed exercises:", *hints] if hints else []))


# ----------------------------------------------------------------------------- CLI


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("submissions", nargs="+", type=Path, metavar="SUBMISSION",
                        help="student notebooks (.ipynb), or folders holding them")
    parser.add_argument("--csv", required=True, type=Path, help="where to write the grades (written atomically)")
    parser.add_argument("--course", type=Path, default=None, help="course root with the release notebooks (default: this checkout)")
    parser.add_argument("--unit", default=None, help="only accept submissions of this unit")
    parser.add_argument("--cell-timeout", type=whole_number(1), default=300, help="seconds per cell before it is interrupted (default 300)")
    parser.add_argument("--timeout", type=whole_number(1), default=1800, help="seconds per notebook before it is killed (default 1800)")
    parser.add_argument("--memory-mb", type=whole_number(0), default=6144, help="data memory cap per submission, 0 for none (default 6144)")
    parser.add_argument("--max-processes", type=whole_number(0), default=512,
                        help="processes and threads a submission may add, 0 for no limit (default 512)")
    parser.add_argument("--full", action="store_true", help="run in full mode instead of SEQ2BERT_FAST=1")
    parser.add_argument("--executed", type=Path, default=None, metavar="DIR", help="also save each executed notebook in DIR")


def _expand(paths: list[Path]) -> list[Path]:
    found = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(path.glob("*.ipynb")))
        elif path.exists():
            found.append(path)
        else:
            raise CourseError(f"no such submission: {path}")
    if not found:
        raise CourseError("no submissions to grade (the folders hold no .ipynb files)")
    return found


def _writable_problem(folder: Path) -> str:
    """'' if a file can be created in `folder`, else why not."""
    try:
        fd, name = tempfile.mkstemp(prefix=".seq2bert-grade-", dir=folder)
        os.close(fd)
        os.unlink(name)
    except OSError as error:
        return error.strerror or str(error)
    return ""


def run(args: argparse.Namespace) -> int:
    if args.course is not None and not Path(args.course).is_dir():
        raise CourseError(f"--course {args.course}: no such folder")
    root = Path(args.course).resolve() if args.course else course_root()
    csv_path = Path(args.csv)
    if not csv_path.parent.resolve().is_dir():
        raise CourseError(f"--csv {csv_path}: the folder {csv_path.parent} does not exist")
    if csv_path.is_dir():
        raise CourseError(f"--csv {csv_path} is a folder")
    problem = _writable_problem(csv_path.parent)
    if problem:
        raise CourseError(f"--csv {csv_path}: cannot write in {csv_path.parent}: {problem}")
    if args.executed is not None and Path(args.executed).exists() and not Path(args.executed).is_dir():
        raise CourseError(f"--executed {args.executed} is a file, not a folder")
    paths = _expand(list(args.submissions))
    if any(p.resolve() == csv_path.resolve() for p in paths):
        raise CourseError(f"--csv {csv_path} is one of the submissions; choose another file")
    expected = get_unit(args.unit).number if args.unit else None
    options = GradeOptions(cell_timeout=args.cell_timeout, timeout=args.timeout, memory_mb=args.memory_mb,
                           max_processes=args.max_processes, fast=not args.full, expected_unit=expected)
    if options.max_processes and os.geteuid() == 0 and pids_cgroup_parent() is None:
        print("warning: running as root with no pids cgroup: --max-processes cannot be enforced "
              "(Linux ignores RLIMIT_NPROC for root); grade as an unprivileged user", file=sys.stderr)
    releases = find_releases(root)
    grades = grade_submissions(paths, releases, options, executed_dir=args.executed,
                               progress=lambda line: print(line, file=sys.stderr, flush=True))
    exercises = exercise_columns(grades, releases)
    write_atomic(csv_path, csv_text(grades, exercises))
    print(summary_table(grades, exercises))
    ungraded = sum(not grade.graded for grade in grades)
    print(f"\n{len(grades) - ungraded} of {len(grades)} submissions graded; grades written to {csv_path}")
    return 1 if ungraded else 0
