"""Unit 05's experiments: the Transformer on the toy task, against units 01-02's RNNs, and its ablations.

Framework-neutral like `experiments.order`: pass "pytorch" or "tensorflow" and the framework's
modules are imported on use, so both notebooks run the same code. Every model trains with the
framework's `train_seq2seq` (unit 05's recipe: label smoothing, warm-up + inverse-square-root
schedule, Adam(0.9, 0.98, 1e-9), clipping) and is scored by `experiments.tasks.score`
(`metrics.evaluate`: token accuracy, exact match and BLEU, overall and per source-length bucket),
always on the same held-out pairs.

Sizes: `settings.TransformerSizes` (unit 05's catalogue entry). Shape legend: B batch, S source
length, T target length, D width, H heads, V vocabulary, L decoded length.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from seq2bert import metrics
from seq2bert.configs import Seq2SeqConfig, TransformerConfig
from seq2bert.data.text import Vocab
from seq2bert.experiments.tasks import Task
from seq2bert.experiments.tasks import score as score_predictions
from seq2bert.schedules import transformer_learning_rate
from seq2bert.settings import TransformerSizes

FRAMEWORKS = {"pytorch": "seq2bert.torch", "tensorflow": "seq2bert.tf"}
LONGEST = metrics.BUCKET_ORDER[-1]  # "31–40": the bucket where the RNNs struggle most

# Targets of issue 8, asserted by check_headline: fast mode (CI) and full mode (learners).
FAST_TARGETS = {"token_accuracy": 0.80, "exact_match": 0.30}
FULL_TARGETS = {"token_accuracy": 0.97, "exact_match": 0.90}
FULL_LONG_EXACT_MATCH = 0.75  # exact match on 31-40-word sources, full mode


@dataclass
class Run:
    """One trained model: its losses, training seconds, scores and (optionally) quality checkpoints."""

    name: str  # what the notebook calls it, e.g. "Transformer" or "post-LN, no warm-up"
    steps: int  # optimiser steps
    history: list  # training loss per step
    seconds: float  # training seconds (quality checkpoints excluded)
    scores: dict | None = None  # metrics.evaluate of greedy translations of every held-out pair (None: not scored)
    checkpoints: list = field(default_factory=list)  # dicts: step, seconds, token_accuracy, exact_match, ...
    model: object = field(repr=False, default=None)  # the trained model (heat-maps, decoding)
    setting: dict = field(default_factory=dict)  # config changes, warmup and embedding_factor it was trained with

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / max(self.steps, 1)


class _Modules:
    """The framework's modules by short name ("transformer", "train", ...), each imported on first use."""

    def __init__(self, framework: str):
        if framework not in FRAMEWORKS:
            raise ValueError(f"framework must be 'pytorch' or 'tensorflow', not {framework!r}")
        self.package = FRAMEWORKS[framework]

    def __getitem__(self, name: str):
        return importlib.import_module(f"{self.package}.{name}")


def _modules(framework: str) -> _Modules:
    return _Modules(framework)


def transformer_config(task: Task, sizes: TransformerSizes, **changes) -> TransformerConfig:
    """Unit 05's Transformer for `task` at `sizes`; `changes` override fields (e.g. norm="post", heads=1)."""
    longest = max(task.train.src.shape[1], task.test.src.shape[1], task.max_target_len + 1)
    config = TransformerConfig(src_vocab=len(task.src_vocab), tgt_vocab=len(task.tgt_vocab), width=sizes.width,
                               heads=sizes.heads, encoder_layers=sizes.layers, decoder_layers=sizes.layers,
                               ffn=sizes.ffn, dropout=sizes.dropout, max_length=max(64, longest))
    return dataclasses.replace(config, **changes)


def learning_rate_schedule(sizes: TransformerSizes, warmup: bool = True) -> Callable[[int], float]:
    """The learning rate of step 1, 2, ...: linear warm-up then 1/sqrt(step) decay (Vaswani et al. 2017).

    Without warm-up the same curve starts at its peak (`sizes.no_warmup_learning_rate`) and
    holds it until step `sizes.warmup`, where the decay takes over: only the warm-up is gone.
    """
    if warmup:
        return functools.partial(transformer_learning_rate, peak=sizes.peak_learning_rate, warmup=sizes.warmup)
    peak = sizes.no_warmup_learning_rate
    return lambda step: peak * min(1.0, math.sqrt(sizes.warmup / step)) if step >= 1 else _bad_step(step)


