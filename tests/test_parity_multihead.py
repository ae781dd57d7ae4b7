"""Our MultiHeadAttention = its TensorFlow twin = torch.nn.MultiheadAttention = keras.layers.MultiHeadAttention
on copied weights, with padding (long, too) and a (T, S) mask; max abs diff <= 1e-5 (float32).

In the comparisons with the libraries every query keeps at least one key (key 0 is always real
and allowed), because a query with ALL keys masked is where implementations differ: ours reads
nothing (weights 0, so the output is w_o's bias), nn.MultiheadAttention gives NaN, and Keras 3
(3.15 here) zeroes masked weights after its softmax and so agrees with us. Our twins, and Keras,
are also compared on such rows below.
"""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
import torch
from torch import nn

from seq2bert.tf import attention as ka
from seq2bert.tf import masks as keras_masks
from seq2bert.tf.weights import load_torch_state
from seq2bert.torch import attention as ta
from seq2bert.torch import masks as torch_masks
from seq2bert.torch.weights import torch_state

TOL = 1e-5


def torch_layer(width, heads, rotary=False, seed=0):
    """Our PyTorch layer with weights unlike any default start, so every mapping is really tested."""
    layer = ta.MultiHeadAttention(width, heads, rotary=rotary).eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    return layer


def keras_twin(layer, query_length, key_length):
    """Our Keras layer, built and loaded with the PyTorch layer's weights."""
    twin = ka.MultiHeadAttention(layer.width, layer.heads, rotary=layer.rotary)
    twin(tf.zeros((1, query_length, layer.width)), tf.zeros((1, key_length, layer.width)),
         tf.zeros((1, key_length, layer.width)))
    load_torch_state(twin, torch_state(layer))
    return twin


def inputs(batch, query_length, key_length, width, lengths, seed=0, self_attention=False):
    """query (B, T, D), key = value (B, S, D), key padding (B, S) and an arbitrary (T, S) mask."""
    rng = np.random.default_rng(seed)
    query = rng.normal(size=(batch, query_length, width)).astype(np.float32)
    key = query if self_attention else rng.normal(size=(batch, key_length, width)).astype(np.float32)
    padding = np.arange(key_length)[None, :] < np.asarray(lengths)[:, None]  # (B, S), True = real key
    if self_attention:
        allowed = np.tril(np.ones((query_length, key_length), bool))  # causal: key 0 always allowed
    else:
        allowed = rng.random((query_length, key_length)) < 0.6
        allowed[:, 0] = True  # key 0 is real in every sequence: no query is left with nothing
    return query, key, padding, allowed


def max_diff(a, b):
    a = a.detach().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a - b).max())


CASES = {  # batch, T, S, D, H, key lengths, self-attention
    "cross, short padding": (3, 5, 7, 16, 4, [7, 1, 4], False),
    "self, causal, long padding": (3, 40, 40, 32, 8, [40, 3, 17], True),
    "one head": (2, 6, 9, 12, 1, [9, 2], False),
    "head width 1": (2, 4, 6, 8, 8, [6, 5], False),
}


