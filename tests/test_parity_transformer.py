"""PyTorch and TensorFlow Transformer-encoder twins compute the same thing on copied weights (float32)."""
import functools

import numpy as np
import pytest
import tensorflow as tf
import torch

from seq2bert.configs import POSITIONS, EncoderConfig
from seq2bert.data import order
from seq2bert.tf import tagging as k_tagging
from seq2bert.tf import transformer as k
from seq2bert.tf.weights import initial_weights as keras_initial_weights
from seq2bert.tf.weights import load_torch_state
from seq2bert.torch import tagging as t_tagging
from seq2bert.torch import transformer as t
from seq2bert.torch.weights import initial_weights as torch_initial_weights
from seq2bert.torch.weights import torch_state

TOL = 1e-5


def config(positions: str) -> EncoderConfig:
    return EncoderConfig(vocab=11, width=16, heads=4, layers=2, ffn=24, positions=positions, max_length=9)


@functools.lru_cache(maxsize=None)  # read-only use: building Keras models is the slow part of this file
def twins(positions: str, seed: int = 0):
    """A PyTorch tagger with arbitrary weights and a TF tagger loaded with the same weights."""
    torch_model = t.SequenceTagger(config(positions)).eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # weights unlike the shared start (LayerNorm gains and biases too), so the mapping is tested
        for parameter in torch_model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
    tf_model = k.SequenceTagger(config(positions))
    load_torch_state(tf_model, torch_state(torch_model))
    return torch_model, tf_model


def make_batch():
    """Three sequences of length 7; the second has 3 real tokens and 4 padded ones."""
    tokens = np.random.default_rng(1).integers(0, 11, (3, 7))
    mask = np.ones((3, 7), dtype=bool)
    mask[1, 3:] = False
    return tokens, mask


def as_numpy(x) -> np.ndarray:
    return x.detach().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def diff(a, b) -> float:
    a, b = as_numpy(a), as_numpy(b)
    assert a.shape == b.shape
    return float(np.abs(a - b).max())


@pytest.mark.parametrize("positions", POSITIONS)
def test_same_start_in_both_frameworks(positions):
    torch_weights = torch_initial_weights(t.SequenceTagger(config(positions)), seed=5)
    keras_weights = keras_initial_weights(k.SequenceTagger(config(positions)), seed=5)
    assert sorted(torch_weights) == sorted(keras_weights)
    for name, value in torch_weights.items():
        np.testing.assert_array_equal(value, keras_weights[name], err_msg=name)
    # Token vectors start N(0, 1/D): multiplied by sqrt(D) they enter with RMS about 1.
    table = torch_weights["encoder.embedding.weight"]
    assert 0.7 < np.std(table) * np.sqrt(table.shape[1]) < 1.3


@pytest.mark.parametrize("positions", POSITIONS)
@pytest.mark.parametrize("masked", [False, True])
def test_every_output_matches(positions, masked):
    torch_model, tf_model = twins(positions)
    tokens, mask = make_batch()
    t_mask, k_mask = (torch.tensor(mask), tf.constant(mask)) if masked else (None, None)
    logits_t, weights_t = torch_model(torch.tensor(tokens), t_mask, return_weights=True)
    logits_k, weights_k = tf_model(tf.constant(tokens), mask=k_mask, return_weights=True)
    assert logits_t.shape == (3, 7, 11)  # (B, T, V)
    assert diff(logits_t, logits_k) <= TOL
    assert len(weights_t) == len(weights_k) == 2
    for layer_t, layer_k in zip(weights_t, weights_k):
        assert layer_t.shape == (3, 4, 7, 7)  # (B, H, T, T)
        assert diff(layer_t, layer_k) <= TOL
        if masked:  # no query attends to padding, in either framework
            assert np.abs(as_numpy(layer_t)[1, :, :, 3:]).max() == 0.0
            assert np.abs(as_numpy(layer_k)[1, :, :, 3:]).max() == 0.0
    states_t = torch_model.encoder(torch.tensor(tokens), t_mask)
    states_k = tf_model.encoder(tf.constant(tokens), mask=k_mask)
    assert diff(states_t, states_k) <= TOL


def test_padding_does_not_change_real_positions():
    torch_model, tf_model = twins("sinusoidal")
    tokens, mask = make_batch()
    other = tokens.copy()
    other[1, 3:] = (other[1, 3:] + 1) % 11  # different padding tokens
    for a, b in [(torch_model(torch.tensor(tokens), torch.tensor(mask)), torch_model(torch.tensor(other), torch.tensor(mask))),
                 (tf_model(tf.constant(tokens), mask=tf.constant(mask)), tf_model(tf.constant(other), mask=tf.constant(mask)))]:
        assert diff(a[1, :3], b[1, :3]) <= TOL


def test_training_tracks_across_frameworks():
    """Same start, same batches, same warm-up and Adam: the twins' weights stay together for a few steps."""
    cfg = EncoderConfig(vocab=order.output_vocab(8), width=16, heads=2, layers=1, ffn=32, positions="rotary")
    torch_model, tf_model = t.SequenceTagger(cfg, seed=3), k.SequenceTagger(cfg, seed=3)
    losses_t = t_tagging.train_tagger(torch_model, order.batches("previous", 16, 6, 8, seed=4), 5, warmup=3)
    losses_k = k_tagging.train_tagger(tf_model, order.batches("previous", 16, 6, 8, seed=4), 5, warmup=3)
    np.testing.assert_allclose(losses_t, losses_k, atol=1e-5)
    tokens, _ = order.generate("previous", 4, 6, 8, seed=9)
    assert diff(torch_model(torch.tensor(tokens)), tf_model(tf.constant(tokens))) <= 1e-4
