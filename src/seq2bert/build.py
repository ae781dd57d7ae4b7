"""`seq2bert build`: generate every notebook of the course from its one text source.

Each unit has one source, ``course/NN_topic.py``, in jupytext "percent" format. The build
turns it into four notebooks::

    notebooks/pytorch/NN_topic.ipynb     notebooks/tensorflow/NN_topic.ipynb    (student copies)
    solutions/pytorch/NN_topic.ipynb     solutions/tensorflow/NN_topic.ipynb    (solution copies)

and writes ``START.ipynb``, the course start page, at the repository root.

Source rules (cell metadata goes in the cell header as key=value with JSON values):

- ``# %% framework="pytorch"`` / ``# %% [markdown] framework="tensorflow"``: the cell goes only
  to that framework's notebooks; cells without ``framework`` go to both.
- ``{{framework}}`` becomes "PyTorch" / "TensorFlow" and ``{{fw}}`` becomes "pytorch" /
  "tensorflow", in every cell.
- An exercise is a code cell holding a solution region, from a line ``# BEGIN SOLUTION`` (or
  ``# BEGIN SOLUTION: what the learner should do``) to a line ``# END SOLUTION``. Solution
  copies keep the region and its markers (they are valid nbgrader source notebooks); student
  copies replace it by ``# YOUR CODE HERE`` and ``raise NotImplementedError("Exercise: ...")``
  at the marker's indentation.
- Cells holding a region need ``nbgrader={...}`` metadata (schema_version 3), which both copies
  keep; the build checks it (required keys, unique grade_id per notebook, points on graded
  cells, a region in every solution cell).

The output is deterministic (fixed cell ids, no outputs), so a rebuild of an unchanged source
gives byte-identical files and ``seq2bert build --check`` can tell whether the committed
notebooks are current.
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import json
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import nbformat

from seq2bert.files import write_atomic
from seq2bert.units import FRAMEWORK_TITLES, FRAMEWORKS, UNITS, CourseError, Unit, course_root

START_NOTEBOOK = "START.ipynb"
REBUILD_COMMAND = "make notebooks"
DEFAULT_INSTRUCTION = "write this part of the function"

BEGIN_TEXT = "BEGIN SOLUTION"
END_TEXT = "END SOLUTION"
STUB_COMMENT = "# YOUR CODE HERE"
_BEGIN_RE = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION(?::(?P<instruction>.*))?$")
_END_RE = re.compile(r"^[ \t]*# END SOLUTION$")
# The cell header regexes jupytext's percent reader uses for Python.
_HEADER_RE = re.compile(r"^\s*#\s*%%(%*)\s(.*)$|^\s*#\s*(%%|<codecell>|In\[[0-9 ]*\]:?)\s*$")

# Cell metadata a source may set; anything else is most likely a typo (framwork=...).
_FRAMEWORK_KEY = "framework"
_PASSED_KEYS = {"nbgrader", "tags", "editable", "deletable", "slideshow", "jupyter", "collapsed", "scrolled"}
# Keys jupytext itself adds while reading; they never reach a generated notebook.
_JUPYTEXT_KEYS = {"lines_to_next_cell", "lines_to_end_of_cell_marker", "cell_marker", "region_name",
                  "title", "skipline", "noskipline", "cell_depth"}

_NBGRADER_REQUIRED = ("schema_version", "grade", "locked", "solution")
_NBGRADER_FLAGS = ("grade", "locked", "solution", "task")
_NBGRADER_ALLOWED = {*_NBGRADER_REQUIRED, "task", "grade_id", "points"}
_GRADE_ID_RE = re.compile(r"^[A-Za-z0-9_\-]+$")

_KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


class SkippedUnitWarning(UserWarning):
    """A unit of the catalogue has no source yet, so the build skipped it."""


class BuildError(CourseError):
    """A course source breaks a build rule; the message names the file and line."""


@dataclass(frozen=True)
class SourceCell:
    """One cell of a course source, as jupytext read it, with where it came from."""

    cell_type: str  # "code", "markdown" or "raw"
    text: str  # the cell's source text
    metadata: dict  # metadata passed on to generated notebooks (framework and jupytext keys removed)
    frameworks: tuple[str, ...]  # the frameworks whose notebooks get this cell
    regions: tuple["Region", ...]  # solution regions, in order
    number: int  # 1-based position among the source's cells
    header_line: int | None  # 1-based line of the cell header in the file (None if unknown)


@dataclass(frozen=True)
class Region:
    """A solution region: lines begin..end of a cell (0-based, both markers included)."""

    begin: int  # index of the "# BEGIN SOLUTION" line within the cell
    end: int  # index of the "# END SOLUTION" line within the cell
    indent: str  # whitespace before the begin marker; the stub gets the same
    instruction: str  # what the learner should do, shown in the stub's error


class _MarkerError(Exception):
    """A malformed solution region; `marker` is the 0-based index of the offending marker line."""

    def __init__(self, message: str, marker: int, opened: int | None = None):
        super().__init__(message)
        self.marker = marker
        self.opened = opened  # for nested regions: the marker index of the still-open BEGIN


# ---------------------------------------------------------------------------------------------
# Solution regions


def _is_marker_line(line: str) -> bool:
    return BEGIN_TEXT in line or END_TEXT in line


def find_regions(text: str) -> list[Region]:
    """The solution regions of a cell's text; raises _MarkerError on malformed markers."""
    regions: list[Region] = []
    open_begin: tuple[int, str, str, int] | None = None  # (line, indent, instruction, marker index)
    marker = -1
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if not _is_marker_line(line):
            continue
        marker += 1
        stripped = line.rstrip()
        begin = _BEGIN_RE.match(stripped)
        if begin:
            if open_begin is not None:
                raise _MarkerError(f"nested '# {BEGIN_TEXT}': the region opened above is not closed yet",
                                   marker, opened=open_begin[3])
            instruction = (begin.group("instruction") or "").strip() or DEFAULT_INSTRUCTION
            open_begin = (index, begin.group("indent"), instruction, marker)
        elif _END_RE.match(stripped):
            if open_begin is None:
                raise _MarkerError(f"'# {END_TEXT}' without a matching '# {BEGIN_TEXT}' above it", marker)
            if index == open_begin[0] + 1:
                raise _MarkerError("empty solution region: put the solution code between the markers", marker)
            regions.append(Region(begin=open_begin[0], end=index, indent=open_begin[1], instruction=open_begin[2]))
            open_begin = None
        else:
            raise _MarkerError(f"a line mentioning {BEGIN_TEXT}/{END_TEXT} must be exactly "
                               f"'# {BEGIN_TEXT}', '# {BEGIN_TEXT}: instruction' or '# {END_TEXT}' "
                               f"(nbgrader reacts to the words anywhere in a line)", marker)
    if open_begin is not None:
        raise _MarkerError(f"'# {BEGIN_TEXT}' is never closed by '# {END_TEXT}' in the same cell", open_begin[3])
    return regions


