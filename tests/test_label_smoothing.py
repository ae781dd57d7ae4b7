"""Label-smoothed cross-entropy: equal to the libraries' own smoothing, twins equal, eps = 0 is unit 01's loss."""
import keras
import numpy as np
import pytest
import tensorflow as tf
import torch
import torch.nn.functional as F

from seq2bert.tf import ops as tf_ops
from seq2bert.torch import ops as torch_ops

PAD = 0


def make_batch(seed=0, batch=3, length=5, vocab=7):
    """Random logits (B, T, V) and targets with padded tails (rows of lengths 5, 2 and 4)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2, (batch, length, vocab)).astype(np.float32)
    targets = rng.integers(1, vocab, (batch, length))
    targets[1, 2:] = PAD
    targets[2, 4:] = PAD
    return logits, targets


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3, 0.9])
def test_equals_torch_label_smoothing(smoothing):
    logits, targets = make_batch()
    ours = torch_ops.label_smoothed_cross_entropy(torch.tensor(logits), torch.tensor(targets), PAD, smoothing)
    reference = F.cross_entropy(torch.tensor(logits).transpose(1, 2), torch.tensor(targets), ignore_index=PAD,
                                label_smoothing=smoothing)  # (B, V, T): classes on axis 1
    assert abs(float(ours) - float(reference)) <= 1e-6


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3, 0.9])
def test_equals_keras_label_smoothing_on_the_real_tokens(smoothing):
    logits, targets = make_batch(seed=1)
    ours = tf_ops.label_smoothed_cross_entropy(tf.constant(logits), tf.constant(targets), PAD, smoothing)
    real = targets != PAD
    loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=smoothing)
    reference = loss(np.eye(logits.shape[-1], dtype=np.float32)[targets[real]], logits[real])  # (N, V) rows
    assert abs(float(ours) - float(reference)) <= 1e-6


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.5])
def test_twins_agree(smoothing):
    logits, targets = make_batch(seed=2, batch=4, length=6, vocab=11)
    ours_t = torch_ops.label_smoothed_cross_entropy(torch.tensor(logits), torch.tensor(targets), PAD, smoothing)
    ours_k = tf_ops.label_smoothed_cross_entropy(tf.constant(logits), tf.constant(targets), PAD, smoothing)
    assert abs(float(ours_t) - float(ours_k)) <= 1e-6


def test_no_smoothing_is_masked_cross_entropy():
    logits, targets = make_batch(seed=3)
    for ops, as_tensor in ((torch_ops, torch.tensor), (tf_ops, tf.constant)):
        smoothed = ops.label_smoothed_cross_entropy(as_tensor(logits), as_tensor(targets), PAD, smoothing=0.0)
        plain = ops.masked_cross_entropy(as_tensor(logits), as_tensor(targets), PAD)
        assert abs(float(smoothed) - float(plain)) <= 1e-6


def test_smoothing_matters_and_padding_does_not():
    logits, targets = make_batch(seed=4)
    loss = lambda lg, tg, eps: float(torch_ops.label_smoothed_cross_entropy(  # noqa: E731
        torch.tensor(lg), torch.tensor(tg), PAD, eps))
    assert abs(loss(logits, targets, 0.1) - loss(logits, targets, 0.0)) > 1e-3
    changed = logits.copy()
    changed[1, 2:] += 50.0  # logits at padded targets change wildly; the loss must not
    assert loss(changed, targets, 0.1) == pytest.approx(loss(logits, targets, 0.1), abs=1e-6)
    # a confident, correct model still pays for smoothing: its minimum is not at a one-hot output
    confident = np.where(np.eye(logits.shape[-1])[targets] > 0, 30.0, -30.0).astype(np.float32)
    assert loss(confident, targets, 0.0) < 1e-6 and loss(confident, targets, 0.1) > 1.0


@pytest.mark.parametrize("ops, as_tensor", [(torch_ops, torch.tensor), (tf_ops, tf.constant)])
def test_bad_input_gets_a_clear_error(ops, as_tensor):
    logits, targets = make_batch()
    for smoothing in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match=r"smoothing must be in \[0, 1\), got"):
            ops.label_smoothed_cross_entropy(as_tensor(logits), as_tensor(targets), PAD, smoothing)
    with pytest.raises(ValueError, match=r"targets have shape \(3, 4\) but logits \(3, 5, 7\): expected"):
        ops.label_smoothed_cross_entropy(as_tensor(logits), as_tensor(targets[:, :4]), PAD)
    with pytest.raises(ValueError, match=r"targets have shape \(3, 5\) but logits \(3, 5\)"):
        ops.label_smoothed_cross_entropy(as_tensor(logits[..., 0]), as_tensor(targets), PAD)


def test_tf_twin_traces_with_unknown_lengths():
    """train_seq2seq traces its step once for every batch shape: (None, None, V) logits, (None, None) targets."""
    logits, targets = make_batch(seed=5)
    traced = tf.function(lambda lg, tg: tf_ops.label_smoothed_cross_entropy(lg, tg, PAD, 0.1), input_signature=[
        tf.TensorSpec([None, None, logits.shape[-1]], tf.float32), tf.TensorSpec([None, None], tf.int64)])
    eager = tf_ops.label_smoothed_cross_entropy(tf.constant(logits), tf.constant(targets), PAD, 0.1)
    assert abs(float(traced(logits, targets)) - float(eager)) <= 1e-6
