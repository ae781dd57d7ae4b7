"""The TensorFlow Transformer twin computes what the PyTorch one does (float32, copied weights), layer by layer.

Unit 05: every encoder and decoder layer's output, the final norms, the logits and the attention
weights, in both norm orders, with source and target padding; cached decoding = uncached
decoding; greedy translations equal across frameworks; same start weights from the same seed.
"""
import functools

import numpy as np
import pytest
import tensorflow as tf
import torch

from seq2bert.configs import TransformerConfig
from seq2bert.data.text import Vocab
from seq2bert.tf import attention as ka
from seq2bert.tf import masks as k_masks
from seq2bert.tf import transformer as k
from seq2bert.tf.weights import initial_weights as keras_initial_weights
from seq2bert.tf.weights import load_torch_state
from seq2bert.torch import attention as ta
from seq2bert.torch import masks as t_masks
from seq2bert.torch import transformer as t
from seq2bert.torch.weights import initial_weights as torch_initial_weights
from seq2bert.torch.weights import torch_state

TOL = 1e-5
SRC_VOCAB, TGT_VOCAB = 13, 11

# (norm, tie_embeddings, positions, activation): both norm orders, and every other switch at least once.
VARIANTS = {
    "pre": ("pre", True, "sinusoidal", "relu"),
    "post": ("post", False, "learned", "gelu"),
}
# Random weights for each variant: seeds whose greedy translations are not one token repeated in every row
# (pre: two rows stop at once with EOS, so PAD-after-EOS is exercised too).
SEEDS = {"pre": 0, "post": 2}


def config(norm="pre", tie=True, positions="sinusoidal", activation="relu") -> TransformerConfig:
    return TransformerConfig(src_vocab=SRC_VOCAB, tgt_vocab=TGT_VOCAB, width=16, heads=4, encoder_layers=2,
                             decoder_layers=2, ffn=24, positions=positions, norm=norm, activation=activation,
                             max_length=12, dropout=0.1, tie_embeddings=tie)


@functools.lru_cache(maxsize=None)  # read-only use: building Keras models is the slow part of this file
def twins(variant: str):
    """A PyTorch Transformer with arbitrary weights (eval mode) and its Keras twin loaded with them."""
    cfg = config(*VARIANTS[variant])
    torch_model = t.Transformer(cfg).eval()
    generator = torch.Generator().manual_seed(SEEDS[variant])
    with torch.no_grad():  # weights unlike the shared start (LayerNorm gains and biases too), so the mapping is tested
        for name, parameter in torch_model.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator)
            if name.endswith("bias"):
                parameter.copy_(0.1 * noise)  # small: large random biases make every step pick the same token
            elif parameter.dim() == 1:
                parameter.copy_(1 + 0.3 * noise)  # LayerNorm gains
            elif "embedding" in name:
                parameter.copy_(noise / parameter.shape[1] ** 0.5)  # (V, D) or (P, D) tables, RMS 1 after sqrt(D)
            else:
                parameter.copy_(noise / parameter.shape[1] ** 0.5)  # (out, in): gain 1, activations stay O(1)
    tf_model = k.Transformer(cfg)
    load_torch_state(tf_model, torch_state(torch_model))
    return torch_model, tf_model


def make_batch():
    """Three sentences: sources of 7, 4 and 2 real tokens (S = 7), targets of 6, 4 and 2 (T = 6), PAD after."""
    rng = np.random.default_rng(1)
    src_len = np.array([7, 4, 2])
    src = rng.integers(3, SRC_VOCAB, (3, 7))
    src[np.arange(7)[None, :] >= src_len[:, None]] = Vocab.PAD
    tgt_in = rng.integers(3, TGT_VOCAB, (3, 6))
    tgt_in[:, 0] = Vocab.BOS
    tgt_in[np.arange(6)[None, :] >= np.array([6, 4, 2])[:, None]] = Vocab.PAD
    return src, src_len, tgt_in


def as_numpy(x) -> np.ndarray:
    return x.detach().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def diff(a, b) -> float:
    a, b = as_numpy(a).astype(np.float64), as_numpy(b).astype(np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a - b).max())


