"""Unit 05's plots: learning-rate schedule, loss curves side by side, quality against seconds, attention maps."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from seq2bert import plot  # noqa: E402


def tick_texts(labels) -> list[str]:
    return [label.get_text() for label in labels]


def test_learning_rate_schedule_plots_every_step_and_marks_the_warmup():
    rates = [min(step / 4, (4 / step) ** 0.5) for step in range(1, 11)]
    open_before = plt.get_fignums()
    fig = plot.learning_rate_schedule({"warm-up + 1/sqrt(step)": rates}, warmup=4, title="schedule")
    ax = fig.axes[0]
    schedule, marker = ax.lines
    np.testing.assert_array_equal(schedule.get_xdata(), np.arange(1, 11))
    np.testing.assert_allclose(schedule.get_ydata(), rates)
    assert list(marker.get_xdata()) == [4, 4] and "step 4" in marker.get_label()
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("step", "learning rate", "schedule")
    assert plt.get_fignums() == open_before


def test_learning_rate_schedule_rejects_a_table():
    with pytest.raises(ValueError, match="one learning rate per step"):
        plot.learning_rate_schedule({"bad": np.ones((3, 2))})
    with pytest.raises(ValueError, match="at least one"):
        plot.learning_rate_schedule({})


def test_loss_curves_side_by_side_share_the_y_axis():
    low, high = np.linspace(1.0, 0.5, 30), np.linspace(6.0, 3.0, 30)
    fig = plot.loss_curves_side_by_side({"with warm-up": {"pre-LN": low, "post-LN": low + 0.1},
                                         "no warm-up": {"pre-LN": low, "post-LN": high}}, title="warm-up")
    left, right = fig.axes
    assert (left.get_title(), right.get_title()) == ("with warm-up", "no warm-up")
    assert left.get_ylim() == right.get_ylim() and left.get_ylim()[1] >= 6.0
    assert [line.get_label() for line in right.lines] == ["pre-LN", "post-LN"]
    np.testing.assert_allclose(right.lines[1].get_ydata(), high)
    assert fig._suptitle.get_text() == "warm-up"


def test_loss_curves_side_by_side_smooths_like_training_curves():
    noisy = np.tile([0.0, 2.0], 10)
    fig = plot.loss_curves_side_by_side({"only": {"curve": noisy}}, smooth=2)
    raw, smooth = fig.axes[0].lines
    np.testing.assert_allclose(raw.get_ydata(), noisy)
    np.testing.assert_allclose(smooth.get_ydata()[1:], 1.0)
    assert smooth.get_label() == "curve" and "mean of last 2 steps" in fig.axes[0].get_ylabel()


def test_loss_curves_side_by_side_rejects_empty_panels_and_bad_smoothing():
    with pytest.raises(ValueError, match="at least one panel"):
        plot.loss_curves_side_by_side({"empty": {}})
    with pytest.raises(ValueError, match="smooth"):
        plot.loss_curves_side_by_side({"a": {"b": [1.0, 2.0]}}, smooth=0)


def test_quality_vs_seconds_draws_each_model_at_its_checkpoints():
    fig = plot.quality_vs_seconds({"Transformer": ([5.0, 10.0, 15.0], [0.1, 0.6, 0.9]),
                                   "attention RNN": ([4.0, 12.0], [0.2, 0.4])}, ylabel="exact match, 31–40 words")
    ax = fig.axes[0]
    transformer, rnn = ax.lines
    np.testing.assert_allclose(transformer.get_xdata(), [5.0, 10.0, 15.0])
    np.testing.assert_allclose(rnn.get_ydata(), [0.2, 0.4])
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("training seconds", "exact match, 31–40 words")
    assert ax.get_ylim() == (0.0, 1.0)


def test_quality_vs_seconds_rejects_mismatched_or_backward_curves():
    with pytest.raises(ValueError, match="same non-zero number"):
        plot.quality_vs_seconds({"a": ([1.0, 2.0], [0.5])})
    with pytest.raises(ValueError, match="must not decrease"):
        plot.quality_vs_seconds({"a": ([2.0, 1.0], [0.5, 0.6])})


def test_head_heatmaps_draw_one_panel_per_head_with_token_labels():
    weights = np.random.default_rng(0).dirichlet(np.ones(3), size=(4, 2))  # (H, T, S) = (4, 2, 3)
    fig = plot.head_heatmaps(weights, ["the", "red", "cat"], ["le", "chatol"], title="cross-attention")
    heatmaps = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in heatmaps] == ["head 1", "head 2", "head 3", "head 4"]
    assert tick_texts(heatmaps[2].get_xticklabels()) == ["the", "red", "cat"]
    assert tick_texts(heatmaps[2].get_yticklabels()) == ["le", "chatol"]
    np.testing.assert_allclose(heatmaps[3].images[0].get_array(), weights[3])


def test_head_heatmaps_ask_for_one_sentence():
    with pytest.raises(ValueError, match=r"\(H, T, S\).*weights\[0\]"):
        plot.head_heatmaps(np.ones((1, 4, 2, 3)) / 3, list("abc"), list("xy"))


def test_self_attention_maps_grid_layers_by_heads():
    rng = np.random.default_rng(1)
    layers = [rng.dirichlet(np.ones(3), size=(2, 3)) for _ in range(2)]  # per layer (H, S, S) = (2, 3, 3)
    fig = plot.self_attention_maps(layers, ["a", "big", "cat"])
    maps = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in maps] == ["layer 1, head 1", "layer 1, head 2", "layer 2, head 1", "layer 2, head 2"]
    assert tick_texts(maps[2].get_xticklabels()) == ["a", "big", "cat"]  # keys on the bottom row only
    assert tick_texts(maps[0].get_yticklabels()) == ["a", "big", "cat"]  # queries on the first column only
    np.testing.assert_allclose(maps[3].images[0].get_array(), layers[1][1])


def test_self_attention_maps_check_shapes_against_the_tokens():
    with pytest.raises(ValueError, match=r"layer 1 has weights of shape \(2, 3, 3\); expected \(H, S, S\) = \(2, 4, 4\)"):
        plot.self_attention_maps([np.ones((2, 3, 3)) / 3], list("abcd"))
