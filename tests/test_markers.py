"""tests/conftest.py sorts every collected item into one level: package, parity or notebook."""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import level


@pytest.mark.parametrize("path, expected", [
    ("notebooks/pytorch/01_seq2seq.ipynb", "notebook"),
    ("solutions/tensorflow/02_bahdanau_attention.ipynb", "notebook"),
    ("tests/test_parity_ops.py", "parity"),
    ("tests/test_checks_torch.py", "package"),
    ("tests/test_metrics_parity.py", "package"),  # by the file name's start only
])
def test_level_by_file_name(path, expected):
    assert level(Path(path)) == expected


def test_this_test_is_marked_package(request):
    marks = {mark.name for mark in request.node.iter_markers()}
    assert "package" in marks and not marks & {"parity", "notebook"}
