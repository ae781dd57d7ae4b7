"""PyTorch and TensorFlow seq2seq twins compute the same thing on copied weights (float32)."""
import numpy as np
import pytest
import tensorflow as tf
import torch

from seq2bert.configs import Seq2SeqConfig
from seq2bert.tf import seq2seq as k
from seq2bert.tf.weights import load_torch_state
from seq2bert.torch import seq2seq as t
from seq2bert.torch.weights import torch_state

TOL = 1e-5


def make_batch(seed=0):
    """Sequences of lengths 7, 1 and 4 (length-1 and padded tails), random tokens >= 4."""
    rng = np.random.default_rng(seed)
    lengths = np.array([7, 1, 4])
    src = rng.integers(4, 13, (3, 7))
    src[np.arange(7)[None, :] >= lengths[:, None]] = 0
    tgt_in = rng.integers(1, 11, (3, 5))
    return src, lengths, tgt_in


def twins(attention: bool, seed: int = 0, bidirectional: bool = False, score: str = "additive"):
    """A PyTorch model with arbitrary weights and a TF model loaded with the same weights."""
    config = Seq2SeqConfig(src_vocab=13, tgt_vocab=11, embed=8, hidden=16, attention=attention, attention_width=12,
                           bidirectional=bidirectional, score=score)
    torch_model = t.Seq2Seq(config).eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # weights unlike the shared start, so the mapping itself is tested
        for parameter in torch_model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
    tf_model = k.Seq2Seq(config)
    load_torch_state(tf_model, torch_state(torch_model))
    return torch_model, tf_model


def as_numpy(x):
    return x.detach().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def close(a, b):
    """Max abs difference of two same-shaped arrays/tensors of either framework."""
    a, b = as_numpy(a), as_numpy(b)
    assert a.shape == b.shape
    return float(np.abs(a - b).max())


# (attention, score): no attention, unit 02's additive scorer, unit 03's scaled dot product.
MODELS = [(False, "additive"), (True, "additive"), (True, "scaled_dot")]


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("attention, score", MODELS)
def test_every_output_matches(attention, score, bidirectional):
    torch_model, tf_model = twins(attention, bidirectional=bidirectional, score=score)
    src, lengths, tgt_in = make_batch()
    ts, tl, tt = torch.tensor(src), torch.tensor(lengths), torch.tensor(tgt_in)
    ks, kl, kt = tf.constant(src), tf.constant(lengths), tf.constant(tgt_in)
    memory_t, state_t = torch_model.encoder(ts, tl)
    memory_k, state_k = tf_model.encoder(ks, kl)
    assert memory_t.shape == (3, 7, 32 if bidirectional else 16)  # (B, S, Dm)
    assert close(memory_t, memory_k) <= TOL
    assert close(state_t, state_k) <= TOL
    logits_t, weights_t = torch_model(ts, tl, tt)
    logits_k, weights_k = tf_model(ks, kl, kt)
    assert close(logits_t, logits_k) <= TOL
    if attention:
        assert close(weights_t, weights_k) <= TOL
        # Padding gets no attention at all in either framework.
        assert float(weights_t[1, :, 1:].detach().abs().max()) == 0.0
    else:
        assert weights_t is None and weights_k is None
    tokens_t, decode_weights_t = torch_model.translate(ts, tl, max_len=6)
    tokens_k, decode_weights_k = tf_model.translate(ks, kl, max_len=6)
    np.testing.assert_array_equal(tokens_t.numpy(), tokens_k.numpy())
    if attention:
        assert close(decode_weights_t, decode_weights_k) <= TOL


@pytest.mark.parametrize("attention, bidirectional", [(False, False), (False, True), (True, True)])
def test_final_state_ignores_padding(attention, bidirectional):
    """The state handed to the decoder is the one at the last real token, whatever follows."""
    torch_model, tf_model = twins(attention=attention, bidirectional=bidirectional)
    src, lengths, tgt_in = make_batch()
    noisy = src.copy()
    noisy[noisy == 0] = 5  # junk where the padding was
    for model, as_tensor in ((torch_model, torch.tensor), (tf_model, tf.constant)):
        clean_logits, _ = model(as_tensor(src), as_tensor(lengths), as_tensor(tgt_in))
        noisy_logits, _ = model(as_tensor(noisy), as_tensor(lengths), as_tensor(tgt_in))
        assert close(clean_logits, noisy_logits) <= TOL