def _python_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def replace_regions(text: str, regions: Sequence[Region]) -> str:
    """The student version of a cell: each region becomes a stub raising NotImplementedError."""
    lines = text.split("\n")
    for region in sorted(regions, key=lambda r: r.begin, reverse=True):
        message = _python_string(f"Exercise: {region.instruction}")
        stub = [f"{region.indent}{STUB_COMMENT}", f"{region.indent}raise NotImplementedError({message})"]
        lines[region.begin:region.end + 1] = stub
    return "\n".join(lines)


def _parses(code: str) -> bool:
    """True if a code cell is valid Python once IPython syntax (magics, !commands) is translated."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        code = TransformerManager().transform_cell(code)
    except ImportError:  # without IPython, drop magic lines
        code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in code.split("\n"))
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Reading a source


def _header_lines(text: str, cell_count: int) -> list[int | None]:
    """1-based header line of each cell, or None when the file cannot be mapped reliably."""
    lines = text.split("\n")
    headers = [i + 1 for i, line in enumerate(lines) if _HEADER_RE.match(line)]
    if len(headers) == cell_count:
        return list(headers)
    if len(headers) == cell_count - 1:  # content before the first header forms a cell
        return [None, *headers]
    return [None] * cell_count


def _marker_lines(text: str) -> list[int]:
    return [i + 1 for i, line in enumerate(text.split("\n")) if _is_marker_line(line)]


def _file_line(file_markers: list[int], position: int, fallback: int | None) -> int | None:
    return file_markers[position] if position < len(file_markers) else fallback


def _where(path: Path, root: Path, line: int | None, number: int) -> str:
    name = _display_path(path, root)
    return f"{name}:{line}" if line is not None else f"{name} (cell {number})"


def _display_path(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def read_source(path: Path, root: Path) -> list[SourceCell]:
    """Read and check one course source; raises BuildError naming the file and line."""
    import jupytext

    name = _display_path(path, root)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise BuildError(f"{name}: cannot read the source ({error})") from None
    try:
        notebook = jupytext.reads(text, fmt="py:percent")
    except Exception as error:  # jupytext raises several types on malformed input
        raise BuildError(f"{name}: jupytext cannot read this percent-format source ({error})") from None
    headers = _header_lines(text, len(notebook.cells))
    file_markers = _marker_lines(text)
    markers_before = 0
    cells = []
    for index, cell in enumerate(notebook.cells):
        number = index + 1
        where = _where(path, root, headers[index], number)
        metadata = dict(cell.metadata)
        if "incorrectly_encoded_metadata" in metadata:
            raise BuildError(f"{where}: cannot read the cell header metadata "
                             f"{metadata['incorrectly_encoded_metadata']!r}; write key=value pairs with "
                             f'JSON values, e.g. framework="pytorch" nbgrader={{"grade": false, ...}}')
        for key in _JUPYTEXT_KEYS:
            metadata.pop(key, None)
        frameworks = _cell_frameworks(metadata.pop(_FRAMEWORK_KEY, None), where)
        unknown = sorted(set(metadata) - _PASSED_KEYS)
        if unknown:
            raise BuildError(f"{where}: unknown cell metadata {', '.join(map(repr, unknown))}; allowed: "
                             f"{', '.join(sorted({_FRAMEWORK_KEY, *_PASSED_KEYS}))}")
        cell_markers = sum(1 for line in cell.source.split("\n") if _is_marker_line(line))
        regions: list[Region] = []
        if cell_markers and cell.cell_type != "code":
            line = _file_line(file_markers, markers_before, headers[index])
            raise BuildError(f"{_where(path, root, line, number)}: solution markers are only allowed in code "
                             f"cells (nbgrader would treat this {cell.cell_type} line as a region)")
        if cell_markers:
            try:
                regions = find_regions(cell.source)
            except _MarkerError as error:
                line = _file_line(file_markers, markers_before + error.marker, headers[index])
                message = str(error)
                if error.opened is not None:
                    opened = _file_line(file_markers, markers_before + error.opened, None)
                    if opened is not None:
                        message = message.replace("opened above", f"opened at line {opened}")
                raise BuildError(f"{_where(path, root, line, number)}: {message}") from None
        markers_before += cell_markers
        cells.append(SourceCell(cell_type=cell.cell_type, text=cell.source, metadata=metadata,
                                frameworks=frameworks, regions=tuple(regions), number=number,
                                header_line=headers[index]))
        _check_cell(cells[-1], where)
    return cells


def _cell_frameworks(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return FRAMEWORKS
    if value not in FRAMEWORKS:
        raise BuildError(f"{where}: framework={json.dumps(value)} is not one of "
                         f"{', '.join(json.dumps(f) for f in FRAMEWORKS)}")
    return (value,)


def _check_cell(cell: SourceCell, where: str) -> None:
    """Check one cell's nbgrader metadata against its content (nbgrader schema version 3)."""
    meta = cell.metadata.get("nbgrader")
    if meta is None:
        if cell.regions:
            raise BuildError(f"{where}: this cell holds a solution region but has no nbgrader metadata; add "
                             f'nbgrader={{"grade": false, "grade_id": "...", "locked": false, '
                             f'"schema_version": 3, "solution": true, "task": false}} to its header')
        return
    if not isinstance(meta, dict):
        raise BuildError(f"{where}: nbgrader metadata must be a JSON object, got {json.dumps(meta)}")
    missing = [key for key in _NBGRADER_REQUIRED if key not in meta]
    if missing:
        raise BuildError(f"{where}: nbgrader metadata lacks {', '.join(missing)}")
    unknown = sorted(set(meta) - _NBGRADER_ALLOWED)
    if unknown:
        raise BuildError(f"{where}: unknown nbgrader key(s) {', '.join(unknown)}; allowed: "
                         f"{', '.join(sorted(_NBGRADER_ALLOWED))}")
    if meta["schema_version"] != 3 or isinstance(meta["schema_version"], bool):
        raise BuildError(f"{where}: nbgrader schema_version must be 3, got {json.dumps(meta['schema_version'])}")
    for flag in _NBGRADER_FLAGS:
        if flag in meta and not isinstance(meta[flag], bool):
            raise BuildError(f"{where}: nbgrader {flag!r} must be true or false, got {json.dumps(meta[flag])}")
    flagged = any(meta.get(flag, False) for flag in _NBGRADER_FLAGS)
    if flagged or "grade_id" in meta:
        grade_id = meta.get("grade_id")
        if not isinstance(grade_id, str) or not _GRADE_ID_RE.match(grade_id):
            raise BuildError(f"{where}: nbgrader grade_id must be a non-empty string of letters, digits, "
                             f"'_' and '-', got {json.dumps(grade_id)}")
    if meta["grade"] or meta.get("task", False):
        points = meta.get("points")
        if isinstance(points, bool) or not isinstance(points, (int, float)) or points < 0:
            raise BuildError(f"{where}: graded nbgrader cell {meta['grade_id']!r} needs \"points\" "
                             f"(a number >= 0), got {json.dumps(points)}")
    if meta["solution"] and not cell.regions:
        if cell.cell_type != "code":
            raise BuildError(f"{where}: {cell.cell_type} solution cells are not supported (the student "
                             f"copy would show the answer); make it a code exercise or a quiz question")
        raise BuildError(f"{where}: nbgrader cell {meta['grade_id']!r} is a solution cell but has no "
                         f"'# {BEGIN_TEXT}' ... '# {END_TEXT}' region")
    if cell.regions and not meta["solution"]:
        raise BuildError(f"{where}: this cell holds a solution region, so its nbgrader metadata needs "
                         f'"solution": true')
    if meta.get("task", False) and cell.cell_type != "markdown":
        raise BuildError(f"{where}: nbgrader task cells must be markdown cells")
    if cell.cell_type == "markdown" and not meta.get("task", False) and meta["grade"] != meta["solution"]:
        raise BuildError(f"{where}: a markdown nbgrader cell must be both grade and solution, or neither")


