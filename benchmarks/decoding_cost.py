"""Greedy decoding with and without the key/value cache: time against batch size, both frameworks.

    python benchmarks/decoding_cost.py [--framework pytorch|tensorflow|both] [--batches 64,1] [--length 40]
                                       [--source-length 40] [--width 128] [--heads 4] [--layers 2]
                                       [--repeats 3] [--out DIR]

Setting (issue 8, unit 05): a random (untrained) Transformer, D 128, 4 heads, 2 encoder + 2 decoder
layers, FFN 2D, sinusoidal positions, seed 0, eval mode; sources of --source-length tokens; 1 thread.
Every row decodes exactly --length tokens: the loops here do not stop at EOS (translate() stops
once every row has produced it), so both variants do the same number of steps.
- cached: encode, `start_cache`, then `decode_step` per token: each step feeds one position and
  attends to the cached keys and values, O(t) work at step t;
- uncached: encode, then `decode(whole prefix)` per token, keeping the last position: O(t^2).
Both choose the arg-max token with PAD excluded, as translate() does. Before timing, both must give
the same tokens, and the cached tokens must equal translate()'s up to each row's first EOS.
Times are the best of --repeats runs of the whole decoding (encoder included). Each framework runs
in its own subprocess, with one thread.

Output in --out (default build/bench): decoding_cost.md (the table), decoding_cost.json and
decoding_cost.csv (every number). Shape legend: B batch, S source length, L decoded length, V vocabulary.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

VOCAB = 64  # source and target vocabulary of the random model (ids 0-3 are the specials)
FRAMEWORKS = ("pytorch", "tensorflow")
TARGET_SPEEDUP = 3.0
COLUMNS = ("framework", "batch", "length", "source_length", "cached_ms", "uncached_ms", "speedup")


def sources(batch: int, length: int, seed: int = 0) -> np.ndarray:
    """(B, S) random token ids >= 4 (no padding)."""
    return np.random.default_rng(seed).integers(4, VOCAB, (batch, length))


def limit_threads(framework: str) -> None:
    """One thread, as the issue's measurements (call before the framework runs anything)."""
    try:  # refused once the framework has started (e.g. a test ran it before): keep its threads then
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


