"""`seq2bert run`: execute the course's notebooks headless, as an instructor does before a workshop.

Each notebook runs in a fresh kernel with SEQ2BERT_FAST=1 (unless ``fast=False``) and its own
folder as working directory, so relative paths behave as in Jupyter. The executed copies go to
``<out>/<framework>/<stem>.ipynb``, the kernel's stderr (if any) to ``<stem>.kernel.log`` beside
them; ``<out>/summary.md`` and ``<out>/summary.csv`` list per notebook the unit, framework, mode,
status (``ok`` or ``failed: <error>``), seconds, the unit's fast-mode time budget and the headline
metrics the notebook showed (seq2bert.report.headline). A failing notebook is recorded and the
run goes on.

Budgets (``budget_seconds`` in each unit's catalogue entry) are for the CI machine. A notebook over
its budget is flagged in the summary and with a warning; the exit status stays 0 unless
``--strict-budgets`` is given, because timings on a shared machine are noisy.
``--update-readme`` runs nothing: it rewrites the timing table of README.md, between the
TIMINGS_START and TIMINGS_END comments, from ``<out>/summary.csv``. Every run also writes the
headline metrics at full precision to ``<out>/metrics.json``; ``--record`` runs nothing and
merges that file into ``lessons/measured.json``, which the lessons' quoted numbers are tested
against (seq2bert.measured).
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seq2bert import measured
from seq2bert.cli import whole_number
from seq2bert.files import write_atomic
from seq2bert.report import METRIC_MIME, read_outputs
from seq2bert.units import FRAMEWORK_TITLES, FRAMEWORKS, UNITS, CourseError, get_framework, get_unit

# Keeps the kernel's start-up warnings (e.g. about unencrypted local TCP) out of the progress output.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]


@dataclass(frozen=True)
class RunResult:
    """The outcome of executing one notebook."""

    unit: str
    framework: str
    notebook: Path  # the source notebook
    status: str  # "ok" or "failed: <error>"
    seconds: float
    metrics: tuple[tuple[str, float], ...] = ()  # headline metrics, in display order
    executed: Path | None = None  # where the executed copy was written
    fast: bool = True  # run in fast mode (budgets apply) or full mode
    budget: float | None = None  # the unit's fast-mode budget in seconds; None in full mode or if unknown

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def over_budget(self) -> bool:
        return self.budget is not None and self.seconds > self.budget

    @property
    def metrics_text(self) -> str:
        return "; ".join(f"{name}={value:.4g}" for name, value in self.metrics)


def notebook_paths(root: Path, units: list[str] | None = None, frameworks: list[str] | None = None,
                   copy: str = "solution") -> list[Path]:
    """The notebooks of the chosen units and frameworks (existing or not), unit by unit."""
    chosen_units = [get_unit(u) for u in units] if units else list(UNITS)
    chosen_frameworks = [get_framework(f) for f in frameworks] if frameworks else list(FRAMEWORKS)
    return [unit.notebook(root, framework, solution=(copy == "solution"))
            for unit in chosen_units for framework in chosen_frameworks]


def _identity(path: Path, notebook: Any = None) -> tuple[str, str]:
    """(unit, framework) of a notebook: from its metadata, else from its path."""
    meta = notebook.metadata.get("seq2bert", {}) if notebook is not None else {}
    unit = str(meta.get("unit", "")) if isinstance(meta, dict) else ""
    framework = str(meta.get("framework", "")) if isinstance(meta, dict) else ""
    if not unit:
        unit = path.stem.split("_", 1)[0]
    if not framework:
        framework = path.parent.name
    return unit, framework


def _failure(error: BaseException, cell: int, cell_timeout: int) -> str:
    """A one-line reason for a failed notebook."""
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    if isinstance(error, CellTimeoutError):
        return f"failed: cell {cell} timed out after {cell_timeout} s"
    if isinstance(error, DeadKernelError):
        return f"failed: kernel died in cell {cell}"
    if isinstance(error, CellExecutionError):
        return f"failed: cell {cell}: {error.ename}: {str(error.evalue).strip().splitlines()[0] if str(error.evalue).strip() else ''}"[:200]
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"failed: {type(error).__name__}: {text}"[:200]


def budget_for(unit: str, fast: bool = True) -> float | None:
    """A unit's fast-mode seconds per notebook (catalogue entry); None in full mode or for unknown units."""
    if not fast:
        return None
    try:
        return float(get_unit(unit).budget_seconds)
    except CourseError:
        return None


