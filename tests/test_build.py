"""The notebook build: rules on a sample source, then checks of the committed notebooks."""
from __future__ import annotations

import argparse
import ast
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import nbformat
import pytest

from seq2bert import files
from seq2bert import build as build_module
from seq2bert.build import START_NOTEBOOK, BuildError, SkippedUnitWarning, build
from seq2bert.check import exercise_names
from seq2bert.units import FRAMEWORKS, UNITS

REPO = Path(__file__).resolve().parents[1]
SAMPLE = Path(__file__).parent / "fixtures" / "course_sample" / "sample_unit.py"
UNIT = UNITS[0]  # the sample is built as the first unit of the catalogue

LINK_RE = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
STUB_RE = re.compile(r'^(\s*)raise NotImplementedError\("Exercise: [^"]+"\)$')


# ---------------------------------------------------------------------------------------------
# Helpers shared by the sample tests and the repository tests


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def markdown_headings(notebook: nbformat.NotebookNode) -> list[tuple[int, str]]:
    """(level, text) of every ATX heading in markdown cells, skipping fenced code blocks.

    Framework names are replaced by a placeholder, so "Training in PyTorch" and "Training in
    TensorFlow" count as the same heading.
    """
    headings = []
    for cell in notebook.cells:
        if cell.cell_type != "markdown":
            continue
        fenced = False
        for line in cell.source.split("\n"):
            if line.lstrip().startswith(("```", "~~~")):
                fenced = not fenced
                continue
            match = None if fenced else HEADING_RE.match(line)
            if match:
                text = re.sub(r"PyTorch|TensorFlow", "<framework>", match.group(2))
                text = re.sub(r"pytorch|tensorflow", "<fw>", text)
                headings.append((len(match.group(1)), text))
    return headings


def broken_links(path: Path, cells) -> list[str]:
    """Relative link targets in the markdown cells that do not exist next to `path`."""
    broken = []
    for cell in cells:
        if cell.cell_type != "markdown":
            continue
        for target in LINK_RE.findall(cell.source):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue  # URLs and in-page anchors
            if not (path.parent / target.split("#")[0]).exists():
                broken.append(target)
    return broken


def stub_problems(notebook: nbformat.NotebookNode) -> list[str]:
    """Ways a student notebook leaks solutions or has exercise cells that do not raise."""
    problems = []
    for index, cell in enumerate(notebook.cells):
        if "BEGIN SOLUTION" in cell.source or "END SOLUTION" in cell.source:
            problems.append(f"cell {index} contains solution markers")
        if not cell.metadata.get("nbgrader", {}).get("solution", False):
            continue
        lines = cell.source.split("\n")
        stubs = [i for i, line in enumerate(lines) if line.strip() == "# YOUR CODE HERE"]
        if not stubs:
            problems.append(f"exercise cell {index} has no '# YOUR CODE HERE' stub")
        for i in stubs:
            follow = STUB_RE.match(lines[i + 1]) if i + 1 < len(lines) else None
            if follow is None or follow.group(1) != lines[i][: len(lines[i]) - len(lines[i].lstrip())]:
                problems.append(f"exercise cell {index}: stub at line {i + 1} is not followed by "
                                f"raise NotImplementedError(\"Exercise: ...\") at the same indentation")
        if not python_parses(cell.source):
            problems.append(f"exercise cell {index} is not valid Python")
    return problems


def python_parses(code: str) -> bool:
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        ast.parse(TransformerManager().transform_cell(code))
    except SyntaxError:
        return False
    return True


def code_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


