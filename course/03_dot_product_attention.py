# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# Unit 02's decoder scored every encoder state with a small network, $v^\top \tanh(s W_q + h W_k)$.
# The Transformer (Vaswani et al., 2017) scores with a plain dot product instead, divided by
# $\sqrt{d_k}$, and names the three parts of attention for good: **queries**, **keys** and
# **values**. This unit builds that attention function, its masks, and the memory-saving way
# of computing it that long sequences need — and checks that the cheaper score is as good on
# unit 02's task.
#
# **By the end you can**
# - write scaled dot-product attention for any batch and head axes, name the shapes of Q, K
#   and V, and read it as a soft dictionary look-up;
# - explain with numbers why the scores are divided by $\sqrt{d_k}$ (saturation, not overflow);
# - build padding and causal masks, combine them, broadcast them over batch and heads, and say
#   what a query whose keys are all masked gets;
# - compare the cost of attention against sequence length, and compute it block by block with
#   an online softmax — the idea behind FlashAttention.
#
# **Time:** about 75 minutes — 25 to read the lesson, the rest here. The notebook retrains
# unit 02's model twice, about three minutes on a laptop CPU; set `SEQ2BERT_FAST=1` before
# `seq2bert.setup` for a one-minute pass with less data and fewer steps (same code, weaker
# numbers).
#
# ## Setup

# %%
import time

import numpy as np

import seq2bert
from seq2bert import experiments, plot, report
from seq2bert.configs import Seq2SeqConfig
from seq2bert.experiments.compare import compare_scorers
from seq2bert.experiments.scaling import scaling_sweep

session = seq2bert.setup("03", "{{fw}}")
sizes = session.sizes
rng = np.random.default_rng(session.seed)
print(session)
print(sizes)

# %% framework="pytorch"
import torch
import torch.nn.functional as F

from seq2bert.torch import attention, ops
from seq2bert.torch.seq2seq import ScaledDotAttention, Seq2Seq
from seq2bert.torch.train import tensor, to_numpy, train_seq2seq, translate_dataset


# %% framework="tensorflow"
import keras
import tensorflow as tf

from seq2bert.tf import attention, ops
from seq2bert.tf.seq2seq import ScaledDotAttention, Seq2Seq
from seq2bert.tf.train import tensor, to_numpy, train_seq2seq, translate_dataset


# %% [markdown]
# ## 1. From additive to scaled dot-product attention
#
# In unit 02 the decoder's state $s$ asked a question — *what do I need next?* — and every
# encoder state $h_j$ was compared with it by a learned network. Read attention as a **soft
# dictionary look-up**: a Python dictionary compares a query with every key and returns the
# value of the one key that matches exactly; attention compares a **query** with every **key**,
# turns the similarities into weights that sum to 1, and returns the weighted average of the
# **values**. Every key contributes, in proportion to how well it matches.
#
# Three scores for the match, in historical order:
#
# | score | formula | paper |
# |---|---|---|
# | additive | $v^\top \tanh(q W_q + k W_k)$ | Bahdanau et al. 2015 (unit 02) |
# | dot product | $q \cdot k$ | Luong et al. 2015 |
# | scaled dot product | $q \cdot k / \sqrt{d_k}$ | Vaswani et al. 2017 |
#
# The dot product has no parameters of its own: the learning moves into the projections that
# make the queries and keys (learned layers in section 5's model and in unit 04; here the
# vectors are simply given). For $T$ queries and $S$ keys at
# once it is one matrix product, and the whole of attention is
#
# $$\text{Attention}(Q, K, V) = \text{softmax}\!\left(\frac{Q K^\top}{\sqrt{d_k}}\right) V$$
#
# with queries $Q$ of shape `(..., T, Dk)`, keys $K$ `(..., S, Dk)`, values $V$ `(..., S, Dv)`;
# the scores $Q K^\top$ are `(..., T, S)`, one per (query, key) pair, the softmax runs over the
# $S$ keys of each query, and the output is `(..., T, Dv)`. The leading `...` may be a batch
# axis, or a batch and a head axis (unit 04): the same function serves both.
#
# ### Exercise 1: scaled dot-product attention
#
# Write `scaled_dot_product_attention(query, key, value, mask=None, scale=None)` returning
# `(output, weights)`:
# - `scale` defaults to $1/\sqrt{d_k}$, $d_k$ the last axis of the query;
# - `mask` (bool, **True where a query may attend**, broadcastable to `(..., T, S)`) removes
#   keys from the softmax: their weight must be exactly 0;
# - a query whose keys are **all** masked gets weights 0 and output 0 — not NaN, and not
#   uniform weights. This is the course's decision; section 4 shows why.
#
# Predict first: what does `torch.softmax` / `tf.nn.softmax` return for a row whose scores
# are all $-\infty$? Keep that row in mind while you write the softmax.

