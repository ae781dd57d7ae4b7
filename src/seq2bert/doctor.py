"""`seq2bert doctor`: check in one command that this machine can run the course.

PyTorch and TensorFlow are imported in child interpreters with a timeout, so a broken install
(a missing shared library, an import that hangs) shows up as a failed row instead of hanging or
crashing the doctor. Required checks that fail make the exit code 1; warnings do not.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from seq2bert.units import FRAMEWORKS, UNITS, CourseError

SYMBOLS = {"ok": "✅", "warn": "⚠️", "fail": "❌"}
INSTALL_FIX = "run `make install` (or `pip install -e '.[test]'`) in the course folder"
MIN_MEMORY_GB = 4.0  # GiB
MIN_FREE_DISK_GB = 2.0  # GiB
TORCH_TIMEOUT = 120  # seconds; a first import on a busy laptop is slow
TF_TIMEOUT = 180

TORCH_PROBE = """
import json, torch
product = torch.ones(2, 3) @ torch.ones(3, 2)  # (2, 3) @ (3, 2) -> (2, 2), every entry 3
print(json.dumps({"version": torch.__version__, "cuda": torch.version.cuda,
                  "cuda_available": torch.cuda.is_available(), "sum": float(product.sum())}))
"""
TF_PROBE = """
import json, tensorflow as tf, keras
product = tf.matmul(tf.ones((2, 3)), tf.ones((3, 2)))  # (2, 3) @ (3, 2) -> (2, 2)
print(json.dumps({"version": tf.__version__, "keras": keras.__version__,
                  "gpus": len(tf.config.list_physical_devices("GPU")), "sum": float(tf.reduce_sum(product))}))
"""


@dataclass(frozen=True)
class Check:
    """One row of the doctor's table."""

    name: str
    status: str  # "ok", "warn" or "fail"
    detail: str
    fix: str = ""  # what to do when the status is not ok


def run_probe(code: str, timeout: float) -> tuple[dict | None, str]:
    """Run `code` in a fresh interpreter; it prints one JSON line. Returns (payload, error)."""
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:g} s"
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        return None, (lines[-1].strip() if lines else f"exit code {done.returncode}")[:200]
    try:
        return json.loads(done.stdout.strip().splitlines()[-1]), ""
    except (ValueError, IndexError):
        return None, "the probe printed no result"


def check_python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info >= (3, 10):
        return Check("Python ≥ 3.10", "ok", f"{version} ({sys.executable})")
    return Check("Python ≥ 3.10", "fail", f"{version} is too old", "install Python 3.10 or newer and re-run `make install`")


def check_torch() -> Check:
    payload, error = run_probe(TORCH_PROBE, TORCH_TIMEOUT)
    if payload is None:
        return Check("PyTorch", "fail", f"import failed: {error}", INSTALL_FIX)
    if payload.get("sum") != 12.0:
        return Check("PyTorch", "fail", f"{payload['version']}: a 2×3 @ 3×2 matmul gave {payload.get('sum')}, expected 12",
                     "reinstall torch: `pip install --force-reinstall torch`")
    if payload.get("cuda"):
        build = f"CUDA {payload['cuda']} build, GPU {'available' if payload.get('cuda_available') else 'not available'}"
    else:
        build = "CPU build"
    return Check("PyTorch", "ok", f"{payload['version']}, {build}, matmul ok")


def check_tensorflow() -> Check:
    payload, error = run_probe(TF_PROBE, TF_TIMEOUT)
    if payload is None:
        return Check("TensorFlow + Keras 3", "fail", f"import failed: {error}", INSTALL_FIX)
    keras_major = str(payload.get("keras", "0")).split(".")[0]
    if keras_major != "3":
        return Check("TensorFlow + Keras 3", "fail", f"Keras {payload.get('keras')} found, the course needs Keras 3",
                     "`pip install 'keras>=3'` and unset TF_USE_LEGACY_KERAS")
    if payload.get("sum") != 12.0:
        return Check("TensorFlow + Keras 3", "fail", f"a 2×3 @ 3×2 matmul gave {payload.get('sum')}, expected 12",
                     "reinstall tensorflow: `pip install --force-reinstall tensorflow`")
    gpus = payload.get("gpus", 0)
    return Check("TensorFlow + Keras 3", "ok",
                 f"TF {payload['version']}, Keras {payload['keras']}, {gpus} GPU(s), matmul ok")