# ---------------------------------------------------------------------------------------------
# Generating notebooks


def substitute(text: str, framework: str) -> str:
    """Expand {{framework}} ("PyTorch") and {{fw}} ("pytorch") in a cell's text."""
    return text.replace("{{framework}}", FRAMEWORK_TITLES[framework]).replace("{{fw}}", framework)


def cell_id(stem: str, framework: str, copy: str, index: int) -> str:
    """A stable nbformat cell id: the same source always gives the same ids."""
    short = {"pytorch": "pt", "tensorflow": "tf"}.get(framework, framework)
    text = f"{stem}-{short}-{copy[:3]}-{index:03d}"
    return text if len(text) <= 64 else hashlib.sha1(text.encode()).hexdigest()[:16] + f"-{index:03d}"


def header_text(unit: Unit, framework: str, solution: bool) -> str:
    """The generated first cell of a notebook: title, copy kind, and links to its companions."""
    other = next(f for f in FRAMEWORKS if f != framework)
    copy = "solution copy" if solution else "student copy"
    about = ("complete code, and the source notebook for nbgrader" if solution else
             "exercise cells raise `NotImplementedError` until you fill them in")
    return "\n".join([
        f"# {unit.number} · {unit.title}",
        "",
        f"**{FRAMEWORK_TITLES[framework]} · {copy}** ({about}).",
        "",
        f"- Same notebook in {FRAMEWORK_TITLES[other]}: [{other}/{unit.stem}.ipynb](../{other}/{unit.stem}.ipynb)",
        f"- Lesson: [lessons/{unit.stem}.md](../../lessons/{unit.stem}.md)",
        f"- Quiz: [quizzes/{unit.stem}.yml](../../quizzes/{unit.stem}.yml) "
        f"(take it with `seq2bert quiz take {unit.number}`)",
        "",
        f"*Generated from `course/{unit.stem}.py`: to change the course, edit that file and run "
        f"`{REBUILD_COMMAND}` (which overwrites this notebook).*",
    ])