@pytest.mark.parametrize("norm, tie", [("pre", True), ("post", False)])
def test_same_start_and_parameter_count(norm, tie):
    cfg = config(norm, tie, "learned")
    torch_model, tf_model = t.Transformer(cfg, seed=5), k.Transformer(cfg, seed=5)
    drawn_torch = torch_initial_weights(torch_model, seed=5)
    drawn_keras = keras_initial_weights(tf_model, seed=5)
    assert list(drawn_torch) == list(drawn_keras)  # same names in the same draw order
    for name, value in drawn_torch.items():
        np.testing.assert_array_equal(value, drawn_keras[name], err_msg=name)
    # The models hold those weights: a forward pass agrees without copying anything.
    src, src_len, tgt_in = make_batch()
    logits_t, _ = torch_model.eval()(torch.tensor(src), torch.tensor(src_len), torch.tensor(tgt_in))
    logits_k, _ = tf_model(tf.constant(src), tf.constant(src_len), tf.constant(tgt_in))
    assert diff(logits_t, logits_k) <= TOL
    assert k.count_parameters(tf_model) == t.count_parameters(torch_model) == sum(v.size for v in drawn_torch.values())
    assert ("output_layer.weight" in drawn_torch) is not tie  # tied: the output layer owns only its bias
    if tie:  # logits = x E^T + b with the decoder's embedding matrix E (V, D)
        x = tf.random.normal([2, 3, 16])
        expected = x @ tf.transpose(tf_model.decoder.embedding.embeddings) + tf_model.output_layer.bias
        assert diff(tf_model.project(x), expected) <= TOL
    assert ("decoder.norm.weight" in drawn_torch) is (norm == "pre")  # post-LN stacks end without a final norm
    assert ("encoder.norm.weight" in drawn_torch) is (norm == "pre")
    # Tied, the (V, D) output matrix is the embedding's and is counted once.
    untied_extra = 0 if tie else TGT_VOCAB * 16
    assert k.count_parameters(tf_model) == count_without_output(drawn_torch) + TGT_VOCAB + untied_extra


def count_without_output(weights: dict) -> int:
    return sum(v.size for name, v in weights.items() if not name.startswith("output_layer."))


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_layer_output_matches(variant):
    torch_model, tf_model = twins(variant)
    src, src_len, tgt_in = make_batch()
    src_t, len_t, tgt_t = torch.tensor(src), torch.tensor(src_len), torch.tensor(tgt_in)
    src_k, len_k, tgt_k = tf.constant(src), tf.constant(src_len), tf.constant(tgt_in)
    with torch.no_grad():
        # Encoder, layer by layer, with source padding.
        pad_t = src_t != Vocab.PAD
        pad_k = tf.not_equal(src_k, Vocab.PAD)
        x_t, x_k = torch_model.encoder.embed(src_t), tf_model.encoder.embed(src_k)
        assert diff(x_t, x_k) <= TOL
        for layer_t, layer_k in zip(torch_model.encoder.layers, tf_model.encoder.layers):
            x_t, weights_t = layer_t(x_t, pad_t[:, None, None, :])
            x_k, weights_k = layer_k(x_k, pad_k[:, None, None, :])
            assert x_t.shape == (3, 7, 16)  # (B, S, D)
            assert diff(x_t, x_k) <= TOL
            assert diff(weights_t, weights_k) <= TOL
            assert np.abs(as_numpy(weights_k)[2, :, :, 2:]).max() == 0.0  # no query reads source padding
        if torch_model.encoder.norm is not None:
            x_t, x_k = torch_model.encoder.norm(x_t), tf_model.encoder.norm(x_k)
        memory_t, mask_t = torch_model.encode(src_t, len_t)
        memory_k, mask_k = tf_model.encode(src_k, len_k)
        assert diff(memory_t, memory_k) <= TOL and diff(x_k, memory_k) <= TOL
        np.testing.assert_array_equal(as_numpy(mask_t), as_numpy(mask_k))

        # Decoder, layer by layer, with target padding (causal & not PAD) and the source mask.
        self_t = ta.combine_masks(tgt_t != Vocab.PAD, t_masks.causal_mask(6))  # (B, 1, T, T)
        self_k = ka.combine_masks(tf.not_equal(tgt_k, Vocab.PAD), k_masks.causal_mask(6))
        y_t, y_k = torch_model.decoder.embed(tgt_t), tf_model.decoder.embed(tgt_k)
        assert diff(y_t, y_k) <= TOL
        for layer_t, layer_k in zip(torch_model.decoder.layers, tf_model.decoder.layers):
            y_t, cross_t = layer_t(y_t, memory_t, self_t, mask_t[:, None, None, :])
            y_k, cross_k = layer_k(y_k, memory_k, self_k, mask_k[:, None, None, :])
            assert y_t.shape == (3, 6, 16) and cross_t.shape == (3, 4, 6, 7)  # (B, T, D), (B, H, T, S)
            assert diff(y_t, y_k) <= TOL
            assert diff(cross_t, cross_k) <= TOL
        if torch_model.decoder.norm is not None:
            y_t, y_k = torch_model.decoder.norm(y_t), tf_model.decoder.norm(y_k)
        assert diff(y_t, y_k) <= TOL

        # The whole model: logits and the last layer's cross-attention.
        logits_t, last_t = torch_model(src_t, len_t, tgt_t)
        logits_k, last_k = tf_model(src_k, len_k, tgt_k)
    assert logits_k.shape == (3, 6, TGT_VOCAB)  # (B, T, V)
    assert diff(logits_t, logits_k) <= TOL
    assert diff(tf_model.project(y_k), logits_k) <= TOL  # the layer-by-layer pass reached the same logits
    assert diff(last_t, last_k) <= TOL and diff(last_k, cross_k) <= TOL


