"""benchmarks/decoding_cost.py at tiny sizes: it runs, checks agreement before timing, writes its table.

No timing asserts: the numbers depend on the machine and its load.
"""
from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "decoding_cost.py"
TINY = dict(length=5, source_length=4, width=16, heads=2, layers=1, repeats=1)
# TensorFlow decodes eagerly, op by op: slow even at these sizes, so its cases are smaller still.


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("decoding_cost", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_both_decoders_agree_then_are_timed(bench, framework):
    batches = [3, 1] if framework == "pytorch" else [3]
    rows = bench.measure(framework, batches=batches, **TINY)
    assert [(r["framework"], r["batch"], r["length"]) for r in rows] == [(framework, b, 5) for b in batches]
    for row in rows:
        assert row["cached_ms"] > 0 and row["uncached_ms"] > 0
        assert row["speedup"] == pytest.approx(row["uncached_ms"] / row["cached_ms"])


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_every_row_decodes_the_full_length(bench, framework):
    translate, variants = bench.decoders(framework, width=16, heads=2, layers=1, max_length=12)
    src = bench.sources(2, 4)
    for call in variants.values():
        assert call(src, np.array([4, 2]), 7).shape == (2, 7)  # (B, L): no early stop at EOS


def test_disagreement_is_reported_not_timed(bench, monkeypatch):
    real = bench.decoders

    def broken(*args, **kwargs):
        translate, variants = real(*args, **kwargs)
        uncached = variants["uncached"]
        variants["uncached"] = lambda src, src_len, length: uncached(src, src_len, length) + 1  # every token off
        return translate, variants

    monkeypatch.setattr(bench, "decoders", broken)
    row, = bench.measure("pytorch", batches=[2], **TINY)
    assert row["speedup"] is None and row["error"].startswith("cached and uncached tokens differ in rows [0, 1]")
    assert "| pytorch | 2 | 5 | — | — | cached and uncached tokens differ" in bench.markdown_table([row])


def test_agreement_with_translate_stops_at_eos(bench):
    tokens = {"cached": np.array([[5, 2, 7, 7]]), "uncached": np.array([[5, 2, 7, 7]])}
    assert bench.agreement(tokens, np.array([[5, 2, 0, 0]])) is None  # translate pads after EOS
    assert bench.agreement(tokens, np.array([[6, 2, 0, 0]])) == "row 0 differs from translate()"


def test_the_script_end_to_end_at_tiny_sizes(bench, tmp_path):
    code = bench.main(["--framework", "pytorch", "--batches", "4,1", "--length", "5", "--source-length", "4",
                       "--width", "16", "--heads", "2", "--layers", "1", "--repeats", "1", "--out", str(tmp_path)])
    assert code == 0
    table = (tmp_path / "decoding_cost.md").read_text().splitlines()
    assert table[0] == "| framework | batch | decoded length | cached (ms) | uncached (ms) | speed-up |"
    assert table[1] == "|---|---:|---:|---:|---:|---:|"
    body = [line.split(" | ") for line in table[2:4]]
    assert [(cells[0], cells[1], cells[2]) for cells in body] == [("| pytorch", "4", "5"), ("| pytorch", "1", "5")]
    for cells in body:
        assert float(cells[3]) > 0 and float(cells[4]) > 0 and cells[5].endswith("× |")
    assert table[5].startswith("- pytorch: the cache decodes 5 tokens at batch 4 ")
    rows = json.loads((tmp_path / "decoding_cost.json").read_text())["rows"]
    assert [(r["batch"], r["width"], r["heads"], r["layers"], r["threads"]) for r in rows] == [(4, 16, 2, 1, 1),
                                                                                                (1, 16, 2, 1, 1)]
    with (tmp_path / "decoding_cost.csv").open() as handle:
        lines = list(csv.DictReader(handle))
    assert list(lines[0]) == [*bench.COLUMNS, "error"] and [int(line["batch"]) for line in lines] == [4, 1]


def test_targets_are_reported_not_asserted(bench):
    def row(framework, batch, speedup):
        return {"framework": framework, "batch": batch, "length": 40, "speedup": speedup}

    notes = bench.targets([row("pytorch", 64, 3.8), row("pytorch", 1, 1.2), row("tensorflow", 64, 2.5)])
    assert notes == ["pytorch: the cache decodes 40 tokens at batch 64 3.8x faster (target >= 3: met)",
                     "tensorflow: the cache decodes 40 tokens at batch 64 2.5x faster (target >= 3: missed)"]


@pytest.mark.parametrize("argv, message", [(["--batches", "64,x"], "expected comma-separated integers, got '64,x'"),
                                           (["--length", "0"], "expected positive integers, got '0'"),
                                           (["--width", "30", "--heads", "4"], "--width 30 is not divisible by")])
def test_bad_arguments_get_a_clear_error(bench, capsys, argv, message):
    with pytest.raises(SystemExit):
        bench.main(argv)
    assert message in capsys.readouterr().err