def _new_notebook(cells: list) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": dict(_KERNELSPEC), "language_info": {"name": "python"}})
    notebook.nbformat, notebook.nbformat_minor = 4, 5
    return notebook


def render_notebook(unit: Unit, cells: Sequence[SourceCell], framework: str, solution: bool,
                    source_name: str) -> nbformat.NotebookNode:
    """One generated notebook (framework, student or solution copy) from a source's cells."""
    copy = "solution" if solution else "student"
    out = [nbformat.v4.new_markdown_cell(header_text(unit, framework, solution),
                                         id=cell_id(unit.stem, framework, copy, 0))]
    grade_ids: dict[str, str] = {}  # grade_id -> where it is first used
    for cell in cells:
        if framework not in cell.frameworks:
            continue
        where = f"{source_name}:{cell.header_line}" if cell.header_line else f"{source_name} (cell {cell.number})"
        text = substitute(cell.text, framework)
        if cell.regions and not solution:
            text = replace_regions(text, cell.regions)
            if _parses(substitute(cell.text, framework)) and not _parses(text):
                raise BuildError(f"{where}: the student stub breaks this cell's syntax; put the "
                                 f"markers around whole statements")
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id is not None:
            if grade_id in grade_ids:
                raise BuildError(f"{where}: nbgrader grade_id {grade_id!r} is already used at "
                                 f"{grade_ids[grade_id]}, and both cells go to the "
                                 f"{FRAMEWORK_TITLES[framework]} notebook; grade ids must be unique per notebook")
            grade_ids[grade_id] = where
        metadata = json.loads(json.dumps(cell.metadata))  # a deep copy, so notebooks share nothing
        index = len(out)
        new_id = cell_id(unit.stem, framework, copy, index)
        if cell.cell_type == "code":
            out.append(nbformat.v4.new_code_cell(text, id=new_id, metadata=metadata))
        elif cell.cell_type == "markdown":
            out.append(nbformat.v4.new_markdown_cell(text, id=new_id, metadata=metadata))
        else:
            out.append(nbformat.v4.new_raw_cell(text, id=new_id, metadata=metadata))
    notebook = _new_notebook(out)
    # Lets the grader and the runner tell which unit, framework and copy a notebook is.
    notebook.metadata["seq2bert"] = {"unit": unit.number, "framework": framework, "copy": copy}
    return notebook


