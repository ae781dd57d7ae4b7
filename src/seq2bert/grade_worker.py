"""Execute one submission for `seq2bert grade`, inside the sandbox the grader prepared.

Run as ``python -m seq2bert.grade_worker NOTEBOOK EXECUTED --report-fd FD``; the grader has
already set the working directory, HOME, environment and resource limits. Each executed cell is
reported as one JSON line on the private pipe FD, which the kernel never inherits (the kernel is
started with close_fds), so notebook code cannot forge results there; reports reach the grader
even if it later has to kill this process.

Events: {"event": "kernel", "pid"}, {"event": "cell", "index", "grade_id", "checks", "error"},
then exactly one of {"event": "done"}, {"event": "dead", "index", "exit"} or
{"event": "crash", "message"}. Every event is small: check payloads keep only their known
fields, with strings cut to MAX_FIELD_CHARS.

Outputs kept in the executed notebook are capped (MAX_CELL_OUTPUT_CHARS per cell,
MAX_OUTPUT_CHARS in all; the rest is dropped with a one-line notice), so a notebook that prints
10^7 lines or one giant line cannot fill the worker's memory. Check results of the graded cells
are always kept (the last MAX_CHECKS_PER_CELL of each, each at most MAX_CHECK_CHARS).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nbformat
from nbclient import NotebookClient

from seq2bert.report import CHECK_MIME, read_outputs

MAX_CELL_OUTPUT_CHARS = 2**20  # output text kept per cell
MAX_OUTPUT_CHARS = 16 * 2**20  # output text kept per notebook
MAX_CHECK_CHARS = 2**16  # a check result larger than this is not one of ours
MAX_CHECKS_PER_CELL = 8  # check results kept per graded cell (the last ones)
MAX_FIELD_CHARS = 1000  # longest string of a check payload sent to the grader
PAYLOAD_FIELDS = ("exercise", "framework", "status", "hint", "cases")


def _size(msg: dict[str, Any]) -> int:
    """Roughly how many characters an output message would keep."""
    content = msg.get("content", {})
    if msg.get("msg_type") == "stream":
        return len(content.get("text", ""))
    try:
        return len(json.dumps(content.get("data", content), default=str))
    except (TypeError, ValueError):
        return MAX_OUTPUT_CHARS + 1


class CappedClient(NotebookClient):
    """nbclient's client keeping a bounded amount of output (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.comm_open_handlers = {}  # no Output-widget capture: every output goes through `output`
        self.kept: dict[int, int] = {}  # characters kept per cell
        self.total = 0  # characters kept in all cells
        self.truncated: set[int] = set()  # cells that got the notice

    def _graded(self, cell_index: int) -> bool:
        return bool(self.nb.cells[cell_index].get("metadata", {}).get("nbgrader", {}).get("grade"))

    def output(self, outs: list[Any], msg: dict[str, Any], display_id: str | None, cell_index: int) -> Any:
        size = _size(msg)
        data = msg.get("content", {}).get("data") or {}
        if CHECK_MIME in data and self._graded(cell_index):
            if size > MAX_CHECK_CHARS:
                return None
            checks = [i for i, out in enumerate(outs) if CHECK_MIME in out.get("data", {})]
            if len(checks) >= MAX_CHECKS_PER_CELL:  # keep the newest; replace (not remove) to keep display ids valid
                outs[checks[0]] = nbformat.v4.new_output("stream", name="stdout", text="[earlier check result dropped]\n")
            return super().output(outs, msg, display_id, cell_index)
        used = self.kept.get(cell_index, 0)
        room = min(MAX_CELL_OUTPUT_CHARS - used, MAX_OUTPUT_CHARS - self.total)
        if size > room and msg.get("msg_type") == "stream" and room > 0:
            msg = {**msg, "content": {**msg["content"], "text": msg["content"]["text"][:room]}}
            size = room
        if size <= room:
            self.kept[cell_index] = used + size
            self.total += size
            return super().output(outs, msg, display_id, cell_index)
        if cell_index not in self.truncated:
            self.truncated.add(cell_index)
            outs.append(nbformat.v4.new_output("stream", name="stderr", text=(
                "\n[seq2bert grade: further output of this cell dropped; the grader keeps at most "
                f"{MAX_CELL_OUTPUT_CHARS // 2**20} MB per cell and {MAX_OUTPUT_CHARS // 2**20} MB per notebook]\n")))
        return None

    def _update_display_id(self, display_id: str, msg: dict[str, Any]) -> None:
        if _size(msg) <= MAX_CHECK_CHARS:  # a display update may not grow the kept output unboundedly
            super()._update_display_id(display_id, msg)