# ---------------------------------------------------------------------------------------------
# The sample source


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """A course checkout in tmp_path holding only the sample source, built once."""
    (tmp_path / "course").mkdir()
    shutil.copy(SAMPLE, UNIT.source(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedUnitWarning)
        build(tmp_path)
    return tmp_path


def notebook(root: Path, framework: str, solution: bool) -> nbformat.NotebookNode:
    return read(UNIT.notebook(root, framework, solution))


def test_build_writes_four_notebooks_and_the_start_page(course):
    for framework in FRAMEWORKS:
        for solution in (False, True):
            assert UNIT.notebook(course, framework, solution).is_file()
    assert (course / START_NOTEBOOK).is_file()


def test_framework_cells_go_only_to_their_framework(course):
    for solution in (False, True):
        torch_text = "\n".join(c.source for c in notebook(course, "pytorch", solution).cells)
        tf_text = "\n".join(c.source for c in notebook(course, "tensorflow", solution).cells)
        assert "import torch" in torch_text and "import torch" not in tf_text
        assert "import tensorflow" in tf_text and "import tensorflow" not in torch_text
        assert "Keras layers run eagerly" in tf_text and "Keras layers" not in torch_text
        # Shared cells reach both.
        assert "def scale(" in torch_text and "def scale(" in tf_text
    for framework in FRAMEWORKS:
        for cell in notebook(course, framework, True).cells:
            assert "framework" not in cell.metadata
            assert not {"lines_to_next_cell", "title", "cell_marker"} & set(cell.metadata)


def test_placeholders_are_substituted(course):
    for framework, title in (("pytorch", "PyTorch"), ("tensorflow", "TensorFlow")):
        cells = notebook(course, framework, False).cells
        text = "\n".join(c.source for c in cells)
        assert "{{" not in text
        assert f"## Setup in {title}" in text
        assert f'seq2bert.setup("01", "{framework}")' in text
        assert f"Written for {title} (`{framework}`)." in text


def test_student_copy_replaces_regions_by_stubs(course):
    for framework in FRAMEWORKS:
        student = notebook(course, framework, False)
        exercise = next(c for c in student.cells if "def scale(" in c.source)
        assert "return [factor * value" not in exercise.source
        assert "return [value + offset" not in exercise.source
        assert ('    # YOUR CODE HERE\n'
                '    raise NotImplementedError("Exercise: multiply each value by factor")') in exercise.source
        assert 'raise NotImplementedError("Exercise: write this part of the function")' in exercise.source
        # Code outside the regions stays.
        assert "    if not values:\n        return []" in exercise.source
        assert stub_problems(student) == []


def test_student_stub_raises_when_run(course):
    exercise = next(c for c in notebook(course, "pytorch", False).cells if "def scale(" in c.source)
    namespace: dict = {}
    exec(exercise.source, namespace)
    assert namespace["scale"]([], 2) == []  # code before the region still runs
    with pytest.raises(NotImplementedError, match="Exercise: multiply each value by factor"):
        namespace["scale"]([1], 2)


def test_solution_copy_keeps_code_and_markers(course):
    for framework in FRAMEWORKS:
        solution = notebook(course, framework, True)
        exercise = next(c for c in solution.cells if "def scale(" in c.source)
        assert "    # BEGIN SOLUTION: multiply each value by factor\n" in exercise.source
        assert "    return [factor * value for value in values]\n    # END SOLUTION" in exercise.source
        assert "NotImplementedError" not in exercise.source
        namespace: dict = {}
        exec(exercise.source, namespace)
        assert namespace["scale"]([1, 2], 3) == [3, 6]


def test_short_tags_become_nbgrader_metadata_in_both_copies(course):
    for framework in FRAMEWORKS:
        for solution in (False, True):
            cells = notebook(course, framework, solution).cells
            graded = {c.metadata["nbgrader"]["grade_id"]: c for c in cells if "nbgrader" in c.metadata}
            assert list(graded) == ["scale", "check_scale", "double", "check_double"]
            for name in ("scale", "double"):
                assert graded[name].metadata["nbgrader"] == {
                    "grade": False, "grade_id": name, "locked": False, "schema_version": 3, "solution": True,
                    "task": False}
            assert graded["check_scale"].metadata["nbgrader"] == {
                "grade": True, "grade_id": "check_scale", "locked": True, "points": 2, "schema_version": 3,
                "solution": False, "task": False}
            assert graded["check_double"].metadata["nbgrader"]["points"] == 1.5
            assert graded["check_scale"].metadata["tags"] == ["check"]  # other metadata passes through
            assert set(graded["scale"].metadata) == {"nbgrader"}


def test_check_cells_get_the_generated_check_code(course):
    for framework in FRAMEWORKS:
        for solution in (False, True):
            cells = notebook(course, framework, solution).cells
            check = next(c for c in cells if c.metadata.get("nbgrader", {}).get("grade_id") == "check_scale")
            assert check.source == ('from seq2bert.check import exercises\n\n'
                                    f'scale = exercises("{framework}").scale(scale)')
            # The code cell that follows the check in the source stays a cell of its own.
            assert cells[cells.index(check) + 1].source == "print(scale([1, 2], 3))"


def test_notebook_format(course):
    for framework in FRAMEWORKS:
        for solution in (False, True):
            path = UNIT.notebook(course, framework, solution)
            nb = read(path)
            nbformat.validate(nb)
            assert (nb.nbformat, nb.nbformat_minor) == (4, 5)
            assert nb.metadata["kernelspec"] == {"display_name": "Python 3", "language": "python", "name": "python3"}
            assert nb.metadata["language_info"] == {"name": "python"}
            assert "jupytext" not in nb.metadata
            for cell in code_cells(nb):
                assert cell.outputs == [] and cell.execution_count is None
            assert len({c.id for c in nb.cells}) == len(nb.cells)
            assert path.read_bytes().endswith(b"}\n")


def test_header_cell_names_the_copy_and_links_companions(course):
    header = notebook(course, "tensorflow", False).cells[0]
    assert header.cell_type == "markdown"
    assert header.source.startswith(f"# {UNIT.number} · {UNIT.title}")
    assert "TensorFlow · student copy" in header.source
    assert f"(../pytorch/{UNIT.stem}.ipynb)" in header.source
    assert f"(../../lessons/{UNIT.stem}.md)" in header.source
    assert "quizzes/" not in header.source  # the YAML holds the answers: learners take the quiz instead
    assert "(#Quiz)" in header.source and f"seq2bert quiz take {UNIT.number}" in header.source
    assert "make notebooks" not in header.source  # a maintainer's note, not a learner's
    assert "make notebooks" in notebook(course, "tensorflow", True).cells[0].source
    answers = notebook(course, "pytorch", True).cells[0].source
    assert "PyTorch · answer key, or its nbgrader release." in answers


def test_solution_header_stays_true_in_the_copy_nbgrader_releases(course):
    """nbgrader releases the solution copy with its first cell unchanged, so it must not say 'solution'."""
    for framework in FRAMEWORKS:
        header = notebook(course, framework, True).cells[0]
        assert "nbgrader" not in header.metadata  # so nbgrader copies it as it is
        assert "solution" not in header.source.lower()
        assert "in a copy that nbgrader releases, the exercise cells raise `NotImplementedError`" in header.source


def test_header_and_start_links_resolve_once_companions_exist(course):
    (course / "lessons").mkdir()
    (course / "quizzes").mkdir()
    UNIT.lesson(course).write_text("# lesson\n")
    UNIT.quiz(course).write_text("questions: []\n")
    start = read(course / START_NOTEBOOK)
    assert broken_links(course / START_NOTEBOOK, start.cells) == []
    for framework in FRAMEWORKS:
        for solution in (False, True):
            path = UNIT.notebook(course, framework, solution)
            assert broken_links(path, read(path).cells[:1]) == []
    UNIT.lesson(course).unlink()
    assert broken_links(course / START_NOTEBOOK, start.cells) == [f"lessons/{UNIT.stem}.md"]
    assert "quizzes/" not in "".join(c.source for c in start.cells)  # learners take the quiz, not read its key


def test_start_page_lists_built_units_only(course):
    text = "\n".join(c.source for c in read(course / START_NOTEBOOK).cells)
    assert f"notebooks/pytorch/{UNIT.stem}.ipynb" in text
    assert f"solutions/tensorflow/{UNIT.stem}.ipynb" in text
    assert UNITS[1].stem not in text  # its source does not exist in the sample course
    assert "SEQ2BERT_FAST=1" in text and "seq2bert quiz" in text


def test_missing_unit_source_is_skipped_with_a_warning(course):
    with pytest.warns(SkippedUnitWarning, match=f"{UNITS[1].number}.*does not exist yet"):
        build(course)


def test_twins_have_the_same_headings(course):
    for solution in (False, True):
        torch_headings = markdown_headings(notebook(course, "pytorch", solution))
        assert torch_headings == markdown_headings(notebook(course, "tensorflow", solution))
        assert (2, "Setup in <framework>") in torch_headings
        assert all("this fenced line" not in text for _, text in torch_headings)


def test_rebuild_is_byte_identical_and_changes_nothing(course, tmp_path_factory):
    paths = sorted(p for p in course.rglob("*.ipynb"))
    before = {p: p.read_bytes() for p in paths}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedUnitWarning)
        assert build(course) == []
        other = tmp_path_factory.mktemp("again")
        (other / "course").mkdir()
        shutil.copy(SAMPLE, UNIT.source(other))
        build(other)
    for path in paths:
        assert path.read_bytes() == before[path]
        assert (other / path.relative_to(course)).read_bytes() == before[path]