def test_attention_matches_keras_additive_attention_where_they_coincide():
    """Keras scores sum(scale * tanh(q + k)); with q = s W_q, k = h W_k and scale = v it is our e_j."""
    _, tf_model = twins(attention=True)
    attention = tf_model.decoder.attention
    rng = np.random.default_rng(1)
    query = tf.constant(rng.normal(size=(3, 16)), tf.float32)  # (B, D)
    values = tf.constant(rng.normal(size=(3, 7, 16)), tf.float32)  # (B, S, D)
    mask = tf.constant(np.arange(7)[None, :] < np.array([[7], [1], [4]]))
    context, weights = attention(query, attention.project_keys(values), values, mask)

    reference = tf.keras.layers.AdditiveAttention(use_scale=True)
    q, kk = attention.w_q(query)[:, None, :], attention.w_k(values)  # (B, 1, A), (B, S, A)
    reference([q, values, kk], mask=[None, mask])  # build
    reference.scale.assign(tf.reshape(attention.v.kernel, [-1]))
    ref_context, ref_scores = reference([q, values, kk], mask=[None, mask], return_attention_scores=True)
    assert close(context, ref_context[:, 0, :]) <= TOL
    assert close(weights, ref_scores[:, 0, :]) <= TOL


def test_additive_attention_by_hand():
    """One attention step whose numbers are worked out by hand (the lesson's example)."""
    config = Seq2SeqConfig(src_vocab=5, tgt_vocab=5, embed=2, hidden=2, attention=True)
    layer = t.AdditiveAttention(config)
    with torch.no_grad():
        layer.w_q.weight.copy_(torch.eye(2))
        layer.w_k.weight.copy_(torch.eye(2))
        layer.v.weight.copy_(torch.tensor([[1.0, 1.0]]))
    query = torch.tensor([[0.0, 0.0]])
    keys = torch.tensor([[[1.0, 0.0], [0.0, 0.0], [5.0, 5.0]]])
    mask = torch.tensor([[True, True, False]])
    context, weights = layer(query, layer.project_keys(keys), keys, mask)
    # scores: tanh(1) + tanh(0) = 0.7616, 0; third position masked.
    e = np.exp(np.tanh(1.0))
    np.testing.assert_allclose(weights.detach().numpy(), [[e / (e + 1), 1 / (e + 1), 0.0]], atol=1e-6)
    np.testing.assert_allclose(context.detach().numpy(), [[e / (e + 1), 0.0]], atol=1e-6)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("attention, score", MODELS)
def test_same_seed_gives_the_same_start(attention, score, bidirectional):
    """Both twins draw their initial weights by layer type (seq2bert.init): equal outputs without copying."""
    config = Seq2SeqConfig(src_vocab=13, tgt_vocab=11, embed=8, hidden=16, attention=attention,
                           bidirectional=bidirectional, score=score)
    src, lengths, tgt_in = make_batch()
    torch_logits, _ = t.Seq2Seq(config, seed=3)(torch.tensor(src), torch.tensor(lengths), torch.tensor(tgt_in))
    tf_logits, _ = k.Seq2Seq(config, seed=3)(tf.constant(src), tf.constant(lengths), tf.constant(tgt_in))
    other_logits, _ = k.Seq2Seq(config, seed=4)(tf.constant(src), tf.constant(lengths), tf.constant(tgt_in))
    assert close(torch_logits, tf_logits) <= TOL
    assert close(tf_logits, other_logits) > 1e-2  # the seed matters


@pytest.mark.parametrize("attention, bidirectional, score", [(False, False, "additive"), (True, False, "additive"),
                                                             (True, True, "additive"), (True, False, "scaled_dot")])