def run_notebook(path: Path, out_dir: Path, *, cell_timeout: int = 900, fast: bool = True,
                 kernel_name: str = "python3", bar: Any = None) -> RunResult:
    """Execute one notebook in its own folder and write the executed copy under `out_dir`."""
    import nbformat
    from nbclient import NotebookClient

    start = time.monotonic()
    unit, framework = _identity(path)
    if not path.is_file():
        return RunResult(unit, framework, path, "failed: notebook missing (run `seq2bert build`)", 0.0,
                         fast=fast, budget=budget_for(unit, fast))
    try:
        notebook = nbformat.read(str(path), as_version=4)
    except Exception as error:  # unreadable or not JSON
        return RunResult(unit, framework, path, f"failed: cannot read the notebook: {type(error).__name__}", 0.0,
                         fast=fast, budget=budget_for(unit, fast))
    unit, framework = _identity(path, notebook)
    code_cells = sum(cell.cell_type == "code" for cell in notebook.cells)
    state = {"cell": 0, "code": 0}

    def on_cell_start(cell: Any, cell_index: int) -> None:
        state["cell"] = cell_index + 1
        if cell.cell_type == "code":
            state["code"] += 1
            if bar is not None:
                bar.set_postfix_str(f"cell {state['code']}/{code_cells}")

    client = NotebookClient(notebook, timeout=cell_timeout, kernel_name=kernel_name,
                            extra_arguments=KERNEL_ARGUMENTS,
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    client.on_cell_start = on_cell_start
    env = dict(os.environ)
    if fast:
        env["SEQ2BERT_FAST"] = "1"
    else:
        env.pop("SEQ2BERT_FAST", None)
    # The kernel's own stderr (TensorFlow's start-up logging, crash messages) goes to a log file
    # next to the executed copy instead of through the progress output.
    kernel_log = out_dir / framework / f"{path.stem}.kernel.log"
    kernel_log.parent.mkdir(parents=True, exist_ok=True)
    with kernel_log.open("wb") as log:
        try:
            client.execute(env=env, stderr=log)
            status = "ok"
        except Exception as error:  # any failure is recorded; the run goes on
            status = _failure(error, state["cell"], cell_timeout)
    if kernel_log.stat().st_size == 0:
        kernel_log.unlink()
    elif status.startswith("failed: kernel died"):
        status += f" (see {kernel_log.name})"
    metrics = tuple((str(m.get("name")), float(m.get("value", float("nan"))))
                    for m in read_outputs(notebook, METRIC_MIME))
    executed = out_dir / framework / path.name
    write_atomic(executed, nbformat.writes(notebook))
    return RunResult(unit, framework, path, status, time.monotonic() - start, metrics, executed,
                     fast=fast, budget=budget_for(unit, fast))


def run_notebooks(paths: list[Path], out_dir: Path, *, cell_timeout: int = 900, fast: bool = True,
                  progress: bool = True, kernel_name: str = "python3") -> list[RunResult]:
    """Execute notebooks one after another with a progress bar; failures do not stop the run."""
    from tqdm.auto import tqdm

    results = []
    # disable=None hides the bar when stderr is not a terminal (CI); the start/finish lines stay.
    bar = tqdm(paths, unit="notebook", file=sys.stderr, disable=None if progress else True, dynamic_ncols=True)
    for path in bar:
        label = f"{path.parent.name}/{path.name}"
        bar.set_description(label)
        if progress:
            tqdm.write(f"start  {label}", file=sys.stderr)
        result = run_notebook(path, out_dir, cell_timeout=cell_timeout, fast=fast, kernel_name=kernel_name, bar=bar)
        if progress:
            over = f" (over its {result.budget:g} s budget)" if result.over_budget else ""
            tqdm.write(f"finish {label}: {result.status} in {result.seconds:.1f} s{over}", file=sys.stderr)
        results.append(result)
    bar.close()
    return results


SUMMARY_COLUMNS = ("unit", "framework", "notebook", "mode", "status", "seconds", "budget", "metrics")


def _row(result: RunResult) -> list[str]:
    budget = "" if result.budget is None else f"{result.budget:g}"
    return [result.unit, result.framework, result.notebook.name, "fast" if result.fast else "full", result.status,
            f"{result.seconds:.1f}", budget, result.metrics_text]


def budget_warnings(results: list[RunResult]) -> list[str]:
    """One line per notebook that took longer than its unit's budget."""
    return [f"over budget: {r.framework}/{r.notebook.name} took {r.seconds:.1f} s, budget {r.budget:g} s"
            for r in results if r.over_budget]


def summary_csv(results: list[RunResult]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(SUMMARY_COLUMNS)
    writer.writerows(_row(result) for result in results)
    return out.getvalue()


def summary_markdown(results: list[RunResult]) -> str:
    """The summary as a Markdown table (readable in a terminal too)."""
    rows = [[cell.replace("|", "\\|") for cell in _row(result)] for result in results]
    widths = [max(len(str(row[i])) for row in [list(SUMMARY_COLUMNS), *rows]) for i in range(len(SUMMARY_COLUMNS))]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    failed = sum(not r.ok for r in results)
    lines = [line(SUMMARY_COLUMNS), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows), "",
             f"{len(results) - failed} of {len(results)} notebooks ok, {sum(r.seconds for r in results):.0f} s in total."]
    overruns = budget_warnings(results)
    if overruns:
        lines += ["", f"{len(overruns)} notebook(s) over budget (budgets are in src/seq2bert/units.py):",
                  *(f"- {warning}" for warning in overruns)]
    return "\n".join(lines) + "\n"


def write_summary(results: list[RunResult], out_dir: Path) -> tuple[Path, Path]:
    """Write summary.md and summary.csv under `out_dir`."""
    markdown, table = out_dir / "summary.md", out_dir / "summary.csv"
    write_atomic(markdown, "# Notebook run\n\n" + summary_markdown(results))
    write_atomic(table, summary_csv(results))
    return markdown, table


TIMINGS_START = "<!-- timings: generated by `seq2bert run --update-readme` from build/run/summary.csv -->"
TIMINGS_END = "<!-- timings: end -->"
_SUMMARY_NEEDS = ("unit", "framework", "mode", "status", "seconds")
_FRAMEWORK_BY_TITLE = {title: framework for framework, title in FRAMEWORK_TITLES.items()}


def read_summary(path: Path) -> list[dict[str, str]]:
    """The rows of a summary.csv written by `seq2bert run`."""
    with Path(path).open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in _SUMMARY_NEEDS if c not in (reader.fieldnames or ())]
        if missing:
            raise CourseError(f"{path} lacks the column(s) {', '.join(missing)}; re-run `seq2bert run` to rewrite it")
        return list(reader)


