"""Execute one submission for `seq2bert grade`, inside the sandbox the grader prepared.

Run as ``python -m seq2bert.grade_worker NOTEBOOK EXECUTED --report-fd FD``; the grader has
already set the working directory, HOME, environment and resource limits. Each executed cell is
reported as one JSON line on the private pipe FD, which the kernel never inherits (the kernel is
started with close_fds), so notebook code cannot forge results there; reports reach the grader
even if it later has to kill this process.

Events: {"event": "kernel", "pid"}, {"event": "cell", "index", "grade_id", "checks", "error"},
then exactly one of {"event": "done"}, {"event": "dead", "index", "exit"} or
{"event": "crash", "message"}.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from seq2bert.report import CHECK_MIME, read_outputs


def _kernel_process(client: Any) -> Any:
    """The kernel's Popen object, if the kernel manager exposes it."""
    provisioner = getattr(client.km, "provisioner", None)
    return getattr(provisioner, "process", None)


def _cell_event(cell: Any, index: int, execute_reply: dict[str, Any] | None) -> dict[str, Any]:
    """The report line for one executed cell: its check payloads and its error, if any."""
    checks = read_outputs(SimpleNamespace(cells=[cell]), CHECK_MIME)
    content = (execute_reply or {}).get("content", {})
    error = None
    if content.get("status") == "error":
        error = {"ename": str(content.get("ename", "")), "evalue": str(content.get("evalue", ""))[:500]}
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    clean = [{k: v for k, v in payload.items() if not k.startswith("_")} for payload in checks]
    return {"event": "cell", "index": index, "grade_id": grade_id, "checks": clean, "error": error}


def execute(notebook_path: Path, executed_path: Path, report_fd: int, cell_timeout: int,
            kernel_name: str = "python3") -> int:
    """Execute the notebook, streaming one report line per cell to `report_fd`."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    report = os.fdopen(report_fd, "w", buffering=1, encoding="utf-8")

    def send(**event: Any) -> None:
        report.write(json.dumps(event) + "\n")
        report.flush()

    notebook = nbformat.read(str(notebook_path), as_version=4)
    current: dict[str, Any] = {"index": -1, "kernel": None}
    client = NotebookClient(
        notebook,
        timeout=cell_timeout,
        kernel_name=kernel_name,
        extra_arguments=["--IPKernelApp.log_level=ERROR"],  # keep start-up warnings out of the log
        allow_errors=True,  # a broken exercise must not stop the later checks
        interrupt_on_timeout=True,  # a hanging cell is interrupted, then the next cell runs
        record_timing=False,
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