def _kernel_process(client: Any) -> Any:
    """The kernel's Popen object, if the kernel manager exposes it."""
    provisioner = getattr(client.km, "provisioner", None)
    return getattr(provisioner, "process", None)


def _small(value: Any) -> Any:
    """A payload field as a short string or a plain number."""
    if isinstance(value, (bool, float)):
        return value
    if isinstance(value, int):  # str() refuses ints of more than 4300 digits
        return value if abs(value) < 2**53 else "a very large integer"
    return str(value)[:MAX_FIELD_CHARS]


def _cell_event(cell: Any, index: int, execute_reply: dict[str, Any] | None) -> dict[str, Any]:
    """The report line for one executed cell: its check payloads and its error, if any."""
    checks = read_outputs(SimpleNamespace(cells=[cell]), CHECK_MIME)[-MAX_CHECKS_PER_CELL:]
    content = (execute_reply or {}).get("content", {})
    error = None
    if content.get("status") == "error":
        error = {"ename": str(content.get("ename", ""))[:100], "evalue": str(content.get("evalue", ""))[:500]}
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    if not isinstance(grade_id, str):
        grade_id = None
    clean = [{key: _small(payload[key]) for key in PAYLOAD_FIELDS if key in payload}
             for payload in checks if isinstance(payload, dict)]
    return {"event": "cell", "index": index, "grade_id": grade_id, "checks": clean, "error": error}


def execute(notebook_path: Path, executed_path: Path, report_fd: int, cell_timeout: int,
            kernel_name: str = "python3") -> int:
    """Execute the notebook, streaming one report line per cell to `report_fd`."""
    from nbclient.exceptions import DeadKernelError

    report = os.fdopen(report_fd, "w", buffering=1, encoding="utf-8")

    def send(**event: Any) -> None:
        report.write(json.dumps(event) + "\n")
        report.flush()

    notebook = nbformat.read(str(notebook_path), as_version=4)
    current: dict[str, Any] = {"index": -1, "kernel": None}
    client = CappedClient(
        notebook,
        timeout=cell_timeout,
        kernel_name=kernel_name,
        extra_arguments=["--IPKernelApp.log_level=ERROR"],  # keep start-up warnings out of the log
        allow_errors=True,  # a broken exercise must not stop the later checks
        interrupt_on_timeout=True,  # a hanging cell is interrupted, then the next cell runs
        record_timing=False,
        store_widget_state=False,  # widget state is not graded and could be made arbitrarily large
        startup_timeout=120,
        resources={"metadata": {"path": os.getcwd()}},
    )

    def on_start(notebook: Any) -> None:
        # Kept here: nbclient drops its handle on the kernel while cleaning up after a crash.
        current["kernel"] = _kernel_process(client)
        send(event="kernel", pid=getattr(current["kernel"], "pid", None))

    def on_cell_start(cell: Any, cell_index: int) -> None:
        current["index"] = cell_index

    def on_cell_executed(cell: Any, cell_index: int, execute_reply: dict[str, Any]) -> None:
        send(**_cell_event(cell, cell_index, execute_reply))

    client.on_notebook_start = on_start
    client.on_cell_start = on_cell_start
    client.on_cell_executed = on_cell_executed
    status = 0
    try:
        client.execute()
    except DeadKernelError:
        process = current["kernel"]
        try:
            code = process.wait(timeout=5) if process is not None else None
        except Exception:  # still running or already reaped elsewhere
            code = None
        send(event="dead", index=current["index"], exit=code)
        status = 3
    except Exception as error:  # anything else ends this submission, not the batch
        send(event="crash", message=f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"[:300])
        status = 4
    else:
        send(event="done")
    try:
        # O_EXCL | O_NOFOLLOW: never write through a file or symlink the notebook planted there.
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        with os.fdopen(os.open(executed_path, flags, 0o600), "w", encoding="utf-8") as handle:
            nbformat.write(notebook, handle)
    except OSError:
        pass  # the executed copy is a convenience; the reports already went out
    report.close()
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seq2bert.grade_worker",
                                     description="execute one submission for seq2bert grade")
    parser.add_argument("notebook", type=Path)
    parser.add_argument("executed", type=Path)
    parser.add_argument("--report-fd", type=int, required=True)
    parser.add_argument("--cell-timeout", type=int, default=300)
    parser.add_argument("--kernel", default="python3")
    args = parser.parse_args(argv)
    return execute(args.notebook, args.executed, args.report_fd, args.cell_timeout, args.kernel)


if __name__ == "__main__":
    sys.exit(main())
