"""Architecture diagrams of the course, drawn with matplotlib (nothing is downloaded).

Each function returns a Figure about 9 inches wide and shows nothing by itself, like the
functions of `seq2bert.plot`. `python -m seq2bert figures` writes them as SVG files into
lessons/figures/ (byte for byte the same on every run); `--check` lists the stale ones.

Colours are from the Okabe-Ito palette, which stays distinct under colour blindness; every
box also carries its name, so nothing is told by colour alone.
"""
from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import Callable, Sequence

# Okabe-Ito colours: (edge, light fill) per role.
ENCODER = ("#0072B2", "#D6EAF8")
DECODER = ("#D55E00", "#FBE3CF")
ATTENTION = ("#009E73", "#CCEFE3")
CONTEXT = ("#CC79A7", "#F5DDEA")
OUTPUT = ("#E69F00", "#FDEFCC")
INK = "#222222"

SOURCE = ("the", "black", "cat")
TARGET = ("le", "chat", "noir", "<eos>")

# Drawing and saving settings: fixed here so a figure looks (and saves) the same whatever
# style the notebook set, and the SVG text stays text.
_RC = {
    # Matplotlib lays text out with its bundled DejaVu fonts; the SVG names fallbacks for viewers.
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Verdana", "Arial", "Helvetica"],
    "font.monospace": ["DejaVu Sans Mono", "Menlo", "Consolas"],
    "mathtext.fontset": "dejavusans",
    "svg.fonttype": "none",
    "svg.hashsalt": "seq2bert",
    "svg.id": None,
    "axes.grid": False,
    "savefig.bbox": None,
    "savefig.facecolor": "white",
}
_FONT = 10.0
_SMALL = 8.5


def _canvas(width: float, height: float):
    """A figure whose single axes uses inches as data units, with the axes hidden."""
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(width, height))
    # Detached from pyplot: the caller decides whether to show it (see seq2bert.plot).
    plt.close(fig)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0.0, width)
    ax.set_ylim(0.0, height)
    ax.set_axis_off()
    return fig, ax


def _box(ax, x: float, y: float, w: float, h: float, text: str, colours: tuple[str, str],
         size: float = _FONT):
    """A rounded box centred on (x, y) with centred text."""
    from matplotlib.patches import FancyBboxPatch

    edge, fill = colours
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0,rounding_size=0.06",
                                facecolor=fill, edgecolor=edge, linewidth=1.4))
    ax.text(x, y, text, ha="center", va="center", fontsize=size, color=INK)


def _arrow(ax, points: Sequence[tuple[float, float]], colour: str = INK):
    """A polyline through `points` with an arrow head at the last one."""
    xs, ys = zip(*points)
    if len(points) > 2:
        ax.plot(xs[:-1], ys[:-1], color=colour, linewidth=1.3, solid_capstyle="butt")
    ax.annotate("", xy=points[-1], xytext=points[-2],
                arrowprops=dict(arrowstyle="-|>", color=colour, linewidth=1.3, shrinkA=0, shrinkB=0,
                                mutation_scale=11))


def _label(ax, x: float, y: float, text: str, size: float = _FONT, colour: str = INK, **kwargs):
    ax.text(x, y, text, fontsize=size, color=colour, **kwargs)


def _token(ax, x: float, y: float, word: str, symbol: str, symbol_above: bool = False):
    """A word with its symbol under it (or above it)."""
    _label(ax, x, y, word, ha="center", va="center", family="monospace")
    _label(ax, x, y + (0.27 if symbol_above else -0.27), symbol, ha="center", va="center")