TWIN_CASES = [(case, rotary) for case in CASES for rotary in (False, True)
              if not (rotary and CASES[case][3] // CASES[case][4] % 2)]  # rotary needs an even head width


@pytest.mark.parametrize("case, rotary", TWIN_CASES, ids=[f"{c}-{'rotary' if r else 'plain'}" for c, r in TWIN_CASES])
def test_pytorch_twin_equals_tensorflow_twin(case, rotary):
    batch, t, s, width, heads, lengths, self_attention = CASES[case]
    query, key, padding, allowed = inputs(batch, t, s, width, lengths, self_attention=self_attention)
    layer = torch_layer(width, heads, rotary=rotary)
    twin = keras_twin(layer, t, s)
    for mask in [None, padding[:, None, None, :], padding[:, None, None, :] & allowed[None, None]]:
        with torch.no_grad():
            output_t, weights_t = layer(torch.tensor(query), torch.tensor(key), torch.tensor(key),
                                        None if mask is None else torch.tensor(mask))
        output_k, weights_k = twin(tf.constant(query), tf.constant(key), tf.constant(key),
                                   mask=None if mask is None else tf.constant(mask))
        assert weights_t.shape == (batch, heads, t, s)
        assert max_diff(output_t, output_k) <= TOL
        assert max_diff(weights_t, weights_k) <= TOL


def torch_reference(layer):
    """nn.MultiheadAttention holding our layer's weights: q, k, v stacked in in_proj_weight (3D, D)."""
    reference = nn.MultiheadAttention(layer.width, layer.heads, batch_first=True).eval()
    with torch.no_grad():
        reference.in_proj_weight.copy_(torch.cat([layer.w_q.weight, layer.w_k.weight, layer.w_v.weight]))  # 3 x (D, D) -> (3D, D)
        reference.in_proj_bias.copy_(torch.cat([layer.w_q.bias, layer.w_k.bias, layer.w_v.bias]))  # 3 x (D,) -> (3D,)
        reference.out_proj.weight.copy_(layer.w_o.weight)
        reference.out_proj.bias.copy_(layer.w_o.bias)
    return reference


@pytest.mark.parametrize("case", list(CASES))
def test_ours_equals_torch_multihead_attention(case):
    batch, t, s, width, heads, lengths, self_attention = CASES[case]
    query, key, padding, allowed = inputs(batch, t, s, width, lengths, seed=1, self_attention=self_attention)
    layer = torch_layer(width, heads, seed=2)
    reference = torch_reference(layer)
    q, k = torch.tensor(query), torch.tensor(key)
    key_padding, attn = torch.tensor(padding), torch.tensor(allowed)
    ours_mask = ta.combine_masks(key_padding, attn)  # (B, 1, T, S), True = may attend
    with torch.no_grad():
        ours, our_weights = layer(q, k, k, ours_mask)
        theirs, their_weights = reference(q, k, k, key_padding_mask=torch_masks.to_key_padding_mask(key_padding),
                                          attn_mask=torch_masks.to_blocked_mask(attn), need_weights=True,
                                          average_attn_weights=False)
        _, their_average = reference(q, k, k, key_padding_mask=torch_masks.to_key_padding_mask(key_padding),
                                     attn_mask=torch_masks.to_blocked_mask(attn), need_weights=True)
        unmasked, _ = layer(q, k, k)
        theirs_unmasked, _ = reference(q, k, k, need_weights=False)
    assert their_weights.shape == our_weights.shape == (batch, heads, t, s)
    assert max_diff(ours, theirs) <= TOL
    assert max_diff(our_weights, their_weights) <= TOL
    assert max_diff(our_weights.mean(dim=1), their_average) <= TOL  # its default averages the heads
    assert max_diff(unmasked, theirs_unmasked) <= TOL
    assert max_diff(ours, unmasked) > 1e-3  # the masks did change something


def keras_reference(layer, query_length, key_length):
    """keras.layers.MultiHeadAttention holding our weights: its kernels split the heads out, (D, H, Dh)."""
    width, heads = layer.width, layer.heads
    head_width = width // heads
    reference = keras.layers.MultiHeadAttention(heads, key_dim=head_width)
    reference(tf.zeros((1, query_length, width)), tf.zeros((1, key_length, width)))  # builds it
    state = torch_state(layer)
    for ours, theirs in (("w_q", reference.query_dense), ("w_k", reference.key_dense),
                         ("w_v", reference.value_dense)):
        kernel = state[f"{ours}.weight"].T.reshape(width, heads, head_width)  # (D, D) -> (D, H, Dh)
        theirs.set_weights([kernel, state[f"{ours}.bias"].reshape(heads, head_width)])  # (D,) -> (H, Dh)
    kernel = state["w_o.weight"].T.reshape(heads, head_width, width)  # (D, D) -> (H, Dh, D)
    reference.output_dense.set_weights([kernel, state["w_o.bias"]])
    return reference


@pytest.mark.parametrize("case", list(CASES))
def test_ours_equals_keras_multihead_attention(case):
    batch, t, s, width, heads, lengths, self_attention = CASES[case]
    query, key, padding, allowed = inputs(batch, t, s, width, lengths, seed=3, self_attention=self_attention)
    layer = torch_layer(width, heads, seed=4)
    twin = keras_twin(layer, t, s)
    reference = keras_reference(layer, t, s)
    q, k = tf.constant(query), tf.constant(key)
    key_padding, attn = tf.constant(padding), tf.constant(allowed)
    ours, our_weights = twin(q, k, k, mask=ka.combine_masks(key_padding, attn))  # (B, 1, T, S)
    theirs, their_weights = reference(q, k, k, attention_mask=keras_masks.to_keras_attention_mask(key_padding, t, attn),
                                      return_attention_scores=True)  # note: Keras takes (query, value, key)
    unmasked, _ = twin(q, k, k)
    theirs_unmasked = reference(q, k, k)
    assert tuple(their_weights.shape) == tuple(our_weights.shape) == (batch, heads, t, s)
    assert max_diff(ours, theirs) <= TOL
    assert max_diff(our_weights, their_weights) <= TOL
    assert max_diff(unmasked, theirs_unmasked) <= TOL
    assert max_diff(ours, unmasked) > 1e-3


def test_all_masked_queries_read_nothing_in_our_twins_and_in_keras():
    """A sequence with no real key: weights 0 and output = w_o's bias, in both twins and in Keras 3."""
    layer = torch_layer(8, 2, seed=5)
    twin, reference = keras_twin(layer, 3, 4), keras_reference(layer, 3, 4)
    rng = np.random.default_rng(6)
    query, key = rng.normal(size=(2, 3, 8)).astype(np.float32), rng.normal(size=(2, 4, 8)).astype(np.float32)
    padding = np.array([[True, True, False, False], [False] * 4])  # the second sequence has no real key
    with torch.no_grad():
        output_t, weights_t = layer(torch.tensor(query), torch.tensor(key), torch.tensor(key),
                                    ta.combine_masks(torch.tensor(padding), None))
    output_k, weights_k = twin(tf.constant(query), tf.constant(key), tf.constant(key),
                               mask=ka.combine_masks(tf.constant(padding), None))
    theirs, their_weights = reference(tf.constant(query), tf.constant(key), tf.constant(key),
                                      attention_mask=keras_masks.to_keras_attention_mask(tf.constant(padding), 3),
                                      return_attention_scores=True)
    assert float(weights_t[1].abs().max()) == 0.0
    bias = layer.w_o.bias.detach().numpy()
    np.testing.assert_allclose(output_t[1].numpy(), np.broadcast_to(bias, (3, 8)), atol=1e-7)
    assert max_diff(output_t, output_k) <= TOL and max_diff(weights_t, weights_k) <= TOL
    assert max_diff(output_k, theirs) <= TOL and max_diff(weights_k, their_weights) <= TOL
