"""Unit 03's attention functions, in both frameworks: the worked example's numbers, masks,
all-masked rows, the blockwise (online-softmax) variant, and clear errors for bad input.

Each test runs once per framework through a small adapter (`fw`), so both twins meet the same
numbers. Legend: B batch, H heads, T queries, S keys, Dk query/key width, Dv value width.
"""
from __future__ import annotations

import numpy as np
import pytest

# worked03.md: the lesson, a quiz question and a notebook cell reuse these numbers.
Q = np.array([[1, 0, 1, 0]], np.float32)  # (T=1, Dk=4)
K = np.array([[1, 0, 1, 0], [0, 1, 0, 1], [1, 1, 0, 0]], np.float32)  # (S=3, Dk=4)
V = np.array([[1, 0], [0, 1], [1, 1]], np.float32)  # (S=3, Dv=2)


class Torch:
    name = "torch"

    def __init__(self):
        import torch

        from seq2bert.torch import attention
        self.lib, self.attention = torch, attention

    def tensor(self, x, grad=False):
        return self.lib.tensor(np.asarray(x), requires_grad=grad)

    def numpy(self, x):
        return x.detach().numpy()

    def grads(self, loss_of, *arrays):
        """d loss / d each array, as numpy."""
        tensors = [self.tensor(a, grad=True) for a in arrays]
        loss_of(*tensors).backward()
        return [t.grad.numpy() for t in tensors]


class TF:
    name = "tf"

    def __init__(self):
        import tensorflow as tf

        from seq2bert.tf import attention
        self.lib, self.attention = tf, attention

    def tensor(self, x, grad=False):
        return self.lib.constant(np.asarray(x))

    def numpy(self, x):
        return x.numpy()

    def grads(self, loss_of, *arrays):
        tensors = [self.lib.constant(a) for a in arrays]
        with self.lib.GradientTape() as tape:
            tape.watch(tensors)
            loss = loss_of(*tensors)
        return [g.numpy() for g in tape.gradient(loss, tensors)]


@pytest.fixture(scope="module", params=["torch", "tf"])
def fw(request):
    return Torch() if request.param == "torch" else TF()


def attend(fw, q, k, v, mask=None, **kwargs):
    out, weights = fw.attention.scaled_dot_product_attention(
        fw.tensor(q), fw.tensor(k), fw.tensor(v), None if mask is None else fw.tensor(mask), **kwargs)
    return fw.numpy(out), fw.numpy(weights)


def numpy_attention(q, k, v, mask=None, scale=None):
    """float64 reference; all-masked rows -> 0 (the course's decision)."""
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    scores = np.einsum("...td,...sd->...ts", q.astype(np.float64), k) * scale
    allowed = np.ones(scores.shape, bool) if mask is None else np.broadcast_to(mask, scores.shape)
    scores = np.where(allowed, scores, -np.inf)
    top = scores.max(-1, keepdims=True)
    exp = np.exp(scores - np.where(np.isfinite(top), top, 0))
    total = exp.sum(-1, keepdims=True)
    weights = exp / np.where(total > 0, total, 1)
    return weights @ v, weights


def random_inputs(seed, lead=(2, 3), t=5, s=7, dk=8, dv=6):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=lead + (t, dk)).astype(np.float32), rng.normal(size=lead + (s, dk)).astype(np.float32),
            rng.normal(size=lead + (s, dv)).astype(np.float32))


# --- the worked example ---------------------------------------------------------------------

def test_worked_example_scaled(fw):
    out, weights = attend(fw, Q, K, V)
    np.testing.assert_allclose(weights, [[0.5065, 0.1863, 0.3072]], atol=5e-5)
    np.testing.assert_allclose(out, [[0.8137, 0.4935]], atol=5e-5)


def test_worked_example_unscaled_is_sharper(fw):
    out, weights = attend(fw, Q, K, V, scale=1.0)
    np.testing.assert_allclose(weights, [[0.6652, 0.0900, 0.2447]], atol=5e-5)
    np.testing.assert_allclose(out, [[0.9100, 0.3348]], atol=5e-5)


def test_worked_example_padding_key(fw):
    out, weights = attend(fw, Q, K, V, mask=np.array([[True, True, False]]))
    np.testing.assert_allclose(weights, [[0.7311, 0.2689, 0.0]], atol=5e-5)
    assert weights[0, 2] == 0.0
    np.testing.assert_allclose(out, [[0.7311, 0.2689]], atol=5e-5)


