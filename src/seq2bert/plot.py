"""Plots of the course: attention heatmaps, training curves, quality vs sentence length.

Matplotlib only (no framework imports): pass NumPy arrays, e.g. `tensor.detach().cpu().numpy()`
in PyTorch or `tensor.numpy()` in TensorFlow. Every function returns its Figure and shows
nothing by itself: end a notebook cell with the call (or `display(fig)`) to see it. Figures a
function creates are detached from pyplot, so Jupyter does not draw them a second time.

Shape legend: T target length, S source length.
"""
from __future__ import annotations

import inspect
import math
from typing import Any, Mapping, Sequence

import numpy as np

# rcParams of the course style; applied only by use_course_style().
COURSE_STYLE = {
    "figure.figsize": (6.4, 4.0),
    "figure.dpi": 100,
    "figure.autolayout": False,
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "axes.grid": True,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "grid.alpha": 0.3,
    "legend.frameon": False,
    "lines.linewidth": 2.0,
    "image.cmap": "viridis",
    "savefig.bbox": "tight",
}
# Labels get smaller as sentences get longer, between these sizes (points).
_LARGEST_LABEL, _SMALLEST_LABEL = 10.0, 6.0


def use_course_style() -> None:
    """Apply the course's plot style (larger fonts, light grid, no top/right spines)."""
    import matplotlib

    matplotlib.rcParams.update(COURSE_STYLE)


def _subplots(nrows: int = 1, ncols: int = 1, figsize: tuple[float, float] | None = None):
    """A new figure and axes grid that pyplot will not show on its own."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, layout="constrained")
    # Detaching from pyplot: the caller decides whether to show the returned figure.
    plt.close(fig)
    return fig, axes


def _as_array(values: Any, name: str) -> np.ndarray:
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"{name} must be array-like numbers (for a tensor, pass .numpy()): {error}") from None


def _label_size(count: int) -> float:
    """Tick label size for `count` labels: full size up to 24, shrinking to 6 points at 40+."""
    return float(np.clip(240.0 / max(count, 1), _SMALLEST_LABEL, _LARGEST_LABEL))


def attention_heatmap(weights: Any, source_tokens: Sequence[str], target_tokens: Sequence[str],
                      ax: Any = None, title: str | None = None):
    """Heatmap of attention weights (T, S): source tokens along x, target tokens along y."""
    weights = _as_array(weights, "weights")
    source_tokens = [str(token) for token in source_tokens]
    target_tokens = [str(token) for token in target_tokens]
    if weights.ndim != 2 or weights.shape != (len(target_tokens), len(source_tokens)):
        raise ValueError(f"weights have shape {weights.shape} but there are {len(target_tokens)} target "
                         f"and {len(source_tokens)} source tokens; expected (T, S) = "
                         f"({len(target_tokens)}, {len(source_tokens)})")
    if ax is None:
        width = float(np.clip(0.3 * len(source_tokens) + 2.5, 4.0, 14.0))
        height = float(np.clip(0.3 * len(target_tokens) + 1.5, 3.0, 12.0))
        fig, axes = _subplots(figsize=(width, height))
        ax = axes[0, 0]
    image = ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
    ax.grid(False)
    ax.set_xticks(range(len(source_tokens)))
    ax.set_xticklabels(source_tokens, rotation=90, fontsize=_label_size(len(source_tokens)))
    ax.set_yticks(range(len(target_tokens)))
    ax.set_yticklabels(target_tokens, fontsize=_label_size(len(target_tokens)))
    ax.set_xlabel("source")
    ax.set_ylabel("target")
    if title is not None:
        ax.set_title(title)
    ax.figure.colorbar(image, ax=ax, label="attention weight", shrink=0.9)
    return ax.figure


def attention_grid(examples: Sequence[Mapping[str, Any]], ncols: int = 2, title: str | None = None):
    """Several attention heatmaps; each example is a dict with weights, source, target, title."""
    examples = list(examples)
    if not examples:
        raise ValueError("attention_grid needs at least one example")
    if ncols < 1:
        raise ValueError(f"ncols must be at least 1, got {ncols}")
    for index, example in enumerate(examples):
        missing = [key for key in ("weights", "source", "target") if key not in example]
        if missing:
            raise ValueError(f"example {index} lacks {', '.join(missing)}; each example is "
                             f"dict(weights=(T, S) array, source=tokens, target=tokens, title=str)")
    ncols = min(ncols, len(examples))
    nrows = math.ceil(len(examples) / ncols)
    longest = max(max(len(e["source"]), len(e["target"])) for e in examples)
    side = float(np.clip(0.25 * longest + 2.5, 3.5, 8.0))
    fig, axes = _subplots(nrows, ncols, figsize=(side * ncols + 1.0, side * nrows))
    for index, ax in enumerate(axes.flat):
        if index < len(examples):
            example = examples[index]
            attention_heatmap(example["weights"], example["source"], example["target"], ax=ax,
                              title=example.get("title"))
        else:
            ax.set_visible(False)
    if title is not None:
        fig.suptitle(title)
    return fig


def moving_average(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing mean over the last `window` values (fewer at the start); same length as values."""
    values = np.asarray(values, dtype=float)
    if window < 1:
        raise ValueError(f"the smoothing window must be at least 1, got {window}")
    sums = np.cumsum(np.concatenate([[0.0], values]))
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - window, 0)
    return (sums[ends] - sums[starts]) / (ends - starts)