def _table_times(block: str) -> dict[tuple[str, str], dict[str, str]]:
    """(unit, framework) -> {"fast": seconds, "full": seconds} from an existing timing table."""
    times: dict[tuple[str, str], dict[str, str]] = {}
    for line in block.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 5 or cells[1] not in _FRAMEWORK_BY_TITLE:
            continue  # header, separator or anything else
        times[cells[0], _FRAMEWORK_BY_TITLE[cells[1]]] = {"fast": cells[2], "full": cells[4]}
    return times


def timing_table(times: dict[tuple[str, str], dict[str, str]]) -> str:
    """The README's Markdown timing table: seconds per notebook in fast and full mode, with budgets."""
    def order(key: tuple[str, str]) -> tuple[str, int]:
        return key[0], FRAMEWORKS.index(key[1]) if key[1] in FRAMEWORKS else len(FRAMEWORKS)

    lines = ["| unit | framework | fast mode | fast-mode budget | full mode |", "|---|---|---|---|---|"]
    for unit, framework in sorted(times, key=order):
        budget = budget_for(unit)
        lines.append(f"| {unit} | {FRAMEWORK_TITLES.get(framework, framework)} | {times[unit, framework].get('fast', '—')} "
                     f"| {'—' if budget is None else f'{budget:g}'} | {times[unit, framework].get('full', '—')} |")
    return "\n".join(lines)


