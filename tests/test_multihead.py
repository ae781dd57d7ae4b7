"""Multi-head attention in both frameworks: split and merge of heads, permutation equivariance
without positions (and its loss with rotary positions), parameter count and cost against H."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import torch
from torch.utils.flop_counter import FlopCounterMode

from frameworks import Keras, Torch
from seq2bert.tf import attention as ka
from seq2bert.tf.weights import initial_weights as keras_initial_weights
from seq2bert.tf.weights import load_torch_state
from seq2bert.torch import attention as ta
from seq2bert.torch.weights import initial_weights as torch_initial_weights
from seq2bert.torch.weights import load_weights


def normal(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def attend(fw, layer, query, key=None, mask=None):
    key = query if key is None else key
    args = [fw.tensor(query), fw.tensor(key), fw.tensor(key)]
    output, weights = layer(*args, mask=None if mask is None else fw.tensor(mask))
    return fw.numpy(output), fw.numpy(weights)


# ---------------------------------------------------------------- split_heads / merge_heads


@pytest.mark.parametrize("heads", [1, 2, 3, 12])
def test_split_gives_each_head_its_slice_and_merge_undoes_it(fw, heads):
    x = normal(2, 5, 12)
    split = fw.numpy(fw.attention.split_heads(fw.tensor(x), heads))
    width = 12 // heads
    assert split.shape == (2, heads, 5, width)
    for h in range(heads):
        np.testing.assert_array_equal(split[:, h], x[..., h * width:(h + 1) * width])
    np.testing.assert_array_equal(fw.numpy(fw.attention.merge_heads(fw.tensor(split))), x)


def test_split_and_merge_errors(fw):
    with pytest.raises(ValueError, match="width 10 does not split into 3 heads"):
        fw.attention.split_heads(fw.tensor(normal(2, 4, 10)), 3)
    with pytest.raises(ValueError, match="heads must be a positive int"):
        fw.attention.split_heads(fw.tensor(normal(2, 4, 8)), 0)
    with pytest.raises(ValueError, match=r"shape \(B, T, D\), got shape \(4, 8\)"):
        fw.attention.split_heads(fw.tensor(normal(4, 8)), 2)
    with pytest.raises(ValueError, match=r"shape \(B, H, T, Dh\), got shape \(2, 4, 8\)"):
        fw.attention.merge_heads(fw.tensor(normal(2, 4, 8)))


# ---------------------------------------------------------------- the layer


def test_heads_are_attention_on_slices_of_the_projections(fw):
    """Head h uses rows h*Dh..(h+1)*Dh of each projection's weight (PyTorch layout), then w_o mixes them."""
    layer = fw.multi_head_attention(8, 2, seed=4)
    state = {name: value.astype(np.float64) for name, value in fw.state(layer).items()}
    x, y = normal(2, 3, 8, seed=1), normal(2, 5, 8, seed=2)
    mask = np.ones((2, 1, 1, 5), bool)
    mask[1, ..., 2:] = False  # the second sequence has 2 real keys
    output, weights = attend(fw, layer, x, y, mask)

    def project(name, inputs):
        return inputs @ state[f"{name}.weight"].T + state[f"{name}.bias"]  # (B, L, D) @ (D, D) -> (B, L, D)

    q, k, v = project("w_q", x), project("w_k", y), project("w_v", y)
    heads = []
    for h in range(2):
        part = slice(4 * h, 4 * h + 4)
        scores = q[..., part] @ k[..., part].transpose(0, 2, 1) / 2.0  # (B, T, Dh) @ (B, Dh, S) / sqrt(4)
        scores = np.where(mask[:, 0], scores, -np.inf)  # (B, 1, S) broadcast over T
        w = np.exp(scores - scores.max(-1, keepdims=True))
        w /= w.sum(-1, keepdims=True)
        np.testing.assert_allclose(weights[:, h], w, atol=1e-6)
        heads.append(w @ v[..., part])  # (B, T, S) @ (B, S, Dh) -> (B, T, Dh)
    np.testing.assert_allclose(output, project("w_o", np.concatenate(heads, -1)), atol=1e-5)
    assert weights[1, :, :, 2:].max() == 0.0  # padding gets no attention


def test_permuting_tokens_permutes_outputs_without_positions(fw):
    layer = fw.multi_head_attention(16, 4, seed=1)
    x = normal(2, 7, 16, seed=3)
    permutation = np.random.default_rng(5).permutation(7)
    assert not np.array_equal(permutation, np.arange(7))
    output, weights = attend(fw, layer, x)
    output_p, weights_p = attend(fw, layer, x[:, permutation])
    np.testing.assert_allclose(output_p, output[:, permutation], atol=1e-6)
    np.testing.assert_allclose(weights_p, weights[:, :, permutation][:, :, :, permutation], atol=1e-6)


def test_rotary_positions_break_permutation_equivariance(fw):
    layer = fw.multi_head_attention(16, 4, rotary=True, seed=1)
    x = normal(2, 7, 16, seed=3)
    permutation = np.random.default_rng(5).permutation(7)
    output, _ = attend(fw, layer, x)
    output_p, _ = attend(fw, layer, x[:, permutation])
    assert np.abs(output_p - output[:, permutation]).max() > 1e-2
    # One token is at position 0, where the rotation is the identity: rotary changes nothing there.
    plain = fw.multi_head_attention(16, 4, seed=1)
    np.testing.assert_allclose(attend(fw, layer, x[:, :1])[0], attend(fw, plain, x[:, :1])[0], atol=1e-6)


