"""The 1/sqrt(d_k) sweep of unit 03: its pieces against definitions, its findings, its errors."""
from __future__ import annotations

import numpy as np
import pytest

from seq2bert.experiments.scaling import entropy, scaling_sweep, softmax, softmax_jacobian_norm


def test_softmax_is_shift_safe_and_sums_to_one():
    weights = softmax(np.array([[1000.0, 999.0, 0.0], [1.0, 0.0, 0.5]]))
    assert np.isfinite(weights).all() and np.allclose(weights.sum(axis=-1), 1.0)
    # The worked example of unit 03: softmax([1, 0, 0.5]).
    assert np.allclose(weights[1], [0.5065, 0.1863, 0.3072], atol=1e-4)


def test_entropy_of_uniform_one_hot_and_a_known_row():
    assert entropy(np.full(8, 1 / 8)) == pytest.approx(np.log(8))
    assert entropy(np.array([0.0, 1.0, 0.0])) == 0.0
    assert entropy(np.array([0.5, 0.5, 0.0])) == pytest.approx(np.log(2))


def test_jacobian_norm_matches_finite_differences():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=5)
    step = 1e-6
    columns = [(softmax(scores + step * np.eye(5)[j]) - softmax(scores - step * np.eye(5)[j])) / (2 * step)
               for j in range(5)]
    numeric = np.linalg.norm(np.stack(columns, axis=1))
    assert softmax_jacobian_norm(softmax(scores)) == pytest.approx(numeric, rel=1e-6)
    # Batched rows give each row's own norm; a saturated row has (almost) no gradient.
    batch = softmax(np.stack([scores, 100 * scores]))
    assert np.allclose(softmax_jacobian_norm(batch), [numeric, softmax_jacobian_norm(batch[1])])
    assert softmax_jacobian_norm(batch[1]) < 0.01 * numeric  # 100 times smaller


def test_sweep_shows_the_variance_growth_and_the_saturation():
    sweep = scaling_sweep([4, 64, 1024], queries=600, keys=16, seed=0)
    assert sweep.widths.tolist() == [4, 64, 1024] and sweep.keys == 16
    # Var(q·k) = d_k for unit-variance entries (Vaswani et al. 2017, footnote 4).
    assert np.allclose(sweep.dot_variance / sweep.widths, 1.0, atol=0.1)
    # Unscaled: entropy, gradient and spread collapse as d_k grows; scaled: they stay put.
    assert (np.diff(sweep.entropy) < 0).all() and sweep.entropy[-1] < 0.2
    assert (np.diff(sweep.gradient_norm) < 0).all() and sweep.gradient_norm[-1] < 0.25 * sweep.gradient_norm[0]
    assert sweep.top_weight[-1] > 0.9
    assert np.ptp(sweep.entropy_scaled) < 0.1 and (sweep.entropy_scaled > 0.8 * sweep.max_entropy).all()
    assert np.ptp(sweep.gradient_norm_scaled) < 0.05 and (sweep.top_weight_scaled < 0.3).all()
    rows = sweep.rows()
    assert [row["d_k"] for row in rows] == [4, 64, 1024]
    assert rows[1]["entropy_scaled"] == float(sweep.entropy_scaled[1])


def test_sweep_is_reproducible_and_chunking_does_not_matter():
    first = scaling_sweep([8, 32], queries=700, keys=6, seed=3)  # 700 queries: three chunks
    second = scaling_sweep([8, 32], queries=700, keys=6, seed=3)
    assert np.array_equal(first.entropy, second.entropy)
    assert not np.array_equal(first.entropy, scaling_sweep([8, 32], queries=700, keys=6, seed=4).entropy)


@pytest.mark.parametrize("widths, queries, keys, message", [
    ([], 10, 4, "non-empty list of positive key widths"),
    ([0, 4], 10, 4, "non-empty list of positive key widths"),
    ([4], 1, 4, "at least 2 queries and 2 keys"),
    ([4], 10, 1, "at least 2 queries and 2 keys"),
])
def test_bad_sweep_arguments_get_one_line_errors(widths, queries, keys, message):
    with pytest.raises(ValueError, match=message):
        scaling_sweep(widths, queries=queries, keys=keys)
