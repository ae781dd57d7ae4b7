"""Unit 03's scaled dot-product attention against its twin and against the libraries' own.

ours torch == ours tf; ours == torch.nn.functional.scaled_dot_product_attention (bool mask through
masks.to_sdpa_mask, and is_causal=True against our causal mask); ours tf == keras.ops.
dot_product_attention and keras.layers.Attention with the scale set to 1/sqrt(Dk). Random inputs
with long padding (3/4 of the keys padded in some rows). Max abs diff <= 1e-5.

Rows whose keys are ALL masked are compared separately: ours gives weights 0 and output 0; torch's
SDPA (2.13, CPU) also gives 0; Keras fills masked logits with a large finite negative number, so
such a row gets uniform weights (output = mean of the values); keras.layers.Attention subtracts 1e9
from the masked scores, and in float32 score - 1e9 rounds to the same number for every key, so such
a row is uniform there too.

Legend: B batch, H heads, T queries, S keys, Dk query/key width, Dv value width.
"""
from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
import torch
import torch.nn.functional as F

from seq2bert.tf import attention as tf_attention
from seq2bert.torch import attention as torch_attention
from seq2bert.torch.masks import to_sdpa_mask

TOLERANCE = 1e-5
B, H, T, S, DK, DV = 4, 3, 6, 16, 8, 5
# Real keys per sequence: full, 3/4 padded, one real key, half.
LENGTHS = np.array([16, 4, 1, 8])


def inputs(seed, t=T, s=S):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(B, H, t, DK)).astype(np.float32)
    k = rng.normal(size=(B, H, s, DK)).astype(np.float32)
    v = rng.normal(size=(B, H, s, DV)).astype(np.float32)
    return q, k, v


def key_padding(lengths=LENGTHS, s=S):
    return np.arange(s)[None, :] < lengths[:, None]  # (B, S)