def test_target_padding_does_not_change_real_positions():
    _, tf_model = twins("pre")
    src, src_len, tgt_in = make_batch()
    other = tgt_in.copy()
    other[2, 2:] = 5  # row 2 had 2 real tokens and PAD after; now other tokens there
    logits, _ = tf_model(tf.constant(src), tf.constant(src_len), tf.constant(tgt_in))
    changed, _ = tf_model(tf.constant(src), tf.constant(src_len), tf.constant(other))
    assert diff(logits[2, :2], changed[2, :2]) <= TOL  # causal: later tokens never reach earlier positions
    assert diff(logits[:2], changed[:2]) <= TOL


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_cached_steps_match_the_full_decoder(variant):
    torch_model, tf_model = twins(variant)
    src, src_len, tgt_in = make_batch()
    tgt_in[:, 1:] = np.random.default_rng(2).integers(3, TGT_VOCAB, (3, 5))  # no PAD: every position is real
    memory, src_mask = tf_model.encode(tf.constant(src), tf.constant(src_len))
    full = tf_model.decode(tf.constant(tgt_in), memory, src_mask)  # (B, T, V)
    cache = tf_model.start_cache(memory, src_mask)
    assert [tuple(k_.shape) for k_ in cache.keys] == [(3, 4, 0, 4)] * 2  # (B, H, 0, Dh): nothing fed yet
    assert [tuple(kv[0].shape) for kv in cache.cross] == [(3, 4, 7, 4)] * 2  # (B, H, S, Dh), projected once
    with torch.no_grad():
        memory_t, mask_t = torch_model.encode(torch.tensor(src), torch.tensor(src_len))
        cache_t = torch_model.start_cache(memory_t, mask_t)
        for position in range(tgt_in.shape[1]):
            logits, cache = tf_model.decode_step(tf.constant(tgt_in[:, position]), cache)
            logits_t, cache_t = torch_model.decode_step(torch.tensor(tgt_in[:, position]), cache_t)
            assert cache.length == position + 1 and tuple(cache.keys[1].shape) == (3, 4, position + 1, 4)
            assert diff(logits, full[:, position]) <= TOL
            assert diff(logits, logits_t) <= TOL
            for keys_t, keys_k in zip(cache_t.keys + cache_t.values, cache.keys + cache.values):
                assert diff(keys_t, keys_k) <= TOL


def test_reordered_cache_decodes_the_chosen_rows():
    _, tf_model = twins("post")
    src, src_len, tgt_in = make_batch()
    memory, src_mask = tf_model.encode(tf.constant(src), tf.constant(src_len))
    cache = tf_model.start_cache(memory, src_mask)
    _, cache = tf_model.decode_step(tf.constant(tgt_in[:, 0]), cache)
    index = tf.constant([2, 2, 0])
    logits, _ = tf_model.decode_step(tf.constant([4, 5, 6]), cache)
    picked, _ = tf_model.decode_step(tf.constant([6, 6, 4]), cache.reorder(index))
    assert diff(tf.gather(logits, [2, 2, 0]), picked) <= TOL
    with pytest.raises(ValueError, match="index holds rows 0..3, but the cache has 3"):
        cache.reorder(tf.constant([0, 3]))


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_greedy_translations_match(variant):
    torch_model, tf_model = twins(variant)
    src, src_len, _ = make_batch()
    tokens, weights = tf_model.translate(tf.constant(src), tf.constant(src_len), max_len=10)
    uncached, uncached_weights = tf_model.translate(tf.constant(src), tf.constant(src_len), max_len=10, cache=False)
    tokens_t, weights_t = torch_model.translate(torch.tensor(src), torch.tensor(src_len), max_len=10)
    rows = [tuple(row) for row in as_numpy(tokens)]
    # A random model, but not a trivial output: rows differ, and some row changes token along the way.
    assert len(set(rows)) >= 2 and max(len(set(row)) for row in rows) >= 2, rows
    np.testing.assert_array_equal(as_numpy(tokens), as_numpy(uncached))
    np.testing.assert_array_equal(as_numpy(tokens), as_numpy(tokens_t))
    assert weights.shape == (3, tokens.shape[1], 7)  # (B, L, S): heads averaged
    assert diff(weights, weights_t) <= TOL
    # Up to each row's EOS (after it the row only feeds PAD, which the uncached decoder masks out).
    ids = as_numpy(tokens)
    until_eos = np.cumsum(np.cumsum(ids == Vocab.EOS, axis=1), axis=1) <= 1  # (B, L)
    assert diff(as_numpy(weights)[until_eos], as_numpy(uncached_weights)[until_eos]) <= TOL
    np.testing.assert_allclose(as_numpy(weights).sum(-1), 1.0, atol=TOL)  # each step's weights are a distribution
    assert np.abs(as_numpy(weights)[2, :, 2:]).max() == 0.0  # and never on source padding