def _draw_encoder_decoder(ax, attention: bool) -> None:
    """Encoder over SOURCE and decoder producing TARGET, on axes with inch units."""
    enc_step, dec_step, box_w = 0.8, 1.5, 0.56
    gru_y, in_y, out_y = 1.55, 0.65, 2.85
    enc_x = [0.5 + enc_step * j for j in range(len(SOURCE))]
    dec_x0 = enc_x[-1] + 1.55
    dec_x = [dec_x0 + dec_step * i for i in range(len(TARGET))]
    half = box_w / 2
    for j, (x, word) in enumerate(zip(enc_x, SOURCE), start=1):
        _token(ax, x, in_y, word, f"$x_{j}$")
        _arrow(ax, [(x, in_y + 0.15), (x, gru_y - 0.25)], ENCODER[0])
        _box(ax, x, gru_y, box_w, 0.5, "GRU", ENCODER)
        if j < len(SOURCE):
            _arrow(ax, [(x + half, gru_y), (enc_x[j] - half, gru_y)], ENCODER[0])
            _label(ax, (x + enc_x[j]) / 2, gru_y - 0.1, f"$h_{j}$", ha="center", va="top")
    inputs = ("<bos>",) + TARGET[:-1]
    for i, (x, word, out) in enumerate(zip(dec_x, inputs, TARGET), start=1):
        _token(ax, x - 0.1, in_y, word, f"$y_{i - 1}$" if i > 1 else "")
        _arrow(ax, [(x - 0.1, in_y + 0.15), (x - 0.1, gru_y - 0.25)], DECODER[0])
        _box(ax, x, gru_y, box_w, 0.5, "GRU", DECODER)
        _arrow(ax, [(x + 0.1, gru_y + 0.25), (x + 0.1, out_y - 0.17)], DECODER[0])
        _token(ax, x + 0.1, out_y, out, f"$y_{i}$", symbol_above=True)
        if i < len(TARGET):
            _arrow(ax, [(x + half, gru_y), (dec_x[i] - half, gru_y)], DECODER[0])
            _label(ax, dec_x[i] - 0.42 * dec_step, gru_y - 0.1, f"$s_{i}$", ha="center", va="top")
    # The decoder's first state is the encoder's last one in both models.
    last = enc_x[-1] + half
    if not attention:
        c_x = (last + dec_x[0] - half) / 2
        _arrow(ax, [(last, gru_y), (c_x - 0.17, gru_y)], ENCODER[0])
        ax.add_patch(_circle(c_x, gru_y, 0.17, CONTEXT))
        _label(ax, c_x, gru_y, "$c$", ha="center", va="center")
        _label(ax, c_x, gru_y + 0.3, "$c = h_S$", ha="center", va="bottom", size=_SMALL)
        _arrow(ax, [(c_x + 0.17, gru_y), (dec_x[0] - half, gru_y)], CONTEXT[0])
        _label(ax, (c_x + dec_x[0] - half) / 2 + 0.04, gru_y - 0.1, "$s_0$", ha="center", va="top")
        # c also enters every step next to the previous word (Cho et al. 2014).
        bus_y = 0.18
        _arrow(ax, [(c_x, gru_y - 0.17), (c_x, bus_y), (dec_x[0] + 0.16, bus_y), (dec_x[0] + 0.16, gru_y - 0.25)],
               CONTEXT[0])
        for x in dec_x[1:]:
            _arrow(ax, [(x - dec_step + 0.16, bus_y), (x + 0.16, bus_y), (x + 0.16, gru_y - 0.25)], CONTEXT[0])
        _label(ax, c_x + 0.1, bus_y - 0.04, "$c$ also enters every step, next to the previous word",
               size=_SMALL, colour=CONTEXT[0], ha="left", va="top")
        return
    # Attention: every encoder state goes up to a bus that feeds an attention block per step.
    bus_y, att_y = 3.55, 2.35
    att_w = 0.62
    for j, x in enumerate(enc_x, start=1):
        ax.plot([x, x], [gru_y + 0.25, bus_y], color=ATTENTION[0], linewidth=1.3)
        _label(ax, x + 0.05, 2.3, f"$h_{j}$", ha="left", va="center")
    att_x = [x - 0.33 * dec_step for x in dec_x]
    ax.plot([enc_x[0], att_x[-1]], [bus_y, bus_y], color=ATTENTION[0], linewidth=1.3)
    _label(ax, enc_x[0], bus_y + 0.08, "every encoder state $h_1 \\dots h_S$ (keys and values), at every step",
           size=_SMALL, colour=ATTENTION[0], ha="left", va="bottom")
    _arrow(ax, [(last, gru_y), (dec_x[0] - half, gru_y)], DECODER[0])
    _label(ax, (last + att_x[0] - att_w / 2) / 2, gru_y - 0.1, "$s_0 = h_S$", ha="center", va="top", size=_SMALL)
    for i, (x, ax_x) in enumerate(zip(dec_x, att_x), start=1):
        _box(ax, ax_x, att_y, att_w, 0.4, "attend", ATTENTION)
        _arrow(ax, [(ax_x, bus_y), (ax_x, att_y + 0.2)], ATTENTION[0])
        # The query is the PREVIOUS state s_{i-1}, taken from the line into this step.
        riser = ax_x - att_w / 2 + 0.06
        _arrow(ax, [(riser, gru_y), (riser, att_y - 0.2)], DECODER[0])
        c_x = x - half + 0.06
        _arrow(ax, [(c_x, att_y - 0.2), (c_x, gru_y + 0.25)], ATTENTION[0])
        _label(ax, c_x + 0.05, (att_y + gru_y) / 2 - 0.05, f"$c_{i}$", ha="left", va="center",
               colour=ATTENTION[0])


def _circle(x: float, y: float, r: float, colours: tuple[str, str]):
    from matplotlib.patches import Circle

    return Circle((x, y), r, facecolor=colours[1], edgecolor=colours[0], linewidth=1.4)