def max_diff(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def ours_torch(q, k, v, mask=None):
    out, weights = torch_attention.scaled_dot_product_attention(
        torch.from_numpy(q), torch.from_numpy(k), torch.from_numpy(v), None if mask is None else torch.from_numpy(mask))
    return out.numpy(), weights.numpy()


def ours_tf(q, k, v, mask=None):
    out, weights = tf_attention.scaled_dot_product_attention(q, k, v, None if mask is None else tf.constant(mask))
    return out.numpy(), weights.numpy()


def to_bthd(x):
    return np.ascontiguousarray(x.transpose(0, 2, 1, 3))  # (B, H, T, D) -> (B, T, H, D): Keras's layout


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("masking", ["none", "padding", "causal+padding"])
def test_torch_twin_equals_tf_twin(seed, masking):
    q, k, v = inputs(seed, t=S)
    mask = None
    if masking != "none":
        mask = key_padding()[:, None, None, :]  # (B, 1, 1, S)
        if masking == "causal+padding":
            mask = mask & np.tril(np.ones((S, S), bool))
    out_torch, w_torch = ours_torch(q, k, v, mask)
    out_tf, w_tf = ours_tf(q, k, v, mask)
    assert max_diff(out_torch, out_tf) <= TOLERANCE
    assert max_diff(w_torch, w_tf) <= TOLERANCE


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_torch_equals_sdpa_with_long_padding(seed):
    q, k, v = inputs(seed)
    mask = key_padding()[:, None, None, :]  # (B, 1, 1, S); broadcast over heads and queries
    out, _ = ours_torch(q, k, v, mask)
    reference = F.scaled_dot_product_attention(torch.from_numpy(q), torch.from_numpy(k), torch.from_numpy(v),
                                               attn_mask=to_sdpa_mask(torch.from_numpy(mask)))
    assert max_diff(out, reference.numpy()) <= TOLERANCE


def test_torch_causal_mask_equals_sdpa_is_causal():
    q, k, v = inputs(3, t=S)
    out, weights = ours_torch(q, k, v, torch_attention.causal_mask(S).numpy())
    reference = F.scaled_dot_product_attention(torch.from_numpy(q), torch.from_numpy(k), torch.from_numpy(v),
                                               is_causal=True)
    assert max_diff(out, reference.numpy()) <= TOLERANCE
    assert np.all(np.triu(weights, k=1) == 0)


def test_torch_causal_and_padding_combined_equals_sdpa():
    q, k, v = inputs(4, t=S)
    lengths = np.array([16, 12, 5, 9])  # every query keeps at least key 0, so no row is all masked
    mask = torch_attention.combine_masks(torch.from_numpy(key_padding(lengths)), torch_attention.causal_mask(S))
    out, _ = ours_torch(q, k, v, mask.numpy())
    reference = F.scaled_dot_product_attention(torch.from_numpy(q), torch.from_numpy(k), torch.from_numpy(v),
                                               attn_mask=to_sdpa_mask(mask))
    assert max_diff(out, reference.numpy()) <= TOLERANCE


def test_blockwise_equals_sdpa_in_both_frameworks():
    q, k, v = inputs(5, t=S)
    mask = key_padding()[:, None, None, :] & np.tril(np.ones((S, S), bool))
    reference = F.scaled_dot_product_attention(torch.from_numpy(q), torch.from_numpy(k), torch.from_numpy(v),
                                               attn_mask=torch.from_numpy(mask)).numpy()
    assert mask.any(-1).all()  # key 0 is real everywhere: no all-masked row here (compared below)
    for block_size in (3, 5, 16):  # 3 and 5 do not divide S = 16
        blocked_torch = torch_attention.blockwise_attention(
            torch.from_numpy(q), torch.from_numpy(k), torch.from_numpy(v), torch.from_numpy(mask), block_size=block_size)
        blocked_tf = tf_attention.blockwise_attention(q, k, v, tf.constant(mask), block_size=block_size)
        assert max_diff(blocked_torch.numpy(), reference) <= TOLERANCE
        assert max_diff(blocked_tf.numpy(), reference) <= TOLERANCE


def test_tf_equals_keras_ops_dot_product_attention_with_long_padding():
    q, k, v = inputs(6)
    mask = key_padding()[:, None, None, :]  # (B, 1, 1, S): Keras broadcasts it to (B, H, T, S) too
    out, _ = ours_tf(q, k, v, mask)
    reference = keras.ops.dot_product_attention(to_bthd(q), to_bthd(k), to_bthd(v), mask=tf.constant(mask),
                                                scale=1 / math.sqrt(DK))  # (B, T, H, Dv)
    assert max_diff(out, to_bthd(np.asarray(reference))) <= TOLERANCE


def test_tf_causal_mask_equals_keras_is_causal():
    q, k, v = inputs(7, t=S)
    out, _ = ours_tf(q, k, v, tf_attention.causal_mask(S).numpy())
    reference = keras.ops.dot_product_attention(to_bthd(q), to_bthd(k), to_bthd(v), is_causal=True)
    assert max_diff(out, to_bthd(np.asarray(reference))) <= TOLERANCE


def test_tf_equals_keras_attention_layer_with_scale_one_over_sqrt_dk():
    rng = np.random.default_rng(8)
    q = rng.normal(size=(B, T, DK)).astype(np.float32)
    k = rng.normal(size=(B, S, DK)).astype(np.float32)
    v = rng.normal(size=(B, S, DV)).astype(np.float32)
    layer = keras.layers.Attention(use_scale=True)  # score = scale * q . k, scale a learned scalar
    layer([q, v, k])
    layer.scale.assign(1 / math.sqrt(DK))
    reference = layer([q, v, k], mask=[None, tf.constant(key_padding())])
    out, _ = ours_tf(q, k, v, key_padding()[:, None, :])  # (B, 1, S)
    assert max_diff(out, reference) <= TOLERANCE


# --- rows whose keys are all masked: each library's own answer, checked ----------------------

def all_masked_case():
    q, k, v = inputs(9)
    mask = np.ones((B, 1, T, S), bool)
    mask[0, 0, 2] = False  # query 2 of sequence 0 may attend to nothing
    mask[3] = False  # nothing in sequence 3 may be attended to
    empty = ~np.broadcast_to(mask, (B, H, T, S)).any(-1)  # (B, H, T)
    return q, k, v, mask, empty


def test_all_masked_rows_ours_give_zero_in_both_twins():
    q, k, v, mask, empty = all_masked_case()
    for out, weights in (ours_torch(q, k, v, mask), ours_tf(q, k, v, mask)):
        assert np.all(out[empty] == 0) and np.all(weights[empty] == 0)
        assert np.isfinite(out).all()


def test_all_masked_rows_torch_sdpa_gives_zero_like_ours():
    q, k, v, mask, empty = all_masked_case()
    reference = F.scaled_dot_product_attention(torch.from_numpy(q), torch.from_numpy(k), torch.from_numpy(v),
                                               attn_mask=torch.from_numpy(mask)).numpy()
    assert np.all(reference[empty] == 0)  # torch 2.13 on CPU: zeros, no NaN
    out, _ = ours_torch(q, k, v, mask)
    assert max_diff(out, reference) <= TOLERANCE  # the other rows agree too


def test_all_masked_rows_keras_ops_gives_uniform_weights_unlike_ours():
    q, k, v, mask, empty = all_masked_case()
    reference = to_bthd(np.asarray(keras.ops.dot_product_attention(
        to_bthd(q), to_bthd(k), to_bthd(v), mask=tf.constant(mask))))  # (B, H, T, Dv)
    mean_of_values = np.broadcast_to(v.mean(axis=-2, keepdims=True), reference.shape)
    assert max_diff(reference[empty], mean_of_values[empty]) <= TOLERANCE  # uniform weights over all S keys
    out, _ = ours_tf(q, k, v, mask)
    assert np.all(out[empty] == 0)
    assert max_diff(out[~empty], reference[~empty]) <= TOLERANCE


def test_all_masked_rows_keras_attention_layer_gives_uniform_weights_unlike_ours():
    rng = np.random.default_rng(10)
    q = rng.normal(size=(B, T, DK)).astype(np.float32)
    k = rng.normal(size=(B, S, DK)).astype(np.float32)
    v = rng.normal(size=(B, S, DV)).astype(np.float32)
    padding = key_padding()
    padding[3] = False  # sequence 3 has no real key
    layer = keras.layers.Attention(use_scale=True)
    layer([q, v, k])
    layer.scale.assign(1 / math.sqrt(DK))
    reference, weights = layer([q, v, k], mask=[None, tf.constant(padding)], return_attention_scores=True)
    assert max_diff(weights[3], np.full((T, S), 1 / S)) <= TOLERANCE
    assert max_diff(reference[3], np.broadcast_to(v[3].mean(0), (T, DV))) <= TOLERANCE
    out, ours_weights = ours_tf(q, k, v, padding[:, None, :])
    assert np.all(out[3] == 0) and np.all(ours_weights[3] == 0)
    assert max_diff(out[:3], np.asarray(reference)[:3]) <= TOLERANCE
