"""Checks under nbgrader: a check that did not pass must fail its grade cell.

nbgrader scores a grade cell zero only when it raises (or writes to stderr), but a check
never raises for learners, so that an unfinished exercise does not stop their notebook. When
nbgrader runs the notebook (it sets NBGRADER_EXECUTION in the kernel's environment, for
``autograde`` and ``validate``), a check that did not pass first binds the fallback to the
exercise's name, then raises ExerciseNotPassed with the learner's hint. nbgrader executes
on after an error, so the rest of the notebook still runs with the reference.

Why bind the name here rather than in the cell: every check cell is the one statement
``masked_softmax = exercises("pytorch").masked_softmax(masked_softmax)``, written by the
build and locked. A raise inside the call skips that assignment, so we make it ourselves in
the kernel's user namespace (where cell code runs). The alternative, a second statement in
every check cell that raises after the assignment, would show every learner a line that only
matters to nbgrader.
"""
from __future__ import annotations

import os
from typing import Any, Callable

ENVIRONMENT_VARIABLE = "NBGRADER_EXECUTION"


class ExerciseNotPassed(AssertionError):
    """Raised under nbgrader by the check of an exercise that did not pass, so its cell scores 0."""


def active() -> bool:
    """True when nbgrader is executing this kernel's notebook."""
    return bool(os.environ.get(ENVIRONMENT_VARIABLE))


def _user_namespace() -> dict | None:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return None if shell is None else shell.user_ns


def fail_unless_passed(result: Any, fallback: Callable) -> None:
    """Under nbgrader, bind `fallback` to the exercise's name and raise unless `result` passed.

    `result` is the check's CheckResult (exercise, passed, hint). Outside nbgrader, nothing.
    """
    if result.passed or not active():
        return
    namespace = _user_namespace()
    if namespace is not None:
        namespace[result.exercise] = fallback
    raise ExerciseNotPassed(f"{result.exercise}: {result.hint}")