def encoder_decoder(attention: bool = False):
    """The encoder-decoder of unit 01, or with attention=True the attention model of unit 02."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        height = 4.3 if attention else 3.75
        fig, ax = _canvas(9.0, height)
        _draw_encoder_decoder(ax, attention)
        title = ("Encoder-decoder with attention (unit 02): each step looks at every $h_j$" if attention else
                 "Encoder-decoder without attention (unit 01): the source reaches the decoder only through $c$")
        _label(ax, 0.15, height - 0.12, title, size=11, ha="left", va="top", fontweight="bold")
    return fig


def attention_step():
    """One Bahdanau decoder step i: attend with s_{i-1}, update the GRU, predict from [s_i; c_i]."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        fig, ax = _canvas(9.0, 5.2)
        _label(ax, 0.15, 5.05, "One decoder step $i$ with additive (Bahdanau) attention", size=11,
               ha="left", va="top", fontweight="bold")
        rows = [2.85, 2.15, 1.45]
        top, bottom = rows[0] + 0.32, rows[-1] - 0.32
        # Encoder states, used twice: as keys (scores) and as values (weighted sum).
        for j, (y, word) in enumerate(zip(rows, SOURCE), start=1):
            _box(ax, 0.75, y, 1.1, 0.45, f"$h_{j}$  ({word})", ENCODER)
            _arrow(ax, [(1.3, y), (2.3, y)], ENCODER[0])
        _label(ax, 0.2, top + 0.12, "encoder states, as keys", ha="left", va="bottom", size=_SMALL, colour=ENCODER[0])
        # Previous decoder state: the query.
        s_y = 4.15
        _box(ax, 0.75, s_y, 1.1, 0.45, "$s_{i-1}$", DECODER)
        _label(ax, 0.2, s_y + 0.3, "previous state, the query", ha="left", va="bottom", size=_SMALL, colour=DECODER[0])
        _arrow(ax, [(2.85, s_y), (2.85, top)], DECODER[0])
        # Scores.
        _box(ax, 2.85, (top + bottom) / 2, 1.1, top - bottom, "", ATTENTION)
        for j, y in enumerate(rows, start=1):
            _label(ax, 2.85, y, f"$e_{{i{j}}}$", ha="center", va="center")
        _label(ax, 2.95, 3.45, "score  $e_{ij} = v^\\top \\tanh(s_{i-1} W_q + h_j W_k)$", ha="left",
               va="center", colour=ATTENTION[0])
        # Softmax over the source positions.
        _box(ax, 4.3, (top + bottom) / 2, 0.95, top - bottom, "softmax\nover $j$", ATTENTION)
        for y in rows:
            _arrow(ax, [(3.4, y), (3.82, y)], ATTENTION[0])
            _arrow(ax, [(4.78, y), (5.55, y)], ATTENTION[0])
        for j, y in enumerate(rows, start=1):
            _label(ax, 5.16, y + 0.05, f"$\\alpha_{{i{j}}}$", ha="center", va="bottom")
        # Weighted sum of the values.
        sum_x = 6.0
        _box(ax, sum_x, (top + bottom) / 2, 0.9, top - bottom, "$c_i =$\n$\\sum_j \\alpha_{ij} h_j$", CONTEXT)
        values_y = 0.75
        _arrow(ax, [(0.75, rows[-1] - 0.225), (0.75, values_y), (sum_x, values_y), (sum_x, bottom)], ENCODER[0])
        _label(ax, 3.4, values_y - 0.07, "the same $h_j$ again, now as values", ha="center", va="top",
               size=_SMALL, colour=ENCODER[0])
        # GRU on [y_{i-1}; c_i] with s_{i-1}, on the state line at the top.
        gru_x = 7.1
        _arrow(ax, [(1.3, s_y), (gru_x - 0.5, s_y)], DECODER[0])
        _box(ax, gru_x, s_y, 1.0, 0.5, "GRU", DECODER)
        _arrow(ax, [(gru_x - 0.2, 4.85), (gru_x - 0.2, s_y + 0.25)], DECODER[0])
        _label(ax, gru_x - 0.28, 4.78, "$y_{i-1}$", ha="right", va="center")
        _label(ax, gru_x - 0.1, 4.78, "input $[y_{i-1};\\, c_i]$", ha="left", va="center", size=_SMALL)
        mid = (top + bottom) / 2
        _arrow(ax, [(sum_x + 0.45, mid), (gru_x, mid), (gru_x, s_y - 0.25)], CONTEXT[0])
        _label(ax, gru_x - 0.06, 3.2, "$c_i$", ha="right", va="center", colour=CONTEXT[0])
        # The new state goes on to the next step and, with c_i, to the output layer.
        out_x, out_y = 8.3, 1.35
        _arrow(ax, [(gru_x + 0.5, s_y), (8.95, s_y)], DECODER[0])
        _label(ax, gru_x + 0.6, s_y + 0.05, "$s_i$ (to step $i+1$)", ha="left", va="bottom", size=_SMALL)
        _arrow(ax, [(out_x + 0.2, s_y), (out_x + 0.2, out_y + 0.35)], DECODER[0])
        _arrow(ax, [(gru_x, mid), (out_x - 0.3, mid), (out_x - 0.3, out_y + 0.35)], CONTEXT[0])
        _box(ax, out_x, out_y, 1.1, 0.7, "output layer\non $[s_i;\\, c_i]$", OUTPUT, size=_SMALL)
        _arrow(ax, [(out_x, out_y - 0.35), (out_x, 0.75)], OUTPUT[0])
        _label(ax, out_x, 0.7, "logits over $V$", ha="center", va="top", size=_SMALL)
        # The order, numbered: attention uses the state from BEFORE the update.
        steps = [(2.85 - 0.35, s_y - 0.4, "1"), (sum_x, top + 0.25, "2"), (gru_x + 0.45, s_y - 0.5, "3"),
                 (out_x - 0.75, out_y - 0.15, "4")]
        for x, y, number in steps:
            ax.add_patch(_circle(x, y, 0.14, ("#000000", "#FFFFFF")))
            _label(ax, x, y, number, ha="center", va="center", size=_SMALL, fontweight="bold")
        _label(ax, 0.15, 0.32, "Order: (1) score with the PREVIOUS state $s_{i-1}$, (2) build $c_i$, "
               "(3) the GRU gives $s_i$, (4) predict from $[s_i;\\, c_i]$.", size=_FONT, ha="left", va="center")
        _label(ax, 0.15, 0.08, "Luong et al. (2015) attend with the new state $s_i$ instead: a different model.",
               size=_SMALL, ha="left", va="center")
    return fig


def bottleneck_vs_attention():
    """The unit 01 and unit 02 models one above the other, at the same scale."""
    import matplotlib.pyplot as plt
    import matplotlib

    with matplotlib.rc_context(_RC):
        low, high = 3.6, 4.4
        fig = plt.figure(figsize=(9.0, low + high))
        plt.close(fig)
        for bottom, height, attention, title in [
            (0.0, high, True, "With attention (unit 02): a fresh context $c_i$ per step, from every $h_j$"),
            (high, low, False, "Without attention (unit 01): one vector $c$ for the whole source"),
        ]:
            ax = fig.add_axes((0.0, bottom / (low + high), 1.0, height / (low + high)))
            ax.set_xlim(0.0, 9.0)
            ax.set_ylim(0.0, height)
            ax.set_axis_off()
            _draw_encoder_decoder(ax, attention)
            _label(ax, 0.15, height - 0.05, title, size=11, ha="left", va="top", fontweight="bold")
        fig.add_artist(matplotlib.lines.Line2D([0.02, 0.98], [high / (low + high)] * 2, color="#999999",
                                               linewidth=0.8))
    return fig


# File stem -> function that draws it.
FIGURES: dict[str, Callable] = {
    "encoder_decoder": lambda: encoder_decoder(attention=False),
    "encoder_decoder_attention": lambda: encoder_decoder(attention=True),
    "attention_step": attention_step,
    "bottleneck_vs_attention": bottleneck_vs_attention,
}
TITLES = {
    "encoder_decoder": "RNN encoder-decoder without attention",
    "encoder_decoder_attention": "RNN encoder-decoder with additive attention",
    "attention_step": "One decoder step with additive attention",
    "bottleneck_vs_attention": "Encoder-decoder without and with attention",
}


def svg_bytes(fig, title: str = "") -> bytes:
    """The figure as SVG, the same bytes on every run: fixed ids, no date, text kept as text."""
    import matplotlib

    buffer = io.BytesIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": "seq2bert (matplotlib)",
                                                    "Title": title})
    return buffer.getvalue()


def render_all() -> dict[str, bytes]:
    """File name -> SVG bytes for every figure."""
    return {f"{stem}.svg": svg_bytes(draw(), TITLES[stem]) for stem, draw in FIGURES.items()}


def stale_figures(folder: Path) -> list[str]:
    """Names of the figure files in `folder` that are missing or differ from a fresh drawing."""
    folder = Path(folder)
    return [name for name, data in render_all().items()
            if not (folder / name).is_file() or (folder / name).read_bytes() != data]