def start_notebook(units: Sequence[Unit]) -> nbformat.NotebookNode:
    """START.ipynb: the course start page, with one row per built unit."""
    intro = "\n".join([
        "# seq2bert: attention from Seq2Seq to BERT",
        "",
        "A course on attention in paired notebooks: every unit exists in **PyTorch** and in "
        "**TensorFlow**, with the same headings in the same order, so you can follow it in "
        "either framework or compare the two side by side.",
        "",
        "For each unit: read the lesson, work through the student notebook (its exercises raise "
        "`NotImplementedError` until you fill them in, and the check cell after each one tells you "
        "what is wrong), then take the quiz. The solution notebooks hold the complete code.",
    ])
    if units:
        rows = ["| Unit | PyTorch | TensorFlow | Solutions | Lesson | Quiz |",
                "|---|---|---|---|---|---|"]
        for unit in units:
            rows.append(
                f"| {unit.number} · {unit.title} "
                f"| [notebook](notebooks/pytorch/{unit.stem}.ipynb) "
                f"| [notebook](notebooks/tensorflow/{unit.stem}.ipynb) "
                f"| [PyTorch](solutions/pytorch/{unit.stem}.ipynb) · "
                f"[TensorFlow](solutions/tensorflow/{unit.stem}.ipynb) "
                f"| [lesson](lessons/{unit.stem}.md) "
                f"| [quiz](quizzes/{unit.stem}.yml) |")
        table = "\n".join(["## Units", "", *rows])
    else:
        table = "## Units\n\nNo unit has been written yet."
    howto = "\n".join([
        "## Running the notebooks",
        "",
        "- **Full mode** (the default) uses data sizes and training steps that give meaningful "
        "results on a laptop CPU.",
        "- **Fast mode** shrinks only sizes and step counts (the code path is the same); tests, CI "
        "and `make run` use it. Turn it on with the environment variable `SEQ2BERT_FAST=1`, e.g. "
        "by running `%env SEQ2BERT_FAST=1` in a cell before the notebook's `seq2bert.setup(...)` "
        "call, or for every notebook by starting the lab with `SEQ2BERT_FAST=1 make lab`.",
        "",
        "## Quizzes",
        "",
        "Each unit has a short quiz in `quizzes/`. Take it at the end of the unit's notebook "
        "(a form with a Check button per question and a Save button), or in a terminal with "
        "`seq2bert quiz take NN` (for example `seq2bert quiz take 01`). Both give feedback after "
        "each question and save your answers in `quiz_responses/` for grading. See "
        "`seq2bert quiz --help` for more.",
        "",
        f"*Generated from the `course/` sources: run `{REBUILD_COMMAND}` to rebuild this page.*",
    ])
    cells = [nbformat.v4.new_markdown_cell(text, id=f"start-{index:03d}")
             for index, text in enumerate([intro, table, howto])]
    return _new_notebook(cells)


