"""Time and peak memory of attention against sequence length: ours, blockwise (online softmax), the library's.

    python benchmarks/attention_cost.py [--framework pytorch|tensorflow|both] [--lengths 64,128,...,2048]
                                        [--out DIR] [--repeats 5] [--block-size 128]

Setting (issue 7, unit 03): 1 thread, batch 8, 8 heads, head width 64, self-attention (T = S = length),
no mask, float32. Implementations:
- pytorch: `ours` (seq2bert.torch.attention.scaled_dot_product_attention), `blockwise`
  (blockwise_attention, keys in blocks of --block-size with an online softmax) and `fused`
  (torch.nn.functional.scaled_dot_product_attention);
- tensorflow: `ours`, `blockwise` and `keras` (keras.ops.dot_product_attention, which takes
  (B, T, H, Dh): its inputs are transposed once, outside the timed calls).
The last one of each framework is the reference its rows are compared with ("ratio").

Agreement: the parent draws q, k, v once per length (NumPy, seed 0) and computes the exact output
in float64. Each implementation's first call is compared with it, and nothing is timed unless the
max abs difference is <= 1e-5; so all implementations agree with each other to within 2e-5, and
the table also prints each one's difference from the library's output.

Peak memory is measured, not estimated: every (framework, implementation, length) runs in a fresh
subprocess, which loads the inputs, runs the implementation once at length 64 (library
initialisation), resets the kernel's peak-RSS counter (`echo 5 > /proc/self/clear_refs`, Linux),
reads its resident set size, makes ONE call and reports the peak RSS (VmHWM) minus that baseline:
the extra memory that call needed at its worst moment, inputs excluded, output included. This is
what the operating system saw, so memory the C allocator kept after a free counts too (tensors
over 32 MiB are always given back; smaller ones may not be, which can only raise a peak). Where
clear_refs is not available the increase of `resource.getrusage().ru_maxrss` over the same
baseline is used (it can under-read if the process once peaked higher, e.g. while importing).
Times are the median over --repeats repeats of the mean of enough calls to fill about 0.2 s.

Output in --out (default build/bench): attention_cost.md (the table), attention_cost.png (time and
peak memory against length, log-log) and attention_cost.json (every number).
Shape legend: B batch, H heads, T query length, S key length, Dh head width.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BATCH, HEADS, HEAD_WIDTH = 8, 8, 64
DEFAULT_LENGTHS = (64, 128, 256, 512, 1024, 2048)
IMPLEMENTATIONS = {"pytorch": ("ours", "blockwise", "fused"), "tensorflow": ("ours", "blockwise", "keras")}
TOLERANCE = 1e-5
MIB = 2 ** 20


def make_inputs(length: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """q, k, v as float32 (B, H, length, Dh), standard normal."""
    rng = np.random.default_rng(seed)
    return tuple(rng.standard_normal((BATCH, HEADS, length, HEAD_WIDTH), dtype=np.float32) for _ in range(3))


def exact_attention(query: np.ndarray, key: np.ndarray, value: np.ndarray) -> np.ndarray:
    """softmax(q k^T / sqrt(Dh)) v in float64, one (batch, head) at a time to keep memory small."""
    output = np.empty(query.shape, dtype=np.float64)
    for b in range(query.shape[0]):
        for h in range(query.shape[1]):
            q, k, v = (x[b, h].astype(np.float64) for x in (query, key, value))
            scores = q @ k.T / np.sqrt(q.shape[-1])  # (T, Dh) @ (Dh, S) -> (T, S)
            weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
            output[b, h] = (weights / weights.sum(axis=-1, keepdims=True)) @ v  # (T, S) @ (S, Dh) -> (T, Dh)
    return output


def limit_threads(framework: str) -> None:
    """One thread, as the issue's measurements (call before the framework runs anything)."""
    try:  # both refuse once the framework has started (e.g. a test ran it before): keep its threads then
        if framework == "pytorch":
            import torch

            torch.set_num_threads(1)
            torch.set_num_interop_threads(1)
        else:
            import tensorflow as tf

            tf.config.threading.set_intra_op_parallelism_threads(1)
            tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass


def implementation(framework: str, name: str, block_size: int = 128):
    """(prepare, call, to_numpy): prepare(q, k, v NumPy) -> args for call(*args) -> output as (B, H, T, Dh) NumPy."""
    if name not in IMPLEMENTATIONS.get(framework, ()):
        raise ValueError(f"unknown implementation {framework}/{name}; known: {IMPLEMENTATIONS}")
    if framework == "pytorch":
        import torch
        import torch.nn.functional as F

        from seq2bert.torch import attention

        calls = {"ours": lambda q, k, v: attention.scaled_dot_product_attention(q, k, v)[0],
                 "blockwise": lambda q, k, v: attention.blockwise_attention(q, k, v, block_size=block_size),
                 "fused": F.scaled_dot_product_attention}
        call = calls[name]

        def run(q, k, v):
            with torch.no_grad():
                return call(q, k, v)

        return (lambda q, k, v: tuple(torch.from_numpy(x) for x in (q, k, v))), run, lambda out: out.numpy()

    import keras
    import tensorflow as tf

    from seq2bert.tf import attention

    if name == "keras":
        def prepare(q, k, v):  # Keras wants (B, T, H, Dh)
            return tuple(tf.constant(np.ascontiguousarray(x.transpose(0, 2, 1, 3))) for x in (q, k, v))

        return prepare, keras.ops.dot_product_attention, lambda out: np.asarray(out).transpose(0, 2, 1, 3)
    calls = {"ours": lambda q, k, v: attention.scaled_dot_product_attention(q, k, v)[0],
             "blockwise": lambda q, k, v: attention.blockwise_attention(q, k, v, block_size=block_size)}
    return (lambda q, k, v: tuple(tf.constant(x) for x in (q, k, v))), calls[name], np.asarray