def write_figures(folder: Path) -> list[Path]:
    """Write every figure into `folder` (created if needed); returns the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in render_all().items():
        (folder / name).write_bytes(data)
        written.append(folder / name)
    return written


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 listing the figures that are missing or out of date")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the SVG files (default: lessons/figures of this checkout)")


def run(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from seq2bert.units import CourseError, course_root

    folder = args.out if args.out is not None else course_root() / "lessons" / "figures"
    if folder.exists() and not folder.is_dir():
        raise CourseError(f"{folder} is a file; --out needs a folder")
    if args.check:
        stale = stale_figures(folder)
        for name in stale:
            print(f"stale: {folder / name}  (run `python -m seq2bert figures` to redraw it)")
        return 1 if stale else 0
    for path in write_figures(folder):
        print(f"wrote {path} ({path.stat().st_size // 1024} kB)")
    return 0


# ---------------------------------------------------------------- unit 03: scaled dot-product attention

# The worked example of lesson 03 (d_k = 4): one query, three keys, three values.
QKV_QUERY = (1.0, 0.0, 1.0, 0.0)
QKV_KEYS = ((1.0, 0.0, 1.0, 0.0), (0.0, 1.0, 0.0, 1.0), (1.0, 1.0, 0.0, 0.0))
QKV_VALUES = ((1.0, 0.0), (0.0, 1.0), (1.0, 1.0))


def _vector(values: Sequence[float]) -> str:
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


def _scaled_dot_example() -> tuple[list[float], list[float], list[float]]:
    """Scores q·k_j / sqrt(d_k), softmax weights and output of the worked example, in plain Python."""
    import math

    scale = 1.0 / math.sqrt(len(QKV_QUERY))
    scores = [scale * sum(q * k for q, k in zip(QKV_QUERY, key)) for key in QKV_KEYS]
    exps = [math.exp(s - max(scores)) for s in scores]
    weights = [e / sum(exps) for e in exps]
    output = [sum(w * v[i] for w, v in zip(weights, QKV_VALUES)) for i in range(len(QKV_VALUES[0]))]
    return scores, weights, output


def qkv_lookup():
    """Attention as a soft dictionary look-up, on the worked example of lesson 03."""
    import matplotlib

    scores, weights, output = _scaled_dot_example()
    with matplotlib.rc_context(_RC):
        fig, ax = _canvas(9.0, 4.4)
        _label(ax, 0.15, 4.27, "Attention as a soft dictionary look-up: one query against every key "
               "($d_k = 4$)", size=11, ha="left", va="top", fontweight="bold")
        rows = [3.0, 2.25, 1.5]
        top, bottom = rows[0] + 0.3, rows[-1] - 0.3
        mid = rows[1]
        head_y = 3.55
        key_x, score_x, soft_x, value_x, out_x = 2.75, 4.3, 5.3, 6.85, 8.15
        # The query, compared with every key.
        _box(ax, 0.85, mid, 1.3, 0.5, f"$q$ = {_vector(QKV_QUERY)}", DECODER, size=_SMALL)
        _label(ax, 0.85, head_y, "query", ha="center", va="bottom", size=_SMALL, colour=DECODER[0])
        _label(ax, key_x, head_y, "keys (what is stored)", ha="center", va="bottom", size=_SMALL,
               colour=ENCODER[0])
        _label(ax, score_x, head_y, "$q \\cdot k_j \\,/ \\sqrt{d_k}$", ha="center", va="bottom", size=_SMALL,
               colour=ATTENTION[0])
        _label(ax, value_x, head_y, "values (what is returned)", ha="center", va="bottom", size=_SMALL,
               colour=CONTEXT[0])
        for j, (y, key, score) in enumerate(zip(rows, QKV_KEYS, scores), start=1):
            _arrow(ax, [(1.5, mid), (key_x - 0.8, y)], DECODER[0])
            _box(ax, key_x, y, 1.6, 0.45, f"$k_{j}$ = {_vector(key)}", ENCODER, size=_SMALL)
            _arrow(ax, [(key_x + 0.8, y), (score_x - 0.3, y)], ENCODER[0])
            _box(ax, score_x, y, 0.6, 0.45, f"{score:g}", ATTENTION, size=_SMALL)
            _arrow(ax, [(score_x + 0.3, y), (soft_x - 0.35, y)], ATTENTION[0])
        _box(ax, soft_x, mid, 0.7, top - bottom, "soft-\nmax\nover $j$", ATTENTION, size=_SMALL)
        for j, (y, weight, value) in enumerate(zip(rows, weights, QKV_VALUES), start=1):
            _arrow(ax, [(soft_x + 0.35, y), (value_x - 0.55, y)], ATTENTION[0])
            _label(ax, (soft_x + 0.35 + value_x - 0.55) / 2, y + 0.04, f"$\\alpha_{j}$ = {weight:.4f}",
                   ha="center", va="bottom", size=_SMALL)
            _box(ax, value_x, y, 1.1, 0.45, f"$v_{j}$ = {_vector(value)}", CONTEXT, size=_SMALL)
            _arrow(ax, [(value_x + 0.55, y), (out_x - 0.6, y)], CONTEXT[0])
        shown = ", ".join(f"{x:.4f}" for x in output)
        _box(ax, out_x, mid, 1.2, top - bottom, f"output\n$\\sum_j \\alpha_j v_j$\n\n[{shown}]", OUTPUT,
             size=_SMALL)
        _label(ax, 0.15, 0.7, "A hard dictionary returns the value of the one key equal to the query "
               f"(here $v_1$ = {_vector(QKV_VALUES[0])}).", size=_FONT, ha="left", va="center")
        _label(ax, 0.15, 0.35, "Attention returns a blend of every value, weighted by how well its key "
               "matches the query.", size=_FONT, ha="left", va="center")
    return fig


def _mask_grid(ax, x0: float, y_top: float, cell: float, allowed, tokens: Sequence[str]) -> None:
    """A T x S grid of cells, filled where a query (row) may attend to a key (column)."""
    from matplotlib.patches import Rectangle

    edge, fill = ATTENTION
    for t, row in enumerate(allowed):
        for s, ok in enumerate(row):
            ax.add_patch(Rectangle((x0 + s * cell, y_top - (t + 1) * cell), cell, cell,
                                   facecolor=fill if ok else "white", edgecolor=edge if ok else "#BBBBBB",
                                   linewidth=0.8))
            if ok:
                ax.plot([x0 + (s + 0.3) * cell, x0 + (s + 0.45) * cell, x0 + (s + 0.72) * cell],
                        [y_top - (t + 0.52) * cell, y_top - (t + 0.7) * cell, y_top - (t + 0.3) * cell],
                        color=edge, linewidth=1.0)
    for i, word in enumerate(tokens):
        _label(ax, x0 - 0.06, y_top - (i + 0.5) * cell, word, ha="right", va="center", size=_SMALL,
               family="monospace")
        _label(ax, x0 + (i + 0.5) * cell, y_top + 0.06, word, ha="center", va="bottom", size=_SMALL,
               family="monospace", rotation=90)


def attention_masks():
    """Padding and causal masks as grids, combined with AND; left padding leaves rows with no key."""
    import matplotlib

    real = SOURCE + ("<pad>", "<pad>")
    left = ("<pad>", "<pad>") + SOURCE
    n = len(real)
    padding = [[s < len(SOURCE) for s in range(n)] for _ in range(n)]
    causal = [[s <= t for s in range(n)] for t in range(n)]
    combined = [[a and b for a, b in zip(pa, ca)] for pa, ca in zip(padding, causal)]
    left_combined = [[s >= n - len(SOURCE) and s <= t for s in range(n)] for t in range(n)]
    with matplotlib.rc_context(_RC):
        fig, ax = _canvas(9.0, 3.85)
        _label(ax, 0.15, 3.72, "Masks: True (ticked) where a query may attend; combined with AND",
               size=11, ha="left", va="top", fontweight="bold")
        cell, y_top = 0.24, 2.4
        panels = [
            (0.6, padding, real, "padding over keys", "(B, 1, 1, S): one row,\nthe same for every query"),
            (2.7, causal, real, "causal (look-ahead)", "(1, 1, T, T): a query sees\nitself and earlier keys"),
            (4.8, combined, real, "padding & causal", "(B, 1, T, S), broadcast\nover the H heads"),
            (6.85, left_combined, left, "left padding & causal", "the first two queries\nhave no key at all"),
        ]
        width = n * cell
        for x0, allowed, tokens, title, caption in panels:
            _mask_grid(ax, x0, y_top, cell, allowed, tokens)
            _label(ax, x0 + width / 2, 3.25, title, ha="center", va="center", size=_FONT, fontweight="bold")
            _label(ax, x0 + width / 2, y_top - width - 0.1, caption, ha="center", va="top", size=_SMALL)
        for x, symbol in ((2.0, "&"), (4.1, "=")):
            _label(ax, x, y_top - width / 2, symbol, ha="center", va="center", size=16, fontweight="bold")
        ax.plot([6.2, 6.2], [0.15, 3.45], color="#999999", linewidth=0.8)
        _label(ax, 0.15, 0.25, "Rows are queries, columns are keys; each row is softmaxed on its own.",
               size=_SMALL, ha="left", va="center")
        _label(ax, 8.85, 0.25, "such rows get weights 0\nand output 0 (no NaN)", size=_SMALL, ha="right",
               va="center", colour=DECODER[0])
        for t in range(2):
            _label(ax, 6.85 + width + 0.08, y_top - (t + 0.5) * cell, "← all masked", ha="left",
                   va="center", size=_SMALL, colour=DECODER[0])
    return fig


FIGURES.update({"qkv_lookup": qkv_lookup, "attention_masks": attention_masks})
TITLES.update({"qkv_lookup": "Attention as a soft dictionary look-up",
               "attention_masks": "Padding, causal and combined attention masks"})


# ---------------------------------------------------------------- unit 04

HEADS = ("1", "2", "H")  # the heads drawn; a gap with dots stands for the ones between 2 and H


def multi_head():
    """Multi-head attention: project, split the width into H heads, attend per head, merge, W_o."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        fig, ax = _canvas(9.0, 4.6)
        _label(ax, 0.15, 4.48, "Multi-head attention: $H$ heads of width $D_h = D/H$, each with its own softmax",
               size=11, ha="left", va="top", fontweight="bold")
        mid = 2.3
        _box(ax, 0.55, mid, 0.8, 0.7, "$X$\n(B, T, D)", ENCODER)
        _label(ax, 0.55, mid - 0.5, "self-attention:\nquery, key and\nvalue are all $X$", size=_SMALL,
               ha="center", va="top", colour=ENCODER[0])
        # The three projections, each a (D, D) matrix with a bias.
        rows = {"Q": 3.2, "K": 2.3, "V": 1.4}
        for name, y in rows.items():
            _arrow(ax, [(0.95, mid), (1.42, y)], ENCODER[0])
            _box(ax, 1.95, y, 1.05, 0.5, f"${name} = X W_{name.lower()}$", ATTENTION)
            _arrow(ax, [(2.475, y), (2.8, y)], ATTENTION[0])
        # split_heads: (B, T, D) -> (B, H, T, Dh).
        top, bottom = 3.75, 0.85
        for x, name in ((3.07, "split_heads"), (6.85, "merge_heads (concat)")):
            _box(ax, x, (top + bottom) / 2, 0.55, top - bottom, "", CONTEXT)
            _label(ax, x, (top + bottom) / 2, name, rotation=90, ha="center", va="center")
        heads_y = (3.35, 2.55, 1.15)
        for head, y in zip(HEADS, heads_y):
            _arrow(ax, [(3.345, y), (3.55, y)], CONTEXT[0])
            _box(ax, 4.85, y, 2.6, 0.55,
                 f"head {head}:  softmax$(Q_{head} K_{head}^\\top / \\sqrt{{D_h}})\\, V_{head}$", ATTENTION,
                 size=9.0)
            _arrow(ax, [(6.15, y), (6.575, y)], ATTENTION[0])
        _label(ax, 4.85, 1.85, "$\\vdots$", ha="center", va="center", size=12)
        _label(ax, 4.85, 3.72, "per head: weights (B, T, S), output (B, T, $D_h$)", size=_SMALL,
               ha="center", va="bottom", colour=ATTENTION[0])
        # The output projection mixes the heads.
        _arrow(ax, [(7.125, mid), (7.4, mid)], CONTEXT[0])
        _box(ax, 7.65, mid, 0.5, 0.5, "$W_o$", OUTPUT)
        _arrow(ax, [(7.9, mid), (8.1, mid)], OUTPUT[0])
        _box(ax, 8.5, mid, 0.8, 0.7, "$Y$\n(B, T, D)", OUTPUT)
        _label(ax, 3.07, 0.62, "(B, T, D) $\\to$ (B, T, H, $D_h$) $\\to$ (B, H, T, $D_h$)", size=_SMALL,
               ha="center", va="top")
        _label(ax, 6.85, 0.62, "(B, H, T, $D_h$) $\\to$ (B, T, H, $D_h$) $\\to$ (B, T, D)", size=_SMALL,
               ha="center", va="top")
        _label(ax, 0.15, 0.12, "$W_q, W_k, W_v, W_o$ are (D, D) with biases: $4D^2 + 4D$ parameters for any $H$. "
               "$W_o$ mixes what the heads read.", size=_FONT, ha="left", va="center")
    return fig


