"""Unit 03's plots: mask grids, the 1/sqrt(d_k) curves, time against length (Agg backend)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from seq2bert import plot  # noqa: E402
from seq2bert.experiments.scaling import scaling_sweep  # noqa: E402


def texts(labels) -> list[str]:
    return [label.get_text() for label in labels]


def test_mask_grid_draws_each_mask_with_labels():
    causal = np.tril(np.ones((3, 3), dtype=bool))
    padding = np.array([[True, True, False]] * 3)
    open_before = plt.get_fignums()
    fig = plot.mask_grid({"causal": causal, "padding": padding, "both": causal & padding},
                         query_labels=["a", "b", "c"], key_labels=["a", "b", "<pad>"], title="masks")
    assert [ax.get_title() for ax in fig.axes] == ["causal", "padding", "both"]
    np.testing.assert_array_equal(fig.axes[2].images[0].get_array(), causal & padding)
    assert texts(fig.axes[0].get_xticklabels()) == ["a", "b", "<pad>"]
    assert texts(fig.axes[0].get_yticklabels()) == ["a", "b", "c"]
    # One mark per cell: a tick where the query may attend, a dot where it may not.
    marks = [t.get_text() for t in fig.axes[2].texts]
    assert marks.count("✓") == int((causal & padding).sum()) and marks.count("·") == 9 - int((causal & padding).sum())
    assert fig._suptitle.get_text() == "masks" and plt.get_fignums() == open_before


@pytest.mark.parametrize("mask, message", [
    (np.ones((2, 3)), "must be a 2-D bool array"),
    (np.ones((1, 2, 3), dtype=bool), "pick one sequence and head"),
])
def test_mask_grid_rejects_non_bool_and_batched_masks(mask, message):
    with pytest.raises(ValueError, match=message):
        plot.mask_grid({"bad": mask})
    with pytest.raises(ValueError, match="at least one mask"):
        plot.mask_grid({})


def test_scaling_curves_plot_both_variants_and_the_uniform_line():
    sweep = scaling_sweep([4, 16, 64], queries=50, keys=8)
    fig = plot.scaling_curves(sweep, title="why 1/sqrt(d_k)")
    entropy_ax, gradient_ax = fig.axes
    unscaled, scaled, uniform = entropy_ax.lines
    np.testing.assert_allclose(unscaled.get_ydata(), sweep.entropy)
    np.testing.assert_allclose(scaled.get_ydata(), sweep.entropy_scaled)
    assert uniform.get_ydata()[0] == pytest.approx(np.log(8))
    np.testing.assert_allclose(gradient_ax.lines[0].get_ydata(), sweep.gradient_norm)
    np.testing.assert_allclose(gradient_ax.lines[1].get_ydata(), sweep.gradient_norm_scaled)
    assert texts(gradient_ax.get_xticklabels()) == ["4", "16", "64"] and entropy_ax.get_xscale() == "log"


def test_cost_vs_length_in_milliseconds():
    fig = plot.cost_vs_length({"ours": {256: 0.004, 64: 0.001}, "library": {64: 0.0005, 256: 0.002}})
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["ours", "library"]
    np.testing.assert_allclose(ax.lines[0].get_xdata(), [64, 256])
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [1.0, 4.0])
    assert ax.get_ylabel() == "milliseconds per call"
    with pytest.raises(ValueError, match="at least one implementation"):
        plot.cost_vs_length({})