def test_worked_example_all_keys_masked_reads_nothing(fw):
    out, weights = attend(fw, Q, K, V, mask=np.zeros((1, 3), bool))
    assert weights.tolist() == [[0.0, 0.0, 0.0]]
    assert out.tolist() == [[0.0, 0.0]]


# --- general values ---------------------------------------------------------------------------

def test_matches_float64_reference_with_heads_and_t_not_s(fw):
    q, k, v = random_inputs(0)
    mask = np.random.default_rng(1).random((2, 1, 5, 7)) < 0.7  # broadcast over heads
    out, weights = attend(fw, q, k, v, mask)
    ref_out, ref_weights = numpy_attention(q, k, v, mask)
    np.testing.assert_allclose(weights, ref_weights, atol=1e-6)
    np.testing.assert_allclose(out, ref_out, atol=1e-5)
    assert out.shape == (2, 3, 5, 6) and weights.shape == (2, 3, 5, 7)
    assert out.dtype == np.float32 and weights.dtype == np.float32


def test_rows_sum_to_one_unless_all_masked(fw):
    q, k, v = random_inputs(2)
    mask = np.ones((2, 3, 5, 7), bool)
    mask[0, 1, 2] = False  # one query of one head sees nothing
    mask[1, :, :, 4:] = False  # keys 4.. are padding in the second sequence
    _, weights = attend(fw, q, k, v, mask)
    sums = weights.sum(-1)
    expected = np.ones((2, 3, 5))
    expected[0, 1, 2] = 0
    np.testing.assert_allclose(sums, expected, atol=1e-6)
    assert np.all(weights[~mask] == 0)


def test_all_masked_rows_have_zero_output_and_finite_gradients(fw):
    q, k, v = random_inputs(3, lead=(2,), t=4, s=6)
    mask = np.ones((2, 4, 6), bool)
    mask[0, 1] = False
    mask[1, 3] = False

    def loss(q, k, v):
        out, weights = fw.attention.scaled_dot_product_attention(q, k, v, fw.tensor(mask))
        return (out ** 2).sum() + (weights * weights).sum() if fw.name == "torch" else \
            fw.lib.reduce_sum(out ** 2) + fw.lib.reduce_sum(weights ** 2)

    out, weights = attend(fw, q, k, v, mask)
    assert np.all(out[0, 1] == 0) and np.all(weights[1, 3] == 0)
    assert np.isfinite(out).all() and np.isfinite(weights).all()
    grad_q, grad_k, grad_v = fw.grads(loss, q, k, v)
    for grad in (grad_q, grad_k, grad_v):
        assert np.isfinite(grad).all()
    assert np.all(grad_q[0, 1] == 0) and np.all(grad_q[1, 3] == 0)  # a query that reads nothing
    assert np.abs(grad_q).sum() > 0


def test_huge_scores_do_not_overflow(fw):
    q = np.full((1, 2, 4), 100.0, np.float32)
    k = np.full((1, 3, 4), 100.0, np.float32)
    k[0, 0] *= 2  # scores 20000 / 40000: exp overflows without the max shift
    v = np.eye(3, dtype=np.float32)[None]
    out, weights = attend(fw, q, k, v)
    np.testing.assert_allclose(weights, [[[1, 0, 0], [1, 0, 0]]], atol=1e-6)


# --- masks ----------------------------------------------------------------------------------

def test_causal_mask_is_reexported(fw):
    assert fw.numpy(fw.attention.causal_mask(3)).tolist() == [
        [True, False, False], [True, True, False], [True, True, True]]


def test_combine_masks_shapes_and_values(fw):
    padding = np.array([[True, True, True, False], [True, False, False, False]])  # (B=2, S=4)
    causal = fw.numpy(fw.attention.causal_mask(4))  # (T=4, S=4)
    combined = fw.numpy(fw.attention.combine_masks(fw.tensor(padding), fw.tensor(causal)))
    assert combined.shape == (2, 1, 4, 4) and combined.dtype == bool
    np.testing.assert_array_equal(combined[:, 0], padding[:, None, :] & causal[None])
    assert fw.numpy(fw.attention.combine_masks(fw.tensor(padding), None)).shape == (2, 1, 1, 4)
    only_causal = fw.numpy(fw.attention.combine_masks(None, fw.tensor(causal)))
    assert only_causal.shape == (1, 1, 4, 4)
    np.testing.assert_array_equal(only_causal[0, 0], causal)
    assert fw.attention.combine_masks(None, None) is None


