"""Plot functions: labels, data and figure handling under the Agg backend."""
from __future__ import annotations

import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from seq2bert import plot  # noqa: E402


def tick_texts(labels) -> list[str]:
    return [label.get_text() for label in labels]


def test_attention_heatmap_labels_and_data():
    weights = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]])  # (T, S) = (2, 3)
    open_before = plt.get_fignums()
    fig = plot.attention_heatmap(weights, ["le", "chat", "<eos>"], ["the", "cat"], title="alignment")
    heatmap, colorbar = fig.axes
    assert tick_texts(heatmap.get_xticklabels()) == ["le", "chat", "<eos>"]
    assert tick_texts(heatmap.get_yticklabels()) == ["the", "cat"]
    assert heatmap.get_xticklabels()[0].get_rotation() == 90
    assert (heatmap.get_xlabel(), heatmap.get_ylabel(), heatmap.get_title()) == ("source", "target", "alignment")
    assert colorbar.get_ylabel() == "attention weight"
    np.testing.assert_allclose(heatmap.images[0].get_array(), weights)
    # The function returns the figure without handing it to pyplot, so nothing shows twice.
    assert plt.get_fignums() == open_before


def test_attention_heatmap_shrinks_labels_for_long_sentences():
    short = plot.attention_heatmap(np.full((3, 4), 0.25), list("abcd"), list("xyz"))
    long_source = [f"w{i}" for i in range(40)]
    long = plot.attention_heatmap(np.full((3, 40), 1 / 40), long_source, list("xyz"))
    short_size = short.axes[0].get_xticklabels()[0].get_fontsize()
    long_size = long.axes[0].get_xticklabels()[0].get_fontsize()
    assert long_size < short_size
    assert long_size >= 6
    assert long.get_size_inches()[0] > short.get_size_inches()[0]


def test_attention_heatmap_draws_into_a_given_axes():
    fig, (left, right) = plt.subplots(1, 2)
    try:
        returned = plot.attention_heatmap(np.eye(2), ["a", "b"], ["c", "d"], ax=right)
        assert returned is fig
        assert len(right.images) == 1 and len(left.images) == 0
    finally:
        plt.close(fig)


def test_attention_heatmap_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"shape \(3, 2\) but there are 2 target and 3 source tokens"):
        plot.attention_heatmap(np.ones((3, 2)), ["a", "b", "c"], ["x", "y"])


def test_attention_grid_lays_out_examples():
    examples = [dict(weights=np.eye(n), source=[f"s{i}" for i in range(n)], target=[f"t{i}" for i in range(n)],
                     title=f"example {n}") for n in (2, 3, 4)]
    fig = plot.attention_grid(examples, ncols=2, title="three sentences")
    heatmaps = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in heatmaps] == ["example 2", "example 3", "example 4"]
    assert tick_texts(heatmaps[2].get_xticklabels()) == ["s0", "s1", "s2", "s3"]
    hidden = [ax for ax in fig.axes if not ax.get_visible()]
    assert len(hidden) == 1  # a 2 x 2 grid for three examples
    assert fig._suptitle.get_text() == "three sentences"


def test_attention_grid_rejects_incomplete_examples():
    with pytest.raises(ValueError, match="example 0 lacks target"):
        plot.attention_grid([dict(weights=np.eye(2), source=["a", "b"])])


def test_training_curves_labels_and_smoothing():
    fig = plot.training_curves({"rnn": [1.0, 3.0, 5.0, 7.0], "attention": [2.0, 2.0]}, smooth=2, title="loss")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "step"
    assert ax.get_ylabel() == "loss (mean of last 2 steps)"
    assert tick_texts(ax.get_legend().get_texts()) == ["rnn", "attention"]
    smoothed = [line for line in ax.get_lines() if line.get_label() == "rnn"][0]
    np.testing.assert_allclose(smoothed.get_ydata(), [1.0, 2.0, 4.0, 6.0])
    np.testing.assert_allclose(smoothed.get_xdata(), [1, 2, 3, 4])


