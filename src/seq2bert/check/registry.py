"""Where exercise checks live: topic modules register their exercises; the catalogue says which.

A topic module (seq2bert.check.masking, .losses, ...) calls `register(...)` at import time. Each
unit's catalogue entry (seq2bert.units) names the modules holding its checks, and `load()`
imports them, so adding a unit's exercises edits no list here.
"""
from __future__ import annotations

import importlib
from contextlib import contextmanager
from typing import Iterable, Iterator

from seq2bert.check.spec import Exercise

_EXERCISES: dict[str, Exercise] = {}


def register(*exercises: Exercise) -> None:
    """Add exercises to the registry; a second, different exercise of the same name is an error."""
    for exercise in exercises:
        known = _EXERCISES.get(exercise.name)
        if known is not None and known is not exercise:
            raise ValueError(f"two exercises are named {exercise.name!r} (units {known.unit} and {exercise.unit})")
        _EXERCISES[exercise.name] = exercise


def load(units: Iterable | None = None) -> None:
    """Import the check modules of `units` (default: every unit of the catalogue)."""
    from seq2bert.units import UNITS

    for unit in UNITS if units is None else units:
        for module in unit.checks:
            importlib.import_module(module)


def all_exercises() -> dict[str, Exercise]:
    """Every registered exercise by name, after loading the catalogue's check modules."""
    load()
    return dict(_EXERCISES)


def get(name: str) -> Exercise:
    """The exercise called `name`; KeyError naming the known ones otherwise."""
    exercises = all_exercises()
    if name not in exercises:
        raise KeyError(f"there is no exercise check {name!r}; the checks are: {', '.join(exercises)}")
    return exercises[name]


def exercise_names(unit: str | None = None) -> list[str]:
    """Names of the checked exercises, optionally of one unit ("01", "02"), in registration order."""
    return [name for name, exercise in all_exercises().items() if unit is None or exercise.unit == unit]


@contextmanager
def restored() -> Iterator[None]:
    """Whatever is registered inside the with-block is forgotten after it (for tests of extra units)."""
    saved = dict(_EXERCISES)
    try:
        yield
    finally:
        _EXERCISES.clear()
        _EXERCISES.update(saved)


def resolve(path: str) -> object:
    """The object at "package.module:attribute" (attribute may be dotted)."""
    module_name, _, attribute = path.partition(":")
    if not attribute:
        raise ValueError(f"{path!r} is not of the form 'module:attribute'")
    target = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    return target
