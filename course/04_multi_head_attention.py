# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# Unit 03 wrote attention as a function of queries, keys and values. The Transformer
# (Vaswani et al., 2017) takes all three from **one** sequence — self-attention — and runs
# several attentions side by side on slices of the width — heads. Self-attention then has a
# blind spot: it does not know the order of its input. This unit builds multi-head
# self-attention, shows the blind spot on a task that needs order, and puts positions back in
# the three usual ways: sinusoidal, learned and rotary.
#
# **By the end you can**
# - split a (B, T, D) tensor into H heads and merge them back, and say why a merge that only
#   reshapes has the right shape and the wrong values;
# - count multi-head attention's 4D² + 4D parameters and explain why H heads of width D/H cost
#   the same as one head of width D;
# - show that self-attention without positions is permutation equivariant, and compute the best
#   accuracy any position-blind model can reach on an order task;
# - write the sinusoidal encoding and rotary position embedding (RoPE), and verify numerically
#   that sinusoids shift by a rotation and that RoPE scores depend only on the offset;
# - read per-head attention maps, and say which encodings carry over to longer sequences.
#
# **Time:** about 90 minutes — 30 to read the lesson, the rest here. The notebook trains four
# small Transformer encoders (eight in full mode), a few minutes on a laptop CPU; set
# `SEQ2BERT_FAST=1` before `seq2bert.setup` for a one-minute pass with fewer steps and a smaller
# evaluation set (same code, same asserts).
#
# ## Setup

# %%
import itertools

import numpy as np

import seq2bert
from seq2bert import diagrams, plot, report
from seq2bert.data import order
from seq2bert.experiments.order import compare_positions

session = seq2bert.setup("04", "{{fw}}")
sizes = session.sizes
rng = np.random.default_rng(session.seed)
print(session)
print(sizes)

# %% framework="pytorch"
import torch

from seq2bert.torch import attention, positional
from seq2bert.torch.train import tensor, to_numpy



def set_dense(dense, matrix, bias):
    """Copy a (D_in, D_out) matrix (row vectors: y = x W + b) and a bias into an nn.Linear."""
    with torch.no_grad():
        dense.weight.copy_(torch.as_tensor(matrix.T, dtype=torch.float32))  # nn.Linear stores W^T: (D_out, D_in)
        dense.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))


def layer_matrices(layer):
    """A MultiHeadAttention's four weight matrices as (D_in, D_out) tensors, to multiply as x @ w."""
    return [dense.weight.detach().T for dense in (layer.w_q, layer.w_k, layer.w_v, layer.w_o)]  # (D_out, D_in) -> (D_in, D_out)


def count_parameters(layer):
    """The number of trained numbers in a layer."""
    return sum(parameter.numel() for parameter in layer.parameters())


def learned_table(model):
    """The learned position table P (max_length, D) of a tagger with learned positions."""
    return to_numpy(model.encoder.positions.embedding.weight)

# %% framework="tensorflow"
import tensorflow as tf

from seq2bert.tf import attention, positional
from seq2bert.tf.train import tensor, to_numpy



def set_dense(dense, matrix, bias):
    """Copy a (D_in, D_out) matrix (row vectors: y = x W + b) and a bias into a built Dense layer."""
    dense.kernel.assign(np.asarray(matrix, dtype=np.float32))  # Keras stores W itself: (D_in, D_out)
    dense.bias.assign(np.asarray(bias, dtype=np.float32))


def layer_matrices(layer):
    """A MultiHeadAttention's four weight matrices as (D_in, D_out) tensors, to multiply as x @ w."""
    return [tf.convert_to_tensor(dense.kernel) for dense in (layer.w_q, layer.w_k, layer.w_v, layer.w_o)]  # (D_in, D_out)


def count_parameters(layer):
    """The number of trained numbers in a layer (built on a dummy input first: Keras makes weights on the first call)."""
    if not layer.built:
        dummy = tf.zeros([1, 1, layer.width])  # (B, T, D)
        layer(dummy, dummy, dummy)
    return layer.count_params()


def learned_table(model):
    """The learned position table P (max_length, D) of a tagger with learned positions."""
    return to_numpy(model.encoder.positions.embedding.embeddings)

# %% [markdown]
# ## 1. Self-attention: queries, keys and values from one sequence
#
# In unit 03 the queries came from one place (the decoder) and the keys and values from
# another (the encoder). In **self-attention** all three are projections of the same sequence
# $X$ (T, D), one row per token:
#
# $$Q = X W_q + b_q, \qquad K = X W_k + b_k, \qquad V = X W_v + b_v, \qquad
# Y = \text{softmax}\!\left(\frac{Q K^\top}{\sqrt{d_k}}\right) V$$
#
# Row $t$ of the (T, T) weight matrix says how much token $t$ reads from every token of the
# same sequence, itself included. One layer lets every token read every other directly, with no
# recurrence in between. The projections give each token three roles: what it looks for
# (query), what it offers to be found by (key), what it hands over when found (value).
#
# One attention gives each token one set of weights, so one averaged read. **Multi-head**
# attention cuts the width $D$ into $H$ slices of width $D_h = D / H$ and runs one attention
# per slice, each with its own weights; the heads' outputs are put side by side again and mixed
# by an output projection $W_o$:
#
# $$\text{head}_h = \text{Attention}(Q_h, K_h, V_h), \qquad
# \text{MultiHead}(X) = [\text{head}_1; \ldots; \text{head}_H]\, W_o + b_o$$

# %%
diagrams.multi_head()