# %% framework="pytorch" exercise="scaled_dot_product_attention"
def scaled_dot_product_attention(query, key, value, mask=None, scale=None):
    """softmax(q k^T * scale, masked) v -> output (..., T, Dv), weights (..., T, S)."""
    # BEGIN SOLUTION: scale the scores, mask them, take a softmax that gives all-masked rows zeros, weight the values
    if scale is None:
        scale = query.shape[-1] ** -0.5
    scores = (query @ key.transpose(-2, -1)) * scale  # (..., T, Dk) @ (..., Dk, S) -> (..., T, S)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    top = scores.amax(dim=-1, keepdim=True).detach()  # (..., T, 1), -inf for an all-masked row
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    exp = torch.exp(scores - top)  # 0 at masked keys
    total = exp.sum(dim=-1, keepdim=True)  # (..., T, 1), 0 for an all-masked row
    weights = exp / torch.where(total > 0, total, torch.ones_like(total))  # 0 / 1 = 0 for an all-masked row
    return weights @ value, weights  # (..., T, S) @ (..., S, Dv) -> (..., T, Dv)
    # END SOLUTION

# %% framework="tensorflow" exercise="scaled_dot_product_attention"
def scaled_dot_product_attention(query, key, value, mask=None, scale=None):
    """softmax(q k^T * scale, masked) v -> output (..., T, Dv), weights (..., T, S)."""
    # BEGIN SOLUTION: scale the scores, mask them, take a softmax that gives all-masked rows zeros, weight the values
    if scale is None:
        scale = query.shape[-1] ** -0.5
    scores = tf.matmul(query, key, transpose_b=True) * scale  # (..., T, Dk) @ (..., Dk, S) -> (..., T, S)
    if mask is not None:
        scores = tf.where(mask, scores, float("-inf"))
    top = tf.stop_gradient(tf.reduce_max(scores, axis=-1, keepdims=True))  # (..., T, 1), -inf if all masked
    top = tf.where(tf.math.is_finite(top), top, 0.0)
    exp = tf.exp(scores - top)  # 0 at masked keys
    total = tf.reduce_sum(exp, axis=-1, keepdims=True)  # (..., T, 1), 0 for an all-masked row
    weights = exp / tf.where(total > 0, total, 1.0)  # 0 / 1 = 0 for an all-masked row
    return tf.matmul(weights, value), weights  # (..., T, S) @ (..., S, Dv) -> (..., T, Dv)
    # END SOLUTION

# %% check="scaled_dot_product_attention" points=3

# %% [markdown]
# Your function on a tiny batch: 2 sequences, 3 queries, 5 keys of width 4, values of width 2.

# %%
query = tensor(rng.normal(size=(2, 3, 4)))  # (B, T, Dk)
key = tensor(rng.normal(size=(2, 5, 4)))  # (B, S, Dk)
value = tensor(rng.normal(size=(2, 5, 2)))  # (B, S, Dv)
output, weights = scaled_dot_product_attention(query, key, value)
print("query (B, T, Dk):", tuple(query.shape), " key (B, S, Dk):", tuple(key.shape),
      " value (B, S, Dv):", tuple(value.shape))
print("output (B, T, Dv):", tuple(output.shape), " weights (B, T, S):", tuple(weights.shape))
print("each query's weights sum to", np.round(to_numpy(weights).sum(axis=-1), 6).tolist())

# %% [markdown]
# ## 2. The worked example
#
# The lesson's example, with $d_k = 4$: one query $q = [1, 0, 1, 0]$, three keys
# $k_1 = [1, 0, 1, 0]$, $k_2 = [0, 1, 0, 1]$, $k_3 = [1, 1, 0, 0]$ and their values
# $v_1 = [1, 0]$, $v_2 = [0, 1]$, $v_3 = [1, 1]$. The dot products are $[2, 0, 1]$, and scaled
# by $1/\sqrt 4$: $[1, 0, 0.5]$. Your function should print the lesson's numbers: weights
# [0.5065, 0.1863, 0.3072] and output [0.8137, 0.4935]; unscaled (scale 1), the sharper
# [0.6652, 0.0900, 0.2447] and [0.9100, 0.3348]; with key 3 as padding, [0.7311, 0.2689, 0]
# and [0.7311, 0.2689]; and with every key masked, zeros.

# %%
worked_query = tensor(np.array([[1.0, 0.0, 1.0, 0.0]]))  # (T, Dk) = (1, 4)
worked_keys = tensor(np.array([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0], [1.0, 1.0, 0.0, 0.0]]))  # (S, Dk) = (3, 4)
worked_values = tensor(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))  # (S, Dv) = (3, 2)
worked = {}
for label, mask, scale in (("scaled", None, None), ("unscaled", None, 1.0),
                           ("key 3 padding", [True, True, False], None), ("all masked", [False, False, False], None)):
    mask = None if mask is None else tensor(np.array([mask]))  # (1, S) broadcasts to (T, S)
    output, weights = scaled_dot_product_attention(worked_query, worked_keys, worked_values, mask=mask, scale=scale)
    worked[label] = (to_numpy(weights)[0], to_numpy(output)[0])
    print(f"{label:>14}: weights {np.round(worked[label][0], 4)}, output {np.round(worked[label][1], 4)}")
np.testing.assert_allclose(worked["scaled"][0], [0.5065, 0.1863, 0.3072], atol=1e-4)
np.testing.assert_allclose(worked["all masked"][1], [0.0, 0.0])

