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
- An exercise is a code cell whose header names it, ``# %% exercise="masked_softmax"``, and which
  holds a solution region, from a line ``# BEGIN SOLUTION`` (or ``# BEGIN SOLUTION: what the
  learner should do``) to a line ``# END SOLUTION``. Solution copies keep the region and its
  markers (they are valid nbgrader source notebooks); student copies replace it by
  ``# YOUR CODE HERE`` and ``raise NotImplementedError("Exercise: ...")`` at the marker's
  indentation.
- Its check cell follows it with an empty body, ``# %% check="masked_softmax" points=2``; the
  build writes the cell's code (``masked_softmax = exercises("pytorch").masked_softmax(masked_softmax)``,
  the same in every check cell, so the source does not repeat it).
- The build writes the nbgrader (schema version 3) metadata of both kinds of cell, which both
  copies keep: grade_id ``masked_softmax`` on the exercise (solution, not graded, not locked),
  ``check_masked_softmax`` on the check (graded, locked, with its points). In every notebook,
  each exercise needs exactly one check cell after it and each check one exercise before it.
  The old long form ``nbgrader={...}`` is rejected with a message giving the short one, so a
  source has a single way to declare grading.

The output is deterministic (fixed cell ids, no outputs), so a rebuild of an unchanged source
gives byte-identical files and ``seq2bert build --check`` can tell whether the committed
notebooks are current.
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import json
import keyword
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
# Every course source ends with a "## Quiz" section; the header cell links to it.
QUIZ_HEADING = "Quiz"
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
_PASSED_KEYS = {"tags", "editable", "deletable", "slideshow", "jupyter", "collapsed", "scrolled"}
# Keys jupytext itself adds while reading; they never reach a generated notebook.
_JUPYTEXT_KEYS = {"lines_to_next_cell", "lines_to_end_of_cell_marker", "cell_marker", "region_name",
                  "title", "skipline", "noskipline", "cell_depth"}

# The short tags that declare grading, and the metadata the build writes for them.
_EXERCISE_KEY, _CHECK_KEY, _POINTS_KEY = "exercise", "check", "points"
_GRADING_KEYS = (_EXERCISE_KEY, _CHECK_KEY, _POINTS_KEY)
_OLD_GRADING_KEY = "nbgrader"
CHECK_PREFIX = "check_"  # a check cell's grade_id is CHECK_PREFIX + the exercise name


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
    exercise: str | None = None  # the exercise this cell defines (exercise="...")
    check: str | None = None  # the exercise this cell checks (check="...")


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
                             f'JSON values, e.g. framework="pytorch" exercise="masked_softmax"')
        for key in _JUPYTEXT_KEYS:
            metadata.pop(key, None)
        frameworks = _cell_frameworks(metadata.pop(_FRAMEWORK_KEY, None), where)
        if _OLD_GRADING_KEY in metadata:
            raise BuildError(f"{where}: nbgrader={{...}} in a cell header is the old long form; write "
                             f'exercise="NAME" on an exercise cell and check="NAME" points=N on its '
                             f"check cell, and the build writes the nbgrader metadata")
        grading = {key: metadata.pop(key) for key in _GRADING_KEYS if key in metadata}
        unknown = sorted(set(metadata) - _PASSED_KEYS)
        if unknown:
            raise BuildError(f"{where}: unknown cell metadata {', '.join(map(repr, unknown))}; allowed: "
                             f"{', '.join(sorted({_FRAMEWORK_KEY, *_GRADING_KEYS, *_PASSED_KEYS}))}")
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
        exercise, check, text = _grading(grading, cell.cell_type, cell.source, regions, metadata, where)
        cells.append(SourceCell(cell_type=cell.cell_type, text=text, metadata=metadata,
                                frameworks=frameworks, regions=tuple(regions), number=number,
                                header_line=headers[index], exercise=exercise, check=check))
    _check_pairs(cells, name)
    return cells