def test_check_reports_stale_and_missing_files_without_writing(course):
    stale = UNIT.notebook(course, "pytorch", False)
    nb = read(stale)
    code_cells(nb)[0].outputs = [nbformat.v4.new_output("stream", text="hi\n")]
    nbformat.write(nb, stale)
    edited = stale.read_bytes()
    missing = UNIT.notebook(course, "tensorflow", True)
    missing.unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedUnitWarning)
        assert sorted(build(course, check=True)) == sorted([stale, missing])
    assert stale.read_bytes() == edited and not missing.exists()


def run_cli(*arguments: str) -> int:
    parser = argparse.ArgumentParser()
    build_module.configure(parser)
    return build_module.run(parser.parse_args(list(arguments)))


def test_cli_check_exit_codes(course, capsys):
    assert run_cli("--check", "--root", str(course)) == 0
    assert "up to date" in capsys.readouterr().out
    UNIT.notebook(course, "pytorch", True).write_text("{}\n")
    assert run_cli("--check", "--root", str(course)) == 1
    captured = capsys.readouterr()
    assert f"stale: solutions/pytorch/{UNIT.stem}.ipynb (out of date)" in captured.out
    assert "make notebooks" in captured.err
    assert UNIT.notebook(course, "pytorch", True).read_text() == "{}\n"
    assert run_cli("--root", str(course)) == 0
    assert f"wrote solutions/pytorch/{UNIT.stem}.ipynb" in capsys.readouterr().out
    assert run_cli("--check", "--root", str(course)) == 0


