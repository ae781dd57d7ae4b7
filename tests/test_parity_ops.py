"""The TensorFlow reference ops (seq2bert.tf.ops) match the PyTorch ones (seq2bert.torch.ops)."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import torch

from seq2bert.check.fake_decoder import FakeDecoder
from seq2bert.check.frameworks import load_framework
from seq2bert.tf import ops as tf_ops
from seq2bert.torch import ops as torch_ops

TOLERANCE = 1e-5
# Fully padded tails and length-1 sequences, never a fully masked row.
LENGTH_SETS = [[7, 3, 1], [1, 1], [4]]


def padded_mask(lengths, max_len):
    return np.arange(max_len)[None, :] < np.asarray(lengths)[:, None]


def both(name, *arrays, **numbers):
    """Run op `name` in both frameworks on the same NumPy inputs; return the two NumPy results."""
    torch_args = [torch.from_numpy(a) for a in arrays]
    tf_args = [tf.constant(a.astype(np.int32) if a.dtype == np.int64 else a) for a in arrays]
    got_torch = getattr(torch_ops, name)(*torch_args, **numbers).detach().numpy()
    got_tf = getattr(tf_ops, name)(*tf_args, **numbers).numpy()
    return got_torch, got_tf


def max_diff(a, b):
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def test_mask_value_is_shared():
    assert tf_ops.MASK_VALUE == torch_ops.MASK_VALUE


@pytest.mark.parametrize("lengths", LENGTH_SETS + [[2, 5, 3]])
def test_padding_mask(lengths):
    max_len = 7
    got_torch, got_tf = both("padding_mask", np.array(lengths, dtype=np.int64), max_len=max_len)
    assert got_tf.dtype == bool and got_torch.dtype == bool
    np.testing.assert_array_equal(got_tf, got_torch)
    np.testing.assert_array_equal(got_tf, padded_mask(lengths, max_len))


@pytest.mark.parametrize("lengths", LENGTH_SETS)
@pytest.mark.parametrize("pad_id", [0, 4])
def test_masked_cross_entropy(lengths, pad_id):
    rng = np.random.default_rng(1)
    steps, vocab = max(lengths), 9
    logits = rng.normal(0, 2, size=(len(lengths), steps, vocab)).astype(np.float32)
    targets = rng.choice([t for t in range(vocab) if t != pad_id], size=(len(lengths), steps))
    targets[~padded_mask(lengths, steps)] = pad_id
    got_torch, got_tf = both("masked_cross_entropy", logits, targets.astype(np.int64), pad_id=pad_id)
    assert got_tf.shape == got_torch.shape == ()
    assert max_diff(got_tf, got_torch) <= TOLERANCE


@pytest.mark.parametrize("batch, source, width, attention", [(3, 7, 5, 4), (1, 1, 3, 2), (2, 4, 3, 3)])
def test_additive_scores(batch, source, width, attention):
    rng = np.random.default_rng(2)
    shapes = [(batch, width), (batch, source, width), (width, attention), (width, attention), (attention,)]
    arrays = [rng.normal(size=shape).astype(np.float32) for shape in shapes]
    got_torch, got_tf = both("additive_scores", *arrays)
    assert got_tf.shape == got_torch.shape == (batch, source)
    assert max_diff(got_tf, got_torch) <= TOLERANCE


@pytest.mark.parametrize("lengths", LENGTH_SETS)
def test_masked_softmax_and_context_vector(lengths):
    rng = np.random.default_rng(3)
    source, width = max(lengths), 5
    scores = rng.normal(size=(len(lengths), source)).astype(np.float32)
    mask = padded_mask(lengths, source)
    weights_torch, weights_tf = both("masked_softmax", scores, mask)
    assert max_diff(weights_tf, weights_torch) <= TOLERANCE
    assert np.all(weights_tf[~mask] == 0.0)
    np.testing.assert_allclose(weights_tf.sum(axis=-1), 1.0, rtol=1e-6)

    values = rng.normal(size=(len(lengths), source, width)).astype(np.float32)
    context_torch, context_tf = both("context_vector", weights_torch, values)
    assert context_tf.shape == context_torch.shape == (len(lengths), width)
    assert max_diff(context_tf, context_torch) <= TOLERANCE


def test_greedy_decode_same_tokens_with_the_same_fake_step():
    rng = np.random.default_rng(4)
    ends = [2, None, 4, 1]
    decoder = FakeDecoder.build(rng, vocab=9, ends=ends, bos_id=1, eos_id=2, pad_id=0, max_len=6)
    tokens = {}
    for name, ops in (("pytorch", torch_ops), ("tensorflow", tf_ops)):
        fw = load_framework(name)
        step = decoder.step_function(fw.to_tensor, fw.to_numpy)
        tokens[name] = fw.to_numpy(ops.greedy_decode(step, fw.to_tensor(decoder.initial_state()), batch_size=4,
                                                     bos_id=1, eos_id=2, pad_id=0, max_len=6))
    np.testing.assert_array_equal(tokens["tensorflow"], tokens["pytorch"])
    assert tokens["tensorflow"].dtype == np.int32 and tokens["pytorch"].dtype == np.int64
    out = tokens["tensorflow"]
    assert out.shape == (4, 6)  # one sequence never ends: max_len tokens
    for row, end in enumerate(ends):
        if end is None:
            assert 2 not in out[row]
        else:
            assert out[row, end - 1] == 2 and np.all(out[row, end:] == 0) and 2 not in out[row, :end - 1]


def test_greedy_decode_stops_when_every_sequence_ended():
    rng = np.random.default_rng(5)
    decoder = FakeDecoder.build(rng, vocab=7, ends=[1, 3], bos_id=1, eos_id=2, pad_id=0, max_len=6)
    fw = load_framework("tensorflow")
    step = decoder.step_function(fw.to_tensor, fw.to_numpy)
    out = tf_ops.greedy_decode(step, fw.to_tensor(decoder.initial_state()), 2, 1, 2, 0, 6).numpy()
    assert out.shape == (2, 3)
    np.testing.assert_array_equal(out[0], [2, 0, 0])


def test_tf_ops_work_inside_tf_function():
    rng = np.random.default_rng(6)
    lengths = tf.constant([5, 2, 1])
    scores = tf.constant(rng.normal(size=(3, 5)).astype(np.float32))
    values = tf.constant(rng.normal(size=(3, 5, 4)).astype(np.float32))
    logits = tf.constant(rng.normal(size=(3, 5, 6)).astype(np.float32))
    targets = tf.constant(rng.integers(1, 6, size=(3, 5)).astype(np.int32))
    query, keys = tf.constant(rng.normal(size=(3, 4)).astype(np.float32)), values
    w_q, w_k = (tf.constant(rng.normal(size=(4, 2)).astype(np.float32)) for _ in range(2))
    v = tf.constant(rng.normal(size=(2,)).astype(np.float32))

    def pipeline():
        mask = tf_ops.padding_mask(lengths, 5)
        weights = tf_ops.masked_softmax(tf_ops.additive_scores(query, keys, w_q, w_k, v) + scores, mask)
        return tf_ops.context_vector(weights, values), tf_ops.masked_cross_entropy(logits, targets, 0)

    eager = pipeline()
    compiled = tf.function(pipeline)()
    for a, b in zip(eager, compiled):
        assert max_diff(a.numpy(), b.numpy()) <= TOLERANCE
