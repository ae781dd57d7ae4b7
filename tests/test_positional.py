"""Positional encodings in both frameworks: sinusoidal values and their rotation property, RoPE's
relative-position property, learned positions; the PyTorch and TensorFlow twins agree."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import torch

from frameworks import Keras, Torch
from seq2bert.tf import positional as kp
from seq2bert.tf.weights import initial_weights as keras_initial_weights
from seq2bert.torch import positional as tp
from seq2bert.torch.weights import initial_weights as torch_initial_weights


def frequencies(width, base=10000.0):
    """omega_i = base^(-2i / width), i = 0 .. width/2 - 1, in float64."""
    return base ** (-np.arange(0, width, 2) / width)


def rope(fw, x, positions):
    return fw.numpy(fw.positional.apply_rope(fw.tensor(np.asarray(x, np.float32)), fw.tensor(np.asarray(positions))))


# ---------------------------------------------------------------- sinusoidal


def test_sinusoidal_values_at_hand_computed_points(fw):
    pe = fw.numpy(fw.positional.sinusoidal_encoding(6, 8))
    assert pe.shape == (6, 8) and pe.dtype == np.float32
    np.testing.assert_allclose(pe[0], [0, 1, 0, 1, 0, 1, 0, 1], atol=1e-7)  # sin 0, cos 0 in every pair
    # D = 8: the pair i = 1 has 10000^(2/8) = 10, the pair i = 2 has 10000^(4/8) = 100.
    assert pe[1, 0] == pytest.approx(0.8414709848, abs=1e-6)  # sin(1)
    assert pe[1, 1] == pytest.approx(0.5403023059, abs=1e-6)  # cos(1)
    assert pe[5, 2] == pytest.approx(0.4794255386, abs=1e-6)  # sin(5 / 10)
    assert pe[5, 3] == pytest.approx(0.8775825619, abs=1e-6)  # cos(5 / 10)
    assert pe[2, 4] == pytest.approx(0.0199986667, abs=1e-6)  # sin(2 / 100)
    assert pe[3, 7] == pytest.approx(0.9999955000, abs=1e-6)  # cos(3 / 1000) = 1 - 0.003^2 / 2


def rotation(k, width):
    """M_k: block-diagonal, one 2x2 block per pair, built from the frequencies alone (no p)."""
    m = np.zeros((width, width))
    for i, omega in enumerate(frequencies(width)):
        c, s = np.cos(k * omega), np.sin(k * omega)
        # sin(a + b) = sin a cos b + cos a sin b; cos(a + b) = cos a cos b - sin a sin b
        m[2 * i:2 * i + 2, 2 * i:2 * i + 2] = [[c, s], [-s, c]]
    return m


@pytest.mark.parametrize("k", [1, 3, 10])
def test_a_shift_by_k_is_one_rotation_for_every_position(fw, k):
    width = 16
    pe = fw.numpy(fw.positional.sinusoidal_encoding(60, width)).astype(np.float64)
    m = rotation(k, width)
    np.testing.assert_allclose(m.T @ m, np.eye(width), atol=1e-12)  # orthogonal
    assert np.linalg.det(m) == pytest.approx(1.0)  # and a rotation, not a reflection
    for p in [0, 1, 7, 23, 49]:
        np.testing.assert_allclose(pe[p + k], m @ pe[p], atol=1e-5)
    # The same M_k does not map PE(p) to PE(p + k + 1): the property is not vacuous.
    assert np.abs(pe[8 + k] - m @ pe[7]).max() > 0.1


def test_dot_product_depends_only_on_the_offset(fw):
    width = 32
    pe = fw.numpy(fw.positional.sinusoidal_encoding(80, width)).astype(np.float64)
    for offset in [0, 1, 4, 15]:
        dots = [pe[p] @ pe[p + offset] for p in range(0, 80 - offset, 3)]
        expected = np.cos(offset * frequencies(width)).sum()  # sum_i cos(offset * omega_i)
        np.testing.assert_allclose(dots, expected, atol=1e-5)
    assert pe[0] @ pe[0] == pytest.approx(width / 2, abs=1e-5)  # every pair has sin^2 + cos^2 = 1
    assert abs(pe[0] @ pe[1] - pe[0] @ pe[4]) > 0.1  # and it does change with the offset


def test_sinusoidal_errors(fw):
    with pytest.raises(ValueError, match="positive even number.*got 7"):
        fw.positional.sinusoidal_encoding(4, 7)
    with pytest.raises(ValueError, match="length must be 0 or more"):
        fw.positional.sinusoidal_encoding(-1, 8)


# ---------------------------------------------------------------- rotary


def test_rope_rotates_each_interleaved_pair_by_its_angle(fw):
    """Dh = 4 at position 3: pair (x0, x1) turns by 3 rad, pair (x2, x3) by 3 / 100 rad."""
    x = np.array([[1.0, 2.0, 3.0, 4.0]] * 4, np.float32)  # (T=4, Dh=4), the same vector at 0..3
    got = fw.numpy(fw.positional.apply_rope(fw.tensor(x)))[3]

    def turn(a, b, angle):
        return [a * np.cos(angle) - b * np.sin(angle), a * np.sin(angle) + b * np.cos(angle)]

    np.testing.assert_allclose(got, turn(1.0, 2.0, 3.0) + turn(3.0, 4.0, 0.03), atol=1e-6)


def test_rope_at_position_zero_is_the_identity_and_norms_are_kept(fw):
    x = np.random.default_rng(0).normal(size=(2, 3, 9, 16)).astype(np.float32)  # (B, H, T, Dh)
    rotated = fw.numpy(fw.positional.apply_rope(fw.tensor(x)))
    assert rotated.shape == x.shape and rotated.dtype == np.float32
    np.testing.assert_array_equal(rotated[..., 0, :], x[..., 0, :])
    np.testing.assert_allclose(np.linalg.norm(rotated, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-5)
    # Every pair keeps its own length: the rotation does not mix pairs.
    pairs = lambda a: np.hypot(a[..., 0::2], a[..., 1::2])  # noqa: E731
    np.testing.assert_allclose(pairs(rotated), pairs(x), rtol=1e-5, atol=1e-6)
    assert np.abs(rotated[..., 1:, :] - x[..., 1:, :]).max() > 0.1


def test_rope_dot_product_depends_only_on_the_offset(fw):
    """(R_p q) . (R_s k) for 41 offsets s - p at four query positions p: one value per offset."""
    rng = np.random.default_rng(1)
    width = 16
    q, k = rng.normal(size=width), rng.normal(size=width)
    offsets = np.arange(-20, 21)
    dots = {}
    for start in [20, 25, 51, 220]:  # the query's position p; keys at p + offset >= 0
        queries = rope(fw, np.tile(q, (len(offsets), 1)), np.full(len(offsets), start))  # (offsets, Dh), all at p
        keys = rope(fw, np.tile(k, (len(offsets), 1)), start + offsets)  # (offsets, Dh), at p + offset
        dots[start] = (queries.astype(np.float64) * keys).sum(-1)  # (offsets,)
    for start in [25, 51, 220]:
        np.testing.assert_allclose(dots[start], dots[20], atol=2e-4)  # float32 angles up to 240 rad
    assert np.ptp(dots[20]) > 1.0  # and it does vary with the offset


def test_rope_positions_argument_and_twins_agree():
    x = np.random.default_rng(2).normal(size=(2, 5, 8)).astype(np.float32)
    positions = np.array([4, 0, 9, 2, 2])
    torch_out = rope(Torch, x, positions)
    np.testing.assert_allclose(torch_out, rope(Keras, x, positions), atol=1e-6)
    np.testing.assert_allclose(torch_out[:, 1], x[:, 1], atol=1e-7)  # position 0 wherever it stands
    np.testing.assert_allclose(torch_out[:, 4], rope(Torch, x[:, 4:5], [2])[:, 0], atol=1e-7)  # position 2 alone
    default = Torch.numpy(tp.apply_rope(torch.tensor(x)))
    np.testing.assert_array_equal(default, rope(Torch, x, np.arange(5)))
    np.testing.assert_allclose(default, Keras.numpy(kp.apply_rope(tf.constant(x))), atol=1e-6)


def test_rope_errors(fw):
    with pytest.raises(ValueError, match="positive even number.*got 5"):
        fw.positional.apply_rope(fw.tensor(np.zeros((3, 5), np.float32)))
    with pytest.raises(ValueError, match=r"positions have shape \(2,\) but x has 3 positions"):
        fw.positional.apply_rope(fw.tensor(np.zeros((3, 4), np.float32)), fw.tensor(np.array([0, 1])))
    with pytest.raises(ValueError, match=r"positions have shape \(1, 3\)"):
        fw.positional.apply_rope(fw.tensor(np.zeros((3, 4), np.float32)), fw.tensor(np.array([[0, 1, 2]])))
    with pytest.raises(TypeError, match="positions must be integers"):
        fw.positional.apply_rope(fw.tensor(np.zeros((3, 4), np.float32)), fw.tensor(np.array([0.0, 1.0, 2.0])))
    with pytest.raises(ValueError, match=r"shape \(\.\.\., T, Dh\)"):
        fw.positional.apply_rope(fw.tensor(np.zeros(4, np.float32)))


# ---------------------------------------------------------------- learned


def test_learned_positions_add_the_first_rows_of_their_table():
    torch_layer = tp.LearnedPositions(10, 6)
    x = np.random.default_rng(3).normal(size=(2, 4, 6)).astype(np.float32)
    table = torch_layer.embedding.weight.detach().numpy()
    np.testing.assert_allclose(torch_layer(torch.tensor(x)).detach().numpy(), x + table[:4], atol=1e-6)
    keras_layer = kp.LearnedPositions(10, 6)
    keras_layer(tf.zeros((1, 1, 6)))
    keras_layer.embedding.set_weights([table])
    np.testing.assert_allclose(np.asarray(keras_layer(tf.constant(x))), x + table[:4], atol=1e-6)


def test_learned_positions_start_at_the_token_scale():
    """N(0, 1), the RMS of sqrt(D)-scaled N(0, D^-1/2) tokens; not BERT's 0.02."""
    torch_layer = tp.LearnedPositions(64, 64)
    keras_layer = kp.LearnedPositions(64, 64)
    keras_layer(tf.zeros((1, 3, 64)))
    drawn_torch = torch_initial_weights(torch_layer, seed=0)
    drawn_keras = keras_initial_weights(keras_layer, seed=0)
    assert list(drawn_torch) == list(drawn_keras) == ["embedding.weight"]
    np.testing.assert_array_equal(drawn_torch["embedding.weight"], drawn_keras["embedding.weight"])
    for table in [drawn_torch["embedding.weight"], torch_layer.embedding.weight.detach().numpy(),
                  keras_layer.embedding.get_weights()[0]]:  # drawn for twins, and each framework's own start
        assert 0.9 < table.std() < 1.1 and abs(table.mean()) < 0.05


def test_learned_positions_errors(fw):
    layer_type = fw.positional.LearnedPositions
    with pytest.raises(ValueError, match="must be positive"):
        layer_type(0, 8)
    layer = layer_type(5, 8)
    with pytest.raises(ValueError, match="length 6 is longer than the 5 learned positions"):
        layer(fw.tensor(np.zeros((2, 6, 8), np.float32)))
    with pytest.raises(ValueError, match="x has width 4 but the position table 8"):
        layer(fw.tensor(np.zeros((2, 3, 4), np.float32)))
    with pytest.raises(ValueError, match=r"shape \(B, T, D\)"):
        layer(fw.tensor(np.zeros((3, 8), np.float32)))
    assert tuple(layer(fw.tensor(np.zeros((2, 5, 8), np.float32))).shape) == (2, 5, 8)  # max_length itself fits