def update_timings(readme: str, summary: list[dict[str, str]]) -> str:
    """`readme` with its timing table updated from a run's summary rows (the other mode's times are kept)."""
    if readme.count(TIMINGS_START) != 1 or readme.count(TIMINGS_END) != 1 \
            or readme.index(TIMINGS_START) > readme.index(TIMINGS_END):
        raise CourseError(f"README.md needs exactly one timing table between the lines {TIMINGS_START} and {TIMINGS_END}")
    if not summary:
        raise CourseError("the summary lists no notebooks")
    failed = [f"{row['framework']}/{row.get('notebook', row['unit'])}" for row in summary if row["status"] != "ok"]
    if failed:
        raise CourseError(f"not updating the README from a run with failed notebooks: {', '.join(failed)}")
    start = readme.index(TIMINGS_START) + len(TIMINGS_START)
    end = readme.index(TIMINGS_END)
    times = _table_times(readme[start:end])
    for row in summary:
        try:
            seconds = float(row["seconds"])
        except ValueError:
            raise CourseError(f"summary row {row['unit']} {row['framework']}: seconds {row['seconds']!r} is not a number") from None
        if row["mode"] not in ("fast", "full"):
            raise CourseError(f"summary row {row['unit']} {row['framework']}: mode {row['mode']!r} is neither fast nor full")
        times.setdefault((row["unit"], get_framework(row["framework"])), {})[row["mode"]] = f"{seconds:.0f}"
    return f"{readme[:start]}\n{timing_table(times)}\n{readme[end:]}"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--units", nargs="+", default=None, metavar="UNIT", help="units to run (default: all)")
    parser.add_argument("--frameworks", nargs="+", default=None, metavar="FW", help="pytorch and/or tensorflow (default: both)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: build/run in the course root)")
    parser.add_argument("--copy", choices=("solution", "student"), default="solution", help="which copy to run (default: solution)")
    parser.add_argument("--cell-timeout", type=whole_number(1), default=900, help="seconds per cell (default 900)")
    parser.add_argument("--course", type=Path, default=None, help="course root (default: this checkout)")
    parser.add_argument("--full", action="store_true", help="run in full mode instead of SEQ2BERT_FAST=1")
    parser.add_argument("--strict-budgets", action="store_true",
                        help="exit with status 1 when a notebook takes longer than its unit's fast-mode budget")
    parser.add_argument("--update-readme", action="store_true",
                        help="run nothing: rewrite README.md's timing table from <out>/summary.csv")
    parser.add_argument("--record", action="store_true",
                        help="run nothing: record <out>/metrics.json in lessons/measured.json (the numbers lessons quote)")


def run(args: argparse.Namespace) -> int:
    from seq2bert.units import course_root

    if args.course is not None and not Path(args.course).is_dir():
        raise CourseError(f"--course {args.course}: no such folder")
    root = Path(args.course).resolve() if args.course else course_root()
    out_dir = Path(args.out) if args.out else root / "build" / "run"
    if out_dir.exists() and not out_dir.is_dir():
        raise CourseError(f"--out {out_dir} is a file")
    if args.update_readme:
        summary, readme = out_dir / "summary.csv", root / "README.md"
        if not summary.is_file():
            raise CourseError(f"there is no {summary}; run `seq2bert run` first")
        write_atomic(readme, update_timings(readme.read_text(encoding="utf-8"), read_summary(summary)))
        print(f"updated the timing table in {readme} from {summary}")
        return 0
    if args.record:
        target = measured.record_file(root, out_dir / "metrics.json")
        print(f"recorded the headline metrics of {out_dir / 'metrics.json'} in {target}")
        return 0
    paths = notebook_paths(root, args.units, args.frameworks, args.copy)
    results = run_notebooks(paths, out_dir, cell_timeout=args.cell_timeout, fast=not args.full)
    markdown, _ = write_summary(results, out_dir)
    write_atomic(out_dir / "metrics.json", json.dumps(measured.metrics_records(results), indent=1, ensure_ascii=False) + "\n")
    print(summary_markdown(results), end="")
    print(f"executed notebooks and {markdown.name} are in {out_dir}")
    for warning in budget_warnings(results):
        print(f"warning: {warning}", file=sys.stderr)
    if not all(result.ok for result in results):
        return 1
    return 1 if args.strict_budgets and any(result.over_budget for result in results) else 0