def test_training_curves_without_smoothing_plots_raw_values():
    fig = plot.training_curves({"model": [0.5, 0.25]}, ylabel="accuracy")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "accuracy"
    assert len(ax.get_lines()) == 1
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [0.5, 0.25])


@pytest.mark.parametrize("histories, smooth, message", [
    ({}, 1, "at least one history"), ({"a": [1.0]}, 0, "smooth must be at least 1"),
    ({"a": []}, 1, "non-empty"),
])
def test_training_curves_rejects_bad_input(histories, smooth, message):
    with pytest.raises(ValueError, match=message):
        plot.training_curves(histories, smooth=smooth)


def test_quality_vs_length_buckets_in_given_order():
    results = {"RNN": {"4–10": 0.9, "11–20": 0.7, "21–30": 0.4},
               "attention": {"4–10": 0.95, "11–20": 0.9, "21–30": 0.85, "31–40": 0.8}}
    fig = plot.quality_vs_length(results, title="Figure 2, in miniature")
    ax = fig.axes[0]
    assert tick_texts(ax.get_xticklabels()) == ["4–10", "11–20", "21–30", "31–40"]
    assert ax.get_ylim() == (0.0, 1.0)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("source length (tokens)", "token accuracy")
    rnn, attention = ax.get_lines()
    np.testing.assert_allclose(rnn.get_ydata(), [0.9, 0.7, 0.4, np.nan])  # no 31–40 result: a gap
    np.testing.assert_allclose(attention.get_ydata(), [0.95, 0.9, 0.85, 0.8])
    assert tick_texts(ax.get_legend().get_texts()) == ["RNN", "attention"]


def test_quality_vs_length_bleu_scale_and_bad_values():
    fig = plot.quality_vs_length({"m": {"4–10": 35.0}}, ylabel="BLEU")
    assert fig.axes[0].get_ylim() == (0.0, 100.0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        plot.quality_vs_length({"m": {"4–10": -0.1}})
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        plot.quality_vs_length({"m": {"4–10": 100.001}})
    # a perfect bucket's corpus BLEU, as sacrebleu returns it, is drawn at 100
    fig = plot.quality_vs_length({"m": {"4–10": 100.00000000000001, "11–20": 60.0}}, ylabel="BLEU")
    assert fig.axes[0].get_ylim() == (0.0, 100.0)


def test_use_course_style_sets_rcparams_and_import_does_not():
    with matplotlib.rc_context():
        plot.use_course_style()
        assert matplotlib.rcParams["axes.spines.top"] is False
        assert matplotlib.rcParams["font.size"] == plot.COURSE_STYLE["font.size"]
    code = ("import matplotlib; before = dict(matplotlib.rcParams); import seq2bert.plot; "
            "assert dict(matplotlib.rcParams) == before; print('clean')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "clean", done.stderr


def test_show_source_prints_outside_jupyter(capsys):
    plot.show_source(plot.moving_average)
    printed = capsys.readouterr().out
    assert printed.startswith("def moving_average(")
    assert "np.cumsum" in printed


def test_show_source_highlights_in_jupyter(monkeypatch, capsys):
    import IPython.display

    shown = []
    monkeypatch.setattr(plot, "_in_jupyter", lambda: True)
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    plot.show_source(plot.attention_grid)
    assert capsys.readouterr().out == ""
    (code,) = shown
    assert isinstance(code, IPython.display.Code)
    html = code._repr_html_()
    assert "attention_grid" in html and "<span" in html  # pygments markup


def test_show_source_of_an_instance_shows_its_class(capsys):
    plot.show_source(ValueErrorHolder())
    assert capsys.readouterr().out.startswith("class ValueErrorHolder")


def test_show_source_rejects_builtins():
    with pytest.raises(ValueError, match="no Python source"):
        plot.show_source(len)


class ValueErrorHolder:
    """A tiny class whose source show_source prints."""

    def __call__(self):
        return 1