def _memory_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        return True
    except OSError:
        return False


def peak_extra_mib(call, args) -> tuple[float, object, str]:
    """(peak extra MiB of one call(*args) over the resident memory before it, its output, the method used)."""
    import resource

    if _reset_peak() and _memory_kib("VmRSS") is not None:
        before = _memory_kib("VmRSS")
        output = call(*args)
        return (_memory_kib("VmHWM") - before) / 1024, output, "VmHWM after clear_refs"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    output = call(*args)
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024, output, "ru_maxrss"


def median_ms(call, args, repeats: int, fill_seconds: float = 0.2) -> float:
    """Median over `repeats` of the mean time of one call in ms, each repeat long enough to time well."""
    start = time.perf_counter()
    call(*args)
    once = time.perf_counter() - start
    number = max(1, int(fill_seconds / max(once, 1e-6)))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            call(*args)
        times.append((time.perf_counter() - start) / number)
    return 1000 * statistics.median(times)


def measure(framework: str, name: str, inputs_path: str, repeats: int, block_size: int = 128) -> dict:
    """In this process: peak memory of the first call, agreement with the exact output, then the time."""
    limit_threads(framework)
    prepare, call, to_numpy = implementation(framework, name, block_size)
    data = np.load(inputs_path)
    call(*prepare(*make_inputs(64, seed=1)))  # load kernels, initialise the library
    args = prepare(data["query"], data["key"], data["value"])
    peak, output, method = peak_extra_mib(call, args)
    output = to_numpy(output)
    error = float(np.abs(output - data["exact"]).max())
    result = {"framework": framework, "implementation": name, "length": int(data["query"].shape[2]),
              "peak_mib": peak, "memory_method": method, "max_abs_error": error}
    if not error <= TOLERANCE:
        return {**result, "ms": None, "error": f"differs from the exact output by {error:.2e} > {TOLERANCE}"}
    np.save(inputs_path.replace(".npz", f".{framework}.{name}.npy"), output)
    return {**result, "ms": median_ms(call, args, repeats)}


def run_isolated(framework: str, name: str, inputs_path: str, repeats: int, block_size: int = 128) -> dict:
    """`measure` in a fresh Python process (so each peak is its own), with one thread."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, __file__, "--measure", framework, name, inputs_path, str(repeats), str(block_size)]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{framework}/{name} failed: {tail}")
    return json.loads(lines[-1])


def benchmark(frameworks, lengths, repeats: int = 5, block_size: int = 128, workdir: str | None = None,
              progress=print) -> list[dict]:
    """One row per (framework, implementation, length), plus each output's difference from the library's."""
    rows = []
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        for length in lengths:
            query, key, value = make_inputs(length)
            inputs_path = str(Path(tmp) / f"inputs{length}.npz")
            np.savez(inputs_path, query=query, key=key, value=value, exact=exact_attention(query, key, value))
            for framework in frameworks:
                names = IMPLEMENTATIONS[framework]
                found = [run_isolated(framework, name, inputs_path, repeats, block_size) for name in names]
                reference = found[-1]
                outputs = {}
                for row in found:
                    path = inputs_path.replace(".npz", f".{framework}.{row['implementation']}.npy")
                    outputs[row["implementation"]] = np.load(path) if os.path.exists(path) else None
                for row in found:
                    ours, library = outputs[row["implementation"]], outputs[reference["implementation"]]
                    row["diff_to_reference"] = (None if ours is None or library is None
                                                else float(np.abs(ours - library).max()))
                    row["ratio"] = (row["ms"] / reference["ms"] if row["ms"] and reference["ms"] else None)
                    row["reference"] = reference["implementation"]
                    rows.append(row)
                    progress(describe(row))
                for path in outputs:
                    Path(inputs_path.replace(".npz", f".{framework}.{path}.npy")).unlink(missing_ok=True)
            Path(inputs_path).unlink()
    return rows


def describe(row: dict) -> str:
    timing = f"{row['ms']:9.2f} ms" if row["ms"] is not None else f"not timed: {row.get('error')}"
    return (f"{row['framework']:>10} {row['implementation']:>9} {row['length']:>5}: {timing}, "
            f"peak +{row['peak_mib']:.1f} MiB, error {row['max_abs_error']:.1e}")


def markdown_table(rows: list[dict]) -> str:
    """Time (ms), ratio to the framework's library attention, peak extra MiB, difference from it."""
    lines = ["| framework | implementation | length | time (ms) | × library | peak (MiB) | max abs diff to library |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for row in sorted(rows, key=lambda r: (r["framework"], IMPLEMENTATIONS[r["framework"]].index(r["implementation"]),
                                           r["length"])):
        ms = f"{row['ms']:.2f}" if row["ms"] is not None else "—"
        ratio = f"{row['ratio']:.2f}" if row.get("ratio") is not None else "—"
        diff = f"{row['diff_to_reference']:.1e}" if row.get("diff_to_reference") is not None else "—"
        library = f"{row['implementation']}" + (" (library)" if row["implementation"] == row["reference"] else "")
        lines.append(f"| {row['framework']} | {library} | {row['length']} | {ms} | {ratio} | "
                     f"{row['peak_mib']:.1f} | {diff} |")
    return "\n".join(lines) + "\n"


