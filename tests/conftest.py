"""Test levels as markers, applied by file so that new test files need no decorator.

- ``parity``: files named test_parity_*.py (PyTorch against TensorFlow and reference implementations);
- ``notebook``: notebooks executed under nbval (from notebooks/ and solutions/);
- ``package``: every other test under tests/;
- ``slow``: marked by hand on tests that start kernels or train (e.g. ``-m "not slow"`` while editing).

Select with ``-m``, e.g. ``pytest tests notebooks solutions --nbval-lax -m "not notebook"``. Keep
tests/ among the paths: pytest reads this file only when it collects tests/.
"""
from __future__ import annotations

from pathlib import Path

import pytest


def level(path: Path) -> str:
    """The marker of a collected file: notebook, parity or package."""
    if path.suffix == ".ipynb":
        return "notebook"
    if path.name.startswith("test_parity_"):
        return "parity"
    return "package"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(level(Path(item.path)))


@pytest.fixture(params=["pytorch", "tensorflow"])
def fw(request):
    """The framework adapter (tests/frameworks.py) to run a test with: Torch, then Keras.

    Imported here, on first use, so that tests that never ask for `fw` do not load torch or TensorFlow.
    """
    import frameworks

    return frameworks.BY_NAME[request.param]