def rotary():
    """RoPE: each pair of a query or key turned by p*theta_i; the score depends on the offset only."""
    import math

    import matplotlib
    from matplotlib.patches import Arc

    with matplotlib.rc_context(_RC):
        fig, ax = _canvas(9.0, 4.3)
        _label(ax, 0.15, 4.18, "Rotary position embedding (RoPE): turn each pair of $q$ and $k$ by its position",
               size=11, ha="left", va="top", fontweight="bold")
        # Left: the plane of one pair, a vector and the same vector at position p.
        cx, cy, r = 1.45, 1.85, 1.05
        ax.add_patch(_circle(cx, cy, r, ("#BBBBBB", "#FFFFFF")))
        ax.plot([cx - r - 0.15, cx + r + 0.15], [cy, cy], color="#999999", linewidth=0.8)
        ax.plot([cx, cx], [cy - r - 0.15, cy + r + 0.15], color="#999999", linewidth=0.8)
        _label(ax, cx + r + 0.17, cy, "$x_{2i}$", ha="left", va="center", size=_SMALL)
        _label(ax, cx + 0.06, cy + r + 0.15, "$x_{2i+1}$", ha="left", va="center", size=_SMALL)
        start, turn = 20.0, 75.0
        for angle, colour, name in ((start, ENCODER[0], "$x$"), (start + turn, DECODER[0], "$R_p\\, x$")):
            tip = (cx + r * math.cos(math.radians(angle)), cy + r * math.sin(math.radians(angle)))
            _arrow(ax, [(cx, cy), tip], colour)
            offset = (0.12 * math.cos(math.radians(angle)), 0.12 * math.sin(math.radians(angle)))
            _label(ax, tip[0] + offset[0], tip[1] + offset[1], name, ha="left" if angle < 60 else "right",
                   va="bottom", colour=colour)
        ax.add_patch(Arc((cx, cy), 0.9, 0.9, theta1=start, theta2=start + turn, color=INK, linewidth=1.0))
        _label(ax, cx + 0.52 * math.cos(math.radians(start + turn / 2)),
               cy + 0.52 * math.sin(math.radians(start + turn / 2)), "$p\\,\\theta_i$", ha="left", va="bottom",
               size=_SMALL)
        _label(ax, cx, 0.45, "one pair $(x_{2i}, x_{2i+1})$ of a query or\nkey at position $p$, turned by $p\\,\\theta_i$",
               ha="center", va="center", size=_SMALL)
        # Middle: clock hands, one row per pair, one column per position.
        thetas = (("pair 0", 1.0), ("pair 1", 10000.0 ** (-2 / 16)), ("pair 2", 10000.0 ** (-4 / 16)))
        x0, dx, small = 3.85, 0.4, 0.16
        rows = (3.15, 2.45, 1.75)
        for p in range(7):
            _label(ax, x0 + dx * p, 3.6, f"$p = {p}$" if p == 0 else f"${p}$", ha="center", va="center",
                   size=_SMALL)
        for (name, theta), y in zip(thetas, rows):
            _label(ax, x0 - 0.3, y, f"{name}\n$\\theta = {theta:.3g}$", ha="right", va="center", size=_SMALL)
            for p in range(7):
                x = x0 + dx * p
                ax.add_patch(_circle(x, y, small, ("#999999", "#FFFFFF")))
                ax.plot([x, x + small * math.cos(p * theta)], [y, y + small * math.sin(p * theta)],
                        color=DECODER[0], linewidth=1.4, solid_capstyle="round")
        _label(ax, x0 + 3 * dx, 1.2, "$\\theta_i = 10000^{-2i/D_h}$ ($D_h = 16$: 8 pairs,\n"
               "the slowest turns 0.0003 rad per position)", ha="center", va="center", size=_SMALL)
        # Right: why only the offset matters.
        _label(ax, 7.78, 3.0, "$(R_p\\, q) \\cdot (R_s\\, k) = q \\cdot (R_{s-p}\\, k)$", ha="center",
               va="center", colour=ATTENTION[0])
        _label(ax, 7.78, 2.15, "the score depends on the\noffset $s - p$ only", ha="center", va="center")
        _label(ax, 7.78, 1.3, "queries and keys only, in every layer;\nvalues are not turned;\nno parameters",
               ha="center", va="center", size=_SMALL)
        _label(ax, 0.15, 0.12, "Su et al. (2021). Pairs are interleaved: $(x_0, x_1), (x_2, x_3), \\dots$; "
               "position 0 is no turn at all.", size=_FONT, ha="left", va="center")
    return fig