def test_command_line_errors_have_no_traceback(course):
    source = UNIT.source(course)
    source.write_text(source.read_text().replace(SHIFT_REGION, SHIFT_REGION.replace("\n    # END SOLUTION", "")))
    done = subprocess.run([sys.executable, "-m", "seq2bert", "build", "--root", str(course)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"course/{UNIT.stem}.py:51: '# BEGIN SOLUTION' is never closed" in done.stderr


# ---------------------------------------------------------------------------------------------
# Bad sources are rejected with a message naming the file and line, and nothing is written

GOOD = SAMPLE.read_text(encoding="utf-8")
EXERCISE_HEADER = '# %% exercise="scale"'
CHECK_HEADER = '# %% tags=["check"] check="scale" points=2'
TF_DOUBLE_HEADER = '# %% framework="tensorflow" exercise="double"'
SHIFT_REGION = "    # BEGIN SOLUTION\n    return [value + offset for value in values]\n    # END SOLUTION"
OLD_LONG_FORM = ('# %% nbgrader={"grade": false, "grade_id": "scale", "locked": false, "schema_version": 3, '
                 '"solution": true, "task": false}')

BAD_SOURCES = {
    "nested": (GOOD.replace(SHIFT_REGION, "    # BEGIN SOLUTION\n" + SHIFT_REGION),
               r":52: nested '# BEGIN SOLUTION': the region opened at line 51"),
    "unclosed": (GOOD.replace(SHIFT_REGION, SHIFT_REGION.replace("\n    # END SOLUTION", "")),
                 r":51: '# BEGIN SOLUTION' is never closed"),
    "stray end": (GOOD.replace("print(scale", "# END SOLUTION\nprint(scale"),
                  r":58: '# END SOLUTION' without a matching"),
    "marker with extra words": (GOOD.replace(SHIFT_REGION, SHIFT_REGION.replace("# BEGIN SOLUTION", "# BEGIN SOLUTION here")),
                                r":51: a line mentioning BEGIN SOLUTION/END SOLUTION must be exactly"),
    "marker in markdown": (GOOD.replace("# Keras layers run", "# BEGIN SOLUTION Keras layers run"),
                           r":25: solution markers are only allowed in code cells"),
    "empty region": (GOOD.replace(SHIFT_REGION, "    # BEGIN SOLUTION\n    # END SOLUTION\n    return values"),
                     r":52: empty solution region"),
    "stub breaks syntax": (GOOD.replace(SHIFT_REGION, "    return [value +\n    # BEGIN SOLUTION\n    offset\n"
                                                      "    # END SOLUTION\n    for value in values]"),
                           r":39: the student stub breaks this cell's syntax"),
    "region outside an exercise": (GOOD.replace(EXERCISE_HEADER, "# %%"),
                                   r':39: this cell holds a solution region but is not an exercise; add exercise="NAME"'),
    "exercise without region": (GOOD.replace("# %%\nprint(scale", '# %% exercise="printed"\nprint(scale'),
                                r":57: exercise 'printed' has no '# BEGIN SOLUTION' ... '# END SOLUTION' region"),
    "exercise in markdown": (GOOD.replace("# %% [markdown]\n# ## Summary", '# %% [markdown] exercise="summary"\n# ## Summary'),
                             r":74: exercise and check cells must be code cells, not markdown"),
    "exercise and check in one cell": (GOOD.replace(EXERCISE_HEADER, EXERCISE_HEADER + ' check="scale"'),
                                       r":39: a cell is either an exercise or a check, not both"),
    "exercise name not an identifier": (GOOD.replace(EXERCISE_HEADER, '# %% exercise="scale it"'),
                                        r':39: exercise="scale it" must name the exercise\'s function'),
    "exercise name a keyword": (GOOD.replace(CHECK_HEADER, CHECK_HEADER.replace('"scale"', '"class"')),
                                r':55: check="class" must name the exercise\'s function'),
    "exercise name not a string": (GOOD.replace(EXERCISE_HEADER, "# %% exercise=3"),
                                   r":39: exercise=3 must name the exercise's function"),
    "check without points": (GOOD.replace(CHECK_HEADER, CHECK_HEADER.replace(" points=2", "")),
                             r":55: check 'scale' needs points=N \(a number >= 0\) in its header, got none"),
    "negative points": (GOOD.replace(CHECK_HEADER, CHECK_HEADER.replace("points=2", "points=-1")),
                        r":55: check 'scale' needs points=N .*, got -1"),
    "points as text": (GOOD.replace(CHECK_HEADER, CHECK_HEADER.replace("points=2", 'points="2"')),
                       r':55: check \'scale\' needs points=N .*, got "2"'),
    "points as a flag": (GOOD.replace(CHECK_HEADER, CHECK_HEADER.replace("points=2", "points=true")),
                         r":55: check 'scale' needs points=N .*, got true"),
    "points on an exercise": (GOOD.replace(EXERCISE_HEADER, EXERCISE_HEADER + " points=2"),
                              r":39: points= belongs on a check cell"),
    "code in a check cell": (GOOD.replace(CHECK_HEADER + "\n", CHECK_HEADER + "\nassert scale([1], 2) == [2]\n"),
                             r":55: the build writes the code of check cells, so leave this one empty"),
    "exercise without check": (GOOD.replace(CHECK_HEADER + "\n\n", ""),
                               r':39: exercise \'scale\' has no check cell after it in the PyTorch notebook; '
                               r'add a cell `# %% check="scale" points=N`'),
    "exercise without check in one framework": (GOOD.replace('# %% check="double" points=1.5', '# %% framework="pytorch" check="double" points=1.5'),
                                                r":66: exercise 'double' has no check cell after it in the TensorFlow notebook"),
    "check without exercise": (GOOD.replace(CHECK_HEADER, CHECK_HEADER.replace('"scale"', '"shift"')),
                               r':55: check="shift" has no exercise="shift" cell before it in the PyTorch notebook'),
    "check before its exercise": (GOOD.replace('# %% check="double" points=1.5\n', "").replace(
                                      "# %%\nprint(scale", '# %% check="double" points=1.5\n\n# %%\nprint(scale'),
                                  r':57: check="double" has no exercise="double" cell before it'),
    "duplicate exercise": (GOOD.replace(TF_DOUBLE_HEADER, TF_DOUBLE_HEADER.replace('framework="tensorflow"', 'framework="pytorch"')),
                           r":66: exercise 'double' is already defined at course/01_seq2seq.py:60, and both cells go "
                           r"to the PyTorch notebook"),
    "duplicate check": (GOOD.replace("# %%\nprint(scale", CHECK_HEADER + "\n\n# %%\nprint(scale"),
                        r":57: exercise 'scale' is already checked at course/01_seq2seq.py:55"),
    "grade id clash": (GOOD.replace('"double"', '"check_scale"'),
                       r":60: nbgrader grade_id 'check_scale' is already used at course/01_seq2seq.py:55"),
    "old long form": (GOOD.replace(EXERCISE_HEADER, OLD_LONG_FORM),
                      r':39: nbgrader=\{...\} in a cell header is the old long form; write exercise="NAME" on an '
                      r'exercise cell and check="NAME" points=N on its check cell'),
    "invalid JSON": (GOOD.replace(EXERCISE_HEADER, "# %% exercise=scale"),
                     r":39: cannot read the cell header metadata"),
    "unknown framework": (GOOD.replace('framework="pytorch"', 'framework="jax"'),
                          r':19: framework="jax" is not one of "pytorch", "tensorflow"'),
    "misspelt metadata": (GOOD.replace('framework="pytorch"', 'framwork="pytorch"'),
                          r":19: unknown cell metadata 'framwork'"),
    "misspelt tag": (GOOD.replace(EXERCISE_HEADER, '# %% exercize="scale"'),
                     r":39: unknown cell metadata 'exercize'"),
}


@pytest.mark.parametrize("name", list(BAD_SOURCES))
def test_bad_sources_are_rejected_and_nothing_is_written(tmp_path, name):
    text, message = BAD_SOURCES[name]
    assert text != GOOD, "the test's replacement did not apply"
    (tmp_path / "course").mkdir()
    UNIT.source(tmp_path).write_text(text, encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedUnitWarning)
        with pytest.raises(BuildError, match=f"^course/{UNIT.stem}.py" + message):
            build(tmp_path)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [f"{UNIT.stem}.py"]


def test_a_bad_source_leaves_existing_notebooks_untouched(course):
    before = {p: p.read_bytes() for p in course.rglob("*.ipynb")}
    source = UNIT.source(course)
    source.write_text(source.read_text().replace("## Summary", "## Recap").replace(
        CHECK_HEADER, "# %%"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedUnitWarning)
        with pytest.raises(BuildError):
            build(course)
    assert {p: p.read_bytes() for p in course.rglob("*.ipynb")} == before


def test_an_interrupted_build_leaves_old_notebooks_and_no_temporary_files(course, monkeypatch):
    before = {p: p.read_bytes() for p in course.rglob("*.ipynb")}
    source = UNIT.source(course)
    source.write_text(source.read_text().replace("## Summary", "## Recap"))

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "replace", interrupted)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedUnitWarning)
        with pytest.raises(KeyboardInterrupt):
            build(course)
    assert {p: p.read_bytes() for p in course.rglob("*.ipynb")} == before
    assert [p for p in course.rglob("*") if p.name.endswith(".tmp")] == []


# ---------------------------------------------------------------------------------------------
# The committed notebooks of this repository


def built_units() -> list:
    """The catalogue's units whose course/ source exists; never empty in this repository."""
    units = [unit for unit in UNITS if unit.source(REPO).exists()]
    assert units, "course/ holds no unit source (course/NN_topic.py): the repository tests need one"
    return units


def committed_notebooks() -> list[Path]:
    return sorted([*REPO.glob("notebooks/*/*.ipynb"), *REPO.glob("solutions/*/*.ipynb")])


def test_repository_sources_and_notebooks_are_there():
    """The repository tests below check real files: units 01 and 02, four notebooks each."""
    assert {"01", "02"} <= {unit.number for unit in built_units()}
    expected = {unit.notebook(REPO, fw, sol) for unit in built_units() for fw in FRAMEWORKS for sol in (False, True)}
    assert len(expected) == 4 * len(built_units()) and expected <= set(committed_notebooks())
    assert (REPO / START_NOTEBOOK).is_file()


def test_repository_build_is_current():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedUnitWarning)
        stale = [str(p.relative_to(REPO)) for p in build(REPO, check=True)]
    expected = {unit.notebook(REPO, fw, sol) for unit in built_units() for fw in FRAMEWORKS for sol in (False, True)}
    orphans = [str(p.relative_to(REPO)) for p in committed_notebooks() if p not in expected]
    assert (stale, orphans) == ([], []), (f"stale generated files (run `make notebooks`): {stale}; "
                                          f"notebooks without a course/ source: {orphans}")


