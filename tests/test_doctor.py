"""`seq2bert doctor`: each probe's verdicts (simulated failures) and one real environment check."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seq2bert import doctor
from seq2bert.units import FRAMEWORKS, UNITS

GOOD_TORCH = {"version": "2.13.0+cpu", "cuda": None, "cuda_available": False, "sum": 12.0}
GOOD_TF = {"version": "2.21.0", "keras": "3.15.1", "gpus": 0, "sum": 12.0}


def _fake_probe(monkeypatch, torch=GOOD_TORCH, tf=GOOD_TF, error="ModuleNotFoundError: No module named 'x'"):
    def probe(code, timeout):
        payload = torch if "import json, torch" in code else tf
        return (payload, "") if payload is not None else (None, error)
    monkeypatch.setattr(doctor, "run_probe", probe)


def _course(root: Path, built: bool = True) -> Path:
    (root / "course").mkdir(parents=True)
    (root / "quizzes").mkdir()
    if built:
        (root / "START.ipynb").write_text("{}")
        for unit in UNITS:
            for framework in FRAMEWORKS:
                for solution in (False, True):
                    path = unit.notebook(root, framework, solution=solution)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text("{}")
    return root


def test_torch_import_failure_fails_with_install_hint(monkeypatch):
    _fake_probe(monkeypatch, torch=None, error="ImportError: libtorch_cpu.so: cannot open shared object file")
    check = doctor.check_torch()
    assert check.status == "fail" and "libtorch_cpu.so" in check.detail and "make install" in check.fix


def test_torch_build_kind_and_wrong_matmul(monkeypatch):
    _fake_probe(monkeypatch)
    assert doctor.check_torch().detail == "2.13.0+cpu, CPU build, matmul ok"
    _fake_probe(monkeypatch, torch={**GOOD_TORCH, "version": "2.5.0+cu121", "cuda": "12.1", "cuda_available": True})
    assert "CUDA 12.1 build, GPU available" in doctor.check_torch().detail
    _fake_probe(monkeypatch, torch={**GOOD_TORCH, "sum": 7.0})
    assert doctor.check_torch().status == "fail"


def test_tensorflow_needs_keras_3(monkeypatch):
    _fake_probe(monkeypatch, tf={**GOOD_TF, "keras": "2.15.0"})
    check = doctor.check_tensorflow()
    assert check.status == "fail" and "Keras 3" in check.detail and check.fix
    _fake_probe(monkeypatch)
    assert doctor.check_tensorflow().status == "ok"


def test_probe_timeout_cannot_hang_doctor():
    start = time.monotonic()
    payload, error = doctor.run_probe("import time; time.sleep(60)", timeout=1)
    assert payload is None and error == "timed out after 1 s"
    assert time.monotonic() - start < 10


def test_probe_reports_the_import_error():
    payload, error = doctor.run_probe("import seq2bert_no_such_module", timeout=60)
    assert payload is None and error == "ModuleNotFoundError: No module named 'seq2bert_no_such_module'"
    payload, error = doctor.run_probe("print('{\"sum\": 12.0}')", timeout=60)
    assert payload == {"sum": 12.0} and error == ""


def test_missing_packages(monkeypatch):
    assert doctor.check_package("seq2bert_missing", "seq2bert-missing", True, "x").status == "fail"
    assert doctor.check_package("seq2bert_missing", "seq2bert-missing", False, "x").status == "warn"
    ok = doctor.check_package("json", "no-such-distribution", True, "x")
    assert ok.status == "ok" and ok.detail == "version unknown"


def test_notebooks_built(tmp_path):
    built = _course(tmp_path / "built")
    expected = 1 + len(UNITS) * len(FRAMEWORKS) * 2
    assert doctor.check_notebooks(built).status == "ok"
    (built / "solutions" / "tensorflow" / f"{UNITS[-1].stem}.ipynb").unlink()
    check = doctor.check_notebooks(built)
    assert check.status == "fail" and check.detail.startswith(f"1 of {expected} missing: solutions/tensorflow/")
    assert check.fix == "run `seq2bert build`"
    assert doctor.check_course(tmp_path).status == "fail"  # not a course folder


def test_writable_folders(tmp_path, monkeypatch):
    root = _course(tmp_path / "course", built=False)
    assert doctor.check_writable(root).status == "ok"
    assert not (root / "notebooks").exists()  # probing leaves nothing behind
    monkeypatch.setattr(doctor, "_writable", lambda folder: f"{folder}: Permission denied")
    check = doctor.check_writable(root)
    assert check.status == "fail" and "Permission denied" in check.detail and check.fix


def test_memory_warning_under_4_gib(tmp_path):
    small = tmp_path / "meminfo"
    small.write_text("MemTotal:        3145728 kB\nMemFree:          100000 kB\nMemAvailable:    2097152 kB\n")
    check = doctor.check_memory(small)
    assert check.status == "warn" and check.detail.startswith("3.0 GiB total, 2.0 GiB available")
    big = tmp_path / "meminfo_big"
    big.write_text("MemTotal:       16777216 kB\nMemAvailable:    8388608 kB\n")
    assert doctor.check_memory(big).status == "ok"
    assert doctor.check_memory(tmp_path / "absent").status == "warn"


def test_exit_code_follows_required_failures(monkeypatch, tmp_path, capsys):
    root = _course(tmp_path / "course")
    _fake_probe(monkeypatch)
    args = argparse.Namespace(course=root)
    assert doctor.run(args) == 0
    assert "this machine can run the course" in capsys.readouterr().out
    monkeypatch.setattr(doctor, "check_memory", lambda: doctor.Check("memory", "warn", "2 GiB", "close programs"))
    assert doctor.run(args) == 0  # warnings alone do not fail
    _fake_probe(monkeypatch, tf=None, error="ImportError: DLL load failed")
    assert doctor.run(args) == 1
    out = capsys.readouterr().out
    assert "❌  TensorFlow + Keras 3" in out and "fix: run `make install`" in out and "⚠️  memory" in out


@pytest.mark.real_environment
def test_real_environment_check():
    """The real doctor on this machine: the packages the course needs import and compute."""
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-m", "seq2bert", "doctor"], capture_output=True, text=True,
                            timeout=600, env=env)
    rows = {}
    for line in result.stdout.splitlines():
        if line[:1] in ("✅", "⚠", "❌"):
            symbol, rest = line.split(None, 1)
            rows[rest.split("  ")[0]] = symbol
    for name in ("Python ≥ 3.10", "PyTorch", "TensorFlow + Keras 3", "jupyterlab", "ipywidgets", "sacrebleu",
                 "nbformat", "nbclient", "course folder", "writable folders"):
        assert rows.get(name) == "✅", f"{name}: {result.stdout}"
    assert "matmul ok" in result.stdout
    assert result.returncode == (1 if "❌" in result.stdout else 0)