def decoders(framework: str, width: int, heads: int, layers: int, max_length: int):
    """(translate(src, src_len, L) -> tokens, {"cached": f, "uncached": f}) with f(src, src_len, L) -> (B, L) NumPy."""
    from seq2bert.configs import TransformerConfig
    from seq2bert.data.text import Vocab

    config = TransformerConfig(src_vocab=VOCAB, tgt_vocab=VOCAB, width=width, heads=heads, encoder_layers=layers,
                               decoder_layers=layers, ffn=2 * width, max_length=max_length)
    if framework == "pytorch":
        import torch

        from seq2bert.torch.transformer import Transformer

        model = Transformer(config, seed=0).eval()

        def pick(logits):  # (B, V) -> (B,): arg-max, PAD excluded
            return logits.index_fill(1, torch.tensor([Vocab.PAD]), float("-inf")).argmax(dim=-1)

        @torch.no_grad()
        def cached(src, src_len, length):
            memory, src_mask = model.encode(src, src_len)
            cache = model.start_cache(memory, src_mask)
            prev, out = torch.full((src.shape[0],), Vocab.BOS), []
            for _ in range(length):
                logits, cache = model.decode_step(prev, cache)  # (B, V)
                prev = pick(logits)
                out.append(prev)
            return torch.stack(out, dim=1).numpy()  # L x (B,) -> (B, L)

        @torch.no_grad()
        def uncached(src, src_len, length):
            memory, src_mask = model.encode(src, src_len)
            prefix = torch.full((src.shape[0], 1), Vocab.BOS)  # (B, 1)
            for _ in range(length):
                logits = model.decode(prefix, memory, src_mask)[:, -1]  # (B, t, V) -> (B, V)
                prefix = torch.cat([prefix, pick(logits)[:, None]], dim=1)  # (B, t) -> (B, t+1)
            return prefix[:, 1:].numpy()

        def translate(src, src_len, length):
            return model.translate(src, src_len, length)[0].numpy()

        convert = torch.as_tensor
    else:
        import tensorflow as tf

        from seq2bert.tf.transformer import Transformer

        model = Transformer(config, seed=0)
        no_pad = tf.one_hot(Vocab.PAD, VOCAB, on_value=float("-inf"), off_value=0.0)  # (V,)

        def pick(logits):  # (B, V) -> (B,): arg-max, PAD excluded
            return tf.argmax(logits + no_pad, axis=-1, output_type=tf.int32)

        def cached(src, src_len, length):
            memory, src_mask = model.encode(src, src_len)
            cache = model.start_cache(memory, src_mask)
            prev, out = tf.fill([src.shape[0]], tf.constant(Vocab.BOS, tf.int32)), []
            for _ in range(length):
                logits, cache = model.decode_step(prev, cache)  # (B, V)
                prev = pick(logits)
                out.append(prev)
            return tf.stack(out, axis=1).numpy()  # L x (B,) -> (B, L)

        def uncached(src, src_len, length):
            memory, src_mask = model.encode(src, src_len)
            prefix = tf.fill([src.shape[0], 1], tf.constant(Vocab.BOS, tf.int32))  # (B, 1)
            for _ in range(length):
                logits = model.decode(prefix, memory, src_mask)[:, -1]  # (B, t, V) -> (B, V)
                prefix = tf.concat([prefix, pick(logits)[:, None]], axis=1)  # (B, t) -> (B, t+1)
            return prefix[:, 1:].numpy()

        def translate(src, src_len, length):
            return model.translate(src, src_len, length)[0].numpy()

        convert = tf.constant
    wrap = lambda f: lambda src, src_len, length: f(convert(src), convert(src_len), length)  # noqa: E731
    return wrap(translate), {"cached": wrap(cached), "uncached": wrap(uncached)}


def agreement(tokens: dict, greedy: np.ndarray) -> str | None:
    """None if cached = uncached and both = translate() up to each row's first EOS, else what differs."""
    from seq2bert.data.text import Vocab

    if not np.array_equal(tokens["cached"], tokens["uncached"]):
        rows = np.flatnonzero((tokens["cached"] != tokens["uncached"]).any(axis=1))
        return f"cached and uncached tokens differ in rows {rows[:5].tolist()}"
    for row, ids in enumerate(tokens["cached"]):
        end = (list(ids).index(Vocab.EOS) + 1) if Vocab.EOS in ids else len(ids)
        if not np.array_equal(ids[:end], greedy[row, :end]):
            return f"row {row} differs from translate()"
    return None


