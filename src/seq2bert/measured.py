"""Measured numbers the lessons quote, kept true by recording them from real notebook runs.

`seq2bert run` writes every headline metric (seq2bert.report.headline) of every notebook, at
full precision, to ``<out>/metrics.json``. ``seq2bert run --record`` merges that file into
``lessons/measured.json`` (per mode, unit and framework; the other mode's values are kept).
A lesson quotes a measured number with an invisible marker right after it::

    token accuracy 0.997<!-- 02 full pytorch: toy token accuracy (attention) -->

and `lesson_problems` (run by the tests) checks every marker against measured.json, at the
precision the lesson prints: a rerun that moves a number makes the lesson fail until it is
updated, so lessons never quote numbers the notebooks no longer produce.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from seq2bert.files import write_atomic
from seq2bert.units import FRAMEWORKS, CourseError

MEASURED_FILE = Path("lessons") / "measured.json"
MODES = ("fast", "full")
MARKER_RE = re.compile(r"(?P<number>-?\d+(?:\.\d+)?)(?P<percent>\s?%)?"
                       r"<!-- (?P<unit>\d\d) (?P<mode>\w+) (?P<framework>\w+): (?P<name>[^<>]+?) -->")
_LOOSE_MARKER_RE = re.compile(r"<!-- \d\d \w+ \w+: ")


def metrics_records(results: list[Any]) -> list[dict[str, Any]]:
    """What `seq2bert run` writes to metrics.json: one record per notebook run (RunResult-like objects)."""
    return [{"unit": r.unit, "framework": r.framework, "mode": "fast" if r.fast else "full", "status": r.status,
             "metrics": {name: value for name, value in r.metrics}} for r in results]


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CourseError(f"there is no {path}; {what}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CourseError(f"{path} is not valid JSON ({error}); {what}") from None


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CourseError(f"{where}: {value!r} is not a finite number")
    return float(value)


def record(measured: dict[str, Any], records: Any, source: str = "metrics.json") -> dict[str, Any]:
    """`measured` updated with the metrics of successful runs; refuses a run with a failed notebook."""
    if not isinstance(records, list) or not records:
        raise CourseError(f"{source} lists no notebook runs; run `seq2bert run` first")
    updated = json.loads(json.dumps(measured))  # a deep copy: nothing changes if a record is bad
    for index, entry in enumerate(records):
        where = f"{source} record {index + 1}"
        if not isinstance(entry, dict) or not {"unit", "framework", "mode", "status", "metrics"} <= set(entry):
            raise CourseError(f"{where} needs unit, framework, mode, status and metrics")
        if entry["status"] != "ok":
            raise CourseError(f"{where} ({entry['framework']} {entry['unit']}) did not run: {entry['status']}; "
                              f"not recording a failed run")
        if entry["mode"] not in MODES or entry["framework"] not in FRAMEWORKS or not isinstance(entry["metrics"], dict):
            raise CourseError(f"{where}: mode must be one of {MODES}, framework one of {FRAMEWORKS}, metrics a mapping")
        values = {str(name): _number(value, f"{where}, {name}") for name, value in entry["metrics"].items()}
        updated.setdefault(entry["mode"], {}).setdefault(str(entry["unit"]), {})[entry["framework"]] = values
    return updated


def record_file(root: Path, metrics_path: Path) -> Path:
    """Merge `metrics_path` (written by `seq2bert run`) into the course's lessons/measured.json."""
    target = Path(root) / MEASURED_FILE
    measured = _read_json(target, "it is created by `seq2bert run --record`") if target.exists() else {}
    records = _read_json(metrics_path, "run `seq2bert run` first")
    write_atomic(target, json.dumps(record(measured, records, str(metrics_path)), indent=1, ensure_ascii=False,
                                    sort_keys=True) + "\n")
    return target


def lesson_problems(text: str, measured: dict[str, Any], lesson: str = "lesson") -> list[str]:
    """Every marker in `text` whose number disagrees with `measured` (or that names nothing measured)."""
    problems = []
    found = list(MARKER_RE.finditer(text))
    if len(found) != len(_LOOSE_MARKER_RE.findall(text)):
        problems.append(f"{lesson}: a measured-number marker is not right after its number "
                        f"(write 0.97<!-- 02 full pytorch: name -->)")
    for match in found:
        unit, mode, framework, name = match["unit"], match["mode"], match["framework"], match["name"]
        label = f"{lesson}: {match['number']}{match['percent'] or ''} ({unit} {mode} {framework}: {name})"
        value = measured.get(mode, {}).get(unit, {}).get(framework, {}).get(name)
        if value is None:
            problems.append(f"{label} names no measured value; run the notebook and `seq2bert run --record`")
            continue
        shown = float(match["number"])
        decimals = len(match["number"].split(".")[1]) if "." in match["number"] else 0
        actual = value * 100 if match["percent"] else value
        if abs(round(actual, decimals) - shown) > 10 ** -decimals / 2 + 1e-9:
            problems.append(f"{label} but the run measured {actual:.{decimals + 2}f}")
    return problems


def markers(text: str) -> list[tuple[str, str, str, str]]:
    """(unit, mode, framework, name) of every marker in `text`."""
    return [(m["unit"], m["mode"], m["framework"], m["name"]) for m in MARKER_RE.finditer(text)]
