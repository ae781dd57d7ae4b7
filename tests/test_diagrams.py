"""Architecture diagrams: committed SVGs are fresh, labels are there, drawing works headless."""
from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from seq2bert import cli, diagrams, plot  # noqa: E402

COMMITTED = Path(__file__).resolve().parents[1] / "lessons" / "figures"


def texts(fig) -> list[str]:
    """Every non-empty text drawn on the figure (arrows are empty annotations)."""
    found = [t.get_text() for ax in fig.axes for t in ax.texts] + [t.get_text() for t in fig.texts]
    return [t for t in found if t]


def joined(fig) -> str:
    return "\n".join(texts(fig))


@pytest.fixture(scope="module")
def rendered() -> dict[str, bytes]:
    return diagrams.render_all()


def test_committed_figures_match_a_fresh_drawing_byte_for_byte(tmp_path, rendered):
    written = diagrams.write_figures(tmp_path)
    assert sorted(p.name for p in written) == sorted(f"{stem}.svg" for stem in diagrams.FIGURES)
    for path in written:
        committed = COMMITTED / path.name
        assert committed.is_file(), f"{committed} is missing: run `python -m seq2bert figures`"
        assert path.read_bytes() == committed.read_bytes(), (
            f"{committed.name} is stale: run `python -m seq2bert figures` and commit the result")
        # A second drawing in the same process gives the same bytes too (ids do not drift).
        assert rendered[path.name] == path.read_bytes()


def test_svgs_are_small_dated_never_and_keep_text_as_text(rendered):
    for name, data in rendered.items():
        assert len(data) < 150 * 1024, f"{name} is {len(data) // 1024} kB"
        svg = data.decode("utf-8")
        assert "<dc:date>" not in svg
        assert "<text" in svg and "DejaVu Sans" in svg, f"{name}: text was turned into paths"
        assert f"<title>{diagrams.TITLES[name[:-4]]}</title>" in svg
        # The SVG width is the figure's 9 inches (648 pt): readable at notebook width.
        assert 'width="648pt"' in svg