def test_causal_and_padding_combined_broadcast_over_batch_and_heads(fw):
    q, k, v = random_inputs(4, lead=(2, 3), t=6, s=6)
    padding = np.arange(6)[None, :] < np.array([[6], [3]])  # (B, S): second sequence has 3 real keys
    causal = fw.numpy(fw.attention.causal_mask(6))
    mask = fw.attention.combine_masks(fw.tensor(padding), fw.tensor(causal))  # (B, 1, T, S)
    out, weights = fw.attention.scaled_dot_product_attention(fw.tensor(q), fw.tensor(k), fw.tensor(v), mask)
    out, weights = fw.numpy(out), fw.numpy(weights)
    allowed = padding[:, None, None, :] & causal[None, None]
    assert np.all(weights[np.broadcast_to(~allowed, weights.shape)] == 0)
    assert np.all(np.triu(weights[0, 0], k=1) == 0)  # no query looks ahead
    assert np.all(weights[1, :, :, 3:] == 0)  # no query reads padding
    ref_out, _ = numpy_attention(q, k, v, allowed)
    np.testing.assert_allclose(out, ref_out, atol=1e-5)


# --- the online softmax and blockwise attention ----------------------------------------------

@pytest.mark.parametrize("block_size", [1, 3, 4, 7, 64])  # 3 and 4 do not divide S=7; 64 > S
def test_blockwise_equals_plain(fw, block_size):
    q, k, v = random_inputs(5)
    mask = np.random.default_rng(6).random((2, 1, 5, 7)) < 0.6
    mask[0, 0, 0] = False  # an all-masked row stays 0 blockwise too
    plain, _ = attend(fw, q, k, v, mask)
    blocked = fw.numpy(fw.attention.blockwise_attention(
        fw.tensor(q), fw.tensor(k), fw.tensor(v), fw.tensor(mask), block_size=block_size))
    assert blocked.shape == plain.shape
    np.testing.assert_allclose(blocked, plain, atol=1e-6)
    assert np.all(blocked[0, :, 0] == 0)


def test_blockwise_with_causal_mask_and_scale(fw):
    q, k, v = random_inputs(7, lead=(3,), t=9, s=9)
    causal = fw.attention.causal_mask(9)
    plain, _ = fw.attention.scaled_dot_product_attention(fw.tensor(q), fw.tensor(k), fw.tensor(v), causal, scale=0.3)
    blocked = fw.attention.blockwise_attention(fw.tensor(q), fw.tensor(k), fw.tensor(v), causal, scale=0.3, block_size=2)
    np.testing.assert_allclose(fw.numpy(blocked), fw.numpy(plain), atol=1e-6)


def test_online_update_rescales_and_survives_minus_inf(fw):
    scores = np.array([[-np.inf, -np.inf], [1000.0, 999.0]], np.float32)  # (T=2, Sb=2)
    values = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)  # (Sb, Dv)
    state = (np.full(2, -np.inf, np.float32), np.zeros(2, np.float32), np.zeros((2, 2), np.float32))
    state = fw.attention.online_softmax_update(*map(fw.tensor, state), fw.tensor(scores), fw.tensor(values))
    m, total, out = map(fw.numpy, state)
    assert m[0] == -np.inf and total[0] == 0 and np.all(out[0] == 0)  # seen only -inf: no NaN
    np.testing.assert_allclose([m[1], total[1]], [1000.0, 1 + np.exp(-1)], rtol=1e-6)
    second = np.array([[0.0, -np.inf], [1002.0, -np.inf]], np.float32)  # a larger max arrives
    m, total, out = map(fw.numpy, fw.attention.online_softmax_update(*state, fw.tensor(second), fw.tensor(values)))
    assert np.isfinite(total).all() and np.isfinite(out).all()
    np.testing.assert_allclose(m, [0.0, 1002.0])
    expected = np.exp(np.array([1000.0, 999.0, 1002.0]) - 1002.0)
    np.testing.assert_allclose(total[1], expected.sum(), rtol=1e-6)
    np.testing.assert_allclose(out[1], [expected[0] + expected[2], expected[1]], rtol=1e-6)
    np.testing.assert_allclose(out[0] / total[0], [1.0, 0.0])