@pytest.mark.parametrize("width, heads", [(16, 1), (16, 4), (16, 16), (24, 3)])
def test_parameter_count_is_4d2_plus_4d_whatever_the_heads(fw, width, heads):
    assert fw.count(fw.multi_head_attention(width, heads)) == 4 * width ** 2 + 4 * width


@pytest.mark.parametrize("heads", [1, 4, 16])
def test_h_heads_cost_the_flops_of_one_wide_head(heads):
    """Counted by PyTorch: projections 4 x 2BTD^2 and attention 2 x 2BTSD for every H (Dh = D/H)."""
    batch, length, width = 2, 5, 16
    layer = ta.MultiHeadAttention(width, heads)
    x = torch.randn(batch, length, width)
    with FlopCounterMode(display=False) as counter:
        layer(x, x, x)
    projections = 4 * 2 * batch * length * width * width  # q, k, v, o: (B*T, D) @ (D, D), 2 FLOPs per multiply-add
    attention = 2 * 2 * batch * length * length * width  # q k^T and weights @ v: H x (T, Dh) @ (Dh, S) = T S D
    assert counter.get_total_flops() == projections + attention


def test_layer_errors(fw):
    with pytest.raises(ValueError, match="width 10 does not split into 4 heads"):
        fw.attention.MultiHeadAttention(10, 4)
    with pytest.raises(ValueError, match="rotary positions need an even head width, but 12 / 4 = 3"):
        fw.attention.MultiHeadAttention(12, 4, rotary=True)
    layer = fw.multi_head_attention(8, 2)
    with pytest.raises(ValueError, match=r"key has shape \(2, 5, 6\), but this layer takes \(B, length, 8\)"):
        layer(fw.tensor(normal(2, 3, 8)), fw.tensor(normal(2, 5, 6)), fw.tensor(normal(2, 5, 8)))
    with pytest.raises(ValueError, match="keys have length 5 but values 4"):
        layer(fw.tensor(normal(2, 3, 8)), fw.tensor(normal(2, 5, 8)), fw.tensor(normal(2, 4, 8)))
    with pytest.raises(TypeError, match="bool"):
        layer(fw.tensor(normal(2, 3, 8)), fw.tensor(normal(2, 5, 8)), fw.tensor(normal(2, 5, 8)),
              mask=fw.tensor(np.ones((2, 1, 1, 5), np.float32)))


def test_twins_start_from_the_same_drawn_weights():
    """w_q, w_k, w_v, w_o are dense layers, so seq2bert.init draws them for both twins with no new layout."""
    torch_layer, keras_layer = ta.MultiHeadAttention(16, 4), ka.MultiHeadAttention(16, 4)
    x = normal(2, 5, 16, seed=8)
    keras_layer(tf.constant(x), tf.constant(x), tf.constant(x))  # builds it
    drawn_torch, drawn_keras = torch_initial_weights(torch_layer, 7), keras_initial_weights(keras_layer, 7)
    names = [f"{layer}.{part}" for layer in ("w_q", "w_k", "w_v", "w_o") for part in ("weight", "bias")]
    assert list(drawn_torch) == list(drawn_keras) == names
    for name in names:
        np.testing.assert_array_equal(drawn_torch[name], drawn_keras[name])
        assert np.abs(drawn_torch[name]).max() <= 0.25  # U(-1/sqrt(D), 1/sqrt(D)), as nn.Linear
    load_weights(torch_layer, drawn_torch)
    load_torch_state(keras_layer, drawn_keras)
    output_t, weights_t = attend(Torch, torch_layer, x)
    output_k, weights_k = attend(Keras, keras_layer, x)
    assert np.abs(output_t - output_k).max() <= 1e-5 and np.abs(weights_t - weights_k).max() <= 1e-5


def test_the_function_is_the_layer_without_biases(fw):
    """multi_head_attention (the exercise's form, x @ w) computes the layer when its biases are 0."""
    layer = fw.multi_head_attention(8, 2, seed=9)
    state = fw.state(layer)
    zero_biases = {name: (np.zeros_like(value) if name.endswith("bias") else value) for name, value in state.items()}
    fw.load(layer, zero_biases)
    x, y = normal(2, 3, 8, seed=10), normal(2, 4, 8, seed=11)
    mask = np.tril(np.ones((3, 4), bool))  # (T, S), broadcast over B and H
    output, weights = attend(fw, layer, x, y, mask[None, None])
    matrices = [fw.tensor(np.ascontiguousarray(state[f"{name}.weight"].T)) for name in ("w_q", "w_k", "w_v", "w_o")]
    f_output, f_weights = fw.attention.multi_head_attention(fw.tensor(x), fw.tensor(y), *matrices, 2, fw.tensor(mask))
    np.testing.assert_allclose(fw.numpy(f_output), output, atol=1e-5)
    np.testing.assert_allclose(fw.numpy(f_weights), weights, atol=1e-6)


def test_pytorch_functions_name_a_non_tensor_argument():
    x = np.zeros((2, 3, 8), np.float32)
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got ndarray"):
        ta.split_heads(x, 2)
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got ndarray"):
        ta.merge_heads(x[None])
    with pytest.raises(TypeError, match="key must be a torch.Tensor, got ndarray"):
        ta.MultiHeadAttention(8, 2)(torch.tensor(x), x, torch.tensor(x))