# %% [markdown]
# Query and key 1 are the same vector, so key 1 matches best and $v_1$ dominates the output.
# Key 2 shares no coordinate with the query ($q \cdot k_2 = 0$), yet it still gets weight
# 0.19: a softmax never gives exactly 0 to a finite score. Only a mask does.
#
# Compare unit 02: there the additive network preferred a key that a dot product would not
# have chosen. A dot product *is* a similarity: it is large when query and key point the same
# way and are long. So the model controls attention through the lengths and directions of the
# projected queries and keys — and that is where the scale comes in.
#
# ## 3. Why divide by √d_k?
#
# Take queries and keys with independent entries of mean 0 and variance 1. Then $q \cdot k =
# \sum_{i=1}^{d_k} q_i k_i$ is a sum of $d_k$ independent terms of variance 1, so its
# variance is $d_k$ and its standard deviation $\sqrt{d_k}$ (Vaswani et al. 2017, footnote 4;
# the lesson, section 6, derives it).
# Wide keys give widely spread scores; the softmax turns spread-out scores into one weight near
# 1 and the rest near 0, and a saturated softmax passes almost no gradient back: its Jacobian
# $\partial p / \partial s = \text{diag}(p) - p p^\top$ is the zero matrix when $p$ is one-hot.
#
# **Predict before you run:** for $d_k = 256$, what is the standard deviation of $q \cdot k$?
# And after dividing by $\sqrt{d_k}$?
#
# The sweep below draws random queries, each against 16 random keys, for $d_k$ from 4 to 1024,
# and measures the variance of the scores, the attention entropy (in nats; $\log 16 = 2.77$ is
# uniform weights, 0 is one-hot) and the norm of the softmax's Jacobian, without and with the
# scale (`seq2bert.experiments.scaling`, in NumPy, so both frameworks show the same numbers).

# %%
sweep = scaling_sweep(sizes.sweep_widths, queries=sizes.sweep_queries, keys=sizes.sweep_keys, seed=session.seed)
print(f"{'d_k':>5} {'Var(q·k)':>9} | {'entropy':>8} {'scaled':>7} | {'‖Jacobian‖':>10} {'scaled':>7} | "
      f"{'top weight':>10} {'scaled':>7}")
for row in sweep.rows():
    print(f"{row['d_k']:>5} {row['dot_variance']:>9.1f} | {row['entropy']:>8.3f} {row['entropy_scaled']:>7.3f} | "
          f"{row['gradient_norm']:>10.3f} {row['gradient_norm_scaled']:>7.3f} | "
          f"{row['top_weight']:>10.3f} {row['top_weight_scaled']:>7.3f}")
plot.scaling_curves(sweep, title="Without the scale the softmax saturates as d_k grows")

# %%
widest = -1  # the largest d_k of the sweep
report.headline(f"Var(q·k) / d_k at d_k = {sweep.widths[widest]}", sweep.dot_variance[widest] / sweep.widths[widest])
report.headline(f"attention entropy at d_k = {sweep.widths[widest]}, unscaled (nats)", sweep.entropy[widest])
report.headline(f"attention entropy at d_k = {sweep.widths[widest]}, scaled (nats)", sweep.entropy_scaled[widest])
report.headline(f"softmax Jacobian norm at d_k = {sweep.widths[widest]}, unscaled", sweep.gradient_norm[widest])
report.headline(f"softmax Jacobian norm at d_k = {sweep.widths[widest]}, scaled", sweep.gradient_norm_scaled[widest])
assert np.allclose(sweep.dot_variance / sweep.widths, 1.0, atol=0.15), "Var(q·k) should be close to d_k"
assert sweep.entropy[widest] < 0.25 * sweep.entropy_scaled[widest], "unscaled scores should saturate the softmax"
assert sweep.gradient_norm[widest] < 0.5 * sweep.gradient_norm_scaled[widest], "and starve it of gradient"
assert np.ptp(sweep.entropy_scaled) < 0.15, "scaled scores should keep the entropy where it is"

# %% [markdown]
# With the scale, the scores have variance 1 whatever $d_k$ is, and entropy and gradient stay
# flat. Without it, $d_k = 64$ (a typical head width) already puts most of the weight on one key.
#
# **It is not about overflow.** $\exp(q \cdot k)$ could overflow float32 once $q \cdot k > 88$,
# but no softmax computes that: every implementation (yours above too) subtracts the row's
# largest score first, so every exponent is at most 0. The scale fixes the *shape* of the
# softmax, not its arithmetic. Your own function shows it on one random query with $d_k = 256$:

# %%
wide_query = tensor(rng.normal(size=(1, 256)))  # (T, Dk) = (1, 256)
wide_keys = tensor(rng.normal(size=(16, 256)))  # (S, Dk) = (16, 256)
for label, scale in (("scaled", None), ("unscaled", 1.0)):
    _, weights = scaled_dot_product_attention(wide_query, wide_keys, wide_keys, scale=scale)
    weights = to_numpy(weights)[0]
    print(f"{label:>8}: finite {bool(np.isfinite(weights).all())}, largest weight {weights.max():.3f}, "
          f"weights above 0.01: {int((weights > 0.01).sum())} of 16")