# import name, distribution name, required, what it is for
PACKAGES = (
    ("jupyterlab", "jupyterlab", True, "the notebook editor"),
    ("ipywidgets", "ipywidgets", True, "quizzes and interactive plots"),
    ("sacrebleu", "sacrebleu", True, "BLEU scores"),
    ("nbformat", "nbformat", True, "reading notebooks"),
    ("nbclient", "nbclient", True, "`seq2bert run` and `seq2bert grade`"),
    ("jupytext", "jupytext", False, "`seq2bert build` (instructors)"),
    ("nbval", "nbval", False, "`make test` (instructors, CI)"),
)


def check_package(module: str, distribution: str, required: bool, purpose: str) -> Check:
    """Whether a package can be imported (found without importing it) and its version."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        return Check(module, "fail" if required else "warn", f"not installed (needed for {purpose})", INSTALL_FIX)
    try:
        version = importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        version = "version unknown"
    return Check(module, "ok", version)


def _find_root(root: Path | None) -> Path:
    from seq2bert.units import course_root

    if root is None:
        return course_root()
    root = Path(root).resolve()
    if not (root / "course").is_dir() or not (root / "quizzes").is_dir():
        raise CourseError(f"{root} is not a course folder (it needs course/ and quizzes/)")
    return root


def check_course(root: Path | None = None) -> Check:
    try:
        found = _find_root(root)
    except CourseError as error:
        return Check("course folder", "fail", str(error), "run `seq2bert doctor` from inside the course checkout")
    return Check("course folder", "ok", str(found))


def check_notebooks(root: Path | None = None) -> Check:
    """Every unit × framework × copy notebook and START.ipynb exist."""
    try:
        found = _find_root(root)
    except CourseError:
        return Check("notebooks built", "fail", "no course folder", "run `seq2bert doctor` from inside the course checkout")
    expected = [found / "START.ipynb"] + [unit.notebook(found, framework, solution=copy)
                                          for unit in UNITS for framework in FRAMEWORKS for copy in (False, True)]
    missing = [path.relative_to(found).as_posix() for path in expected if not path.is_file()]
    if missing:
        example = ", ".join(missing[:2]) + (" ..." if len(missing) > 2 else "")
        return Check("notebooks built", "fail", f"{len(missing)} of {len(expected)} missing: {example}", "run `seq2bert build`")
    return Check("notebooks built", "ok", f"{len(expected)} notebooks ({len(UNITS)} units × {len(FRAMEWORKS)} frameworks × 2 copies + START)")


def _writable(folder: Path) -> str:
    """'' if a file can be created in `folder` (or its nearest existing parent), else the reason."""
    probe_dir = folder
    while not probe_dir.exists() and probe_dir != probe_dir.parent:
        probe_dir = probe_dir.parent
    try:
        fd, name = tempfile.mkstemp(prefix=".seq2bert-doctor-", dir=probe_dir)
        os.close(fd)
        os.unlink(name)
    except OSError as error:
        return f"{probe_dir}: {error.strerror or error}"
    return ""


def check_writable(root: Path | None = None) -> Check:
    """The temp folder and the folders where notebooks save quiz responses accept new files."""
    folders = [Path(tempfile.gettempdir())]
    try:
        found = _find_root(root)
        # Quizzes save to ./quiz_responses next to the running notebook.
        folders += [found / "notebooks" / framework / "quiz_responses" for framework in FRAMEWORKS]
    except CourseError:
        pass
    problems = [reason for reason in map(_writable, folders) if reason]
    if problems:
        return Check("writable folders", "fail", "; ".join(problems),
                     "make the course folder yours (`chown -R`), or copy the course to your home folder")
    return Check("writable folders", "ok", ", ".join(str(f) for f in folders[:1]) + " and quiz_responses/")


def check_cpus() -> Check:
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if count < 2:
        return Check("CPU cores", "warn", f"{count} core: notebooks will be slow", "close other programs; use fast mode (SEQ2BERT_FAST=1)")
    return Check("CPU cores", "ok", f"{count} usable")


def read_meminfo(path: Path = Path("/proc/meminfo")) -> dict[str, float]:
    """MemTotal and MemAvailable (and the rest) from /proc/meminfo, in GiB."""
    values = {}
    for line in path.read_text().splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            scale = 1024 if len(parts) > 1 and parts[1].lower() == "kb" else 1
            values[key.strip()] = int(parts[0]) * scale / 2**30
    return values


def check_memory(meminfo: Path = Path("/proc/meminfo")) -> Check:
    try:
        info = read_meminfo(meminfo)
        total = info["MemTotal"]
    except (OSError, KeyError):
        return Check("memory", "warn", f"cannot read {meminfo}", "make sure the machine has at least 4 GiB of memory")
    available = info.get("MemAvailable", total)
    detail = f"{total:.1f} GiB total, {available:.1f} GiB available"
    if total < MIN_MEMORY_GB:
        return Check("memory", "warn", f"{detail}: less than {MIN_MEMORY_GB:g} GiB",
                     "close other programs and keep fast mode on (SEQ2BERT_FAST=1)")
    return Check("memory", "ok", detail)


def check_disk(root: Path | None = None) -> Check:
    try:
        folder = _find_root(root)
    except CourseError:
        folder = Path.cwd()
    free = shutil.disk_usage(folder).free / 2**30
    if free < MIN_FREE_DISK_GB:
        return Check("free disk", "warn", f"{free:.1f} GiB free on {folder}: less than {MIN_FREE_DISK_GB:g} GiB",
                     "free some disk space (executed notebooks and caches need room)")
    return Check("free disk", "ok", f"{free:.1f} GiB free")


def all_checks(root: Path | None = None) -> list[Callable[[], Check]]:
    """The checks, in the order they are shown."""
    return [
        check_python, check_torch, check_tensorflow,
        *[(lambda spec=spec: check_package(*spec)) for spec in PACKAGES],
        lambda: check_course(root), lambda: check_notebooks(root), lambda: check_writable(root),
        check_cpus, check_memory, lambda: check_disk(root),
    ]


def run_checks(root: Path | None = None) -> list[Check]:
    """Run every check (the slow framework probes in parallel) and return the rows in order."""
    checks = all_checks(root)
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [pool.submit(check) for check in checks]
        return [future.result() for future in futures]


def format_table(checks: list[Check]) -> str:
    width = max(len(check.name) for check in checks)
    lines = []
    for check in checks:
        lines.append(f"{SYMBOLS[check.status]}  {check.name.ljust(width)}  {check.detail}")
        if check.status != "ok" and check.fix:
            lines.append(f"    {' ' * width}  fix: {check.fix}")
    failed = sum(check.status == "fail" for check in checks)
    warned = sum(check.status == "warn" for check in checks)
    verdict = "this machine can run the course" if not failed else f"{failed} required check(s) failed"
    return "\n".join(lines + ["", f"{verdict}" + (f" ({warned} warning(s))" if warned else "")])


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--course", type=Path, default=None, help="course root (default: this checkout)")


def run(args: argparse.Namespace) -> int:
    if args.course is not None and not Path(args.course).is_dir():
        raise CourseError(f"--course {args.course}: no such folder")
    checks = run_checks(args.course)
    print(format_table(checks))
    return 1 if any(check.status == "fail" for check in checks) else 0