FIGURES.update({"multi_head": multi_head, "rotary": rotary})
TITLES.update({
    "multi_head": "Multi-head attention: split into heads, attend per head, merge, project",
    "rotary": "Rotary position embedding: pairs turned by the angle p times theta_i",
})


# ---------------------------------------------------------------- unit 05

STREAM = ENCODER[0]  # the residual stream is drawn in the encoder's blue in both LN panels


def _plus(ax, x: float, y: float, r: float = 0.13, colour: str = INK) -> None:
    """The residual addition: a small circle with a plus."""
    ax.add_patch(_circle(x, y, r, (colour, "#FFFFFF")))
    _label(ax, x, y, "+", ha="center", va="center", size=_FONT)


def _residual(ax, x: float, y0: float, y_plus: float, reach: float, colour: str = STREAM) -> None:
    """The identity path: branch off at (x, y0), run left of the sub-layer, join the + at (x, y_plus)."""
    left = x - reach
    ax.plot([x], [y0], marker="o", markersize=3.5, color=colour)
    _arrow(ax, [(x, y0), (left, y0), (left, y_plus), (x - 0.13, y_plus)], colour)


def _sublayer(ax, x: float, y0: float, w: float, boxes: Sequence[tuple[str, tuple[str, str]]]) -> float:
    """Boxes stacked upwards from the stream point (x, y0) inside a residual branch; returns the top of the +."""
    y = y0 + 0.1
    for text, colours in boxes:
        _arrow(ax, [(x, y), (x, y + 0.08)])
        _box(ax, x, y + 0.23, w, 0.3, text, colours, size=9.0)
        y += 0.38
    _arrow(ax, [(x, y), (x, y + 0.1)])
    _plus(ax, x, y + 0.23)
    _residual(ax, x, y0 + 0.05, y + 0.23, w / 2 + 0.2)
    return y + 0.36