# %% [markdown]
# ## 4. Masks
#
# A mask says which keys each query may look at (True = may attend). Two kinds:
# - a **padding mask** hides the padding at the end of shorter sequences: it depends on the
#   sequence, not on the query, shape `(B, S)`, used as `(B, 1, 1, S)`;
# - a **causal** (look-ahead) **mask** hides the future: query $t$ may attend to keys
#   $0 \ldots t$ only, so a decoder trained on whole target sentences cannot peek at the word it
#   must predict. It depends on the query position, not on the sequence: `(T, T)`, used as
#   `(1, 1, T, T)`.
#
# ### Exercise 2: the causal mask
#
# Write `causal_mask(length)`: a `(length, length)` bool tensor, True where key $j \le$ query $i$
# (on and below the diagonal).

# %% framework="pytorch" exercise="causal_mask"
def causal_mask(length):
    """(T, T) bool: query i may attend to keys 0..i."""
    # BEGIN SOLUTION: True where the key's position is at most the query's
    positions = torch.arange(length)  # (T,)
    return positions[None, :] <= positions[:, None]  # (1, T) <= (T, 1) -> (T, T): key j <= query i
    # END SOLUTION

# %% framework="tensorflow" exercise="causal_mask"
def causal_mask(length):
    """(T, T) bool: query i may attend to keys 0..i."""
    # BEGIN SOLUTION: True where the key's position is at most the query's
    positions = tf.range(length)  # (T,)
    return positions[None, :] <= positions[:, None]  # (1, T) <= (T, 1) -> (T, T): key j <= query i
    # END SOLUTION

# %% check="causal_mask" points=1

# %%
print("causal_mask(4):\n", to_numpy(causal_mask(4)).astype(int))
print("shape (T, T):", tuple(causal_mask(4).shape))

# %% [markdown]
# ### Exercise 3: combining the masks
#
# A decoder attending to its own padded target needs both masks at once: a query may attend to
# a key only if **both** allow it. Write `combine_masks(key_padding, causal)`:
# `key_padding (B, S)` and `causal (T, S)` → `(B, 1, T, S)`, where the 1 broadcasts over the
# heads of unit 04. Either argument may be `None`; then return the other one lifted to 4-D,
# `(B, 1, 1, S)` or `(1, 1, T, S)` (and `None` if both are).
#
# Before you write it: which axes do you add to each mask so that they broadcast against each
# other — and which operator combines "allowed" with "allowed"?

# %% framework="pytorch" exercise="combine_masks"
def combine_masks(key_padding, causal):
    """(B, S) and (T, S) may-attend masks -> (B, 1, T, S); either may be None."""
    # BEGIN SOLUTION: lift both masks to 4-D and keep a key only where both allow it
    if key_padding is not None:
        key_padding = key_padding[:, None, None, :]  # (B, S) -> (B, 1, 1, S)
    if causal is not None:
        causal = causal[None, None, :, :]  # (T, S) -> (1, 1, T, S)
    if key_padding is None or causal is None:
        return causal if key_padding is None else key_padding
    return key_padding & causal  # (B, 1, 1, S) & (1, 1, T, S) -> (B, 1, T, S)
    # END SOLUTION

# %% framework="tensorflow" exercise="combine_masks"
def combine_masks(key_padding, causal):
    """(B, S) and (T, S) may-attend masks -> (B, 1, T, S); either may be None."""
    # BEGIN SOLUTION: lift both masks to 4-D and keep a key only where both allow it
    if key_padding is not None:
        key_padding = key_padding[:, None, None, :]  # (B, S) -> (B, 1, 1, S)
    if causal is not None:
        causal = causal[None, None, :, :]  # (T, S) -> (1, 1, T, S)
    if key_padding is None or causal is None:
        return causal if key_padding is None else key_padding
    return tf.logical_and(key_padding, causal)  # (B, 1, 1, S) & (1, 1, T, S) -> (B, 1, T, S)
    # END SOLUTION

# %% check="combine_masks" points=2

# %% [markdown]
# A decoder's self-attention over two target sequences of lengths 5 and 3, padded to 5, with
# 2 heads of width 4. The masks of the shorter sequence, as pictures (dark: may attend):

# %%
lengths = tensor(np.array([5, 3]))
padding = ops.padding_mask(lengths, 5)  # (B, S) = (2, 5)
combined = combine_masks(padding, causal_mask(5))  # (B, 1, T, S) = (2, 1, 5, 5)
print("padding (B, S):", tuple(padding.shape), " causal (T, S):", tuple(causal_mask(5).shape),
      " combined (B, 1, T, S):", tuple(combined.shape))
short = 1  # the sequence of length 3
plot.mask_grid({"padding": np.broadcast_to(to_numpy(padding)[short], (5, 5)),
                "causal": to_numpy(causal_mask(5)),
                "combined": to_numpy(combined)[short, 0]},
               key_labels=["y1", "y2", "y3", "pad", "pad"], query_labels=["y1", "y2", "y3", "pad", "pad"],
               title="Masks of a sequence of length 3 padded to 5")

# %% [markdown]
# One mask of shape `(B, 1, T, S)` serves every head: broadcasting copies it over the head axis
# of the scores `(B, H, T, S)` for free. Your attention function, with queries, keys and values
# split into 2 heads:

# %%
heads_q = tensor(rng.normal(size=(2, 2, 5, 4)))  # (B, H, T, Dh)
heads_k = tensor(rng.normal(size=(2, 2, 5, 4)))  # (B, H, S, Dh)
heads_v = tensor(rng.normal(size=(2, 2, 5, 3)))  # (B, H, S, Dv)
output, weights = scaled_dot_product_attention(heads_q, heads_k, heads_v, mask=combined)
weights = to_numpy(weights)
print("output (B, H, T, Dv):", tuple(output.shape), " weights (B, H, T, S):", weights.shape)
print("weight on keys the mask forbids:", float(weights[~np.broadcast_to(to_numpy(combined), weights.shape)].sum()))
print("sequence 2, head 1 (rows: queries, columns: keys):\n", np.round(weights[short, 0], 3))

# %% [markdown]
# In this example no query is left without a key: even the padding positions may attend to
# the real tokens before them. But a query can lose every key — a sequence that is all padding
# in a batch, a key-padding mask whose first key is padding combined with a causal mask, a
# sliding window with nothing inside. Three conventions exist for such a row:
# - masking with $-\infty$ and a plain softmax gives $0/0$ = **NaN**, which spreads through the
#   loss to every weight of the model in one optimiser step (a masked loss does not help:
#   $0 \cdot \text{NaN}$ is NaN);
# - masking with a large finite constant, as unit 02's `masked_softmax` did with $-10^9$, gives
#   **uniform weights** over keys that do not exist: no crash, but the output silently averages
#   padding;
# - this course returns **weights 0 and output 0**: the query reads nothing, and no gradient
#   flows into the keys and values it was not allowed to see.
#
# Your function, and the gradient through an all-masked query:

# %% framework="pytorch"
all_masked = tensor(np.zeros((1, 3), dtype=bool))  # (T, S): the one query may attend to nothing
grad_query, grad_keys = worked_query.clone().requires_grad_(True), worked_keys.clone().requires_grad_(True)
output, weights = scaled_dot_product_attention(grad_query, grad_keys, worked_values, mask=all_masked)
output.sum().backward()
gradients = {"query": to_numpy(grad_query.grad), "keys": to_numpy(grad_keys.grad)}

# %% framework="tensorflow"
all_masked = tensor(np.zeros((1, 3), dtype=bool))  # (T, S): the one query may attend to nothing
grad_query, grad_keys = tf.Variable(worked_query), tf.Variable(worked_keys)
with tf.GradientTape() as tape:
    output, weights = scaled_dot_product_attention(grad_query, grad_keys, worked_values, mask=all_masked)
    total = tf.reduce_sum(output)
gradients = dict(zip(("query", "keys"), (to_numpy(g) for g in tape.gradient(total, [grad_query, grad_keys]))))

# %%
print("weights:", to_numpy(weights)[0], " output:", to_numpy(output)[0])
for name, gradient in gradients.items():
    print(f"gradient w.r.t. the {name}: all finite {bool(np.isfinite(gradient).all())}, largest {np.abs(gradient).max()}")
assert all(np.isfinite(g).all() for g in gradients.values()) and not to_numpy(output).any()

# %% [markdown]
# ## 5. As good, cheaper? Unit 02's model with scaled dot-product attention
#
# Back to unit 02's toy translation model, trained twice on the same data from the same seed:
# once with its additive scorer, once with `Seq2SeqConfig(score="scaled_dot")`. (Fast mode
# keeps to sources of at most 20 words, so that each training step costs about half; full mode
# uses unit 02's 4 to 40.) The new
# `ScaledDotAttention` projects the decoder state (the query) and the encoder states (the keys)
# to width $A$ exactly as before, then scores them with `attention.scaled_dot_product_attention`,
# scale $1/\sqrt{A}$ — no tanh, no $v$. The values are still the encoder states themselves.

# %%
plot.show_source(ScaledDotAttention)

# %% [markdown]
# `experiments.compare.compare_scorers` trains one model per scorer and scores its greedy
# translations of the held-out sentences by source length, as in unit 02; it times every
# training step and reports the median after the first (TensorFlow traces its step function
# during the first).

# %%
toy_task = experiments.toy_task(sizes.toy_train, sizes.eval_pairs, seed=session.seed, max_words=sizes.max_words)
toy_config = Seq2SeqConfig(src_vocab=len(toy_task.src_vocab), tgt_vocab=len(toy_task.tgt_vocab),
                           embed=sizes.embed, hidden=sizes.hidden)
translations = {}  # score -> (predictions, attention weights), for the heat-maps below


def translate_and_keep(model, data, max_len):
    """translate_dataset, keeping each model's translations and attention weights."""
    translations[model.config.score] = translate_dataset(model, data, max_len)
    return translations[model.config.score]


comparison = compare_scorers(toy_task, toy_config, Seq2Seq, train_seq2seq, translate_and_keep, sizes.attention_steps,
                             sizes.batch_size, sizes.learning_rate, seed=session.seed)
print(comparison.format())
additive, scaled = comparison.runs["additive"], comparison.runs["scaled_dot"]
plot.quality_vs_length({"additive (unit 02)": additive.scores["token_accuracy_by_length"],
                        "scaled dot product": scaled.scores["token_accuracy_by_length"]},
                       title="Token accuracy by source length, by attention score")