def targets(rows: list[dict]) -> list[str]:
    """The issue's two targets, reported (not asserted): ours <= 1.6x the library at 256; blockwise peak <= plain / 8 at 2048."""
    found = {(r["framework"], r["implementation"], r["length"]): r for r in rows}
    notes = []
    for framework in sorted({r["framework"] for r in rows}):
        ours = found.get((framework, "ours", 256))
        if ours and ours.get("ratio") is not None:
            verdict = "met" if ours["ratio"] <= 1.6 else "missed"
            notes.append(f"{framework}: ours at length 256 takes {ours['ratio']:.2f}x the library's time "
                         f"(target <= 1.6: {verdict})")
        plain, blocks = found.get((framework, "ours", 2048)), found.get((framework, "blockwise", 2048))
        if plain and blocks and plain["peak_mib"] > 0:
            share = blocks["peak_mib"] / plain["peak_mib"]
            verdict = "met" if share <= 1 / 8 else "missed"
            notes.append(f"{framework}: blockwise peak memory at 2048 is {share:.3f} of ours "
                         f"({blocks['peak_mib']:.0f} vs {plain['peak_mib']:.0f} MiB; target <= 0.125: {verdict})")
    return notes


def plot(rows: list[dict], path: Path) -> None:
    """Time and peak extra memory against length, log-log, one line per framework/implementation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (time_axis, memory_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    for framework, names in IMPLEMENTATIONS.items():
        for name in names:
            mine = sorted((r for r in rows if r["framework"] == framework and r["implementation"] == name),
                          key=lambda r: r["length"])
            if not mine:
                continue
            style = dict(marker="o", linestyle="-" if framework == "pytorch" else "--", label=f"{framework} {name}")
            timed = [r for r in mine if r["ms"] is not None]
            time_axis.plot([r["length"] for r in timed], [r["ms"] for r in timed], **style)
            memory_axis.plot([r["length"] for r in mine], [max(r["peak_mib"], 0.1) for r in mine], **style)
    for axis, label in ((time_axis, "time per call (ms)"), (memory_axis, "peak extra memory (MiB)")):
        axis.set(xscale="log", yscale="log", xlabel="sequence length (T = S)", ylabel=label)
        axis.set_xticks(sorted({r["length"] for r in rows}), [str(n) for n in sorted({r["length"] for r in rows})])
        axis.grid(True, which="both", alpha=0.3)
    time_axis.legend(fontsize=8)
    figure.suptitle(f"Attention cost: batch {BATCH}, {HEADS} heads, head width {HEAD_WIDTH}, 1 thread")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_outputs(rows: list[dict], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    notes = targets(rows)
    table = markdown_table(rows) + "".join(f"\n- {note}" for note in notes) + ("\n" if notes else "")
    paths = [out / "attention_cost.md", out / "attention_cost.json", out / "attention_cost.png"]
    paths[0].write_text(table, encoding="utf-8")
    paths[1].write_text(json.dumps({"rows": rows, "targets": notes}, indent=1), encoding="utf-8")
    plot(rows, paths[2])
    return paths


def parse_lengths(text: str) -> list[int]:
    try:
        lengths = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--lengths takes comma-separated integers, got {text!r}") from None
    if not lengths or min(lengths) < 1:
        raise argparse.ArgumentTypeError(f"--lengths needs positive lengths, got {text!r}")
    return lengths


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--measure"]:  # the child process of run_isolated
        framework, name, inputs_path, repeats, block_size = argv[1:6]
        print(json.dumps(measure(framework, name, inputs_path, int(repeats), int(block_size))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", choices=("pytorch", "tensorflow", "both"), default="both")
    parser.add_argument("--lengths", type=parse_lengths, default=list(DEFAULT_LENGTHS))
    parser.add_argument("--out", type=Path, default=Path("build/bench"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--block-size", type=int, default=128)
    args = parser.parse_args(argv)
    frameworks = ("pytorch", "tensorflow") if args.framework == "both" else (args.framework,)
    rows = benchmark(frameworks, args.lengths, args.repeats, args.block_size)
    paths = write_outputs(rows, args.out)
    print(markdown_table(rows))
    print("\n".join(targets(rows)))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 1 if any(r["ms"] is None for r in rows) else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # seq2bert from this checkout
    sys.exit(main())