def training_curves(histories: Mapping[str, Sequence[float]], ylabel: str = "loss", smooth: int = 1,
                    title: str | None = None):
    """One curve per history (values per step); smooth > 1 adds a trailing moving average."""
    if not histories:
        raise ValueError("training_curves needs at least one history")
    if smooth < 1:
        raise ValueError(f"smooth must be at least 1, got {smooth}")
    fig, axes = _subplots()
    ax = axes[0, 0]
    for name, history in histories.items():
        values = _as_array(history, f"history {name!r}")
        if values.ndim != 1 or len(values) == 0:
            raise ValueError(f"history {name!r} must be a non-empty list of numbers")
        steps = np.arange(1, len(values) + 1)
        if smooth > 1:
            (raw,) = ax.plot(steps, values, alpha=0.25, linewidth=1.0)
            ax.plot(steps, moving_average(values, smooth), color=raw.get_color(), label=name)
        else:
            ax.plot(steps, values, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel if smooth == 1 else f"{ylabel} (mean of last {smooth} steps)")
    ax.legend()
    if title is not None:
        ax.set_title(title)
    return fig


def quality_vs_length(results: Mapping[str, Mapping[str, float]], ylabel: str = "token accuracy",
                      title: str | None = None):
    """Quality per source-length bucket, one line per model (cf. Bahdanau et al. 2015, Fig. 2).

    `results` maps model name -> {bucket: value}; buckets keep the order of first appearance.
    Values in [0, 1] get a y axis from 0 to 1; values up to 100 (BLEU) one from 0 to 100.
    """
    if not results:
        raise ValueError("quality_vs_length needs at least one model")
    buckets: list[str] = []
    for per_bucket in results.values():
        buckets.extend(b for b in per_bucket if b not in buckets)
    values = [v for per_bucket in results.values() for v in per_bucket.values()]
    # sacrebleu can return 100.00000000000001 for a perfect bucket: round off float noise.
    finite = [round(float(v), 9) for v in values if np.isfinite(v)]
    top = 1.0 if all(0.0 <= v <= 1.0 for v in finite) else 100.0
    if any(v < 0.0 or v > 100.0 for v in finite):
        raise ValueError("quality values must lie in [0, 1] (fractions) or [0, 100] (BLEU)")
    fig, axes = _subplots()
    ax = axes[0, 0]
    positions = np.arange(len(buckets))
    for name, per_bucket in results.items():
        ys = [float(per_bucket.get(b, np.nan)) for b in buckets]
        # clip_on=False keeps markers at exactly 0 or 1 whole.
        ax.plot(positions, ys, marker="o", label=name, clip_on=False)
    ax.set_xticks(positions)
    ax.set_xticklabels([str(b) for b in buckets])
    ax.set_xlabel("source length (tokens)")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0.0, top)
    ax.legend()
    if title is not None:
        ax.set_title(title)
    return fig