def notebook_text(notebook: nbformat.NotebookNode) -> str:
    """Serialise a notebook as Jupyter does (indent 1, sorted keys) with a trailing newline."""
    nbformat.validate(notebook)
    return nbformat.writes(notebook, version=4) + "\n"


def generate(root: Path, units: Sequence[Unit] = UNITS) -> dict[Path, str]:
    """Every generated file's path and text, for the units whose source exists."""
    root = Path(root)
    files: dict[Path, str] = {}
    built = []
    for unit in units:
        source = unit.source(root)
        if not source.exists():
            warnings.warn(f"skipping unit {unit.number} ({unit.title}): "
                          f"{_display_path(source, root)} does not exist yet", SkippedUnitWarning, stacklevel=2)
            continue
        cells = read_source(source, root)
        for framework in FRAMEWORKS:
            for solution in (False, True):
                notebook = render_notebook(unit, cells, framework, solution, _display_path(source, root))
                files[unit.notebook(root, framework, solution)] = notebook_text(notebook)
        built.append(unit)
    files[root / START_NOTEBOOK] = notebook_text(start_notebook(built))
    return files


def build(root: Path, check: bool = False, units: Sequence[Unit] = UNITS) -> list[Path]:
    """Generate the notebooks under `root`; returns the files that changed (or would, with check).

    Every source is read and checked before anything is written, so a bad source leaves all
    files untouched. With check=True nothing is written.
    """
    files = generate(Path(root), units)
    stale = []
    for path, text in files.items():
        data = text.encode("utf-8")
        if not path.exists() or path.read_bytes() != data:
            stale.append(path)
    if not check:
        for path in stale:
            write_atomic(path, files[path].encode("utf-8"))
    return stale


# ---------------------------------------------------------------------------------------------
# Command line


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the options of `seq2bert build`."""
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if any generated file is missing or out of date")
    parser.add_argument("--root", type=Path, default=None,
                        help="the course checkout (default: the one this package belongs to)")


def run(args: argparse.Namespace) -> int:
    """Build (or with --check, verify) the notebooks; returns the exit code."""
    if args.root is None:
        root = course_root()
    else:
        root = Path(args.root).resolve()
        if not (root / "course").is_dir():
            raise CourseError(f"{args.root} has no course/ folder, so it is not a course checkout")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SkippedUnitWarning)
        changed = build(root, check=args.check)
    for warning in caught:
        print(f"seq2bert build: warning: {warning.message}", file=sys.stderr)
    names = [_display_path(path, root) for path in changed]
    if args.check:
        if not changed:
            print("all generated notebooks are up to date")
            return 0
        for path, name in zip(changed, names):
            print(f"stale: {name} ({'out of date' if path.exists() else 'missing'})")
        print(f"{len(changed)} generated file(s) are stale: run `{REBUILD_COMMAND}`", file=sys.stderr)
        return 1
    for name in names:
        print(f"wrote {name}")
    print(f"{len(changed)} file(s) written" if changed else "all generated notebooks are up to date")
    return 0