TRANSFORMER_SOURCE = ("the", "big", "cat")
TRANSFORMER_TARGET_IN = ("<bos>", "le", "chatol", "grandin")


def transformer():
    """The encoder-decoder Transformer (pre-LN): embeddings, N encoder and N decoder layers, tied output."""
    import matplotlib
    from matplotlib.patches import FancyBboxPatch

    with matplotlib.rc_context(_RC):
        fig, ax = _canvas(9.0, 6.75)
        _label(ax, 0.15, 6.63, "The Transformer (pre-LN): N encoder layers, N decoder layers, tied output",
               size=11, ha="left", va="top", fontweight="bold")
        enc_x, dec_x, w = 2.55, 6.15, 2.2
        # Inputs and embeddings.
        _label(ax, enc_x, 0.25, "source  " + "  ".join(TRANSFORMER_SOURCE), ha="center", va="center",
               family="monospace", size=9.0)
        _label(ax, dec_x, 0.25, "tgt_in  " + "  ".join(TRANSFORMER_TARGET_IN), ha="center", va="center",
               family="monospace", size=9.0)
        for x, colours, matrix in ((enc_x, ENCODER, "E_{src}"), (dec_x, DECODER, "E")):
            _arrow(ax, [(x, 0.4), (x, 0.6)])
            _box(ax, x, 0.78, w, 0.36, f"$\\sqrt{{D}}\\, {matrix}[\\mathrm{{token}}] + PE(p)$", colours, size=9.0)
            _arrow(ax, [(x, 0.96), (x, 1.25)])
        frame = dict(boxstyle="round,pad=0,rounding_size=0.1", facecolor="none", linewidth=1.0, linestyle="--")
        # Encoder layer: self-attention and feed-forward, each "LN, then the sub-layer" in a residual branch.
        top = _sublayer(ax, enc_x, 1.25, w, [("LayerNorm", CONTEXT), ("multi-head self-attention", ATTENTION)])
        top = _sublayer(ax, enc_x, top, w, [("LayerNorm", CONTEXT), ("feed-forward", ENCODER)])
        ax.add_patch(FancyBboxPatch((enc_x - w / 2 - 0.35, 1.15), w + 0.55, top - 1.1, edgecolor=ENCODER[0], **frame))
        _label(ax, enc_x - w / 2 - 0.45, (1.15 + top) / 2, "encoder\nlayer\n× N", ha="right", va="center",
               colour=ENCODER[0])
        _arrow(ax, [(enc_x, top), (enc_x, top + 0.2)])
        memory_y = top + 0.35
        _box(ax, enc_x, memory_y, w, 0.3, "final LayerNorm", CONTEXT, size=9.0)
        _label(ax, enc_x, memory_y + 0.22, "memory $M$ (B, S, D)", ha="center", va="bottom", colour=ENCODER[0])
        # Decoder layer: masked self-attention, cross-attention, feed-forward.
        top = _sublayer(ax, dec_x, 1.25, w, [("LayerNorm", CONTEXT), ("masked self-attention", ATTENTION)])
        cross_y = top + 0.1 + 0.38 + 0.23
        top = _sublayer(ax, dec_x, top, w, [("LayerNorm", CONTEXT), ("cross-attention", ATTENTION)])
        top = _sublayer(ax, dec_x, top, w, [("LayerNorm", CONTEXT), ("feed-forward", DECODER)])
        ax.add_patch(FancyBboxPatch((dec_x - w / 2 - 0.35, 1.15), w + 0.55, top - 1.1, edgecolor=DECODER[0], **frame))
        _label(ax, dec_x + w / 2 + 0.3, 2.0, "decoder\nlayer\n× N", ha="left", va="center", colour=DECODER[0])
        _arrow(ax, [(dec_x, top), (dec_x, top + 0.2)])
        _box(ax, dec_x, top + 0.35, w, 0.3, "final LayerNorm", CONTEXT, size=9.0)
        _arrow(ax, [(dec_x, top + 0.5), (dec_x, top + 0.7)])
        out_y = top + 0.88
        _box(ax, dec_x, out_y, w, 0.36, "output: $z = y\\, E^\\top + b$", OUTPUT, size=9.0)
        _label(ax, dec_x, out_y + 0.25, "softmax $\\to p(y_{t+1} \\mid y_0 \\dots y_t, x)$", ha="center",
               va="bottom", size=9.0)
        # The memory feeds every decoder layer's cross-attention as keys and values.
        bus_x = 4.25
        _arrow(ax, [(enc_x + w / 2, memory_y), (bus_x, memory_y), (bus_x, cross_y), (dec_x - w / 2, cross_y)],
               ENCODER[0])
        _label(ax, bus_x - 0.5, memory_y + 0.5, "keys and values of\nevery decoder layer's\ncross-attention",
               ha="center", va="bottom", size=_SMALL, colour=ENCODER[0])
        # Weight tying: the output layer uses the target embedding matrix.
        tie_x = dec_x + w / 2 + 0.7
        ax.plot([dec_x + w / 2, tie_x, tie_x, dec_x + w / 2], [0.78, 0.78, out_y, out_y], color=OUTPUT[0],
                linewidth=1.3, linestyle=":")
        _label(ax, tie_x + 0.06, (0.78 + out_y) / 2 + 0.6, "tied:\nthe\nsame\n$E$", ha="left", va="center",
               size=_SMALL, colour=OUTPUT[0])
        _label(ax, 0.15, 5.55, "causal mask in the decoder's self-attention:\nposition $t$ reads positions "
               "$0 \\dots t$ only", ha="left", va="center", size=_SMALL)
        _label(ax, 0.15, 4.95, "our model: $D$ = 128, $H$ = 4, N = 2,\n$F$ = 256: 681,044 parameters",
               ha="left", va="center", size=_SMALL)
    return fig