def best_ms(call, args, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call(*args)
        times.append(time.perf_counter() - start)
    return 1000 * min(times)


def measure(framework: str, batches, length: int, source_length: int, width: int, heads: int, layers: int,
            repeats: int) -> list[dict]:
    """In this process: one row per batch size (agreement checked first; untimed rows carry an error)."""
    limit_threads(framework)
    translate, variants = decoders(framework, width, heads, layers, max_length=max(length, source_length) + 1)
    rows = []
    for batch in batches:
        src = sources(batch, source_length)
        src_len = np.full(batch, source_length)
        tokens = {name: call(src, src_len, length) for name, call in variants.items()}  # also warms up
        row = {"framework": framework, "batch": batch, "length": length, "source_length": source_length,
               "width": width, "heads": heads, "layers": layers, "repeats": repeats, "threads": 1}
        problem = agreement(tokens, translate(src, src_len, length))
        if problem:
            rows.append({**row, "cached_ms": None, "uncached_ms": None, "speedup": None, "error": problem})
            continue
        timed = {name: best_ms(call, (src, src_len, length), repeats) for name, call in variants.items()}
        rows.append({**row, "cached_ms": timed["cached"], "uncached_ms": timed["uncached"],
                     "speedup": timed["uncached"] / timed["cached"]})
    return rows


def run_isolated(framework: str, options: dict) -> list[dict]:
    """`measure` in a fresh Python process with one thread."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
           "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, __file__, "--measure", framework, json.dumps(options)]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("[")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{framework} failed: {tail}")
    return json.loads(lines[-1])


def markdown_table(rows: list[dict]) -> str:
    """One line per framework and batch: cached and uncached time, and the speed-up."""
    lines = ["| framework | batch | decoded length | cached (ms) | uncached (ms) | speed-up |",
             "|---|---:|---:|---:|---:|---:|"]
    for row in sorted(rows, key=lambda r: (FRAMEWORKS.index(r["framework"]), -r["batch"])):
        if row["speedup"] is None:
            lines.append(f"| {row['framework']} | {row['batch']} | {row['length']} | — | — | {row['error']} |")
            continue
        lines.append(f"| {row['framework']} | {row['batch']} | {row['length']} | {row['cached_ms']:.1f} | "
                     f"{row['uncached_ms']:.1f} | {row['speedup']:.1f}× |")
    return "\n".join(lines) + "\n"


def targets(rows: list[dict]) -> list[str]:
    """The issue's target, reported, not asserted: the cache makes decoding >= 3x faster (largest batch)."""
    notes = []
    for framework in FRAMEWORKS:
        mine = [r for r in rows if r["framework"] == framework and r["speedup"] is not None]
        if mine:
            row = max(mine, key=lambda r: r["batch"])
            verdict = "met" if row["speedup"] >= TARGET_SPEEDUP else "missed"
            notes.append(f"{framework}: the cache decodes {row['length']} tokens at batch {row['batch']} "
                         f"{row['speedup']:.1f}x faster (target >= {TARGET_SPEEDUP:g}: {verdict})")
    return notes


def write_outputs(rows: list[dict], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    notes = targets(rows)
    paths = [out / "decoding_cost.md", out / "decoding_cost.json", out / "decoding_cost.csv"]
    paths[0].write_text(markdown_table(rows) + "".join(f"\n- {note}" for note in notes) + ("\n" if notes else ""),
                        encoding="utf-8")
    paths[1].write_text(json.dumps({"rows": rows, "targets": notes}, indent=1), encoding="utf-8")
    with paths[2].open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*COLUMNS, "error"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return paths


def positive_ints(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--measure"]:  # the child process of run_isolated
        print(json.dumps(measure(argv[1], **json.loads(argv[2]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", choices=(*FRAMEWORKS, "both"), default="both")
    parser.add_argument("--batches", type=positive_ints, default=[64, 1])
    one = lambda text: positive_ints(text)[0]  # noqa: E731
    parser.add_argument("--length", type=one, default=40, help="tokens decoded per row")
    parser.add_argument("--source-length", type=one, default=40)
    parser.add_argument("--width", type=one, default=128)
    parser.add_argument("--heads", type=one, default=4)
    parser.add_argument("--layers", type=one, default=2, help="encoder layers, and as many decoder layers")
    parser.add_argument("--repeats", type=one, default=3)
    parser.add_argument("--out", type=Path, default=Path("build/bench"))
    args = parser.parse_args(argv)
    if args.width % args.heads:
        parser.error(f"--width {args.width} is not divisible by --heads {args.heads}")
    options = {"batches": args.batches, "length": args.length, "source_length": args.source_length,
               "width": args.width, "heads": args.heads, "layers": args.layers, "repeats": args.repeats}
    frameworks = FRAMEWORKS if args.framework == "both" else (args.framework,)
    rows = [row for framework in frameworks for row in run_isolated(framework, options)]
    paths = write_outputs(rows, args.out)
    print(markdown_table(rows))
    print("\n".join(targets(rows)))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 1 if any(r["speedup"] is None for r in rows) else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # seq2bert from this checkout
    sys.exit(main())
