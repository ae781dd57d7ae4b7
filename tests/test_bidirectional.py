"""Bahdanau's bidirectional encoder (Seq2SeqConfig.bidirectional): what it computes, in both twins.

Shape legend: B batch, S source length, T target length, D model width, Dm memory width (2D).
"""
import numpy as np
import pytest
import tensorflow as tf
import torch
from torch import nn

from seq2bert.configs import Seq2SeqConfig
from seq2bert.tf import seq2seq as k
from seq2bert.torch import seq2seq as t
from seq2bert.torch.weights import torch_state

TOL = 1e-5
D = 16


def config(attention: bool = True) -> Seq2SeqConfig:
    return Seq2SeqConfig(src_vocab=13, tgt_vocab=11, embed=8, hidden=D, attention=attention, attention_width=12,
                         bidirectional=True)


def batch(seed: int = 0):
    """Lengths 7, 1 and 4, padding 0; target inputs for 5 steps."""
    rng = np.random.default_rng(seed)
    lengths = np.array([7, 1, 4])
    src = rng.integers(4, 13, (3, 7))
    src[np.arange(7)[None, :] >= lengths[:, None]] = 0
    return src, lengths, rng.integers(1, 11, (3, 5))


def models(attention: bool = True):
    """The two twins built from the same seed (the shared NumPy-drawn start), with a tensor maker each."""
    return [(t.Seq2Seq(config(attention), seed=2).eval(), torch.tensor),
            (k.Seq2Seq(config(attention), seed=2), tf.constant)]


def numpy(x) -> np.ndarray:
    return x.detach().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def diff(a, b) -> float:
    a, b = numpy(a), numpy(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a - b).max())


def test_the_switch_is_off_by_default_and_sets_the_memory_width():
    plain = Seq2SeqConfig(src_vocab=5, tgt_vocab=5, hidden=7)
    assert not plain.bidirectional and plain.memory_width == 7
    assert config().memory_width == 2 * D


@pytest.mark.parametrize("framework", [0, 1])
def test_padding_values_change_nothing(framework):
    model, tensor = models()[framework]
    src, lengths, tgt_in = batch()
    noisy = src.copy()
    noisy[np.arange(7)[None, :] >= lengths[:, None]] = 7  # junk where the padding was
    clean, noisy_run = model.encoder(tensor(src), tensor(lengths)), model.encoder(tensor(noisy), tensor(lengths))
    assert diff(clean[0], noisy_run[0]) <= TOL and diff(clean[1], noisy_run[1]) <= TOL
    assert np.all(numpy(clean[0])[np.arange(7)[None, :] >= lengths[:, None]] == 0)  # memory is 0 at padding
    logits, weights = model(tensor(src), tensor(lengths), tensor(tgt_in))
    noisy_logits, noisy_weights = model(tensor(noisy), tensor(lengths), tensor(tgt_in))
    assert diff(logits, noisy_logits) <= TOL and diff(weights, noisy_weights) <= TOL


@pytest.mark.parametrize("attention", [False, True])
@pytest.mark.parametrize("framework", [0, 1])
def test_each_sentence_of_a_padded_batch_matches_the_sentence_run_alone(framework, attention):
    model, tensor = models(attention)[framework]
    src, lengths, tgt_in = batch()
    memory, state = model.encoder(tensor(src), tensor(lengths))
    logits, weights = model(tensor(src), tensor(lengths), tensor(tgt_in))
    for i, n in enumerate(lengths):
        alone = tensor(src[i:i + 1, :n]), tensor(lengths[i:i + 1])  # (1, n), no padding at all
        memory_alone, state_alone = model.encoder(*alone)
        assert diff(numpy(memory)[i:i + 1, :n], memory_alone) <= TOL, f"sentence {i}: memory"
        assert diff(numpy(state)[i:i + 1], state_alone) <= TOL, f"sentence {i}: s_0"
        logits_alone, weights_alone = model(*alone, tensor(tgt_in[i:i + 1]))
        assert diff(numpy(logits)[i:i + 1], logits_alone) <= TOL, f"sentence {i}: logits"
        if attention:
            assert diff(numpy(weights)[i:i + 1, :, :n], weights_alone) <= TOL, f"sentence {i}: weights"