# %%
plot.training_curves({"additive (unit 02)": additive.history, "scaled dot product": scaled.history}, smooth=20,
                     title="Training loss")

# %%
speed = additive.seconds_per_step / scaled.seconds_per_step
report.headline("toy token accuracy (additive attention)", additive.scores["token_accuracy"])
report.headline("toy token accuracy (scaled dot-product attention)", scaled.scores["token_accuracy"])
longest = list(additive.scores["token_accuracy_by_length"])[-1]  # "31–40" (fast mode: "11–20")
report.headline(f"toy token accuracy {longest} words (additive attention)",
                additive.scores["token_accuracy_by_length"][longest])
report.headline(f"toy token accuracy {longest} words (scaled dot-product attention)",
                scaled.scores["token_accuracy_by_length"][longest])
report.headline("seconds per training step (additive attention)", additive.seconds_per_step)
report.headline("seconds per training step (scaled dot-product attention)", scaled.seconds_per_step)
report.headline("training step time, additive / scaled dot product", speed)
print(f"token accuracy: additive {additive.scores['token_accuracy']:.3f}, scaled dot product "
      f"{scaled.scores['token_accuracy']:.3f}; a training step of the additive model takes {speed:.2f}x "
      f"the scaled dot-product model's")
# Unit 02's bar for its attention model on this task, in both modes.
assert scaled.scores["token_accuracy"] >= 0.7, f"scaled dot-product model under-trained ({scaled.scores['token_accuracy']:.3f})"

# %% [markdown]
# Read the table bucket by bucket: does the cheaper score keep up on the long sentences, where
# attention matters most? The step times are reported, not promised: they depend on the machine
# and on what else runs on it. In this model the score is a small part of a step — two GRUs,
# the embeddings and the output layer do most of the work — so the two step times are close,
# and on a busy machine either may come out ahead. The dot product's advantage grows where
# attention is the whole layer: scoring $T$ queries against $S$ keys additively builds a
# `(B, T, S, A)` tensor and runs tanh over all of it, while the dot product is one matrix
# product — the situation of unit 04's self-attention, where every position is a query.
#
# Where does the new model look? A held-out sentence with an adjective–noun swap, under both
# scorers:

# %%
def heatmap_example(task, index, predictions, weights, title):
    """One held-out pair as an attention_grid entry: weights with source and output tokens."""
    source, _ = task.test_pairs[index]
    output = task.tgt_vocab.decode(predictions[index])
    rows = weights[index]  # (L, S), one row per output token, <eos> included when produced
    return dict(weights=rows, source=task.src_tokenize(source), target=(output + ["<eos>"])[: len(rows)], title=title)


index = experiments.reordered_example(toy_task, translations["scaled_dot"][0])
plot.attention_grid([heatmap_example(toy_task, index, *translations["additive"], title="additive (unit 02)"),
                     heatmap_example(toy_task, index, *translations["scaled_dot"], title="scaled dot product")],
                    ncols=2, title="Where each model looks")

# %%
for score, label in (("additive", "additive"), ("scaled_dot", "scaled dot-product")):
    aligned = experiments.alignment_accuracy(toy_task, *translations[score])
    report.headline(f"toy alignment accuracy ({label} attention)", aligned)
    print(f"{label:>18}: the strongest weight falls on the word translated (or the noun an article or "
          f"adjective agrees with) {aligned:.1%} of the time")

# %% [markdown]
# ## 6. The cost of attention
#
# Attention compares every query with every key: for $T = S = n$ it computes and stores an
# $n \times n$ matrix of scores per sequence and head, so its time and memory grow as $n^2$.
# Below: the course's `attention.scaled_dot_product_attention`, its blockwise twin
# `attention.blockwise_attention` (section 7), and the library's fused kernel, on random inputs
# of batch 2, 4 heads, head width 32 (fastest of a few runs; one CPU thread; a shared machine
# makes the numbers noisy). All three must agree to $10^{-5}$ first.

# %% framework="pytorch"
library_name = "torch.nn.functional.scaled_dot_product_attention"


def library_attention(query, key, value):
    """PyTorch's fused kernel: (B, H, T, Dh) in and out, scale 1/sqrt(Dh)."""
    return F.scaled_dot_product_attention(query, key, value)


def to_library_layout(x):
    """PyTorch's kernel takes our (B, H, T, Dh) layout as it is."""
    return x


from_library_layout = to_library_layout

# %% framework="tensorflow"
library_name = "keras.ops.dot_product_attention"


def library_attention(query, key, value):
    """Keras's dot-product attention: (B, T, H, Dh) in and out, scale 1/sqrt(Dh)."""
    return keras.ops.dot_product_attention(query, key, value)


def to_library_layout(x):
    """Keras wants the heads after the sequence axis."""
    return tf.transpose(x, [0, 2, 1, 3])  # (B, H, T, Dh) -> (B, T, H, Dh)


from_library_layout = to_library_layout  # the same swap, back: (B, T, H, Dh) -> (B, H, T, Dh)

