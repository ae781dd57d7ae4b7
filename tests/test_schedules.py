"""The warm-up + inverse-square-root schedule: its shape, the paper's formula, and bad input."""
import math

import pytest

from seq2bert.schedules import transformer_learning_rate, vaswani_peak


def test_warmup_is_linear_and_reaches_the_peak():
    peak, warmup = 2e-3, 200
    assert transformer_learning_rate(1, peak, warmup) == pytest.approx(peak / 200)
    assert transformer_learning_rate(100, peak, warmup) == pytest.approx(peak / 2)
    assert transformer_learning_rate(200, peak, warmup) == pytest.approx(peak)
    rates = [transformer_learning_rate(s, peak, warmup) for s in range(1, 201)]
    assert all(b > a for a, b in zip(rates, rates[1:]))


def test_decay_is_inverse_square_root_after_warmup():
    peak, warmup = 2e-3, 200
    assert transformer_learning_rate(800, peak, warmup) == pytest.approx(peak / 2)  # sqrt(200 / 800)
    assert transformer_learning_rate(20000, peak, warmup) == pytest.approx(peak / 10)
    rates = [transformer_learning_rate(s, peak, warmup) for s in range(200, 1000)]
    assert all(b < a for a, b in zip(rates, rates[1:]))
    assert max(transformer_learning_rate(s, peak, warmup) for s in range(1, 5000)) == pytest.approx(peak)


def test_the_papers_formula_is_this_schedule_with_its_peak():
    width, warmup = 512, 4000
    for step in (1, 10, 3999, 4000, 4001, 100000):
        paper = width ** -0.5 * min(step ** -0.5, step * warmup ** -1.5)
        assert transformer_learning_rate(step, vaswani_peak(width, warmup), warmup) == pytest.approx(paper, rel=1e-12)
    assert vaswani_peak(512, 4000) == pytest.approx(1 / math.sqrt(512 * 4000))


@pytest.mark.parametrize("step, peak, warmup, message", [
    (0, 1e-3, 10, "steps are counted from 1, got step 0"),
    (-3, 1e-3, 10, "steps are counted from 1"),
    (1.5, 1e-3, 10, "steps are counted from 1"),
    (1, 1e-3, 0, "warmup must be a whole number of steps >= 1, got 0"),
    (1, 0.0, 10, "the peak learning rate must be > 0, got 0.0"),
    (1, -1e-3, 10, "the peak learning rate must be > 0"),
])
def test_bad_input_gets_a_clear_error(step, peak, warmup, message):
    with pytest.raises(ValueError, match=message):
        transformer_learning_rate(step, peak, warmup)


def test_vaswani_peak_rejects_bad_sizes():
    with pytest.raises(ValueError, match="width and warmup must be >= 1"):
        vaswani_peak(0, 4000)
