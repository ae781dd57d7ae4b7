"""Lessons quote measured numbers only through markers that are checked against lessons/measured.json."""
from __future__ import annotations

import json
import re

import pytest

from seq2bert import measured
from seq2bert.units import UNITS, CourseError, course_root

RUN = [{"unit": "02", "framework": "pytorch", "mode": "full", "status": "ok",
        "metrics": {"toy token accuracy (attention)": 0.99712, "toy exact match 31–40 words (attention)": 0.8125}}]


def test_record_merges_and_keeps_the_other_mode():
    before = {"fast": {"02": {"pytorch": {"x": 0.5}}}}
    after = measured.record(before, RUN)
    assert after["fast"] == before["fast"] and after["full"]["02"]["pytorch"]["toy token accuracy (attention)"] == 0.99712
    assert "full" not in before  # the input is not changed


@pytest.mark.parametrize("records, message", [
    ([], "lists no notebook runs"),
    ({"unit": "02"}, "lists no notebook runs"),
    ([{"unit": "02"}], "needs unit, framework, mode, status and metrics"),
    ([{**RUN[0], "status": "failed: CellExecutionError"}], "not recording a failed run"),
    ([{**RUN[0], "mode": "quick"}], "mode must be one of"),
    ([{**RUN[0], "framework": "jax"}], "framework one of"),
    ([{**RUN[0], "metrics": {"x": "0.9"}}], "is not a finite number"),
    ([{**RUN[0], "metrics": {"x": float("nan")}}], "is not a finite number"),
    ([{**RUN[0], "metrics": {"x": True}}], "is not a finite number"),
])
def test_record_refuses_bad_runs_with_a_clear_message(records, message):
    with pytest.raises(CourseError, match=message):
        measured.record({}, records)


def test_record_file_keeps_the_old_file_when_the_metrics_are_broken(tmp_path):
    (tmp_path / "lessons").mkdir()
    target = tmp_path / measured.MEASURED_FILE
    target.write_text('{"fast": {}}\n')
    broken = tmp_path / "metrics.json"
    broken.write_text('[{"unit": "02", "framewo')  # a run cut short
    with pytest.raises(CourseError, match="is not valid JSON"):
        measured.record_file(tmp_path, broken)
    assert target.read_text() == '{"fast": {}}\n'
    with pytest.raises(CourseError, match="there is no"):
        measured.record_file(tmp_path, tmp_path / "missing.json")
    broken.write_text(json.dumps(RUN))
    measured.record_file(tmp_path, broken)
    assert json.loads(target.read_text())["full"]["02"]["pytorch"]["toy token accuracy (attention)"] == 0.99712


MEASURED = measured.record({}, RUN)


@pytest.mark.parametrize("text", [
    "accuracy 0.997<!-- 02 full pytorch: toy token accuracy (attention) -->",
    "accuracy 0.9971<!-- 02 full pytorch: toy token accuracy (attention) -->",
    "accuracy 1.00<!-- 02 full pytorch: toy token accuracy (attention) -->",
    "accuracy 99.7 %<!-- 02 full pytorch: toy token accuracy (attention) -->",
    "accuracy 100%<!-- 02 full pytorch: toy token accuracy (attention) -->",
    "exact match 0.81<!-- 02 full pytorch: toy exact match 31–40 words (attention) -->",
    "no marker at all: 0.42",
])
def test_a_number_shown_at_its_precision_passes(text):
    assert measured.lesson_problems(text, MEASURED) == []


@pytest.mark.parametrize("text, message", [
    ("accuracy 0.996<!-- 02 full pytorch: toy token accuracy (attention) -->", "the run measured 0.99712"),
    ("accuracy 0.99<!-- 02 full pytorch: toy token accuracy (attention) -->", "the run measured"),
    ("accuracy 99.6 %<!-- 02 full pytorch: toy token accuracy (attention) -->", "the run measured 99.712"),
    ("accuracy 0.997<!-- 02 fast pytorch: toy token accuracy (attention) -->", "names no measured value"),
    ("accuracy 0.997<!-- 02 full tensorflow: toy token accuracy (attention) -->", "names no measured value"),
    ("accuracy 0.997<!-- 02 full pytorch: toy token accuracy -->", "names no measured value"),
    ("accuracy 0.997 <!-- 02 full pytorch: toy token accuracy (attention) -->", "not right after its number"),
    ("accuracy about<!-- 02 full pytorch: toy token accuracy (attention) -->", "not right after its number"),
])
def test_a_stale_or_misplaced_number_is_reported(text, message):
    problems = measured.lesson_problems(text, MEASURED, "lesson 02")
    assert problems and message in problems[0] and problems[0].startswith("lesson 02")


def repository_measured() -> dict:
    path = course_root() / measured.MEASURED_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def test_every_number_the_lessons_quote_is_what_the_notebooks_measured():
    checked = 0
    for unit in UNITS:
        path = unit.lesson(course_root())
        if not path.exists():
            continue
        text = path.read_text(encoding="utf-8")
        assert measured.lesson_problems(text, repository_measured(), path.name) == []
        checked += len(measured.markers(text))
    assert checked >= 8  # not vacuous: the lessons of units 01-02 quote their measured numbers this way


def test_every_recorded_metric_is_still_a_headline_of_its_notebook():
    """A renamed or removed headline leaves a stale entry; re-record after renaming."""
    for mode, units in repository_measured().items():
        for unit, frameworks in units.items():
            source = next(u for u in UNITS if u.number == unit).source(course_root()).read_text(encoding="utf-8")
            patterns = headline_patterns(source)
            for framework, values in frameworks.items():
                stale = sorted(name for name in values if not any(p.fullmatch(name) for p in patterns))
                assert not stale, f"{mode} {unit} {framework}: {stale} are no longer headlines of the notebook"


def headline_patterns(source: str) -> list[re.Pattern]:
    """One pattern per report.headline name in a course source; an f-string's {fields} match any text."""
    patterns = []
    for prefix, name in re.findall(r'report\.headline\(\s*(f?)"([^"]+)"', source):
        parts = re.split(r"\{[^{}]*\}", name) if prefix else [name]
        patterns.append(re.compile(".+".join(re.escape(part) for part in parts)))
    return patterns


def test_headline_patterns_match_plain_and_formatted_names():
    source = ('report.headline("toy token accuracy", a)\n'
              'report.headline(f"accuracy at length {n}, {name} positions", b)\n')
    patterns = headline_patterns(source)
    matches = lambda name: any(p.fullmatch(name) for p in patterns)  # noqa: E731
    assert matches("toy token accuracy") and matches("accuracy at length 16, rotary positions")
    assert not matches("toy token accuracy (old name)") and not matches("accuracy at length 16")