def _bad_step(step: int) -> float:
    raise ValueError(f"steps count from 1, got {step}")


def subset(task: Task, count: int) -> Task:
    """`task` with only its first `count` held-out pairs (same vocabularies, same training data)."""
    count = min(count, len(task.test_pairs))
    return dataclasses.replace(task, test=task.test.subset(np.arange(count)), test_pairs=task.test_pairs[:count])


def _checkpointer(modules: _Modules, model, task: Task, pairs: int, every: int, into: list, paused: list):
    """(on_checkpoint, every) for train_seq2seq: greedy-decode the first `pairs` held-out pairs and score them.

    Appends each checkpoint's seconds of decoding to `paused`, so the caller can leave them out.
    """
    if not every or not pairs:
        return None, 0
    probe = subset(task, pairs)

    def on_checkpoint(step: int, seconds: float) -> None:
        began = time.perf_counter()
        predictions, _ = modules["train"].translate_dataset(model, probe.test, probe.max_target_len)
        scores = score_predictions(probe, predictions)
        into.append({"step": step, "seconds": seconds, "token_accuracy": scores["token_accuracy"],
                     "exact_match": scores["exact_match"], "bleu": scores["bleu"],
                     "exact_match_by_length": scores["exact_match_by_length"],
                     "token_accuracy_by_length": scores["token_accuracy_by_length"]})
        paused.append(time.perf_counter() - began)

    return on_checkpoint, every


def train_transformer(framework: str, task: Task, sizes: TransformerSizes, steps: int, seed: int = 0,
                      name: str = "Transformer", warmup: bool = True, embedding_factor: float = 1.0,
                      checkpoint_every: int = 0, evaluate: bool = True, **changes) -> Run:
    """Train unit 05's Transformer on `task` for `steps` steps; score its greedy translations of the held-out pairs.

    `changes` override config fields (positions="none", heads=1, norm="post"); `warmup=False`
    drops the warm-up from the schedule; `embedding_factor` multiplies both token embedding
    matrices before training (math.sqrt(D) gives the "why" experiment's N(0, 1) draw);
    `checkpoint_every` > 0 scores `sizes.checkpoint_pairs` pairs every that many steps.
    """
    modules = _modules(framework)
    model = modules["transformer"].Transformer(transformer_config(task, sizes, **changes), seed=seed)
    if embedding_factor != 1.0:
        modules["transformer"].scale_embeddings(model, embedding_factor)
    checkpoints: list = []
    paused: list = []
    on_checkpoint, every = _checkpointer(modules, model, task, sizes.checkpoint_pairs,
                                         checkpoint_every, checkpoints, paused)
    loss = functools.partial(modules["ops"].label_smoothed_cross_entropy, smoothing=sizes.label_smoothing)
    start = time.perf_counter()
    history = modules["train"].train_seq2seq(
        model, task.train, steps, sizes.batch_size, sizes.peak_learning_rate, seed=seed, clip=sizes.clip,
        loss_fn=loss, label=name, schedule=learning_rate_schedule(sizes, warmup), betas=sizes.betas, eps=sizes.eps,
        on_checkpoint=on_checkpoint, every=every)
    seconds = time.perf_counter() - start - sum(paused)  # training only, as the checkpoints count it
    run = Run(name, steps, list(history), seconds, checkpoints=checkpoints, model=model,
              setting={**changes, "warmup": warmup, "embedding_factor": embedding_factor})
    if evaluate:
        run.scores = greedy_scores(framework, model, task)
    return run