def _in_jupyter() -> bool:
    """True inside a Jupyter kernel (where rich display works)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def show_source(obj: Any) -> None:
    """Show the source of a class or function: highlighted in Jupyter, plain text elsewhere."""
    # An instance (a layer object, say) shows its class.
    shown = inspect.ismodule(obj) or inspect.isclass(obj) or inspect.isroutine(obj)
    target = obj if shown else type(obj)
    target = inspect.unwrap(target) if inspect.isroutine(target) else target
    try:
        source = inspect.getsource(target)
    except (OSError, TypeError):
        name = getattr(target, "__qualname__", repr(target))
        raise ValueError(f"no Python source is available for {name} (built-in or defined interactively?)") from None
    if _in_jupyter():
        from IPython.display import Code, display

        display(Code(source, language="python"))
    else:
        print(source)


def mask_grid(masks: Mapping[str, Any], query_labels: Sequence[str] | None = None,
              key_labels: Sequence[str] | None = None, title: str | None = None):
    """Boolean masks (T, S) side by side, one panel each: dark where a query may attend (True)."""
    if not masks:
        raise ValueError("mask_grid needs at least one mask")
    arrays = {}
    for name, mask in masks.items():
        array = np.asarray(mask)
        if array.dtype != bool or array.ndim != 2:
            raise ValueError(f"mask {name!r} must be a 2-D bool array (T, S), got {array.dtype} of shape {array.shape}; "
                             f"pick one sequence and head, e.g. mask[0, 0]")
        arrays[name] = array
    fig, axes = _subplots(1, len(arrays), figsize=(2.6 * len(arrays) + 0.6, 3.2))
    for ax, (name, array) in zip(axes[0], arrays.items()):
        ax.imshow(array, cmap="Blues", vmin=0, vmax=1.3, interpolation="nearest")
        ax.grid(False)
        for (row, column), allowed in np.ndenumerate(array):
            ax.text(column, row, "✓" if allowed else "·", ha="center", va="center",
                    color="white" if allowed else "0.5", fontsize=_label_size(array.shape[1]))
        queries, keys = array.shape
        ax.set_xticks(range(keys))
        ax.set_xticklabels(key_labels if key_labels is not None and len(key_labels) == keys else range(keys))
        ax.set_yticks(range(queries))
        ax.set_yticklabels(query_labels if query_labels is not None and len(query_labels) == queries else range(queries))
        ax.set_xlabel("key")
        ax.set_ylabel("query")
        ax.set_title(name)
    if title is not None:
        fig.suptitle(title)
    return fig


def scaling_curves(sweep: Any, title: str | None = None):
    """Attention entropy and softmax gradient norm against d_k, with and without 1/sqrt(d_k).

    `sweep` is a `seq2bert.experiments.scaling.ScalingSweep` (or anything with its fields).
    """
    widths = _as_array(sweep.widths, "widths")
    fig, axes = _subplots(1, 2, figsize=(10.0, 3.8))
    panels = (("entropy", "attention entropy (nats)"), ("gradient_norm", "‖∂ softmax / ∂ scores‖"))
    for ax, (name, ylabel) in zip(axes[0], panels):
        ax.plot(widths, _as_array(getattr(sweep, name), name), marker="o", label="q·k (unscaled)")
        ax.plot(widths, _as_array(getattr(sweep, name + "_scaled"), name), marker="o", label="q·k / √d_k")
        ax.set_xscale("log", base=2)
        ax.set_xticks(widths)
        ax.set_xticklabels([str(int(w)) for w in widths])
        ax.set_xlabel("key width d_k")
        ax.set_ylabel(ylabel)
        ax.set_ylim(bottom=0.0)
    axes[0, 0].axhline(sweep.max_entropy, color="0.5", linestyle="--", linewidth=1.0,
                       label=f"uniform over {sweep.keys} keys")
    axes[0, 0].set_ylim(0.0, 1.08 * sweep.max_entropy)
    axes[0, 0].legend()
    if title is not None:
        fig.suptitle(title)
    return fig


def cost_vs_length(seconds: Mapping[str, Mapping[int, float]], title: str | None = None):
    """Time per call against sequence length, one line per implementation (log-log axes)."""
    if not seconds:
        raise ValueError("cost_vs_length needs at least one implementation")
    fig, axes = _subplots()
    ax = axes[0, 0]
    lengths: list[int] = []
    for name, per_length in seconds.items():
        xs = sorted(per_length)
        lengths.extend(x for x in xs if x not in lengths)
        ax.plot(xs, [1000.0 * per_length[x] for x in xs], marker="o", label=name)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(sorted(lengths))
    ax.set_xticklabels([str(x) for x in sorted(lengths)])
    ax.set_xlabel("sequence length (T = S)")
    ax.set_ylabel("milliseconds per call")
    ax.legend()
    if title is not None:
        ax.set_title(title)
    return fig


def encoding_heatmap(table: Any, title: str | None = None):
    """A positional encoding table (T, D) as an image: positions down, dimensions across."""
    table = _as_array(table, "table")
    if table.ndim != 2:
        raise ValueError(f"the table must be (positions, dimensions), got shape {table.shape}")
    fig, axes = _subplots(figsize=(7.0, 4.5))
    ax = axes[0, 0]
    limit = max(float(np.abs(table).max()), 1e-12)
    image = ax.imshow(table, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto", interpolation="nearest")
    ax.grid(False)
    ax.set_xlabel("dimension")
    ax.set_ylabel("position")
    fig.colorbar(image, ax=ax, shrink=0.9)
    if title is not None:
        ax.set_title(title)
    return fig


def line_chart(x: Sequence[float], series: Mapping[str, Sequence[float]], xlabel: str, ylabel: str,
               title: str | None = None):
    """One line per named series over the same x values (e.g. a dot product against the offset)."""
    xs = _as_array(x, "x")
    if not series:
        raise ValueError("line_chart needs at least one series")
    fig, axes = _subplots()
    ax = axes[0, 0]
    for name, values in series.items():
        ys = _as_array(values, f"series {name!r}")
        if ys.shape != xs.shape:
            raise ValueError(f"series {name!r} has {ys.shape} values but x has {xs.shape}")
        ax.plot(xs, ys, marker="o", markersize=3, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    if title is not None:
        ax.set_title(title)
    return fig


def accuracy_by_position(accuracy: Mapping[str, Sequence[float]], trained_length: int | None = None,
                         title: str | None = None):
    """Accuracy at each position (0 .. T-1), one line per model; a dashed line after the trained positions."""
    if not accuracy:
        raise ValueError("accuracy_by_position needs at least one model")
    fig, axes = _subplots()
    ax = axes[0, 0]
    for name, values in accuracy.items():
        ys = _as_array(values, f"accuracy of {name!r}")
        if ys.ndim != 1:
            raise ValueError(f"accuracy of {name!r} must be one number per position, got shape {ys.shape}")
        ax.plot(np.arange(len(ys)), ys, marker="o", markersize=3, label=name, clip_on=False)
    if trained_length is not None:
        ax.axvline(trained_length - 0.5, color="0.5", linestyle="--", linewidth=1.0,
                   label=f"trained on positions 0-{trained_length - 1}")
    ax.set_xlabel("position")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0.0, 1.0)
    ax.legend()
    if title is not None:
        ax.set_title(title)
    return fig


# --- Unit 05: the Transformer ---


def learning_rate_schedule(rates: Mapping[str, Sequence[float]], warmup: int | None = None,
                           title: str | None = None):
    """Learning rate at steps 1, 2, ..., one line per schedule; a dashed line at the end of the warm-up."""
    if not rates:
        raise ValueError("learning_rate_schedule needs at least one schedule")
    fig, axes = _subplots()
    ax = axes[0, 0]
    for name, values in rates.items():
        ys = _as_array(values, f"schedule {name!r}")
        if ys.ndim != 1 or len(ys) == 0:
            raise ValueError(f"schedule {name!r} must be one learning rate per step, got shape {ys.shape}")
        ax.plot(np.arange(1, len(ys) + 1), ys, label=name)
    if warmup is not None:
        ax.axvline(warmup, color="0.5", linestyle="--", linewidth=1.0, label=f"end of warm-up (step {warmup})")
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    ax.set_ylim(bottom=0.0)
    ax.legend()
    if title is not None:
        ax.set_title(title)
    return fig


def loss_curves_side_by_side(panels: Mapping[str, Mapping[str, Sequence[float]]], smooth: int = 1,
                             ylabel: str = "loss", title: str | None = None):
    """One panel per group of training curves (e.g. "with warm-up", "without"), on a shared y axis."""
    if not panels or not all(panels.values()):
        raise ValueError("loss_curves_side_by_side needs at least one panel, each with at least one curve")
    if smooth < 1:
        raise ValueError(f"smooth must be at least 1, got {smooth}")
    fig, axes = _subplots(1, len(panels), figsize=(4.6 * len(panels) + 0.6, 3.8))
    for ax, (panel, histories) in zip(axes[0], panels.items()):
        for name, history in histories.items():
            values = _as_array(history, f"history {name!r}")
            if values.ndim != 1 or len(values) == 0:
                raise ValueError(f"history {name!r} in panel {panel!r} must be a non-empty list of numbers")
            (line,) = ax.plot(np.arange(1, len(values) + 1), values, alpha=0.25 if smooth > 1 else 1.0,
                              linewidth=1.0 if smooth > 1 else 2.0, label=None if smooth > 1 else name)
            if smooth > 1:
                ax.plot(np.arange(1, len(values) + 1), moving_average(values, smooth), color=line.get_color(),
                        label=name)
        ax.set_title(panel)
        ax.set_xlabel("step")
        ax.legend()
    shared = [ax for ax in axes[0]]
    low = min(ax.get_ylim()[0] for ax in shared)
    high = max(ax.get_ylim()[1] for ax in shared)
    for ax in shared:
        ax.set_ylim(low, high)
    axes[0, 0].set_ylabel(ylabel if smooth == 1 else f"{ylabel} (mean of last {smooth} steps)")
    if title is not None:
        fig.suptitle(title)
    return fig


def quality_vs_seconds(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
                       ylabel: str = "exact match", title: str | None = None):
    """Quality against training seconds, one line per model: `curves` maps name -> (seconds, values)."""
    if not curves:
        raise ValueError("quality_vs_seconds needs at least one model")
    fig, axes = _subplots()
    ax = axes[0, 0]
    top = 1.0
    for name, pair in curves.items():
        if len(pair) != 2:
            raise ValueError(f"curve {name!r} must be (seconds, values), got {len(pair)} sequences")
        seconds, values = _as_array(pair[0], f"seconds of {name!r}"), _as_array(pair[1], f"values of {name!r}")
        if seconds.ndim != 1 or seconds.shape != values.shape or len(seconds) == 0:
            raise ValueError(f"curve {name!r} has {seconds.shape} seconds and {values.shape} values; "
                             f"expected the same non-zero number of each")
        if np.any(np.diff(seconds) < 0):
            raise ValueError(f"the seconds of {name!r} must not decrease (training time so far at each checkpoint)")
        if np.nanmax(values) > 1.0:
            top = 100.0  # BLEU
        ax.plot(seconds, values, marker="o", markersize=4, label=name, clip_on=False)
    ax.set_xlabel("training seconds")
    ax.set_ylabel(ylabel)
    ax.set_xlim(left=0.0)
    ax.set_ylim(0.0, top)
    ax.legend()
    if title is not None:
        ax.set_title(title)
    return fig


def head_heatmaps(weights: Any, source_tokens: Sequence[str], target_tokens: Sequence[str], ncols: int = 2,
                  title: str | None = None):
    """One attention heatmap per head: weights (H, T, S), source tokens along x, target tokens along y."""
    weights = _as_array(weights, "weights")
    if weights.ndim != 3:
        raise ValueError(f"weights must be (H, T, S) for one sentence, got shape {weights.shape}; "
                         f"pick a sentence first, e.g. weights[0]")
    examples = [dict(weights=head, source=source_tokens, target=target_tokens, title=f"head {h + 1}")
                for h, head in enumerate(weights)]
    return attention_grid(examples, ncols=ncols, title=title)


def self_attention_maps(weights: Sequence[Any], tokens: Sequence[str], title: str | None = None):
    """Encoder self-attention of one sentence: one row per layer, one column per head; `weights` is a list
    per layer of (H, S, S) arrays (or one (layers, H, S, S) array), queries down, keys across."""
    layers = [_as_array(layer, f"weights of layer {index + 1}") for index, layer in enumerate(weights)]
    tokens = [str(token) for token in tokens]
    if not layers:
        raise ValueError("self_attention_maps needs the weights of at least one layer")
    for index, layer in enumerate(layers):
        if layer.ndim != 3 or layer.shape[1:] != (len(tokens), len(tokens)) or layer.shape[0] != layers[0].shape[0]:
            raise ValueError(f"layer {index + 1} has weights of shape {layer.shape}; expected (H, S, S) = "
                             f"({layers[0].shape[0]}, {len(tokens)}, {len(tokens)}) for {len(tokens)} tokens")
    heads = layers[0].shape[0]
    side = float(np.clip(0.16 * len(tokens) + 1.6, 2.4, 5.0))
    fig, axes = _subplots(len(layers), heads, figsize=(side * heads + 0.8, side * len(layers)))
    size = _label_size(len(tokens) * 2)
    for row, layer in enumerate(layers):
        for head in range(heads):
            ax = axes[row, head]
            image = ax.imshow(layer[head], cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.grid(False)
            ax.set_xticks(range(len(tokens)))
            ax.set_xticklabels(tokens if row == len(layers) - 1 else [], rotation=90, fontsize=size)
            ax.set_yticks(range(len(tokens)))
            ax.set_yticklabels(tokens if head == 0 else [], fontsize=size)
            ax.set_title(f"layer {row + 1}, head {head + 1}", fontsize=_LARGEST_LABEL)
    fig.colorbar(image, ax=axes.ravel().tolist(), label="attention weight", shrink=0.8)
    if title is not None:
        fig.suptitle(title)
    return fig