# --- errors -----------------------------------------------------------------------------------

@pytest.mark.parametrize("shapes, message", [
    (((2, 3, 64), (2, 5, 32), (2, 5, 4)), "keys have width 32 but queries 64"),
    (((2, 3, 8), (2, 5, 8), (2, 4, 4)), "keys have length 5 but values 4"),
    (((8,), (5, 8), (5, 4)), r"query must have shape \(\.\.\., length, width\), got \(8,\)"),
    (((2, 3, 8), (3, 5, 8), (3, 5, 4)), "do not broadcast"),
])
def test_bad_shapes_raise_clear_errors(fw, shapes, message):
    q, k, v = (np.zeros(s, np.float32) for s in shapes)
    with pytest.raises(ValueError, match=message):
        fw.attention.scaled_dot_product_attention(fw.tensor(q), fw.tensor(k), fw.tensor(v))


@pytest.mark.parametrize("mask_shape", [(2, 5, 3), (2, 1, 3, 5), (4,)])
def test_mask_that_does_not_fit_the_scores_is_refused(fw, mask_shape):
    q, k, v = np.zeros((2, 3, 8), np.float32), np.zeros((2, 5, 8), np.float32), np.zeros((2, 5, 4), np.float32)
    with pytest.raises(ValueError, match=r"mask of shape .* does not broadcast to the scores' shape \(2, 3, 5\)"):
        fw.attention.scaled_dot_product_attention(fw.tensor(q), fw.tensor(k), fw.tensor(v),
                                                  fw.tensor(np.ones(mask_shape, bool)))
    with pytest.raises(ValueError, match="does not broadcast"):
        fw.attention.blockwise_attention(fw.tensor(q), fw.tensor(k), fw.tensor(v), fw.tensor(np.ones(mask_shape, bool)))


def test_non_bool_masks_are_refused(fw):
    q, k, v = random_inputs(8, lead=(2,), t=3, s=5)
    for mask in (np.ones((2, 3, 5), np.float32), np.ones((2, 3, 5), np.int32)):
        with pytest.raises(TypeError, match=r"mask must be a bool tensor \(True = may attend\), got"):
            fw.attention.scaled_dot_product_attention(fw.tensor(q), fw.tensor(k), fw.tensor(v), fw.tensor(mask))
    with pytest.raises(TypeError, match="key_padding must be a bool tensor"):
        fw.attention.combine_masks(fw.tensor(np.ones((2, 5), np.float32)), None)
    with pytest.raises(ValueError, match="key_padding has 5 keys but causal 4"):
        fw.attention.combine_masks(fw.tensor(np.ones((2, 5), bool)), fw.attention.causal_mask(4))
    with pytest.raises(ValueError, match=r"causal must be 2-D \(T, S\), got shape \(1, 4, 4\)"):
        fw.attention.combine_masks(None, fw.tensor(np.ones((1, 4, 4), bool)))


def test_block_size_must_be_positive(fw):
    q, k, v = random_inputs(9, lead=(1,), t=2, s=3)
    with pytest.raises(ValueError, match="block_size must be a positive int, got 0"):
        fw.attention.blockwise_attention(fw.tensor(q), fw.tensor(k), fw.tensor(v), block_size=0)


def test_tf_attention_traces_with_unknown_batch_length_and_width():
    """Inside tf.function with unknown sizes (how the TF training loops call it) the checks stay quiet."""
    import tensorflow as tf

    from seq2bert.tf import attention

    spec = tf.TensorSpec([None, None, None], tf.float32)

    @tf.function(input_signature=[spec, spec, spec, tf.TensorSpec([None, 1, None], tf.bool)])
    def attend_graph(q, k, v, mask):
        return attention.scaled_dot_product_attention(q, k, v, mask)

    q, k, v = random_inputs(11, lead=(2,), t=3, s=5)
    mask = np.array([[[True] * 5], [[False] * 5]])  # the second sequence has no key at all
    out, weights = attend_graph(q, k, v, mask)
    ref_out, ref_weights = numpy_attention(q, k, v, mask)
    np.testing.assert_allclose(weights.numpy(), ref_weights, atol=1e-6)
    np.testing.assert_allclose(out.numpy(), ref_out, atol=1e-5)
    assert np.all(out.numpy()[1] == 0)
