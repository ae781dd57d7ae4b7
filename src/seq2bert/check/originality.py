"""Noticing a learner's function that is, or calls, the course's own solution.

An exercise asks for the learner's code; handing back the reference implementation (or a
library function that solves the exercise outright) must earn no credit. While the learner's
function runs, a profile hook watches every Python call (by code object, so an alias or a
`functools.partial` of the reference is caught too) and every call into C (by the function
object, e.g. a fused attention kernel). Re-typing the reference's code is the learner's own
code and is not flagged. The hook also follows threads the function starts, and a function
that switches the hook off is flagged as well (label SWITCHED_OFF).
"""
from __future__ import annotations

import functools
import inspect
import sys
import threading
import types
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping

SWITCHED_OFF = "sys.setprofile"  # the label when the learner's function removed the watch


def _unwrapped(function: Any) -> Any:
    while isinstance(function, functools.partial):
        function = function.func
    try:
        return inspect.unwrap(function)
    except ValueError:  # a __wrapped__ cycle
        return function


class Watch:
    """Which of the watched callables (if any) ran; `found` is the label of the first one."""

    def __init__(self, targets: Mapping[str, Any]) -> None:
        self._codes: dict[types.CodeType, str] = {}
        self._builtins: dict[int, str] = {}
        self._objects = []  # keeps the watched objects alive so their ids stay theirs
        for label, target in targets.items():
            target = _unwrapped(target)
            code = getattr(target, "__code__", None)
            if isinstance(code, types.CodeType):
                self._codes[code] = label
            else:
                self._builtins[id(target)] = label
                self._objects.append(target)
        self.found = ""

    def is_target(self, function: Any) -> str:
        """The label of `function` itself when it is (a wrapper of) a watched callable."""
        function = _unwrapped(function)
        code = getattr(function, "__code__", None)
        return self._codes.get(code, "") if isinstance(code, types.CodeType) else self._builtins.get(id(function), "")

    def _profile(self, frame: types.FrameType, event: str, arg: Any) -> None:
        if self.found:
            return
        if event == "call":
            self.found = self._codes.get(frame.f_code, "")
        elif event == "c_call":
            self.found = self._builtins.get(id(arg), "")

    @contextmanager
    def running(self) -> Iterator["Watch"]:
        """Watch the calls made inside the with-block, in this thread and in threads it starts."""
        hook = self._profile  # one bound-method object, to recognise it afterwards
        previous, previous_threads = sys.getprofile(), threading.getprofile()
        sys.setprofile(hook)
        threading.setprofile(hook)
        try:
            yield self
        finally:
            if sys.getprofile() != hook or threading.getprofile() != hook:
                self.found = self.found or SWITCHED_OFF
            sys.setprofile(previous)
            threading.setprofile(previous_threads)


def call_watched(watch: Watch, function: Callable, args: list) -> Any:
    """function(*args), recording in `watch.found` whether a watched callable ran."""
    watch.found = watch.found or watch.is_target(function)
    with watch.running():
        return function(*args)
