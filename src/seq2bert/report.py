"""Machine-readable results a notebook shows: exercise check results and headline metrics.

Both are shown as rich display output with a seq2bert MIME type next to plain text, so a
learner sees a readable line and the runner / grader read the JSON from the executed notebook.
"""
from __future__ import annotations

import json
from typing import Any

CHECK_MIME = "application/vnd.seq2bert.check+json"
METRIC_MIME = "application/vnd.seq2bert.metric+json"


def _display(mime: str, payload: dict[str, Any], text: str) -> None:
    try:
        from IPython.core.interactiveshell import InteractiveShell
        from IPython.display import display
    except ImportError:  # plain Python: print only
        print(text)
        return
    if not InteractiveShell.initialized():  # a script or pytest, not a kernel
        print(text)
        return
    display({mime: payload, "text/plain": text}, raw=True)


def show_check(payload: dict[str, Any], text: str) -> None:
    """Show an exercise check result (status: passed, failed or not_attempted)."""
    _display(CHECK_MIME, payload, text)


def headline(name: str, value: float, **context: Any) -> None:
    """Show a headline metric that `make run` collects into its summary table."""
    payload = {"name": name, "value": float(value), **context}
    _display(METRIC_MIME, payload, f"{name}: {value:.4g}")


def read_outputs(notebook: Any, mime: str) -> list[dict[str, Any]]:
    """Every payload of type `mime` in an executed notebook (an nbformat node), in order."""
    found = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if mime in data:
                payload = data[mime]
                if isinstance(payload, str):
                    payload = json.loads(payload)
                found.append({**payload, "_cell": index, "_grade_id": cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")})
    return found
