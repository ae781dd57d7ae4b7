"""The course catalogue: units, frameworks, and where each unit's files live."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FRAMEWORKS = ("pytorch", "tensorflow")
FRAMEWORK_TITLES = {"pytorch": "PyTorch", "tensorflow": "TensorFlow"}
_FRAMEWORK_ALIASES = {"pytorch": "pytorch", "torch": "pytorch", "pt": "pytorch",
                      "tensorflow": "tensorflow", "tf": "tensorflow", "keras": "tensorflow"}


class CourseError(ValueError):
    """A user asked for something the course does not have (unit, framework, file)."""


@dataclass(frozen=True)
class Unit:
    """One unit of the course: one concept, one number."""

    number: str  # two digits, "01"
    topic: str  # snake_case topic, "seq2seq"
    title: str  # human title
    checks: tuple[str, ...] = ()  # modules whose import registers this unit's exercise checks

    @property
    def stem(self) -> str:
        return f"{self.number}_{self.topic}"

    def source(self, root: Path) -> Path:
        return root / "course" / f"{self.stem}.py"

    def notebook(self, root: Path, framework: str, solution: bool = False) -> Path:
        return root / ("solutions" if solution else "notebooks") / framework / f"{self.stem}.ipynb"

    def lesson(self, root: Path) -> Path:
        return root / "lessons" / f"{self.stem}.md"

    def quiz(self, root: Path) -> Path:
        return root / "quizzes" / f"{self.stem}.yml"


UNITS = (
    Unit("01", "seq2seq", "RNN encoder–decoder",
         checks=("seq2bert.check.masking", "seq2bert.check.losses", "seq2bert.check.decoding")),
    Unit("02", "bahdanau_attention", "Bahdanau (additive) attention",
         checks=("seq2bert.check.additive", "seq2bert.check.masking")),
)


def get_unit(ref: str | int) -> Unit:
    """Find a unit by number ("2", "02", 2) or stem ("02_bahdanau_attention")."""
    text = str(ref).strip()
    for unit in UNITS:
        if text in {unit.number, unit.stem, unit.topic} or (text.isdigit() and int(text) == int(unit.number)):
            return unit
    known = ", ".join(f"{u.number} ({u.title})" for u in UNITS)
    raise CourseError(f"there is no unit {text!r}; the units are: {known}")


def get_framework(name: str) -> str:
    """Normalise a framework name ("torch", "tf", ...) to "pytorch" or "tensorflow"."""
    key = str(name).strip().lower()
    if key not in _FRAMEWORK_ALIASES:
        raise CourseError(f"unknown framework {name!r}; use one of: {', '.join(FRAMEWORKS)}")
    return _FRAMEWORK_ALIASES[key]


def course_root(start: Path | None = None) -> Path:
    """The folder holding course/, notebooks/ and quizzes/ (this checkout)."""
    here = Path(__file__).resolve()
    candidates = [here.parents[2]]
    if start is not None:
        candidates = [Path(start).resolve(), *Path(start).resolve().parents, *candidates]
    else:
        cwd = Path.cwd().resolve()
        candidates = [*candidates, cwd, *cwd.parents]
    for path in candidates:
        if (path / "course").is_dir() and (path / "quizzes").is_dir():
            return path
    raise CourseError("cannot find the course folder (one holding course/ and quizzes/); "
                      "run this from inside the seq2bert checkout")