def test_scale_embeddings_scales_both_tables():
    _, model = twins("pre")
    before = [model.encoder.embedding.embeddings.numpy(), model.decoder.embedding.embeddings.numpy()]
    k.scale_embeddings(model, 4.0)
    after = [model.encoder.embedding.embeddings.numpy(), model.decoder.embedding.embeddings.numpy()]
    k.scale_embeddings(model, 0.25)  # powers of two: the shared model is restored exactly
    for old, new in zip(before, after):
        np.testing.assert_array_equal(new, 4.0 * old)
    np.testing.assert_array_equal(model.decoder.embedding.embeddings.numpy(), before[1])
    with pytest.raises(ValueError, match="factor must be a positive number"):
        k.scale_embeddings(model, 0)


def test_keras_masks_do_not_leak():
    """The encoder attaches a Keras padding mask to its output; encode and the decoder drop it."""
    _, tf_model = twins("pre")
    src, src_len, tgt_in = make_batch()
    memory, src_mask = tf_model.encode(tf.constant(src), tf.constant(src_len))
    assert getattr(memory, "_keras_mask", None) is None
    masked_memory = tf_model.encoder(tf.constant(src), mask=src_mask)
    assert getattr(masked_memory, "_keras_mask", None) is not None  # unit 04's behaviour, kept
    # The decoder's layers see only the explicit masks, whatever the memory carries.
    plain = tf_model.decoder(tf.constant(tgt_in), memory, src_mask)
    carried = tf_model.decoder(tf.constant(tgt_in), masked_memory, src_mask)
    assert diff(plain, carried) == 0.0
    assert getattr(carried, "_keras_mask", None) is None


def test_clear_errors():
    _, tf_model = twins("pre")
    src, src_len, tgt_in = make_batch()
    src_k, len_k = tf.constant(src), tf.constant(src_len)
    with pytest.raises(ValueError, match=r"max_len must be an int in 1..max_length 12, got 13"):
        tf_model.translate(src_k, len_k, 13)
    with pytest.raises(ValueError, match=r"source lengths must lie in 1..7, got 0..7"):
        tf_model.encode(src_k, tf.constant([7, 0, 2]))
    with pytest.raises(ValueError, match=r"src_len has 2 lengths but src 3 rows"):
        tf_model.encode(src_k, tf.constant([7, 2]))
    with pytest.raises(ValueError, match=r"token ids must lie in 0..10 \(the vocabulary\), got 0..11"):
        tf_model(src_k, len_k, tf.constant(np.where(tgt_in == 3, TGT_VOCAB, tgt_in)))
    with pytest.raises(ValueError, match="a sequence of length 13 is longer than max_length 12"):
        tf_model(src_k, len_k, tf.ones([3, 13], tf.int64))
    memory, src_mask = tf_model.encode(src_k, len_k)
    with pytest.raises(ValueError, match=r"the source mask has shape \(3, 5\) but the memory holds"):
        tf_model.decode(tf.constant(tgt_in), memory, src_mask[:, :5])
    with pytest.raises(TypeError, match="the source mask must be bool"):
        tf_model.start_cache(memory, tf.cast(src_mask, tf.int32))
    cache = tf_model.start_cache(memory, src_mask)
    with pytest.raises(ValueError, match=r"a decoding step takes one token per row, shape \(3,\), got \(2,\)"):
        tf_model.decode_step(tf.constant([1, 1]), cache)
    with pytest.raises(TypeError, match="cache must be a DecoderCache"):
        tf_model.decode_step(tf.constant([1, 1, 1]), None)
    layer = tf_model.decoder.layers[0].self_attention
    with pytest.raises(ValueError, match=r"k must have shape \(B, 4, S, 4\) \(from project_keys_values\)"):
        layer.attend(memory, memory, memory)
