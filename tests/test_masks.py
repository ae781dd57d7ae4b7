"""One mask convention (True = may attend), and converters that hand it to library APIs correctly.

Each converter is tested by what the library then does: masked keys get exactly zero weight,
allowed keys share all of it, and changing the values at masked positions changes nothing.
"""
from __future__ import annotations

import numpy as np
import pytest

LENGTHS = np.array([5, 3, 1])
B, S, D, HEADS = 3, 5, 8, 2


def key_mask_np() -> np.ndarray:
    return np.arange(S)[None, :] < LENGTHS[:, None]  # (B, S)


def numpy_attention(q, k, v, allowed):
    """softmax(q k^T / sqrt(d), masked) v in float64: (B, T, d), (B, S, d), (B, S, d), (B, T, S)."""
    scores = np.einsum("btd,bsd->bts", q, k) / np.sqrt(q.shape[-1])
    scores = np.where(allowed, scores, -1e9)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    return np.einsum("bts,bsd->btd", weights, v), weights


@pytest.fixture(scope="module")
def torch_masks():
    import torch

    from seq2bert.torch import masks
    return torch, masks


@pytest.fixture(scope="module")
def tf_masks():
    import tensorflow as tf

    from seq2bert.tf import masks
    return tf, masks


def test_torch_causal_mask_lets_each_position_see_itself_and_the_past(torch_masks):
    torch, masks = torch_masks
    assert masks.causal_mask(3).tolist() == [[True, False, False], [True, True, False], [True, True, True]]


def test_torch_multihead_attention_with_converted_masks(torch_masks):
    torch, masks = torch_masks
    torch.manual_seed(0)
    layer = torch.nn.MultiheadAttention(D, HEADS, batch_first=True).eval()
    x = torch.randn(B, S, D)
    key_mask = torch.from_numpy(key_mask_np())
    causal = masks.causal_mask(S)
    _, weights = layer(x, x, x, key_padding_mask=masks.to_key_padding_mask(key_mask),
                       attn_mask=masks.to_blocked_mask(causal), need_weights=True, average_attn_weights=False)
    allowed = (key_mask[:, None, None, :] & causal[None, None]).expand(B, HEADS, S, S)  # (B, H, T, S)
    real_queries = key_mask[:, None, :, None].expand(B, HEADS, S, S)
    assert torch.all(weights[allowed & real_queries] > 0)
    assert torch.all(weights[~allowed & real_queries] == 0)
    sums = weights.sum(-1)[key_mask[:, None, :].expand(B, HEADS, S)]
    assert torch.allclose(sums, torch.ones_like(sums), atol=1e-6)


def test_torch_encoder_layer_ignores_padding_values(torch_masks):
    torch, masks = torch_masks
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(D, HEADS, dim_feedforward=16, dropout=0.0, batch_first=True).eval()
    key_mask = torch.from_numpy(key_mask_np())
    x = torch.randn(B, S, D)
    noisy = torch.where(key_mask[..., None], x, torch.randn(B, S, D) * 100)
    padding = masks.to_key_padding_mask(key_mask)
    with torch.no_grad():
        clean_out = layer(x, src_key_padding_mask=padding)[key_mask]
        noisy_out = layer(noisy, src_key_padding_mask=padding)[key_mask]
    assert torch.allclose(clean_out, noisy_out, atol=1e-5)


@pytest.mark.parametrize("kind", ["bool", "additive"])
def test_torch_sdpa_with_converted_mask_matches_numpy(torch_masks, kind):
    torch, masks = torch_masks
    rng = np.random.default_rng(1)
    q, k, v = (rng.normal(size=(B, S, D)) for _ in range(3))
    allowed = key_mask_np()[:, None, :] & np.tril(np.ones((S, S), bool))[None]  # (B, T, S)
    mask = torch.from_numpy(allowed)
    attn_mask = masks.to_sdpa_mask(mask) if kind == "bool" else masks.to_additive_mask(mask)
    got = torch.nn.functional.scaled_dot_product_attention(
        *(torch.tensor(a, dtype=torch.float32) for a in (q, k, v)), attn_mask=attn_mask)
    expected, _ = numpy_attention(q, k, v, allowed)
    assert np.abs(got.numpy() - expected).max() <= 1e-5


def test_torch_converters_refuse_non_bool_masks(torch_masks):
    torch, masks = torch_masks
    with pytest.raises(TypeError, match="expected a bool mask"):
        masks.to_key_padding_mask(torch.ones(2, 3))


def test_tf_keras_multihead_attention_with_converted_mask(tf_masks):
    tf, masks = tf_masks
    import keras

    keras.utils.set_random_seed(0)
    layer = keras.layers.MultiHeadAttention(num_heads=HEADS, key_dim=D // HEADS)
    x = tf.random.normal((B, S, D))
    key_mask = tf.constant(key_mask_np())
    causal = masks.causal_mask(S)
    mask = masks.to_keras_attention_mask(key_mask, S, causal)
    _, weights = layer(x, x, attention_mask=mask, return_attention_scores=True)  # (B, H, T, S)
    allowed = np.broadcast_to(mask.numpy()[:, None], weights.shape)
    weights = weights.numpy()
    assert np.all(weights[allowed] > 0) and np.all(weights[~allowed] == 0)
    noisy = tf.where(key_mask[..., None], x, tf.random.normal((B, S, D)) * 100)
    real = key_mask_np()
    out, noisy_out = layer(x, x, attention_mask=mask), layer(noisy, noisy, attention_mask=mask)
    assert np.abs(out.numpy()[real] - noisy_out.numpy()[real]).max() <= 1e-6


def test_tf_keras_attention_layer_with_converted_masks_matches_numpy(tf_masks):
    tf, masks = tf_masks
    import keras

    rng = np.random.default_rng(2)
    q, v = rng.normal(size=(B, S, D)), rng.normal(size=(B, S, D))
    layer = keras.layers.Attention()
    got = layer([tf.constant(q, tf.float32), tf.constant(v, tf.float32)],
                mask=masks.to_keras_layer_masks(None, tf.constant(key_mask_np())))
    allowed = np.broadcast_to(key_mask_np()[:, None, :], (B, S, S))
    expected, _ = numpy_attention(q * np.sqrt(D), v, v, allowed)  # Keras Attention does not scale
    assert np.abs(got.numpy() - expected).max() <= 1e-5


def test_tf_additive_mask_and_causal_mask(tf_masks):
    tf, masks = tf_masks
    assert masks.causal_mask(3).numpy().tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    additive = masks.to_additive_mask(tf.constant([[True, False]])).numpy()
    assert additive[0, 0] == 0 and additive[0, 1] == -np.inf
    with pytest.raises(TypeError, match="expected a bool mask"):
        masks.to_keras_attention_mask(tf.ones((2, 3)), 3)