def test_check_lists_stale_and_missing_files_and_exits_non_zero(tmp_path, capsys):
    assert cli.main(["figures", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    assert cli.main(["figures", "--check", "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out == ""
    (tmp_path / "attention_step.svg").write_bytes(b"<svg/>")
    (tmp_path / "encoder_decoder.svg").unlink()
    assert cli.main(["figures", "--check", "--out", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "attention_step.svg" in out and "encoder_decoder.svg" in out
    assert "encoder_decoder_attention.svg" not in out
    # --check writes nothing: the stale file is still stale.
    assert (tmp_path / "attention_step.svg").read_bytes() == b"<svg/>"
    assert diagrams.stale_figures(tmp_path) == ["encoder_decoder.svg", "attention_step.svg"]


def test_encoder_decoder_labels_the_bottleneck():
    fig = diagrams.encoder_decoder()
    shown = texts(fig)
    for word in ("the", "black", "cat", "<bos>", "le", "chat", "noir", "<eos>"):
        assert word in shown, word
    for symbol in ("$x_1$", "$x_3$", "$h_1$", "$y_1$", "$y_4$", "$s_0$", "$c$", "$c = h_S$"):
        assert symbol in shown, symbol
    assert shown.count("GRU") == len(diagrams.SOURCE) + len(diagrams.TARGET)
    assert "every step" in joined(fig)
    assert "attend" not in shown


def test_encoder_decoder_with_attention_has_one_attention_block_per_step():
    fig = diagrams.encoder_decoder(attention=True)
    shown = texts(fig)
    assert shown.count("attend") == len(diagrams.TARGET)
    for i in range(1, len(diagrams.TARGET) + 1):
        assert f"$c_{i}$" in shown
    for j in range(1, len(diagrams.SOURCE) + 1):
        assert f"$h_{j}$" in shown  # each state labelled where it rises to the attention bus
    assert "$c$" not in shown
    assert "keys and values" in joined(fig)


def test_attention_step_shows_the_equations_and_the_order():
    fig = diagrams.attention_step()
    text = joined(fig)
    # The score with row vectors times matrices, as in the code: s_{i-1} W_q, h_j W_k.
    assert "e_{ij} = v^\\top \\tanh(s_{i-1} W_q + h_j W_k)" in text
    assert "W_q s_{i-1}" not in text
    assert "softmax" in text and "\\alpha_{i1}" in text
    assert "\\sum_j \\alpha_{ij} h_j" in text
    assert "as keys" in text and "as values" in text and "the query" in text
    assert "[y_{i-1};\\, c_i]" in text
    assert "output layer\non $[s_i;\\, c_i]$" in texts(fig)
    assert "PREVIOUS state $s_{i-1}$" in text and "Luong" in text
    assert [t for t in texts(fig) if t in "1234"] == ["1", "2", "3", "4"]


def test_bottleneck_vs_attention_holds_both_models():
    fig = diagrams.bottleneck_vs_attention()
    shown = texts(fig)
    assert shown.count("attend") == len(diagrams.TARGET)
    assert "$c$" in shown and "$c_1$" in shown
    assert "unit 01" in joined(fig) and "unit 02" in joined(fig)


@pytest.mark.parametrize("stem", list(diagrams.FIGURES))
def test_no_text_is_cut_off_or_overlaps_another(stem):
    fig = diagrams.FIGURES[stem]()
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    page = fig.bbox
    boxes = []
    for ax in fig.axes:
        for artist in ax.texts:
            if artist.get_text():
                box = artist.get_window_extent(renderer)
                assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1, (
                    f"{artist.get_text()!r} leaves the figure")
                boxes.append((artist.get_text(), box))
    overlapping = [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2) if box_a.overlaps(box_b)]
    assert overlapping == []


def test_figures_look_the_same_under_the_course_style(rendered):
    with matplotlib.rc_context():
        plot.use_course_style()
        matplotlib.rcParams["font.size"] = 20
        assert diagrams.svg_bytes(diagrams.attention_step(), diagrams.TITLES["attention_step"]) == \
            rendered["attention_step.svg"]


def test_functions_return_figures_that_pyplot_does_not_show():
    before = plt.get_fignums()
    for draw in diagrams.FIGURES.values():
        fig = draw()
        assert tuple(fig.get_size_inches())[0] == 9.0
    assert plt.get_fignums() == before


def test_drawing_works_headless_in_a_fresh_process(tmp_path):
    code = ("import matplotlib, io; from seq2bert import diagrams\n"
            "for draw in diagrams.FIGURES.values():\n"
            "    draw().savefig(io.BytesIO(), format='png')\n"
            "print(matplotlib.get_backend())")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    env["PYTHONPATH"] = str(Path(diagrams.__file__).resolve().parents[1])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().lower() == "agg"


# ---------------------------------------------------------------- unit 03

def test_qkv_lookup_shows_the_worked_example_of_lesson_03():
    """The numbers drawn are the lesson's worked example, recomputed here with NumPy."""
    import numpy as np

    query = np.array([1.0, 0.0, 1.0, 0.0])
    keys = np.array([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0], [1.0, 1.0, 0.0, 0.0]])  # (S, Dk)
    values = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # (S, Dv)
    scores = keys @ query / np.sqrt(4)  # (S, Dk) @ (Dk,) -> (S,)
    weights = np.exp(scores) / np.exp(scores).sum()
    output = weights @ values  # (S,) @ (S, Dv) -> (Dv,)
    assert scores.tolist() == [1.0, 0.0, 0.5]
    fig = diagrams.qkv_lookup()
    shown, text = texts(fig), joined(fig)
    assert ["1", "0", "0.5"] == [t for t in shown if t in ("1", "0", "0.5")]
    assert "$q$ = [1, 0, 1, 0]" in shown and "$k_3$ = [1, 1, 0, 0]" in shown and "$v_3$ = [1, 1]" in shown
    for j, weight in enumerate(weights, start=1):
        assert f"$\\alpha_{j}$ = {weight:.4f}" in shown
    assert f"[{output[0]:.4f}, {output[1]:.4f}]" in text and "[0.8137, 0.4935]" in text
    assert "q \\cdot k_j \\,/ \\sqrt{d_k}" in text and "softmax" in text.replace("-\n", "")
    assert "query" in shown and "keys (what is stored)" in shown and "values (what is returned)" in shown


def mask_panels(fig) -> list:
    """The four grids of attention_masks as bool arrays (rows = queries), read back from the drawn cells."""
    import numpy as np
    from matplotlib.patches import Rectangle

    cells = [p for ax in fig.axes for p in ax.patches if isinstance(p, Rectangle)]
    columns = sorted({round(p.get_x(), 6) for p in cells})
    rows = sorted({round(p.get_y(), 6) for p in cells}, reverse=True)
    assert len(columns) == 20 and len(rows) == 5 and len(cells) == 100
    filled = np.zeros((5, 20), dtype=bool)
    for p in cells:
        filled[rows.index(round(p.get_y(), 6)), columns.index(round(p.get_x(), 6))] = p.get_facecolor()[:3] != (1, 1, 1)
    return [filled[:, 5 * i:5 * (i + 1)] for i in range(4)]


def test_attention_masks_draws_padding_causal_and_their_and():
    import numpy as np

    fig = diagrams.attention_masks()
    padding, causal, combined, left = mask_panels(fig)
    real = np.array([True, True, True, False, False])  # (S,) three words, two pads at the end
    tril = np.tril(np.ones((5, 5), dtype=bool))  # (T, T)
    assert (padding == np.broadcast_to(real, (5, 5))).all()
    assert (causal == tril).all()
    assert (combined == (padding & causal)).all() and (combined == (real[None, :] & tril)).all()
    # Left padding: the first two queries may attend to nothing at all.
    assert (left == (real[::-1][None, :] & tril)).all()
    assert left.any(axis=1).tolist() == [False, False, True, True, True]
    assert combined.any(axis=1).all()  # right padding with a causal mask never empties a row
    shown, text = texts(fig), joined(fig)
    assert shown.count("← all masked") == 2 and "weights 0" in text and "no NaN" in text
    for shape in ("(B, 1, 1, S)", "(1, 1, T, T)", "(B, 1, T, S)"):
        assert shape in text, shape
    assert "&" in shown and "=" in shown and shown.count("<pad>") == 4 * 2 * 2


def test_multi_head_shows_projections_heads_split_merge_and_parameters():
    fig = diagrams.multi_head()
    shown = texts(fig)
    for name in "QKV":
        assert f"${name} = X W_{name.lower()}$" in shown
    for head in diagrams.HEADS:
        assert f"head {head}:  softmax$(Q_{head} K_{head}^\\top / \\sqrt{{D_h}})\\, V_{head}$" in shown
    assert "split_heads" in shown and "merge_heads (concat)" in shown and "$W_o$" in shown
    # Split is reshape then transpose; merge undoes both, in the opposite order.
    assert "(B, T, D) $\\to$ (B, T, H, $D_h$) $\\to$ (B, H, T, $D_h$)" in shown
    assert "(B, H, T, $D_h$) $\\to$ (B, T, H, $D_h$) $\\to$ (B, T, D)" in shown
    assert "$4D^2 + 4D$ parameters for any $H$" in joined(fig)


def test_rotary_hands_turn_by_p_theta_and_the_offset_identity_is_stated():
    import math

    fig = diagrams.rotary()
    shown = texts(fig)
    assert "$(R_p\\, q) \\cdot (R_s\\, k) = q \\cdot (R_{s-p}\\, k)$" in shown
    assert "values are not turned" in joined(fig) and "$p\\,\\theta_i$" in shown
    # The clock hands: 3 pairs x 7 positions, pair i's hand at position p points at p * theta_i.
    thetas = [10000.0 ** (-2 * i / 16) for i in range(3)]
    hands = []
    for line in fig.axes[0].lines:
        xs, ys = line.get_data()
        if len(xs) == 2 and abs(math.hypot(xs[1] - xs[0], ys[1] - ys[0]) - 0.16) < 1e-9:
            hands.append((ys[0], xs[0], math.atan2(ys[1] - ys[0], xs[1] - xs[0])))
    assert len(hands) == 3 * 7
    rows = sorted({y for y, _, _ in hands}, reverse=True)
    for (y, x, angle) in hands:
        theta = thetas[rows.index(y)]
        p = sorted(x2 for y2, x2, _ in hands if y2 == y).index(x)
        expected = math.atan2(math.sin(p * theta), math.cos(p * theta))
        assert abs(angle - expected) < 1e-9, (rows.index(y), p)


def test_unit04_figures_are_embedded_in_lesson_04():
    lesson = (COMMITTED.parent / "04_multi_head_attention.md").read_text(encoding="utf-8")
    for stem in ("multi_head", "rotary"):
        assert f"](figures/{stem}.svg)" in lesson


# ---------------------------------------------------------------- unit 05

def column(fig, x: float, tolerance: float = 0.3) -> list[str]:
    """The texts drawn centred near x (inches), bottom to top."""
    found = [(t.get_position()[1], t.get_text()) for t in fig.axes[0].texts
             if t.get_text() and abs(t.get_position()[0] - x) < tolerance and t.get_ha() == "center"]
    return [text for _, text in sorted(found)]


def test_transformer_has_both_stacks_the_memory_and_the_tied_output():
    fig = diagrams.transformer()
    shown = texts(fig)
    assert shown.count("masked self-attention") == 1 and shown.count("cross-attention") == 1
    assert shown.count("multi-head self-attention") == 1 and shown.count("feed-forward") == 2
    # Pre-LN: one LayerNorm in front of each of the 5 sub-layers, a final one per stack, 5 residual additions.
    assert shown.count("LayerNorm") == 5 and shown.count("final LayerNorm") == 2 and shown.count("+") == 5
    assert "output: $z = y\\, E^\\top + b$" in shown and "tied:\nthe\nsame\n$E$" in shown
    assert "$\\sqrt{D}\\, E_{src}[\\mathrm{token}] + PE(p)$" in shown and "$\\sqrt{D}\\, E[\\mathrm{token}] + PE(p)$" in shown
    assert "memory $M$ (B, S, D)" in shown and "keys and values" in joined(fig)
    # The decoder column, bottom to top: masked self-attention, then cross-attention, then the FFN.
    decoder = [t for t in column(fig, 6.15) if t in ("masked self-attention", "cross-attention", "feed-forward")]
    assert decoder == ["masked self-attention", "cross-attention", "feed-forward"]
    d, f, vocab = 128, 256, (56, 84)
    total = vocab[0] * d + vocab[1] * d + vocab[1] + 2 * (4 * d * d + 4 * d) * 3 + 4 * (2 * d * f + f + d) \
        + (2 * 2 + 2 * 3 + 2) * 2 * d
    assert f"{total:,} parameters" in joined(fig)


def test_pre_post_ln_puts_the_layernorm_after_the_addition_or_inside_the_branch():
    fig = diagrams.pre_post_ln()
    post, pre = column(fig, 2.3), column(fig, 6.6)
    # Bottom to top: the equation under the panel, the layer from x to y, the panel's name on top.
    assert post == ["$y = \\mathrm{LN}(x + f(x))$ per sub-layer; no final LN", "$x$", "self-attention", "+",
                    "LayerNorm", "feed-forward", "+", "LayerNorm", "$y$", "post-LN (Vaswani et al. 2017)"]
    assert pre == ["$y = x + f(\\mathrm{LN}(x))$ per sub-layer; final LN per stack", "$x$", "LayerNorm",
                   "self-attention", "+", "LayerNorm", "feed-forward", "+", "$y$", "pre-LN (Xiong et al. 2020)"]
    text = joined(fig)
    assert "$y = \\mathrm{LN}(x + f(x))$" in text and "$y = x + f(\\mathrm{LN}(x))$" in text
    assert "warm-up" in text and "final LN per stack" in text


def test_kv_cache_recomputes_everything_without_and_one_column_with_the_cache():
    from matplotlib.colors import to_rgba
    from matplotlib.patches import Rectangle

    fig = diagrams.kv_cache()
    computed, cached = to_rgba(diagrams.DECODER[1]), to_rgba(diagrams.ATTENTION[1])
    cells = [p for p in fig.axes[0].patches if isinstance(p, Rectangle) and p.get_width() == 0.5]
    left = [p.get_facecolor() for p in cells if p.get_x() < 4.5]
    right = [p.get_facecolor() for p in cells if p.get_x() > 4.5]
    n = len(diagrams.KV_TOKENS)
    assert left == [computed] * len(left) and len(left) == 3 * n  # q, k, v for every position
    assert right.count(computed) == 3 and right.count(cached) == 2 * (n - 1)  # q, k, v of the newest only
    shown = texts(fig)
    for s in range(n):
        assert shown.count(f"$k_{s}$") == 2 and shown.count(f"$v_{s}$") == 2
    assert shown.count(f"$q_{n - 1}$") == 2 and shown.count("$q_0$") == 1
    rows, pairs = sum(range(1, 41)), sum(t * t for t in range(1, 41))
    assert f"{rows} token rows and {pairs:,} (query, key) pairs" in joined(fig)
    assert f"40 and {rows} with it" in joined(fig)


def test_unit05_figures_are_embedded_in_lesson_05():
    lesson = (COMMITTED.parent / "05_transformer.md").read_text(encoding="utf-8")
    for stem in ("transformer", "pre_post_ln", "kv_cache"):
        assert f"](figures/{stem}.svg)" in lesson