# %%
def fastest_seconds(function, repeats):
    """The fastest of `repeats` timed calls, after one untimed warm-up call."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


names = ("ours", "ours, blockwise (128 keys at a time)", library_name)
seconds = {name: {} for name in names}
for length in sizes.cost_lengths:
    q, k, v = (tensor(rng.normal(size=(2, 4, length, 32)).astype(np.float32)) for _ in range(3))  # (B, H, T, Dh)
    library_inputs = [to_library_layout(x) for x in (q, k, v)]  # prepared outside the timed calls
    runs = {names[0]: lambda: attention.scaled_dot_product_attention(q, k, v)[0],
            names[1]: lambda: attention.blockwise_attention(q, k, v, block_size=128),
            names[2]: lambda: library_attention(*library_inputs)}
    outputs = {names[0]: runs[names[0]](), names[1]: runs[names[1]](), names[2]: from_library_layout(runs[names[2]]())}
    disagreement = max(float(np.abs(to_numpy(outputs[name]) - to_numpy(outputs[library_name])).max()) for name in names)
    assert disagreement <= 1e-5, f"length {length}: implementations differ by {disagreement:.1e}"
    for name in names:
        seconds[name][length] = fastest_seconds(runs[name], sizes.cost_repeats)
    print(f"length {length:>5}: " + ", ".join(f"{name.split(' (')[0]} {1000 * seconds[name][length]:.2f} ms" for name in names)
          + f"  (largest difference {disagreement:.1e})")
plot.cost_vs_length(seconds, title="Attention time against sequence length")

# %%
ratio = seconds["ours"][256] / seconds[library_name][256]
report.headline("ours / library attention time at length 256", ratio)
print(f"at length 256, ours takes {ratio:.1f}x the library's time")

# %% [markdown] framework="pytorch"
# PyTorch's kernel is *fused*: one compiled routine does the same arithmetic as ours without
# writing the full score matrix to memory and reading it back, so its lead over ours grows
# with the length.

# %% [markdown] framework="tensorflow"
# Keras's function, on the TensorFlow backend and a CPU, runs the same three steps as ours
# (a matrix product, a softmax, a matrix product), so the two take about the same time. A
# fused kernel is what makes the difference: PyTorch's `scaled_dot_product_attention` has one
# for CPUs, and the benchmark script below times it too.

# %% [markdown]
# The blockwise version is not meant to be faster: its loop over blocks runs in Python, and it
# takes about as long as ours or longer. Its point is memory, which this cell does not measure
# (lesson, section 10). The full benchmark — lengths 64 to 2048, batch 8, 8 heads, head width
# 64, time *and* peak memory — is a script, since it takes minutes; it writes a table and a
# plot to `build/bench/`:
#
# ```
# python benchmarks/attention_cost.py --framework both
# ```
#
# ## 7. Attention block by block: the online softmax
#
# The $n \times n$ scores never need to exist all at once. Take the keys in blocks of $b$, and
# keep three running quantities per query: the largest score so far $m$, the sum of
# exponentials so far $\ell = \sum_j e^{s_j - m}$, and the unnormalised output so far
# $o = \sum_j e^{s_j - m} v_j$. When a new block arrives with scores $s'$ and values $v'$:
#
# $$m_\text{new} = \max(m, \max_j s'_j), \qquad
# \ell_\text{new} = \ell\, e^{m - m_\text{new}} + \sum_j e^{s'_j - m_\text{new}}, \qquad
# o_\text{new} = o\, e^{m - m_\text{new}} + \sum_j e^{s'_j - m_\text{new}}\, v'_j$$
#
# The factor $e^{m - m_\text{new}} \le 1$ re-expresses everything summed so far against the new
# maximum, so no exponent is ever positive. After the last block the output is $o / \ell$:
# exactly the softmax-weighted average, computed with $T \times b$ scores in memory instead of
# $T \times S$ (Milakov and Gimelshein 2018; the lesson, section 9, works a two-block example
# by hand). FlashAttention (Dao et al. 2022) runs this loop
# inside one GPU kernel, with each block in fast on-chip memory — the same arithmetic, arranged
# so the big matrix never reaches slow memory.
#
# ### Exercise 4: the online softmax update
#
# Write `online_softmax_update(running_max, running_sum, running_output, scores, values)`:
# `running_max (..., T)`, `running_sum (..., T)`, `running_output (..., T, Dv)` (the state; at
# the start $-\infty$, 0, 0), `scores (..., T, Sb)` for the new block (masked keys are
# $-\infty$), `values (..., Sb, Dv)`. Return the new `(running_max, running_sum,
# running_output)`. A row that has seen only $-\infty$ so far must not become NaN: what is
# $e^{-\infty - (-\infty)}$?

# %% framework="pytorch" exercise="online_softmax_update"
def online_softmax_update(running_max, running_sum, running_output, scores, values):
    """Fold one block of scores (..., T, Sb) and values (..., Sb, Dv) into the running softmax state."""
    # BEGIN SOLUTION: take the new maximum, rescale the old sum and output by exp(old max - new max), add the block
    new_max = torch.maximum(running_max, scores.amax(dim=-1))  # (..., T)
    shift = torch.where(torch.isfinite(new_max), new_max, torch.zeros_like(new_max))  # rows of only -inf: shift by 0
    rescale = torch.exp(running_max - shift)  # (..., T), 0 while the row has seen only -inf
    exp_scores = torch.exp(scores - shift[..., None])  # (..., T, Sb)
    new_sum = running_sum * rescale + exp_scores.sum(dim=-1)  # (..., T)
    new_output = running_output * rescale[..., None] + exp_scores @ values  # (..., T, Sb) @ (..., Sb, Dv) -> (..., T, Dv)
    return new_max, new_sum, new_output
    # END SOLUTION

# %% framework="tensorflow" exercise="online_softmax_update"
def online_softmax_update(running_max, running_sum, running_output, scores, values):
    """Fold one block of scores (..., T, Sb) and values (..., Sb, Dv) into the running softmax state."""
    # BEGIN SOLUTION: take the new maximum, rescale the old sum and output by exp(old max - new max), add the block
    new_max = tf.maximum(running_max, tf.reduce_max(scores, axis=-1))  # (..., T)
    shift = tf.where(tf.math.is_finite(new_max), new_max, 0.0)  # rows of only -inf: shift by 0
    rescale = tf.exp(running_max - shift)  # (..., T), 0 while the row has seen only -inf
    exp_scores = tf.exp(scores - shift[..., None])  # (..., T, Sb)
    new_sum = running_sum * rescale + tf.reduce_sum(exp_scores, axis=-1)  # (..., T)
    new_output = running_output * rescale[..., None] + tf.matmul(exp_scores, values)  # (..., T, Sb) @ (..., Sb, Dv) -> (..., T, Dv)
    return new_max, new_sum, new_output
    # END SOLUTION

# %% check="online_softmax_update" points=3

# %% [markdown]
# Your update on a tiny input: 2 sequences, 3 queries, 10 keys taken 4 at a time (blocks of 4,
# 4 and 2). The second sequence is padded on the left (its first 7 keys are padding, as in
# batched text generation), so its queries see only $-\infty$ in the whole first block. After
# the last block, $o / \ell$ must equal your attention function's output.

# %%
block_q = tensor(rng.normal(size=(2, 3, 4)))  # (B, T, Dk)
block_k = tensor(rng.normal(size=(2, 10, 4)))  # (B, S, Dk)
block_v = tensor(rng.normal(size=(2, 10, 2)))  # (B, S, Dv)
block_mask = tensor(np.arange(10)[None, None, :] >= np.array([0, 7])[:, None, None])  # (B, 1, S), broadcasts over T
scores = to_numpy(block_q) @ to_numpy(block_k).transpose(0, 2, 1) / 2.0  # (B, T, Dk) @ (B, Dk, S) -> (B, T, S), 1/sqrt(4)
scores = np.where(to_numpy(block_mask), scores, -np.inf).astype(np.float32)
state = (tensor(np.full((2, 3), -np.inf, dtype=np.float32)), tensor(np.zeros((2, 3), dtype=np.float32)),
         tensor(np.zeros((2, 3, 2), dtype=np.float32)))
for start in range(0, 10, 4):
    state = online_softmax_update(*state, tensor(scores[:, :, start:start + 4]), block_v[:, start:start + 4])
    running_max, running_sum, running_output = (to_numpy(x) for x in state)
    print(f"after keys {start}-{min(start + 4, 10) - 1}: running_max (B, T) {running_max.shape}, "
          f"running_sum {running_sum.shape}, running_output (B, T, Dv) {running_output.shape}; "
          f"sequence 2's running max {np.round(running_max[1], 3)}")
blockwise = running_output / running_sum[..., None]  # (B, T, Dv)
full, _ = scaled_dot_product_attention(block_q, block_k, block_v, mask=block_mask)
online_difference = float(np.abs(blockwise - to_numpy(full)).max())
report.headline("online softmax vs full softmax, largest difference", online_difference)
print(f"blockwise output (B, T, Dv) {blockwise.shape}; largest difference from the full softmax: {online_difference:.1e}")
assert np.isfinite(blockwise).all() and online_difference < 1e-5

# %% [markdown]
# The course's `attention.blockwise_attention` is this loop around the same update (given a
# block size, it slices the keys, values and mask itself):

# %%
plot.show_source(attention.blockwise_attention)

# %% [markdown]
# ## 8. What you have seen
#
# - Attention is a soft dictionary look-up: `softmax(Q Kᵀ / √d_k) V`, with queries
#   `(..., T, Dk)`, keys `(..., S, Dk)`, values `(..., S, Dv)`; one function serves any batch
#   and head axes.
# - The $1/\sqrt{d_k}$ keeps the scores at unit variance, so the softmax neither saturates nor
#   starves of gradient as $d_k$ grows. It is not about overflow.
# - Masks say where a query may attend: padding per sequence, causal per position, combined with
#   AND and broadcast over batch and heads. A query with no key left reads nothing: weights 0,
#   output 0, no NaN.
# - Attention's memory grows as $n^2$; the online softmax computes the same result block by
#   block, the idea FlashAttention builds on.
# - Next (unit 04): queries, keys and values projected from one sequence — self-attention — with
#   several heads, and the positional information it otherwise lacks.
#
# ## Quiz
#
# Check your understanding: each question gives feedback when you press Check, and Save keeps
# your answers in `quiz_responses/` for your instructor.

# %%
from seq2bert.quiz import show_quiz

show_quiz("03")