def train_rnn(framework: str, task: Task, sizes: TransformerSizes, steps: int, attention: bool = True,
              seed: int = 0, checkpoint_every: int = 0) -> Run:
    """Unit 02's attention RNN (or unit 01's plain one, attention=False) trained and scored on the same pairs."""
    modules = _modules(framework)
    name = "attention RNN (unit 02)" if attention else "RNN (unit 01)"
    config = Seq2SeqConfig(src_vocab=len(task.src_vocab), tgt_vocab=len(task.tgt_vocab), attention=attention)
    model = modules["seq2seq"].Seq2Seq(config, seed=seed)
    checkpoints: list = []
    paused: list = []
    on_checkpoint, every = _checkpointer(modules, model, task, sizes.checkpoint_pairs,
                                         checkpoint_every, checkpoints, paused)
    start = time.perf_counter()
    history = modules["train"].train_seq2seq(model, task.train, steps, sizes.batch_size, sizes.rnn_learning_rate,
                                             seed=seed, label=name, on_checkpoint=on_checkpoint, every=every)
    seconds = time.perf_counter() - start - sum(paused)  # training only, as the checkpoints count it
    return Run(name, steps, list(history), seconds, greedy_scores(framework, model, task), checkpoints, model)


def greedy_scores(framework: str, model, task: Task) -> dict:
    """metrics.evaluate of `model`'s greedy translations of every held-out pair of `task`."""
    predictions, _ = _modules(framework)["train"].translate_dataset(model, task.test, task.max_target_len)
    return score_predictions(task, predictions)


def beam_predictions(framework: str, model, task: Task, sizes: TransformerSizes, batch_size: int = 128) -> list:
    """Beam-search translations (token ids up to and including <eos>) of every held-out pair of `task`."""
    modules = _modules(framework)
    predictions = []
    for begin in range(0, len(task.test_pairs), batch_size):
        batch = task.test.subset(np.arange(begin, min(begin + batch_size, len(task.test_pairs))))
        src, src_len, _, _ = modules["train"].to_tensors(batch)
        tokens = np.asarray(modules["decoding"].beam_search(
            model, src, src_len, beam_size=sizes.beam_size, max_len=task.max_target_len,
            length_penalty=sizes.length_penalty))  # (B, L)
        for row in tokens.tolist():
            predictions.append(row[: row.index(Vocab.EOS) + 1] if Vocab.EOS in row else row)
    return predictions


def greedy_against_beam(framework: str, run: Run, task: Task, sizes: TransformerSizes) -> dict | None:
    """{"greedy": scores, "beam": scores} on the first `sizes.beam_pairs` held-out pairs (None when 0)."""
    if not sizes.beam_pairs:
        return None
    probe = subset(task, sizes.beam_pairs)
    return {"greedy": greedy_scores(framework, run.model, probe),
            "beam": score_predictions(probe, beam_predictions(framework, run.model, probe, sizes))}


def main_run(framework: str, task: Task, sizes: TransformerSizes, seed: int = 0) -> Run:
    """The unit's Transformer at `sizes.steps`, with quality checkpoints for the race against the attention RNN."""
    return train_transformer(framework, task, sizes, sizes.steps, seed=seed, checkpoint_every=sizes.checkpoint_every)


def baselines(framework: str, task: Task, sizes: TransformerSizes, seed: int = 0) -> dict:
    """{name: Run} of unit 02's attention RNN (with checkpoints) and unit 01's RNN; a steps size of 0 skips one."""
    runs = {}
    if sizes.rnn_steps:
        run = train_rnn(framework, task, sizes, sizes.rnn_steps, True, seed, sizes.checkpoint_every)
        runs[run.name] = run
    if sizes.plain_steps:
        run = train_rnn(framework, task, sizes, sizes.plain_steps, False, seed)
        runs[run.name] = run
    return runs


def ablations(framework: str, task: Task, sizes: TransformerSizes, seed: int = 0) -> dict:
    """{name: Run}: pre-LN with 4 heads and sinusoidal positions, then one change each, at `sizes.ablation_steps`.

    Empty when `sizes.ablation_steps` is 0 (fast mode). The 1-head model keeps the width (one
    head of width D instead of H of width D/H), so it costs the same.
    """
    if not sizes.ablation_steps:
        return {}
    settings = {"pre-LN, 4 heads (unit 05)": {}, "no positions": {"positions": "none"},
                f"1 head of width {sizes.width}": {"heads": 1}, "post-LN": {"norm": "post"}}
    return {name: train_transformer(framework, task, sizes, sizes.ablation_steps, seed=seed, name=name, **changes)
            for name, changes in settings.items()}