def test_training_runs_track_each_other(attention, bidirectional, score):
    """Same start, same batches, same Adam settings: the twins' losses stay together."""
    from seq2bert.experiments import toy_task
    from seq2bert.tf.train import train_seq2seq as train_tf
    from seq2bert.torch.train import train_seq2seq as train_torch

    task = toy_task(300, 10, seed=0)
    config = Seq2SeqConfig(src_vocab=len(task.src_vocab), tgt_vocab=len(task.tgt_vocab), embed=16, hidden=32,
                           attention=attention, bidirectional=bidirectional, score=score)
    torch_losses = np.array(train_torch(t.Seq2Seq(config, seed=1), task.train, steps=40, batch_size=16, learning_rate=1e-2))
    tf_losses = np.array(train_tf(k.Seq2Seq(config, seed=1), task.train, steps=40, batch_size=16, learning_rate=1e-2))
    assert torch_losses[-5:].mean() < 0.8 * torch_losses[:5].mean()  # it did learn
    assert torch_losses[0] == pytest.approx(tf_losses[0], abs=1e-6)
    # Measured: at most 5e-4 apart over 40 steps (float rounding, Adam's epsilon placement).
    # With Keras's sparse embedding updates (PyTorch's Adam is dense) they drifted 0.1 apart.
    assert np.max(np.abs(torch_losses - tf_losses)) <= 2e-3


def test_score_is_checked():
    with pytest.raises(ValueError, match="score must be one of 'additive', 'scaled_dot', got 'dot'"):
        Seq2SeqConfig(src_vocab=5, tgt_vocab=5, score="dot")


def test_the_config_picks_the_scorer():
    """score="scaled_dot" swaps the scorer only: w_q and w_k, no v; everything else is unit 02's model."""
    config = Seq2SeqConfig(src_vocab=13, tgt_vocab=11, embed=8, hidden=16, attention_width=12, score="scaled_dot")
    torch_model, tf_model = t.Seq2Seq(config), k.Seq2Seq(config)
    assert type(torch_model.decoder.attention) is t.ScaledDotAttention
    assert type(tf_model.decoder.attention) is k.ScaledDotAttention
    additive = set(torch_state(t.Seq2Seq(Seq2SeqConfig(src_vocab=13, tgt_vocab=11, embed=8, hidden=16,
                                                       attention_width=12))))
    assert set(torch_state(torch_model)) == additive - {"decoder.attention.v.weight"}
    # The shared start round-trips: the TF twin's weights, read back in PyTorch layout, are PyTorch's.
    state = torch_state(torch_model)
    for variable_path, value in (("decoder.attention.w_q.weight", tf_model.decoder.attention.w_q.kernel),
                                 ("decoder.attention.w_k.weight", tf_model.decoder.attention.w_k.kernel)):
        np.testing.assert_array_equal(state[variable_path].T, np.asarray(value))


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_scaled_dot_attention_by_hand(framework):
    """One scaled dot-product step worked out by hand: scores q.k / sqrt(A), padding masked."""
    config = Seq2SeqConfig(src_vocab=5, tgt_vocab=5, embed=2, hidden=2, score="scaled_dot")
    query = np.array([[1.0, 2.0]], np.float32)  # (B, D)
    keys = np.array([[[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]], np.float32)  # (B, S, D)
    mask = np.array([[True, True, False]])
    if framework == "pytorch":
        layer = t.ScaledDotAttention(config)
        with torch.no_grad():
            layer.w_q.weight.copy_(torch.eye(2))
            layer.w_k.weight.copy_(torch.eye(2))
        keys_t = torch.tensor(keys)
        context, weights = layer(torch.tensor(query), layer.project_keys(keys_t), keys_t, torch.tensor(mask))
    else:
        layer = k.ScaledDotAttention(config)
        keys_k = tf.constant(keys)
        layer(tf.constant(query), layer.project_keys(keys_k), keys_k, tf.constant(mask))  # build
        layer.w_q.kernel.assign(np.eye(2, dtype=np.float32))
        layer.w_k.kernel.assign(np.eye(2, dtype=np.float32))
        context, weights = layer(tf.constant(query), layer.project_keys(keys_k), keys_k, tf.constant(mask))
    # scores 1/sqrt(2) and 2/sqrt(2); the third position is padding.
    e1, e2 = np.exp(1 / np.sqrt(2)), np.exp(2 / np.sqrt(2))
    expected = np.array([[e1, e2, 0.0]]) / (e1 + e2)
    np.testing.assert_allclose(as_numpy(weights), expected, atol=1e-6)
    np.testing.assert_allclose(as_numpy(context), expected[:, :2], atol=1e-6)
