"""benchmarks/attention_cost.py at tiny lengths: it runs, checks agreement before timing, writes its outputs.

No timing asserts: the numbers depend on the machine and its load.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "attention_cost.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("attention_cost", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def inputs_path(bench, tmp_path):
    query, key, value = bench.make_inputs(64)
    path = tmp_path / "inputs64.npz"
    np.savez(path, query=query, key=key, value=value, exact=bench.exact_attention(query, key, value))
    return str(path)


def test_the_exact_output_is_attention(bench):
    import torch
    import torch.nn.functional as F

    query, key, value = bench.make_inputs(16)
    assert query.shape == (8, 8, 16, 64) and query.dtype == np.float32  # (B, H, T, Dh)
    expected = F.scaled_dot_product_attention(*(torch.from_numpy(x).double() for x in (query, key, value)))
    assert np.abs(bench.exact_attention(query, key, value) - expected.numpy()).max() < 1e-12


@pytest.mark.parametrize("framework, name", [(fw, name) for fw, names in
                                             {"pytorch": ("ours", "blockwise", "fused"),
                                              "tensorflow": ("ours", "blockwise", "keras")}.items()
                                             for name in names])
def test_every_implementation_agrees_then_is_timed(bench, inputs_path, framework, name):
    row = bench.measure(framework, name, inputs_path, repeats=1, block_size=16)  # 4 blocks at length 64
    assert row["max_abs_error"] <= 1e-5
    assert row["ms"] is not None and row["length"] == 64
    assert row["memory_method"] in ("VmHWM after clear_refs", "ru_maxrss")
    assert np.load(inputs_path.replace(".npz", f".{framework}.{name}.npy")).shape == (8, 8, 64, 64)


def test_a_wrong_implementation_is_not_timed(bench, inputs_path, monkeypatch):
    prepare, call, to_numpy = bench.implementation("pytorch", "ours")
    monkeypatch.setattr(bench, "implementation", lambda *args: (prepare, lambda q, k, v: call(q, k, v) * 1.001, to_numpy))
    row = bench.measure("pytorch", "ours", inputs_path, repeats=1)
    assert row["ms"] is None and "differs from the exact output" in row["error"]


def test_peak_memory_sees_a_large_temporary(bench):
    def allocate_and_drop():
        scratch = np.ones(64 * 2 ** 20 // 8)  # 64 MiB, freed before the call returns
        return float(scratch[0])

    peak, output, _ = bench.peak_extra_mib(allocate_and_drop, ())
    assert output == 1.0 and 60 <= peak <= 80


def test_the_script_end_to_end_at_tiny_lengths(bench, tmp_path):
    """Fresh subprocesses per implementation; table, JSON and plot written."""
    code = bench.main(["--framework", "pytorch", "--lengths", "64,128", "--repeats", "1", "--out", str(tmp_path)])
    assert code == 0
    rows = json.loads((tmp_path / "attention_cost.json").read_text())["rows"]
    assert sorted((r["implementation"], r["length"]) for r in rows) == sorted(
        (name, n) for name in ("ours", "blockwise", "fused") for n in (64, 128))
    for row in rows:
        assert row["diff_to_reference"] <= 2e-5 and row["reference"] == "fused"
    assert [r["ratio"] for r in rows if r["implementation"] == "fused"] == [1.0, 1.0]
    table = (tmp_path / "attention_cost.md").read_text()
    assert table.count("\n| pytorch |") == 6 and "fused (library)" in table
    assert (tmp_path / "attention_cost.png").stat().st_size > 1000


def test_targets_are_reported_not_asserted(bench):
    def row(name, length, ratio, peak):
        return {"framework": "pytorch", "implementation": name, "length": length, "ratio": ratio, "peak_mib": peak}

    notes = bench.targets([row("ours", 256, 1.5, 10), row("ours", 2048, 2.0, 2000), row("blockwise", 2048, 3.0, 300)])
    assert notes == ["pytorch: ours at length 256 takes 1.50x the library's time (target <= 1.6: met)",
                     "pytorch: blockwise peak memory at 2048 is 0.150 of ours (300 vs 2000 MiB; target <= 0.125: missed)"]


def test_bad_lengths_get_a_clear_error(bench, capsys):
    with pytest.raises(SystemExit):
        bench.main(["--lengths", "64,abc"])
    assert "--lengths takes comma-separated integers, got '64,abc'" in capsys.readouterr().err