# %% [markdown]
# ## 2. Splitting and merging heads
#
# All heads run at once if the head axis becomes a batch axis: `(B, T, D)` → `(B, H, T, Dh)`,
# and unit 03's attention function, which accepts any leading axes, does the rest. Head $h$
# takes the features $h \cdot D_h \ldots (h+1) \cdot D_h - 1$ of every token.
#
# ### Exercise 1: split_heads
#
# Write `split_heads(x, heads)`: `(B, T, D)` → `(B, H, T, Dh)`. Two steps: a reshape that cuts
# the last axis into `(H, Dh)`, then a transpose that moves the head axis in front of the
# tokens. Predict first: what goes wrong if you reshape straight to `(B, H, T, Dh)`?

# %% framework="pytorch" exercise="split_heads"
def split_heads(x, heads):
    """(B, T, D) -> (B, H, T, Dh), Dh = D / H: head h gets features h*Dh .. (h+1)*Dh - 1."""
    # BEGIN SOLUTION: cut the last axis into (H, Dh), then move the head axis in front of the tokens
    batch, length, width = x.shape
    x = x.reshape(batch, length, heads, width // heads)  # (B, T, D) -> (B, T, H, Dh)
    return x.transpose(1, 2)  # (B, T, H, Dh) -> (B, H, T, Dh)
    # END SOLUTION

# %% framework="tensorflow" exercise="split_heads"
def split_heads(x, heads):
    """(B, T, D) -> (B, H, T, Dh), Dh = D / H: head h gets features h*Dh .. (h+1)*Dh - 1."""
    # BEGIN SOLUTION: cut the last axis into (H, Dh), then move the head axis in front of the tokens
    batch, length, width = x.shape
    x = tf.reshape(x, [-1, length, heads, width // heads])  # (B, T, D) -> (B, T, H, Dh)
    return tf.transpose(x, [0, 2, 1, 3])  # (B, T, H, Dh) -> (B, H, T, Dh)
    # END SOLUTION

# %% check="split_heads" points=2

# %% [markdown]
# ### Exercise 2: merge_heads
#
# Write `merge_heads(x)`: `(B, H, T, Dh)` → `(B, T, D)`, the inverse of `split_heads`: each
# token gets its heads' features side by side again, head 1's first.

# %% framework="pytorch" exercise="merge_heads"
def merge_heads(x):
    """(B, H, T, Dh) -> (B, T, D), D = H * Dh: the heads' features side by side, as split_heads took them."""
    # BEGIN SOLUTION: move the head axis back behind the tokens, then join (H, Dh) into D
    batch, heads, length, head_width = x.shape
    x = x.transpose(1, 2)  # (B, H, T, Dh) -> (B, T, H, Dh)
    return x.reshape(batch, length, heads * head_width)  # (B, T, H, Dh) -> (B, T, D)
    # END SOLUTION

# %% framework="tensorflow" exercise="merge_heads"
def merge_heads(x):
    """(B, H, T, Dh) -> (B, T, D), D = H * Dh: the heads' features side by side, as split_heads took them."""
    # BEGIN SOLUTION: move the head axis back behind the tokens, then join (H, Dh) into D
    batch, heads, length, head_width = x.shape
    x = tf.transpose(x, [0, 2, 1, 3])  # (B, H, T, Dh) -> (B, T, H, Dh)
    return tf.reshape(x, [-1, length, heads * head_width])  # (B, T, H, Dh) -> (B, T, D)
    # END SOLUTION

# %% check="merge_heads" points=2

# %% [markdown]
# Your two functions on a tiny input: 2 sequences of 3 tokens, width 8, 4 heads of width 2.
# Merging the split must give back the input exactly.

# %%
tiny = tensor(rng.normal(size=(2, 3, 8)))  # (B, T, D)
heads = split_heads(tiny, 4)
print("x (B, T, D):", tuple(tiny.shape), "-> split_heads (B, H, T, Dh):", tuple(heads.shape),
      "-> merge_heads (B, T, D):", tuple(merge_heads(heads).shape))
print("token 1 of sequence 1:          ", np.round(to_numpy(tiny)[0, 0], 2))
print("the same token in heads 1 .. 4: ", [np.round(to_numpy(heads)[0, h, 0], 2).tolist() for h in range(4)])
assert np.array_equal(to_numpy(merge_heads(heads)), to_numpy(tiny)), "merge_heads(split_heads(x)) should be x"

# %% [markdown]
# ### Exercise 3: multi-head attention, forward
#
# With the two reshapes, multi-head attention is four matrix products around unit 03's
# attention. Write `multi_head_attention(x_q, x_kv, w_q, w_k, w_v, w_o, heads, mask=None)`:
# queries from `x_q` (B, T, D), keys and values from `x_kv` (B, S, D) (the same tensor in
# self-attention), each `w` a (D, D) matrix applied as `x @ w` (no biases here); split the
# projections into heads, attend with `attention.scaled_dot_product_attention` (its default
# scale is $1/\sqrt{D_h}$, the width of one head), merge, and project with `w_o`. Return
# `(output (B, T, D), weights (B, H, T, S))`. Use your `split_heads` and `merge_heads`.

# %% exercise="multi_head_attention"
def multi_head_attention(x_q, x_kv, w_q, w_k, w_v, w_o, heads, mask=None):
    """Multi-head attention with plain (D, D) matrices: output (B, T, D), weights (B, H, T, S)."""
    # BEGIN SOLUTION: project, split into heads, attend, merge, project with w_o
    q = split_heads(x_q @ w_q, heads)  # (B, T, D) @ (D, D) -> (B, T, D) -> (B, H, T, Dh)
    k = split_heads(x_kv @ w_k, heads)  # (B, S, D) @ (D, D) -> (B, S, D) -> (B, H, S, Dh)
    v = split_heads(x_kv @ w_v, heads)  # (B, S, D) @ (D, D) -> (B, S, D) -> (B, H, S, Dh)
    context, weights = attention.scaled_dot_product_attention(q, k, v, mask)  # (B, H, T, Dh), (B, H, T, S)
    return merge_heads(context) @ w_o, weights  # (B, H, T, Dh) -> (B, T, D) @ (D, D) -> (B, T, D)
    # END SOLUTION

# %% check="multi_head_attention" points=3

# %% [markdown]
# The course's layer `attention.MultiHeadAttention(width, heads)` holds the four projections
# as dense layers `w_q`, `w_k`, `w_v`, `w_o` (D → D, with biases) and computes the same thing.
# With its biases set to zero, your function on its matrices must give its output — here as
# self-attention on the tiny input above:

# %%
layer = attention.MultiHeadAttention(8, 4)
layer(tiny, tiny, tiny)  # Keras makes its weights on the first call
for dense, matrix in zip((layer.w_q, layer.w_k, layer.w_v, layer.w_o), layer_matrices(layer)):
    set_dense(dense, to_numpy(matrix), np.zeros(8))
layer_output, layer_weights = layer(tiny, tiny, tiny)  # self-attention: one sequence gives q, k and v
yours_output, yours_weights = multi_head_attention(tiny, tiny, *layer_matrices(layer), heads=4)
print("x (B, T, D):", tuple(tiny.shape), "-> output (B, T, D):", tuple(yours_output.shape),
      " weights (B, H, T, S):", tuple(yours_weights.shape))
difference = float(np.abs(to_numpy(yours_output) - to_numpy(layer_output)).max())
print(f"largest difference from attention.MultiHeadAttention: {difference:.1e}")
assert difference < 1e-5

# %% [markdown]
# ## 3. The worked example: two heads by hand
#
# The lesson's example: $D = 4$, $H = 2$ heads of width $D_h = 2$, three tokens
#
# $$X = \begin{bmatrix} 1 & 0 & 0 & 1 \\ 0 & 1 & 0 & 1 \\ 1 & 1 & 1 & 0 \end{bmatrix}$$
#
# and all four projections the identity with zero bias, so $Q = K = V = X$ and the output is
# the merged heads. Head 1 sees columns 0–1, head 2 columns 2–3 (where tokens 1 and 2 look the
# same). The lesson computed: head 1's weights [[0.4011, 0.1978, 0.4011], [0.1978, 0.4011,
# 0.4011], [0.2483, 0.2483, 0.5035]], head 2's [[0.4011, 0.4011, 0.1978], …], and the output
# [[0.8022, 0.5989, 0.1978, 0.8022], [0.5989, 0.8022, 0.1978, 0.8022], [0.7517, 0.7517, 0.5035,
# 0.4965]]. Your code:

# %%
worked_x = tensor(np.array([[[1.0, 0, 0, 1], [0, 1, 0, 1], [1, 1, 1, 0]]]))  # (B, T, D) = (1, 3, 4)
identity = [tensor(np.eye(4))] * 4  # W_q = W_k = W_v = W_o = I (D, D)
worked_output, worked_weights = multi_head_attention(worked_x, worked_x, *identity, heads=2)
worked_output, worked_weights = to_numpy(worked_output)[0], to_numpy(worked_weights)[0]  # (T, D), (H, T, S)
for h in range(2):
    print(f"head {h + 1} weights:\n{np.round(worked_weights[h], 4)}")
print("output (merged heads):\n", np.round(worked_output, 4))
np.testing.assert_allclose(worked_weights[0, 0], [0.4011, 0.1978, 0.4011], atol=1e-4)
np.testing.assert_allclose(worked_output[2], [0.7517, 0.7517, 0.5035, 0.4965], atol=1e-4)

# %% [markdown]
# Token 1 reads tokens 1 and 3 in head 1, tokens 1 and 2 in head 2: two heads, two different
# look-ups, from one token.
#
# **A merge with the right shape and the wrong values.** The per-head outputs are
# `(1, H, T, Dh)` = (1, 2, 3, 2). Reshaping them straight to `(1, T, D)`, without moving the
# head axis back first, also gives (1, 3, 4) — and mixes tokens: its first row is token 1 *and
# token 2* of head 1. This is why the check of `merge_heads` compares values, not only shapes.

# %%
worked_heads = split_heads(worked_x, 2)  # Q = K = V = X: (1, 3, 4) -> (1, H, T, Dh) = (1, 2, 3, 2)
head_outputs, _ = attention.scaled_dot_product_attention(worked_heads, worked_heads, worked_heads)  # (1, H, T, Dh)
wrong_merge = to_numpy(head_outputs).reshape(1, 3, 4)  # (1, H, T, Dh) -> (1, T, D) without the transpose: WRONG
print("right merge:\n", np.round(to_numpy(merge_heads(head_outputs))[0], 4))
print("reshape only (wrong):\n", np.round(wrong_merge[0], 4))

# %% [markdown]
# **Two narrow heads are not one wide head cut in two.** One head of width 4 on the same $X$
# (scale $1/\sqrt 4$) weighs the tokens differently from both heads above; token 3 gives itself
# 0.5761, where each head gave 0.5035:

# %%
_, wide_weights = attention.scaled_dot_product_attention(worked_x, worked_x, worked_x)  # (1, T, D): one head of width D
print("one head of width 4, weights:\n", np.round(to_numpy(wide_weights)[0], 4))

# %% [markdown]
# ## 4. Parameters and cost: H heads for the price of one
#
# The four dense layers are each a $D \times D$ matrix and a bias of $D$: $4D^2 + 4D$
# parameters. The number of heads does not appear: the heads *share out* the projections'
# columns rather than each having their own. For $D = 4$ that is 80, for $D = 64$ it is 16640:

# %%
print(f"{'heads H':>8} {'head width Dh':>14} {'parameters':>11} {'4D²+4D':>7} {'score multiplications per (query, key)':>40}")
for h in (1, 2, 4, 8, 16):
    counted = count_parameters(attention.MultiHeadAttention(64, h))
    print(f"{h:>8} {64 // h:>14} {counted:>11} {4 * 64**2 + 4 * 64:>7} {h * (64 // h):>40}")
    assert counted == 4 * 64**2 + 4 * 64
report.headline("multi-head attention parameters, D = 64", count_parameters(attention.MultiHeadAttention(64, 4)))

# %% [markdown]
# The computation does not change with $H$ either. The projections cost $4 T D^2$
# multiplications whatever $H$ is. Each head scores a (query, key) pair with a dot product of
# width $D_h$, so all heads together spend $H \cdot D_h = D$ multiplications per pair — the
# same as one head of width $D$ — and likewise for the weighted sum of the values. What changes
# is what the heads *can* do: $H$ separate softmaxes, $H$ look-ups per token.
#
# ## 5. Self-attention does not know the order
#
# Nothing in the layer above depends on *where* a token is: the projections act on each token
# alone, and the softmax over keys does not care in which order the keys come. So permuting
# the input tokens permutes the outputs the same way — **permutation equivariance**. With the
# lesson's example, tokens fed in the order [3, 1, 2] give the rows of the output in the order
# [3, 1, 2], unchanged:

# %%
permutation = [2, 0, 1]  # token 3, token 1, token 2
permuted_x = tensor(to_numpy(worked_x)[:, permutation])  # (1, T, D), rows reordered
permuted_output, _ = multi_head_attention(permuted_x, permuted_x, *identity, heads=2)
print("output of the permuted input:\n", np.round(to_numpy(permuted_output)[0], 4))
print("the original output, rows permuted:\n", np.round(worked_output[permutation], 4))

# %% [markdown]
# The same for a random layer of width 64 with 4 heads, on 10 random tokens and a random
# permutation:

# %%
random_layer = attention.MultiHeadAttention(64, 4)
random_x = rng.normal(size=(1, 10, 64)).astype(np.float32)  # (B, T, D)
shuffle = rng.permutation(10)
output, _ = random_layer(tensor(random_x), tensor(random_x), tensor(random_x))
shuffled_output, _ = random_layer(tensor(random_x[:, shuffle]), tensor(random_x[:, shuffle]), tensor(random_x[:, shuffle]))
equivariance_error = float(np.abs(to_numpy(shuffled_output) - to_numpy(output)[:, shuffle]).max())
print(f"permutation {shuffle.tolist()}: largest difference between f(permuted x) and permuted f(x): {equivariance_error:.1e}")
report.headline("permutation equivariance error, no positions", equivariance_error)
assert equivariance_error < 1e-5

# %% [markdown]
# A stack of such layers, with feed-forward networks and layer norms that also act on each
# token alone, is equivariant too. So a Transformer encoder *without positional information*
# sees its input as a **bag of tokens**: its output at position $p$ depends only on the token
# at $p$ and on the bag, and two equal tokens get equal outputs wherever they are.
#
# ### An order task: output the previous token
#
# Sequences of $T = 12$ tokens drawn uniformly from $V = 16$ (shown as letters a … p); the
# target at position $p$ is the token at $p - 1$, and position 0's target is a start symbol
# `<s>`. The answer is all about order. How well can a position-blind model do? It answers
# the same $t$ at every position holding token $a$. For tokens drawn independently, every
# arrangement of the bag is equally likely, so the best answer for $a$ can be computed from the
# token counts $n$ alone (lesson, section 7): answering $t \neq a$ is right $n_a n_t / T$ times
# in expectation, $t = a$ is right $n_a (n_a - 1) / T$ times and `<s>` $n_a / T$ times. The
# **position-blind ceiling** of a sequence is
#
# $$\frac{1}{T^2} \sum_a n_a \max\big(1,\ \max_{t \neq a} n_t,\ n_a - 1\big).$$
#
# The lesson's toy sequence `c a b a a d` (V = 4) has ceiling 15/36 = 0.4167, and the best
# position-blind answer is "always a". `seq2bert.data.order` computes the ceiling; below it is
# checked against brute force over all 120 arrangements of the bag.

# %%
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def spell(tokens, vocab=sizes.vocab):
    """Token ids -> letters, with the start symbol (id V) as <s>."""
    return [LETTERS[t] if t < vocab else "<s>" for t in tokens]


toy = np.array([[2, 0, 1, 0, 0, 3]])  # c a b a a d
toy_ceiling = order.position_blind_ceiling(toy, "previous", vocab=4)
arrangements = sorted(set(itertools.permutations(toy[0])))
always_a = np.mean([order.accuracy(np.zeros(6, dtype=int), order.targets(np.array([a]), "previous", vocab=4)[0])
                    for a in arrangements])
print(f"c a b a a d: ceiling {toy_ceiling:.4f}; 'always a' over all {len(arrangements)} arrangements: {always_a:.4f}")
assert abs(toy_ceiling - 15 / 36) < 1e-9 and abs(always_a - 15 / 36) < 1e-9

# %% [markdown]
# The task at full size (the models below are scored on held-out sequences like these):

# %%
example_tokens, example_targets = order.generate("previous", 2, sizes.length, sizes.vocab, seed=session.seed)
for tokens, targets in zip(example_tokens, example_targets):
    print("input: ", " ".join(f"{s:>3}" for s in spell(tokens)))
    print("target:", " ".join(f"{s:>3}" for s in spell(targets)))

# %% [markdown]
# ## 6. Training with and without positions
#
# One small Transformer encoder per way of giving positions (`EncoderConfig` defaults: width
# 64, 2 pre-LN layers, 4 heads, feed-forward width 128), each followed by a linear layer that
# predicts a token at every position, trained with Adam on fresh random sequences:
# - **none**: no positional information at all;
# - **sinusoidal**: the fixed table of section 7 added to the token embeddings;
# - **learned**: a trained table of position vectors added instead (section 8);
# - **rotary**: queries and keys rotated by their position inside every attention layer
#   (section 9).
#
# The sections after this one take each encoding apart; here is what they do on the task.

# %%
comparison = compare_positions(session.framework, "previous", sizes.steps, sizes, seed=session.seed)
results, ceiling = comparison["results"], comparison["ceiling"]
trained = sizes.length
print(f"position-blind ceiling of the evaluation set (length {trained}): {ceiling[trained]:.4f}  "
      f"(1/V = {1 / sizes.vocab:.4f})")
for name, result in results.items():
    print(f"{name:>10}: accuracy {result.accuracy[trained]:.4f} after {sizes.steps} steps ({result.seconds:.1f} s)")
    report.headline(f"previous-token accuracy, {name} positions", result.accuracy[trained])
report.headline("position-blind ceiling, previous token", ceiling[trained])
plot.training_curves({name: result.losses for name, result in results.items()}, smooth=10,
                     title="Output the previous token: training loss")

# %%
for name in ("sinusoidal", "learned", "rotary"):
    assert results[name].accuracy[trained] >= 0.95, f"{name} positions should learn the task"
assert results["none"].accuracy[trained] <= ceiling[trained] + 0.02, "without positions: at most the ceiling"

# %% [markdown]
# Without positions the model stops at the ceiling: it learned the best any bag-of-tokens
# model can do (mostly "answer a token that occurs twice"), well above $1/V$ and far below
# the others. With any of the three encodings the task is easy.
#
# ## 7. Sinusoidal positional encoding
#
# Vaswani et al. add a fixed vector $PE(p)$ to the token embedding at position $p$, made of
# sines and cosines of $D/2$ frequencies $\omega_i = 10000^{-2i/D}$:
#
# $$PE(p)_{2i} = \sin(p\, \omega_i), \qquad PE(p)_{2i+1} = \cos(p\, \omega_i), \qquad i = 0 \ldots D/2 - 1.$$
#
# The first pair turns by 1 radian per position (a wavelength of $2\pi$ positions), the last
# by $10000^{-(D-2)/D}$ (tens of thousands of positions): like the hands of a clock, fast pairs
# tell neighbours apart and slow pairs tell far positions apart.
#
# ### Exercise 4: the sinusoidal encoding
#
# Write `sinusoidal_encoding(length, width)` → a `(length, width)` float32 table, sine in the
# even columns, cosine in the odd ones (interleaved, not two halves), positions from 0.

# %% framework="pytorch" exercise="sinusoidal_encoding"
def sinusoidal_encoding(length, width):
    """(T, D) float32: PE[p, 2i] = sin(p / 10000^(2i/D)), PE[p, 2i+1] = cos(p / 10000^(2i/D))."""
    # BEGIN SOLUTION: angles p * 10000^(-2i/D) for every position and pair, then sin and cos interleaved
    positions = torch.arange(length, dtype=torch.float64)[:, None]  # (T, 1)
    frequencies = 10000.0 ** (-torch.arange(0, width, 2, dtype=torch.float64) / width)  # (D/2,)
    angles = positions * frequencies  # (T, 1) * (D/2,) -> (T, D/2)
    pairs = torch.stack([torch.sin(angles), torch.cos(angles)], dim=-1)  # (T, D/2, 2)
    return pairs.reshape(length, width).float()  # (T, D/2, 2) -> (T, D): sin, cos, sin, cos, ...
    # END SOLUTION

# %% framework="tensorflow" exercise="sinusoidal_encoding"
def sinusoidal_encoding(length, width):
    """(T, D) float32: PE[p, 2i] = sin(p / 10000^(2i/D)), PE[p, 2i+1] = cos(p / 10000^(2i/D))."""
    # BEGIN SOLUTION: angles p * 10000^(-2i/D) for every position and pair, then sin and cos interleaved
    positions = tf.range(length, dtype=tf.float64)[:, None]  # (T, 1)
    frequencies = 10000.0 ** (-tf.range(0, width, 2, dtype=tf.float64) / width)  # (D/2,)
    angles = positions * frequencies  # (T, 1) * (D/2,) -> (T, D/2)
    pairs = tf.stack([tf.sin(angles), tf.cos(angles)], axis=-1)  # (T, D/2, 2)
    return tf.cast(tf.reshape(pairs, [length, width]), tf.float32)  # (T, D/2, 2) -> (T, D): sin, cos, ...
    # END SOLUTION

# %% check="sinusoidal_encoding" points=2

# %% [markdown]
# The lesson's table for $D = 4$ ($\omega_0 = 1$, $\omega_1 = 0.01$): $PE(1) = [0.8415, 0.5403,
# 0.0100, 1.0000]$, $PE(2) = [0.9093, -0.4161, 0.0200, 0.9998]$. And the table for 64
# positions of width 64: fast stripes in the first columns, slow ones to the right.

# %%
small_table = to_numpy(sinusoidal_encoding(4, 4))  # (T, D) = (4, 4)
print("PE(0..3), D = 4:\n", np.round(small_table, 4))
np.testing.assert_allclose(small_table[2], [0.9093, -0.4161, 0.0200, 0.9998], atol=1e-4)
table = to_numpy(sinusoidal_encoding(64, 64))  # (T, D) = (64, 64)
plot.encoding_heatmap(table, title="Sinusoidal encoding, 64 positions × 64 dimensions")

# %% [markdown]
# **A shift is a rotation.** Each pair $(\sin p\omega_i, \cos p\omega_i)$ is a point on a
# circle that turns by $\omega_i$ per position, so moving $k$ positions on turns every pair by
# $k\omega_i$ — a fixed linear map $M_k$, block-diagonal with 2×2 rotations, the same for every
# $p$: $PE(p + k) = PE(p)\, M_k$ (rows, as in the code). A layer can therefore learn "look $k$
# back" once, for all positions. Verified on your table for every $p$:

# %%
def shift_matrix(k, width):
    """M_k (D, D): the block-diagonal rotation with PE(p + k) = PE(p) M_k for every p."""
    frequencies = 10000.0 ** (-np.arange(0, width, 2) / width)  # (D/2,)
    matrix = np.zeros((width, width))
    for i, angle in enumerate(k * frequencies):
        c, s = np.cos(angle), np.sin(angle)
        matrix[2 * i:2 * i + 2, 2 * i:2 * i + 2] = [[c, -s], [s, c]]  # (sin a, cos a) M = (sin(a + kw), cos(a + kw))
    return matrix


print("M_1 for D = 4:\n", np.round(shift_matrix(1, 4), 4))
for k in (1, 3, -5):
    moved = table[max(0, -k):64 - max(0, k)] @ shift_matrix(k, 64)  # (T', D) @ (D, D): every PE(p), turned by k
    error = np.abs(moved - table[max(0, k):64 + min(0, k)]).max()
    print(f"k = {k:>2}: largest |PE(p) M_k - PE(p + k)| over all p: {error:.1e}")
    assert error < 1e-4

# %% [markdown]
# **Dot products depend only on the offset.** $PE(p) \cdot PE(q) = \sum_i \cos\big((p - q)\,
# \omega_i\big)$: the same for every pair of positions the same distance apart, largest ($D/2$)
# at offset 0 and falling off on both sides. For $D = 64$, from $p = 10$ and from $p = 20$ the
# curves coincide (the lesson's values: 32.0, 30.92, 28.30, 25.59 for offsets 0 … 3):

# %%
offsets = np.arange(-10, 11)
dots = {f"p = {p}": [float(table[p] @ table[p + k]) for k in offsets] for p in (10, 20)}  # (D,) @ (D,) -> one number
print("PE(10)·PE(10 + k), k = 0..3:", np.round(dots["p = 10"][10:14], 2))
assert np.allclose(dots["p = 10"], dots["p = 20"], atol=1e-3)
plot.line_chart(offsets, dots, xlabel="offset k", ylabel="PE(p) · PE(p + k)",
                title="Sinusoidal encodings: the dot product depends on the offset only")

# %% [markdown]
# ## 8. Learned positions
#
# The simplest alternative: a trained table $P$ of `max_length` vectors, $P[p]$ added to the
# token at position $p$, exactly like a token embedding indexed by position (BERT, GPT-2). It
# can learn whatever the task needs — but only for positions it has seen. The model of section 6
# has a table of 64 rows and trained on length 12: compare its rows with the ones it started
# from (the course draws the same initial weights for the same seed).

# %%
learned = results["learned"].model
start = learned_table(type(learned)(learned.config, seed=session.seed))  # the same table before training
moved = np.linalg.norm(learned_table(learned) - start, axis=1)  # (max_length,): how far each row moved
print(f"position table {learned_table(learned).shape}: rows 0-{trained - 1} moved by "
      f"{moved[:trained].mean():.3f} on average, rows {trained}-{len(moved) - 1} by {moved[trained:].max():.3f}")
assert moved[trained:].max() == 0.0 and moved[:trained].min() > 0.0

# %% [markdown]
# Rows 12 and up never reached the loss, so they are still the random vectors they started as:
# the model has no idea what they mean. Section 10 shows what that costs.
#
# ## 9. Rotary position embedding (RoPE)
#
# RoPE (Su et al. 2021, used by most current language models) adds nothing to the tokens.
# Inside every attention layer it rotates each query and key by its position before the dot
# product: the pair $(x_{2i}, x_{2i+1})$ at position $p$ turns by the angle $p\,\theta_i$,
# $\theta_i = 10000^{-2i/D_h}$:
#
# $$(a, b) \mapsto (a \cos p\theta_i - b \sin p\theta_i,\ a \sin p\theta_i + b \cos p\theta_i).$$
#
# Since rotations compose, $(R_p q) \cdot (R_s k) = q \cdot (R_{s - p} k)$: the score depends
# on the positions **only through their offset** $s - p$, and the values are not touched.

# %%
diagrams.rotary()

# %% [markdown]
# ### Exercise 5: apply_rope
#
# Write `apply_rope(x, positions=None, base=10000.0)`: `x` is `(..., T, Dh)` with $D_h$ even;
# rotate each interleaved pair $(x_{2i}, x_{2i+1})$ at position `positions[t]` (a `(T,)`
# integer tensor; `None` means $0 \ldots T-1$) by `positions[t] * base ** (-2i / Dh)`. Return
# the same shape.

# %% framework="pytorch" exercise="apply_rope"
def apply_rope(x, positions=None, base=10000.0):
    """Rotate each pair (x[2i], x[2i+1]) at position p by p * base^(-2i/Dh): (..., T, Dh) -> (..., T, Dh)."""
    # BEGIN SOLUTION: one angle per (position, pair), then rotate the even and odd coordinates together
    length, width = x.shape[-2], x.shape[-1]
    positions = torch.arange(length) if positions is None else torch.as_tensor(positions)
    frequencies = base ** (-torch.arange(0, width, 2, dtype=torch.float64) / width)  # (Dh/2,)
    angles = positions.to(torch.float64)[:, None] * frequencies  # (T, 1) * (Dh/2,) -> (T, Dh/2)
    cos, sin = torch.cos(angles).to(x.dtype), torch.sin(angles).to(x.dtype)
    even, odd = x[..., 0::2], x[..., 1::2]  # (..., T, Dh/2) each: the two coordinates of every pair
    rotated = torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1)  # (..., T, Dh/2, 2)
    return rotated.flatten(-2)  # (..., T, Dh/2, 2) -> (..., T, Dh), pairs interleaved again
    # END SOLUTION

# %% framework="tensorflow" exercise="apply_rope"
def apply_rope(x, positions=None, base=10000.0):
    """Rotate each pair (x[2i], x[2i+1]) at position p by p * base^(-2i/Dh): (..., T, Dh) -> (..., T, Dh)."""
    # BEGIN SOLUTION: one angle per (position, pair), then rotate the even and odd coordinates together
    length, width = x.shape[-2], x.shape[-1]
    positions = tf.range(length) if positions is None else positions
    frequencies = base ** (-tf.range(0, width, 2, dtype=tf.float64) / width)  # (Dh/2,)
    angles = tf.cast(positions, tf.float64)[:, None] * frequencies  # (T, 1) * (Dh/2,) -> (T, Dh/2)
    cos, sin = tf.cast(tf.cos(angles), x.dtype), tf.cast(tf.sin(angles), x.dtype)
    even, odd = x[..., 0::2], x[..., 1::2]  # (..., T, Dh/2) each: the two coordinates of every pair
    rotated = tf.stack([even * cos - odd * sin, even * sin + odd * cos], axis=-1)  # (..., T, Dh/2, 2)
    return tf.reshape(rotated, tf.shape(x))  # (..., T, Dh/2, 2) -> (..., T, Dh), pairs interleaved again
    # END SOLUTION

# %% check="apply_rope" points=3

# %% [markdown]
# The lesson's example, $D_h = 4$: $q = [1, 0, 1, 0]$ and $k = [1, 1, 0, 1]$ ($q \cdot k = 1$).
# With your function, the query at position $p$ and the key at position $s$ score $-1.1611$
# whenever $s - p = 3$, wherever the pair sits; offset 1 gives $-0.3112$, and offset $-3$ gives
# $-0.8189$ (the sign of the offset matters). Rotations keep lengths: $|R_p q| = |q|$.

# %%
def rope_at(vector, position):
    """One vector (Dh,) rotated to one position with your apply_rope."""
    x = tensor(np.asarray(vector, dtype=np.float32)[None, :])  # (T, Dh) = (1, Dh)
    return to_numpy(apply_rope(x, tensor(np.array([position]))))[0]


q_vector, k_vector = [1.0, 0.0, 1.0, 0.0], [1.0, 1.0, 0.0, 1.0]
for p, s in ((2, 5), (0, 3), (7, 10), (20, 23), (4, 5), (10, 11), (5, 2)):
    score = rope_at(q_vector, p) @ rope_at(k_vector, s)  # (Dh,) @ (Dh,) -> one number
    print(f"query at {p:>2}, key at {s:>2} (offset {s - p:>2}): score {score:.4f}")
print(f"|R_7 q| = {np.linalg.norm(rope_at(q_vector, 7)):.4f} = |q| = {np.linalg.norm(q_vector):.4f}")
assert abs(rope_at(q_vector, 2) @ rope_at(k_vector, 5) - (-1.1611)) < 1e-4

# %% [markdown]
# The same property for a head of width 16, random $q$ and $k$, every pair of positions
# $0 \ldots 23$: each offset gets one score, however far from the start the pair is.

# %%
head_q, head_k = rng.normal(size=(2, 16)).astype(np.float32)  # (Dh,) each
positions_24 = np.arange(24)
rotated_q = to_numpy(apply_rope(tensor(np.tile(head_q, (24, 1))), tensor(positions_24)))  # (T, Dh): q at every position
rotated_k = to_numpy(apply_rope(tensor(np.tile(head_k, (24, 1))), tensor(positions_24)))  # (T, Dh): k at every position
scores = rotated_q @ rotated_k.T  # (T, Dh) @ (Dh, T) -> (T, T): query position p, key position s
spread = max(np.ptp(np.diagonal(scores, offset)) for offset in range(-23, 24))
print(f"largest spread of the scores of one offset over all positions: {spread:.1e}")
report.headline("RoPE: largest score spread within one offset", spread)
assert spread < 1e-4
rope_offsets = np.arange(-10, 11)
plot.line_chart(rope_offsets, {f"query at p = {p}": [scores[p, p + k] for k in rope_offsets] for p in (10, 12)},
                xlabel="offset s − p", ylabel="(R_p q) · (R_s k)", title="RoPE: the score depends on the offset only")

# %% [markdown]
# ## 10. Longer sequences than in training
#
# The models of section 6 trained on length 12. The same models, tested on sequences of
# length 16 and 24 (held out, never seen): accuracy overall and **per position**.

# %%
print(f"{'positions':>10} " + " ".join(f"{'length ' + str(n):>10}" for n in sizes.eval_lengths))
for name, result in results.items():
    print(f"{name:>10} " + " ".join(f"{result.accuracy[n]:>10.4f}" for n in sizes.eval_lengths))
print(f"{'ceiling':>10} " + " ".join(f"{ceiling[n]:>10.4f}" for n in sizes.eval_lengths))
for n in sizes.eval_lengths[1:]:
    for name in ("sinusoidal", "learned", "rotary"):
        report.headline(f"previous-token accuracy at length {n}, {name} positions", results[name].accuracy[n])
longest = max(sizes.eval_lengths)
plot.accuracy_by_position({name: result.by_position[longest] for name, result in results.items()},
                          trained_length=trained, title=f"Trained on length {trained}, tested on length {longest}")

# %%
assert results["rotary"].accuracy[16] >= 0.95, "rotary positions should carry over to length 16"
weak = np.flatnonzero(results["rotary"].by_position[longest] < 0.9)
print(f"rotary positions, length {longest}: positions below 0.9 accuracy: {weak.tolist()}")

# %% [markdown]
# What to read in the plot (your numbers may differ from the lesson's; only rotary at length 16
# is asserted):
# - **learned** and **sinusoidal** positions are right on positions 0–11 and near chance after:
#   the learned rows 12 and up are untrained noise, and the sinusoids of positions 12 and up,
#   although well defined, are inputs the network never saw;
# - **rotary** positions only ever tell attention an offset, and "offset −1" looks the same at
#   position 20 as at position 5, so the model carries over to length 16. At length 24 offsets
#   up to ±23 appear, and some of them turn the fastest pairs almost as far as −1 does (lesson,
#   section 11: aliasing), so some positions go wrong there too. Compare the positions printed
#   above with the offsets the lesson names, +18 and −20: a query at $p$ has a key 18 ahead
#   only if $p \le 5$, and one 20 behind only if $p \ge 20$.
#
# ## 11. What the heads learned
#
# Every layer's attention weights, per head, for one evaluation sequence (rows: queries,
# columns: keys, both labelled with the tokens). Below them, for every model, how much weight
# each head puts on the previous position ($p - 1$), averaged over the evaluation set: a
# "previous position" head scores close to 1 and shows a line just below the diagonal.

# %%
def head_maps(model, tokens):
    """Per-layer attention weights of `model` on (N, T) tokens: a list of NumPy (N, H, T, T)."""
    _, weights = model(tensor(tokens), return_weights=True)
    return [to_numpy(w) for w in weights]


def previous_position_weight(maps):
    """(layers, H): the mean weight a query at p >= 1 puts on key p - 1."""
    return np.array([np.diagonal(w, offset=-1, axis1=-2, axis2=-1).mean(axis=(0, -1)) for w in maps])  # (N, H, T-1) -> (H,)


eval_tokens = order.generate("previous", 256, trained, sizes.vocab, seed=session.seed + 1)[0]  # (N, T)
print(f"{'positions':>10}  weight on p - 1, per head (rows: layers)")
strongest = {}
for name, result in results.items():
    scores = previous_position_weight(head_maps(result.model, eval_tokens))
    strongest[name] = float(scores.max())
    print(f"{name:>10}  " + "  |  ".join(" ".join(f"{s:.2f}" for s in layer) for layer in scores))
report.headline("strongest previous-position head, sinusoidal positions", strongest["sinusoidal"])

# %%
shown = "sinusoidal"
labels = spell(eval_tokens[0])
maps = head_maps(results[shown].model, eval_tokens[:1])
plot.attention_grid([{"weights": layer_maps[0, h], "source": labels, "target": labels,
                      "title": f"layer {i + 1}, head {h + 1}"}
                     for i, layer_maps in enumerate(maps) for h in range(layer_maps.shape[1])],
                    ncols=4, title=f"{shown} positions: every head on one sequence")

# %% [markdown]
# Look for the line just below the diagonal: a head that reads position $p - 1$ from position
# $p$. One such head is enough — its values carry the previous token to the output — and
# nothing forces the others to have a job you can name. Without positions there is no such
# line: equal tokens get equal rows, and a query weighs equal tokens equally, wherever they are.

# %%
maps = head_maps(results["none"].model, eval_tokens[:1])
plot.attention_grid([{"weights": maps[0][0, h], "source": labels, "target": labels, "title": f"layer 1, head {h + 1}"}
                     for h in range(maps[0].shape[1])], ncols=4, title="no positions: layer 1")

# %% [markdown]
# ## 12. Reversing: rotary positions on an absolute task
#
# "Output the previous token" needs one fixed offset, which is exactly what RoPE expresses.
# Reversing needs, at position $p$, the token at $T - 1 - p$: a different offset at every
# position, which depends on where the sequence starts and ends — an **absolute** task. In full
# mode the four encodings are trained on it too: watch the rotary curve. Its loss falls
# hundreds of steps later than with added positions, which hand every token its absolute
# position directly; RoPE must build "how far from the end am I" out of offsets. Fast mode
# skips this section.

# %%
if sizes.reverse_steps:
    reversing = compare_positions(session.framework, "reverse", sizes.reverse_steps, sizes, seed=session.seed)
    for name, result in reversing["results"].items():
        print(f"{name:>10}: reversing accuracy {result.accuracy[trained]:.4f} after {sizes.reverse_steps} steps")
        report.headline(f"reversing accuracy, {name} positions", result.accuracy[trained])
    print(f"position-blind ceiling for reversing: {reversing['ceiling'][trained]:.4f}")
    figure = plot.training_curves({name: result.losses for name, result in reversing["results"].items()},
                                  smooth=10, title="Reversing: training loss")
else:
    figure = None
    print("fast mode: reversing is trained in full mode only")
figure

# %% [markdown]
# ## 13. What you have seen
#
# - Self-attention takes queries, keys and values from one sequence; multi-head attention splits
#   the width into H heads (`(B, T, D)` → `(B, H, T, Dh)`), attends in each, merges them back
#   (transpose first, then reshape) and mixes them with $W_o$.
# - It has $4D^2 + 4D$ parameters and spends $D$ multiplications per (query, key) pair whatever
#   H is: several heads cost no more than one.
# - Without positions, self-attention is permutation equivariant: a position-blind model cannot
#   beat the ceiling you computed, and the trained one did not.
# - Sinusoidal encodings shift by a rotation and their dot products depend on the offset;
#   learned positions know only the positions they trained on; RoPE makes the *scores* depend
#   on the offset only, which carries a relative task to longer sequences.
# - Next (unit 05): these layers, with a causal mask in the decoder, become the full Transformer.
#
# ## Quiz
#
# Check your understanding: each question gives feedback when you press Check, and Save keeps
# your answers in `quiz_responses/` for your instructor.

# %%
from seq2bert.quiz import show_quiz

show_quiz("04")