def test_repository_twins_have_the_same_headings():
    for unit in built_units():
        for solution in (False, True):
            torch_headings = markdown_headings(read(unit.notebook(REPO, "pytorch", solution)))
            tf_headings = markdown_headings(read(unit.notebook(REPO, "tensorflow", solution)))
            assert torch_headings == tf_headings, f"{unit.stem} ({'solution' if solution else 'student'})"
            assert sum(level == 2 for level, _ in torch_headings) >= 3, f"{unit.stem}: too few headings to compare"


def test_repository_notebooks_have_no_outputs():
    paths = [*committed_notebooks(), REPO / START_NOTEBOOK]
    assert len(paths) >= 1 + 4 * len(built_units())
    for path in paths:
        for cell in code_cells(read(path)):
            assert cell.outputs == [] and cell.execution_count is None, f"{path.relative_to(REPO)} has outputs"


def test_repository_student_notebooks_hold_no_solutions():
    for unit in built_units():
        for framework in FRAMEWORKS:
            path = unit.notebook(REPO, framework, solution=False)
            student = read(path)
            assert stub_problems(student) == [], str(path.relative_to(REPO))
            # Not vacuous: every checked exercise of the unit has its stubbed cell here.
            stubbed = [c.metadata["nbgrader"]["grade_id"] for c in student.cells
                       if c.metadata.get("nbgrader", {}).get("solution")]
            assert sorted(stubbed) == sorted(exercise_names(unit.number)), str(path.relative_to(REPO))


def test_repository_links_resolve():
    assert broken_links(REPO / START_NOTEBOOK, read(REPO / START_NOTEBOOK).cells) == []
    checked = 0
    for path in committed_notebooks():
        cells = read(path).cells
        assert broken_links(path, cells) == [], str(path.relative_to(REPO))
        checked += sum(len(LINK_RE.findall(c.source)) for c in cells if c.cell_type == "markdown")
    assert checked >= 3 * len(committed_notebooks())  # twin, lesson and quiz in every header at least


def test_every_committed_notebook_has_the_quiz_section_its_header_links_to():
    for path in committed_notebooks():
        notebook_ = read(path)
        assert "(#Quiz)" in notebook_.cells[0].source, str(path.relative_to(REPO))
        assert (2, "Quiz") in markdown_headings(notebook_), str(path.relative_to(REPO))