def warmup_experiment(framework: str, task: Task, sizes: TransformerSizes, seed: int = 0,
                      reuse: dict | None = None) -> dict:
    """{name: Run}: pre-LN and post-LN, each with and without warm-up, at `sizes.warmup_steps` (0: skip).

    A run in `reuse` (e.g. `ablations`' "post-LN") trained the same way for as many steps is
    taken instead of trained again. Xiong et al. (2020) explain why post-LN needs the warm-up:
    at initialisation its last layers get the largest gradients.
    """
    if not sizes.warmup_steps:
        return {}
    runs = {}
    for norm in ("pre", "post"):
        for warmup in (True, False):
            name = f"{norm}-LN, {'with' if warmup else 'no'} warm-up"
            setting = {"norm": norm, "warmup": warmup, "embedding_factor": 1.0}
            same = [run for run in (reuse or {}).values() if run is not None and run.steps == sizes.warmup_steps
                    and {"norm": "pre", **run.setting} == setting]
            runs[name] = dataclasses.replace(same[0], name=name) if same else train_transformer(
                framework, task, sizes, sizes.warmup_steps, seed=seed, name=name, warmup=warmup, norm=norm)
    return runs


def rms(values) -> float:
    """Root mean square of an array (a tensor's .numpy() or NumPy)."""
    values = np.asarray(values, dtype=np.float64)
    return float(np.sqrt(np.mean(values ** 2)))


def embedding_scale(framework: str, task: Task, sizes: TransformerSizes, seed: int = 0) -> dict:
    """RMS of the source token vectors and of the sinusoidal positions added to them, as built and with
    the embedding matrix drawn N(0, 1) instead of N(0, 1/D) (x sqrt(D)); no training needed.

    Both token vectors are multiplied by sqrt(D) on the way in (Vaswani et al. 2017, sec. 3.4),
    so N(0, 1/D) gives vectors of RMS ~1 next to positions of RMS sqrt(1/2) ~ 0.71 (each sin/cos
    pair has squared norm 1), while N(0, 1) gives RMS sqrt(D) ~ 11.3 at D = 128.
    """
    modules = _modules(framework)
    model = modules["transformer"].Transformer(transformer_config(task, sizes), seed=seed)
    ids = np.arange(len(task.src_vocab))[None, :]  # (1, V): every source token once
    tokens = modules["train"].tensor(ids.astype(np.int64))
    positions = _sinusoid(framework, task, sizes)  # (S, D)
    before = rms(modules["train"].to_numpy(model.encoder.embedding(tokens)))  # (1, V, D)
    modules["transformer"].scale_embeddings(model, math.sqrt(sizes.width))
    after = rms(modules["train"].to_numpy(model.encoder.embedding(tokens)))  # (1, V, D)
    return {"token_rms": before, "position_rms": rms(positions), "token_rms_scaled": after,
            "ratio": before / rms(positions), "ratio_scaled": after / rms(positions)}


def _sinusoid(framework: str, task: Task, sizes: TransformerSizes) -> np.ndarray:
    """The sinusoidal table (S, D) of the framework's positional module, as NumPy."""
    table = _modules(framework)["positional"].sinusoidal_encoding(task.train.src.shape[1], sizes.width)  # (S, D)
    return np.asarray(table.numpy() if hasattr(table, "numpy") else table)


def why_run(framework: str, task: Task, sizes: TransformerSizes, seed: int = 0) -> Run | None:
    """The Transformer trained with N(0, 1) x sqrt(D) token vectors: positions drowned (None when skipped)."""
    if not sizes.why_steps:
        return None
    return train_transformer(framework, task, sizes, sizes.why_steps, seed=seed, name="embeddings N(0, 1) x sqrt(D)",
                             embedding_factor=math.sqrt(sizes.width))


def quality_at(run: Run, seconds: float, metric: str = "exact_match", bucket: str | None = None) -> float:
    """The last checkpoint's `metric` (overall, or in `bucket`) reached within `seconds` of training; 0 before any."""
    reached = [point for point in run.checkpoints if point["seconds"] <= seconds]
    if not reached:
        return 0.0
    point = reached[-1]
    return point[metric] if bucket is None else point[f"{metric}_by_length"].get(bucket, float("nan"))


