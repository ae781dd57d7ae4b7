"""Unit 04's plots: a positional encoding table, line charts, accuracy per position."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from seq2bert import plot  # noqa: E402


def test_encoding_heatmap_draws_the_table_with_a_symmetric_scale():
    table = np.array([[0.0, 1.0, 0.0, 1.0], [0.8415, 0.5403, 0.01, 1.0], [0.9093, -0.4161, 0.02, 0.9998]])
    figure = plot.encoding_heatmap(table, title="PE")
    ax = figure.axes[0]
    image = ax.images[0]
    np.testing.assert_allclose(image.get_array(), table)
    assert image.get_clim() == (-1.0, 1.0)
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("dimension", "position", "PE")


def test_encoding_heatmap_rejects_a_vector():
    with pytest.raises(ValueError, match=r"\(positions, dimensions\), got shape \(3,\)"):
        plot.encoding_heatmap(np.zeros(3))


def test_line_chart_draws_one_line_per_series():
    figure = plot.line_chart([-1, 0, 1], {"p = 10": [1.0, 2.0, 1.0], "p = 20": [1.0, 2.0, 1.5]}, "offset k", "dot")
    ax = figure.axes[0]
    assert [line.get_label() for line in ax.lines] == ["p = 10", "p = 20"]
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [1.0, 2.0, 1.5])
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("offset k", "dot")


def test_line_chart_rejects_series_of_the_wrong_length():
    with pytest.raises(ValueError, match="series 'a' has \\(2,\\) values but x has \\(3,\\)"):
        plot.line_chart([0, 1, 2], {"a": [1.0, 2.0]}, "x", "y")


def test_accuracy_by_position_marks_the_trained_positions():
    figure = plot.accuracy_by_position({"rotary": np.ones(16), "learned": np.r_[np.ones(12), np.zeros(4)]},
                                       trained_length=12)
    ax = figure.axes[0]
    assert [line.get_label() for line in ax.lines] == ["rotary", "learned", "trained on positions 0-11"]
    np.testing.assert_allclose(ax.lines[2].get_xdata(), [11.5, 11.5])
    np.testing.assert_allclose(ax.lines[1].get_xdata(), np.arange(16))
    assert ax.get_ylim() == (0.0, 1.0)


def test_accuracy_by_position_needs_one_number_per_position():
    with pytest.raises(ValueError, match="one number per position"):
        plot.accuracy_by_position({"a": np.zeros((2, 3))})