def _cell_frameworks(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return FRAMEWORKS
    if value not in FRAMEWORKS:
        raise BuildError(f"{where}: framework={json.dumps(value)} is not one of "
                         f"{', '.join(json.dumps(f) for f in FRAMEWORKS)}")
    return (value,)


def exercise_metadata(name: str) -> dict:
    """nbgrader metadata of an exercise cell: an ungraded, unlocked solution cell."""
    return {"grade": False, "grade_id": name, "locked": False, "schema_version": 3, "solution": True, "task": False}


def check_metadata(name: str, points: float) -> dict:
    """nbgrader metadata of the check cell of exercise `name`: a locked grade cell."""
    return {"grade": True, "grade_id": CHECK_PREFIX + name, "locked": True, "points": points,
            "schema_version": 3, "solution": False, "task": False}


def check_code(name: str) -> str:
    """The code of exercise `name`'s check cell, before {{fw}} is substituted."""
    return f'from seq2bert.check import exercises\n\n{name} = exercises("{{{{fw}}}}").{name}({name})'


def _exercise_name(value: Any, key: str, where: str) -> str:
    if not isinstance(value, str) or not value.isidentifier() or keyword.iskeyword(value):
        raise BuildError(f"{where}: {key}={json.dumps(value)} must name the exercise's function, a Python "
                         f'identifier such as {key}="masked_softmax"')
    return value


def _grading(tags: dict, cell_type: str, text: str, regions: Sequence[Region], metadata: dict,
             where: str) -> tuple[str | None, str | None, str]:
    """(exercise, check, cell text) of one cell from its grading tags; writes its nbgrader metadata."""
    if _EXERCISE_KEY in tags and _CHECK_KEY in tags:
        raise BuildError(f"{where}: a cell is either an exercise or a check, not both; put the check "
                         f"in a cell of its own after the exercise")
    if _POINTS_KEY in tags and _CHECK_KEY not in tags:
        raise BuildError(f'{where}: points= belongs on a check cell (check="NAME" points=N); exercise '
                         f"cells earn nothing by themselves")
    if (tags or regions) and cell_type != "code":
        raise BuildError(f"{where}: exercise and check cells must be code cells, not {cell_type}")
    if _EXERCISE_KEY in tags:
        name = _exercise_name(tags[_EXERCISE_KEY], _EXERCISE_KEY, where)
        if not regions:
            raise BuildError(f"{where}: exercise {name!r} has no '# {BEGIN_TEXT}' ... '# {END_TEXT}' "
                             f"region, so the student copy would hold the answer")
        metadata["nbgrader"] = exercise_metadata(name)
        return name, None, text
    if regions:
        raise BuildError(f'{where}: this cell holds a solution region but is not an exercise; add '
                         f'exercise="NAME" to its header')
    if _CHECK_KEY in tags:
        name = _exercise_name(tags[_CHECK_KEY], _CHECK_KEY, where)
        points = tags.get(_POINTS_KEY)
        if isinstance(points, bool) or not isinstance(points, (int, float)) or not 0 <= points < float("inf"):
            raise BuildError(f'{where}: check {name!r} needs points=N (a number >= 0) in its header, '
                             f"got {json.dumps(points) if _POINTS_KEY in tags else 'none'}")
        if text.strip():
            raise BuildError(f"{where}: the build writes the code of check cells, so leave this one empty "
                             f"(move other code to a cell of its own)")
        metadata["nbgrader"] = check_metadata(name, points)
        return None, name, check_code(name)
    return None, None, text


def _cell_where(source_name: str, cell: SourceCell) -> str:
    return f"{source_name}:{cell.header_line}" if cell.header_line else f"{source_name} (cell {cell.number})"


def _check_pairs(cells: Sequence[SourceCell], source_name: str) -> None:
    """In each framework's notebook every exercise has one check cell after it, and vice versa."""
    for framework in FRAMEWORKS:
        title = FRAMEWORK_TITLES[framework]
        exercises: dict[str, str] = {}  # exercise name -> where its cell is
        checks: dict[str, str] = {}
        for cell in cells:
            if framework not in cell.frameworks:
                continue
            where = _cell_where(source_name, cell)
            if cell.exercise is not None:
                if cell.exercise in exercises:
                    raise BuildError(f"{where}: exercise {cell.exercise!r} is already defined at "
                                     f"{exercises[cell.exercise]}, and both cells go to the {title} notebook")
                exercises[cell.exercise] = where
            if cell.check is not None:
                if cell.check in checks:
                    raise BuildError(f"{where}: exercise {cell.check!r} is already checked at "
                                     f"{checks[cell.check]}, and both cells go to the {title} notebook")
                if cell.check not in exercises:
                    raise BuildError(f'{where}: check="{cell.check}" has no exercise="{cell.check}" cell '
                                     f"before it in the {title} notebook")
                checks[cell.check] = where
        for name, where in exercises.items():
            if name not in checks:
                raise BuildError(f'{where}: exercise {name!r} has no check cell after it in the {title} '
                                 f'notebook; add a cell `# %% check="{name}" points=N`')


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
    """The generated first cell of a notebook: title, copy kind, and links to its companions.

    nbgrader's release of the solution copy keeps this cell as it is, so the solution copy's
    wording must be right in both: it says what the exercise cells hold in each.
    """
    other = next(f for f in FRAMEWORKS if f != framework)
    if solution:
        kind = (f"**{FRAMEWORK_TITLES[framework]} · answer key, or its nbgrader release.** As the course "
                f"ships it, every exercise cell holds a worked answer (this is the source notebook for "
                f"nbgrader); in a copy that nbgrader releases, the exercise cells raise "
                f"`NotImplementedError` until you fill them in.")
    else:
        kind = (f"**{FRAMEWORK_TITLES[framework]} · student copy.** Fill in the exercise cells (they raise "
                f"`NotImplementedError` until you do); the check cell under each one tells you what is right "
                f"and what to try next.")
    lines = [
        f"# {unit.number} · {unit.title}",
        "",
        kind,
        "",
        f"- The same notebook in {FRAMEWORK_TITLES[other]}: [{other}/{unit.stem}.ipynb](../{other}/{unit.stem}.ipynb)",
        f"- The lesson, with the equations: [lessons/{unit.stem}.md](../../lessons/{unit.stem}.md)",
        f"- The quiz: at the [end of this notebook](#{QUIZ_HEADING}), or in a terminal with "
        f"`seq2bert quiz take {unit.number}`",
    ]
    if solution:  # maintainers work from the answer key; learners need not know how it is built
        lines += ["", f"*Generated from `course/{unit.stem}.py`: to change the course, edit that file and run "
                      f"`{REBUILD_COMMAND}` (which overwrites this notebook).*"]
    return "\n".join(lines)


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
        where = _cell_where(source_name, cell)
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
                f"| [at the notebook's end](notebooks/pytorch/{unit.stem}.ipynb#{QUIZ_HEADING}) · "
                f"`seq2bert quiz take {unit.number}` |")
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
        "Each unit has a short quiz. Take it at the end of the unit's notebook "
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