def test_the_backward_half_is_a_gru_run_from_the_last_real_token():
    """h_j[D:] equals a plain GRU with the `_reverse` weights run over the reversed, unpadded sentence."""
    model = t.Seq2Seq(config(), seed=2).eval()
    weights = torch_state(model)
    backward = nn.GRU(8, D, batch_first=True)
    with torch.no_grad():
        for name, parameter in backward.named_parameters():
            parameter.copy_(torch.as_tensor(weights[f"encoder.rnn.{name}_reverse"]))
        src, lengths, _ = batch()
        memory, _ = model.encoder(torch.tensor(src), torch.tensor(lengths))  # (B, S, 2D)
        for i, n in enumerate(lengths):
            x = model.encoder.embedding(torch.tensor(src[i:i + 1, :n])).flip(1)  # (1, n, E), last token first
            expected, _ = backward(x)  # (1, n, D), in reading order last -> first
            assert diff(memory[i:i + 1, :n, D:], expected.flip(1)) <= TOL, f"sentence {i}"


@pytest.mark.parametrize("framework", [0, 1])
def test_h_j_is_forward_then_backward(framework):
    """Changing the last real token moves only the backward half of h_1, and only the forward half of h_last."""
    model, tensor = models()[framework]
    src, lengths, _ = batch()
    edited = src.copy()
    edited[0, 6] = 4 if src[0, 6] != 4 else 5  # sentence 0 has 7 real tokens
    before = numpy(model.encoder(tensor(src), tensor(lengths))[0])[0]  # (S, 2D)
    after = numpy(model.encoder(tensor(edited), tensor(lengths))[0])[0]
    assert np.abs(before[0, :D] - after[0, :D]).max() == 0.0  # forward h_1 has not read token 7
    assert np.abs(before[0, D:] - after[0, D:]).max() > 1e-3  # backward h_1 has
    assert np.abs(before[5, D:] - after[5, D:]).max() > 1e-3
    assert np.abs(before[6, :D] - after[6, :D]).max() > 1e-3


@pytest.mark.parametrize("framework", [0, 1])
def test_initial_state_is_the_bridged_backward_state_at_the_first_position(framework):
    """s_0 = tanh(W_s backward h_1 + b), for every sentence of a padded batch (Bahdanau et al. 2015, A.2.2)."""
    model, tensor = models()[framework]
    src, lengths, _ = batch()
    memory, state = model.encoder(tensor(src), tensor(lengths))
    bridge = model.encoder.bridge
    if framework == 0:
        expected = torch.tanh(bridge(memory[:, 0, D:]))  # (B, D) -> (B, D)
    else:
        expected = tf.tanh(bridge(memory[:, 0, D:]))
    assert diff(state, expected) <= TOL
    forward_final = numpy(memory)[np.arange(3), lengths - 1, :D]  # (B, D): not what starts the decoder
    assert np.abs(numpy(state) - forward_final).max() > 1e-2


@pytest.mark.parametrize("framework", [0, 1])
def test_the_plain_decoder_is_fed_s0_at_every_step(framework):
    model, tensor = models(attention=False)[framework]
    src, lengths, _ = batch()
    memory, state, _, cache = model.encode(tensor(src), tensor(lengths))
    assert numpy(memory).shape == (3, 7, 2 * D) and diff(cache, state) == 0.0  # c = s_0, width D


def test_the_switch_adds_only_the_backward_gru_and_the_bridge_and_widens_what_reads_memory():
    uni = {name: tuple(p.shape) for name, p in t.Seq2Seq(Seq2SeqConfig(13, 11, 8, D, True, 12)).named_parameters()}
    bi = {name: tuple(p.shape) for name, p in t.Seq2Seq(config()).named_parameters()}
    added = {name for name in bi if name not in uni}
    assert added == {f"encoder.rnn.{w}_l0_reverse" for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")} | {
        "encoder.bridge.weight", "encoder.bridge.bias"}
    widened = {name for name in uni if uni[name] != bi[name]}
    assert widened == {"decoder.attention.w_k.weight", "decoder.cell.weight_ih", "decoder.output_layer.weight"}
    assert bi["decoder.attention.w_k.weight"] == (12, 2 * D)  # (A, Dm)
    assert bi["decoder.cell.weight_ih"] == (3 * D, 8 + 2 * D)  # (3D, E + Dm)
    assert bi["decoder.output_layer.weight"] == (11, D + 2 * D)  # (V, D + Dm)