def pre_post_ln():
    """One encoder layer in the paper's post-LN order and in the pre-LN order, the residual stream in blue."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        fig, ax = _canvas(9.0, 4.4)
        _label(ax, 0.15, 4.28, "Where the LayerNorm sits: post-LN (the paper) and pre-LN (most later models)",
               size=11, ha="left", va="top", fontweight="bold")
        w, head = 1.9, 3.72
        # Post-LN: x -> f -> + -> LN, twice; the LayerNorms sit ON the residual stream.
        x = 2.3
        _label(ax, x, head, "post-LN (Vaswani et al. 2017)", ha="center", va="center", fontweight="bold")
        _label(ax, x, 0.5, "$x$", ha="center", va="center")
        y = 0.62
        for name, colours in (("self-attention", ATTENTION), ("feed-forward", ENCODER)):
            top = _sublayer(ax, x, y, w, [(name, colours)])
            _arrow(ax, [(x, top), (x, top + 0.08)], STREAM)
            _box(ax, x, top + 0.23, w, 0.3, "LayerNorm", CONTEXT, size=9.0)
            y = top + 0.38
        _arrow(ax, [(x, y), (x, y + 0.12)])
        _label(ax, x, y + 0.22, "$y$", ha="center", va="center")
        _label(ax, x, 0.15, "$y = \\mathrm{LN}(x + f(x))$ per sub-layer; no final LN", ha="center", va="center",
               size=9.0)
        _label(ax, x + w / 2 + 0.15, 1.9, "LayerNorm ON the\nstream: every\ngradient passes\nthrough it;\n"
               "needs warm-up", ha="left", va="center", size=_SMALL, colour=CONTEXT[0])
        # Pre-LN: x + f(LN(x)); the stream is only ever added to, and a final LayerNorm closes the stack.
        x = 6.6
        _label(ax, x, head, "pre-LN (Xiong et al. 2020)", ha="center", va="center", fontweight="bold")
        _label(ax, x, 0.5, "$x$", ha="center", va="center")
        y = 0.62
        for name, colours in (("self-attention", ATTENTION), ("feed-forward", ENCODER)):
            y = _sublayer(ax, x, y, w, [("LayerNorm", CONTEXT), (name, colours)])
        _arrow(ax, [(x, y), (x, y + 0.12)], STREAM)
        _label(ax, x, y + 0.22, "$y$", ha="center", va="center")
        _label(ax, x, 0.15, "$y = x + f(\\mathrm{LN}(x))$ per sub-layer; final LN per stack", ha="center",
               va="center", size=9.0)
        _label(ax, x + w / 2 + 0.15, 1.9, "the stream is\nonly added to:\na clean path\nfor gradients",
               ha="left", va="center", size=_SMALL, colour=STREAM)
    return fig


KV_TOKENS = ("<bos>", "le", "chatol", "noirel")


def kv_cache():
    """One decoder layer at step 4: without a cache every position is recomputed; with one, a column is appended."""
    import matplotlib
    from matplotlib.patches import Rectangle

    with matplotlib.rc_context(_RC):
        fig, ax = _canvas(9.0, 4.7)
        _label(ax, 0.15, 4.58, "The key/value cache: one decoder layer's self-attention at step 4",
               size=11, ha="left", va="top", fontweight="bold")
        cell, gap = 0.5, 0.12
        computed, cached = DECODER, ATTENTION
        for panel, (x0, title) in enumerate(((0.45, "without cache: the whole prefix again"),
                                              (4.95, "with cache: one new column"))):
            _label(ax, x0, 4.1, title, ha="left", va="center", fontweight="bold")
            n = len(KV_TOKENS)
            for s, word in enumerate(KV_TOKENS):
                x = x0 + 0.55 + s * (cell + gap) + cell / 2
                new = s == n - 1
                colours = computed if (panel == 0 or new) else cached
                for row, (name, y) in enumerate((("k", 2.95), ("v", 2.3))):
                    ax.add_patch(Rectangle((x - cell / 2, y - cell / 2), cell, cell, facecolor=colours[1],
                                           edgecolor=colours[0], linewidth=1.2))
                    _label(ax, x, y, f"${name}_{s}$", ha="center", va="center", size=9.0)
                _label(ax, x, 1.75, word, ha="center", va="center", family="monospace", size=_SMALL)
                if panel == 0 or new:
                    # A query for every position recomputed, though only the last one's output is new.
                    ax.add_patch(Rectangle((x - cell / 2, 3.55 - 0.2), cell, 0.4, facecolor=computed[1],
                                           edgecolor=computed[0], linewidth=1.2))
                    _label(ax, x, 3.55, f"$q_{s}$", ha="center", va="center", size=9.0)
            _label(ax, x0 + 0.45, 2.95, "keys", ha="right", va="center", size=_SMALL)
            _label(ax, x0 + 0.45, 2.3, "values", ha="right", va="center", size=_SMALL)
            _label(ax, x0 + 0.45, 3.55, "queries", ha="right", va="center", size=_SMALL)
        # The legend and the counts of lesson 05, section 9.
        for i, (colours, text) in enumerate(((computed, "computed at this step"),
                                             (cached, "read from the cache (computed at an earlier step)"))):
            y = 1.2 - 0.35 * i
            ax.add_patch(Rectangle((0.45, y - 0.1), 0.2, 0.2, facecolor=colours[1], edgecolor=colours[0]))
            _label(ax, 0.75, y, text, ha="left", va="center", size=_SMALL)
        _label(ax, 4.95, 1.2, "per layer: $K, V$ (B, H, $t$, $D_h$); step $t$ appends one column",
               ha="left", va="center", size=_SMALL)
        _label(ax, 4.95, 0.85, "$q_3$ reads $k_0 \\dots k_3$: no mask needed, the cache is the past",
               ha="left", va="center", size=_SMALL)
        _label(ax, 0.15, 0.3, "Decoding 40 tokens, per layer: 820 token rows and 22,140 (query, key) pairs "
               "without the cache, 40 and 820 with it. Same result.", ha="left", va="center", size=9.0)
    return fig


FIGURES.update({"transformer": transformer, "pre_post_ln": pre_post_ln, "kv_cache": kv_cache})
TITLES.update({
    "transformer": "The encoder-decoder Transformer, pre-LN, with a tied output layer",
    "pre_post_ln": "Post-LN and pre-LN layers: where the LayerNorm sits on the residual stream",
    "kv_cache": "The key/value cache: each decoding step appends one key and one value per layer",
})