def race(transformer: Run, rnn: Run, metric: str = "exact_match", bucket: str | None = LONGEST) -> dict:
    """Quality of both models after the same training seconds (the shorter of the two runs), from their checkpoints."""
    if not transformer.checkpoints or not rnn.checkpoints:
        raise ValueError("both runs need quality checkpoints: train them with checkpoint_every > 0")
    seconds = min(transformer.checkpoints[-1]["seconds"], rnn.checkpoints[-1]["seconds"])
    return {"seconds": seconds, transformer.name: quality_at(transformer, seconds, metric, bucket),
            rnn.name: quality_at(rnn, seconds, metric, bucket)}


def curve(run: Run, metric: str = "exact_match", bucket: str | None = None) -> tuple[list, list]:
    """(training seconds, quality) at each checkpoint of `run`, for plot.quality_vs_seconds."""
    values = [point[metric] if bucket is None else point[f"{metric}_by_length"].get(bucket, float("nan"))
              for point in run.checkpoints]
    return [point["seconds"] for point in run.checkpoints], values


def check_headline(run: Run, fast: bool) -> list[str]:
    """The asserted targets missed by the main run, as messages (empty when all hold).

    Fast mode: token accuracy >= 0.80 and exact match >= 0.30. Full mode: token accuracy >=
    0.97, exact match >= 0.90, and >= 0.75 on 31-40-word sources.
    """
    if run.scores is None:
        raise ValueError(f"run {run.name!r} has no scores: train it with evaluate=True")
    targets = FAST_TARGETS if fast else FULL_TARGETS
    missed = [f"{run.name}: {name.replace('_', ' ')} {run.scores[name]:.3f} after {run.steps} steps, below {target}"
              for name, target in targets.items() if run.scores[name] < target]
    if not fast:
        long = run.scores["exact_match_by_length"].get(LONGEST)
        if long is None:
            missed.append(f"{run.name}: no held-out source of {LONGEST} words to check")
        elif long < FULL_LONG_EXACT_MATCH:
            missed.append(f"{run.name}: exact match {long:.3f} on {LONGEST} words, below {FULL_LONG_EXACT_MATCH}")
    return missed


def headlines(runs: dict) -> dict:
    """{headline name: value} of every scored run (overall and per bucket), for report.headline."""
    values = {}
    for name, run in runs.items():
        if run is None or run.scores is None:
            continue
        for metric in ("token_accuracy", "exact_match", "bleu"):
            values[f"{metric.replace('_', ' ')}, {name}"] = run.scores[metric]
            for bucket, value in run.scores[f"{metric}_by_length"].items():
                values[f"{metric.replace('_', ' ')} {bucket} words, {name}"] = value
        values[f"training seconds per step, {name}"] = run.seconds_per_step
    return values


def table(runs: dict, metric: str = "exact_match") -> str:
    """`metric` per length bucket and overall, one column per scored run, as aligned text."""
    scored = {name: run for name, run in runs.items() if run is not None and run.scores is not None}
    if not scored:
        raise ValueError("no scored runs to tabulate")
    buckets = []
    for run in scored.values():
        buckets += [b for b in run.scores[f"{metric}_by_length"] if b not in buckets]
    width = max(12, *(len(name) for name in scored))
    fmt = (lambda v: f"{v:{width}.1f}") if metric == "bleu" else (lambda v: f"{v:{width}.3f}")
    lines = [f"{'words':>7} " + " ".join(f"{name:>{width}}" for name in scored)]
    for bucket in [*buckets, "all"]:
        cells = [run.scores[metric] if bucket == "all" else run.scores[f"{metric}_by_length"].get(bucket, float("nan"))
                 for run in scored.values()]
        lines.append(f"{bucket:>7} " + " ".join(fmt(value) for value in cells))
    lines.append(f"{'s/step':>7} " + " ".join(f"{run.seconds_per_step:{width}.3f}" for run in scored.values()))
    return f"{metric.replace('_', ' ')} by source length (words)\n" + "\n".join(lines)
