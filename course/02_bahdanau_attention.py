# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# In unit 01 the decoder saw the source only through one fixed-size vector, and long sentences
# broke it. Here you give the decoder **attention** (Bahdanau, Cho and Bengio, 2015): at every
# step it scores every encoder state against its own state, turns the scores into weights, and
# reads a weighted average of the encoder states — a context vector made fresh for each target
# word. You will build the three pieces yourself, train on dates and toy translation, look at
# where the model attends, and reproduce in miniature the paper's Figure 2: quality against
# sentence length, with and without attention.
#
# Read the [lesson](../../lessons/02_bahdanau_attention.md) first.
#
# **Fast and full mode.** Run as it is, every experiment uses the full budget (a few minutes
# on a laptop CPU). Tests and `make run` set `SEQ2BERT_FAST=1`, which only shrinks data sizes
# and step counts; the code is the same.
#
# ## Setup

# %%
import numpy as np

import seq2bert
from seq2bert import experiments, plot, report
from seq2bert.configs import Seq2SeqConfig

session = seq2bert.setup("02", "{{fw}}")
sizes = session.sizes
rng = np.random.default_rng(session.seed)
print(session)
print(sizes)

# %% framework="pytorch"
import torch

from seq2bert.torch import ops
from seq2bert.torch.seq2seq import AdditiveAttention, AttentionDecoder, Seq2Seq
from seq2bert.torch.train import to_numpy, to_tensors, train_seq2seq, translate_dataset


def tensor(array):
    """NumPy -> a float32 (or bool / int64) PyTorch tensor."""
    return torch.as_tensor(array if array.dtype != np.float64 else array.astype(np.float32))

# %% framework="tensorflow"
import tensorflow as tf

from seq2bert.tf import ops
from seq2bert.tf.seq2seq import AdditiveAttention, AttentionDecoder, Seq2Seq
from seq2bert.tf.train import to_numpy, to_tensors, train_seq2seq, translate_dataset


def tensor(array):
    """NumPy -> a float32 (or bool / int64) TensorFlow tensor."""
    return tf.constant(array if array.dtype != np.float64 else array.astype(np.float32))

# %% [markdown]
# ## 1. The tasks again
#
# The same two generated tasks as in unit 01: human-written dates to ISO dates (characters),
# and toy English to toy French (words, 4 to 40 of them, adjectives moved after their noun).

# %%
date_task = experiments.dates_task(sizes.date_train, sizes.eval_pairs, seed=session.seed)
toy_task = experiments.toy_task(sizes.toy_train, sizes.eval_pairs, seed=session.seed)
source, target = toy_task.test_pairs[0]
print(f"EN: {source}\nFR: {target}")

# %% [markdown]
# ## 2. Alignment scores
#
# At decoder step $i$ the decoder holds its previous state $s_{i-1}$ (shape `(B, D)`), and
# the encoder left one state $h_j$ per source position (`(B, S, D)`). A small feed-forward
# network scores how well each source position fits what the decoder needs now:
#
# $$e_{ij} = v^\top \tanh(W_q\, s_{i-1} + W_k\, h_j)$$
#
# with learned $W_q, W_k$ of shape `(D, A)` (applied as `s @ W_q`) and $v$ of shape `(A,)`.
#
# ### Exercise 1: additive scores
#
# Write `additive_scores(query, keys, w_q, w_k, v)`: `query (B, D)`, `keys (B, S, D)` →
# scores `(B, S)`. Project both, add them with broadcasting (the query is the same for every
# source position), apply `tanh`, then contract the last axis with `v`.

# %% framework="pytorch" exercise="additive_scores"
def additive_scores(query, keys, w_q, w_k, v):
    """e_j = v^T tanh(W_q s + W_k h_j): (B, D), (B, S, D) -> (B, S)."""
    # BEGIN SOLUTION: compute the additive alignment scores
    projected_query = query @ w_q  # (B, D) @ (D, A) -> (B, A)
    projected_keys = keys @ w_k  # (B, S, D) @ (D, A) -> (B, S, A)
    hidden = torch.tanh(projected_query[:, None, :] + projected_keys)  # (B, 1, A) + (B, S, A)
    return hidden @ v  # (B, S, A) @ (A,) -> (B, S)
    # END SOLUTION

# %% framework="tensorflow" exercise="additive_scores"
def additive_scores(query, keys, w_q, w_k, v):
    """e_j = v^T tanh(W_q s + W_k h_j): (B, D), (B, S, D) -> (B, S)."""
    # BEGIN SOLUTION: compute the additive alignment scores
    projected_query = query @ w_q  # (B, D) @ (D, A) -> (B, A)
    projected_keys = tf.einsum("bsd,da->bsa", keys, w_k)  # (B, S, D) -> (B, S, A)
    hidden = tf.tanh(projected_query[:, None, :] + projected_keys)  # (B, 1, A) + (B, S, A)
    return tf.einsum("bsa,a->bs", hidden, v)  # (B, S, A) -> (B, S)
    # END SOLUTION

# %% check="additive_scores" points=2

# %% [markdown]
# ## 3. Masked softmax
#
# The scores become weights with a softmax over source positions,
# $\alpha_{ij} = \exp(e_{ij}) / \sum_{j'} \exp(e_{ij'})$ — but only over **real** positions:
# padding must get weight exactly 0, or the model would attend to tokens that do not exist.
#
# ### Exercise 2: masked softmax
#
# Write `masked_softmax(scores, mask)`: `scores (B, S)`, `mask (B, S)` bool (True at real
# tokens) → weights `(B, S)` that sum to 1 over the real positions of each row. Replace the
# masked scores by a very negative number (`ops.MASK_VALUE` is −10⁹) *before* the softmax.

# %% framework="pytorch" exercise="masked_softmax"
def masked_softmax(scores, mask):
    """Softmax over the last axis where mask is True; 0 where it is False."""
    # BEGIN SOLUTION: mask the scores, then take the softmax over source positions
    scores = scores.masked_fill(~mask, ops.MASK_VALUE)
    return torch.softmax(scores, dim=-1)
    # END SOLUTION

# %% framework="tensorflow" exercise="masked_softmax"
def masked_softmax(scores, mask):
    """Softmax over the last axis where mask is True; 0 where it is False."""
    # BEGIN SOLUTION: mask the scores, then take the softmax over source positions
    scores = tf.where(mask, scores, ops.MASK_VALUE)
    return tf.nn.softmax(scores, axis=-1)
    # END SOLUTION

# %% check="masked_softmax" points=2

# %% [markdown]
# ## 4. The context vector
#
# The context for step $i$ is the weighted average of the encoder states,
# $c_i = \sum_j \alpha_{ij} h_j$.
#
# ### Exercise 3: context vector
#
# Write `context_vector(weights, values)`: `weights (B, S)`, `values (B, S, D)` → `(B, D)`.

# %% framework="pytorch" exercise="context_vector"
def context_vector(weights, values):
    """Weighted sum of values over source positions: (B, S), (B, S, D) -> (B, D)."""
    # BEGIN SOLUTION: weight the values and sum over source positions
    return (weights[:, None, :] @ values).squeeze(1)  # (B, 1, S) @ (B, S, D) -> (B, 1, D) -> (B, D)
    # END SOLUTION

# %% framework="tensorflow" exercise="context_vector"
def context_vector(weights, values):
    """Weighted sum of values over source positions: (B, S), (B, S, D) -> (B, D)."""
    # BEGIN SOLUTION: weight the values and sum over source positions
    return tf.squeeze(weights[:, None, :] @ values, axis=1)  # (B, 1, S) @ (B, S, D) -> (B, 1, D) -> (B, D)
    # END SOLUTION

# %% check="context_vector" points=1

# %% [markdown]
# ## 5. The attention layer
#
# The course's `AdditiveAttention` layer is exactly your three functions, with one change for
# speed: $W_k h_j$ does not depend on the decoder step, so it is computed once per sentence
# (`project_keys`) instead of at every step.

# %%
plot.show_source(AdditiveAttention)

# %% [markdown]
# One attention step on a tiny batch: 2 sentences of lengths 5 and 3, state width 4. Your
# three functions, given the layer's weight matrices, must give the layer's result.

# %%
config = Seq2SeqConfig(src_vocab=10, tgt_vocab=10, embed=4, hidden=4, attention=True, attention_width=3)
layer = AdditiveAttention(config)
query = tensor(rng.normal(size=(2, 4)))  # (B, D)
keys = tensor(rng.normal(size=(2, 5, 4)))  # (B, S, D)
mask = ops.padding_mask(tensor(np.array([5, 3])), 5)  # (B, S)
context, weights = layer(query, layer.project_keys(keys), keys, mask)
print("query (B, D):", tuple(query.shape), " keys (B, S, D):", tuple(keys.shape))
print("context (B, D):", tuple(context.shape), " weights (B, S):", tuple(weights.shape))
print("weights:\n", np.round(to_numpy(weights), 3))

# %% framework="pytorch"
w_q, w_k, v = layer.w_q.weight.T, layer.w_k.weight.T, layer.v.weight[0]  # Linear stores (out, in)

# %% framework="tensorflow"
w_q, w_k, v = layer.w_q.kernel, layer.w_k.kernel, layer.v.kernel[:, 0]  # Dense kernels are (in, out)

# %%
mine = context_vector(masked_softmax(additive_scores(query, keys, w_q, w_k, v), mask), keys)
difference = float(np.abs(to_numpy(mine) - to_numpy(context)).max())
print(f"largest difference between your step and the layer: {difference:.2e}")
assert difference < 1e-5

# %% [markdown]
# **Keras has an `AdditiveAttention` layer too — is it the same?** Not quite. Keras scores
# `sum(scale * tanh(q + k))`: it has no $W_q$, $W_k$ of its own, only a learned vector
# `scale` in the role of $v$. Give it already projected inputs ($q = W_q s$, $k = W_k h$)
# and set `scale` to $v$, and the two coincide exactly; the course's tests check that, and
# that the PyTorch and TensorFlow versions of every layer here agree to 10⁻⁵ on copied weights.
#
# ## 6. A decoder that attends
#
# At each step the decoder attends with its previous state $s_{i-1}$, feeds the previous token's
# embedding together with the context $c_i$ to its GRU, and predicts the next token from
# $[s_i; c_i]$. Besides logits it now returns the attention weights of every step.

# %%
plot.show_source(AttentionDecoder)

# %%
batch = date_task.train.subset(np.arange(4))
src, src_len, tgt_in, tgt_out = to_tensors(batch)
date_config = Seq2SeqConfig(src_vocab=len(date_task.src_vocab), tgt_vocab=len(date_task.tgt_vocab),
                            embed=sizes.embed, hidden=sizes.hidden, attention=True)
date_model = Seq2Seq(date_config, seed=session.seed)
logits, weights = date_model(src, src_len, tgt_in)
print("source (B, S):", tuple(src.shape), " decoder input (B, T):", tuple(tgt_in.shape))
print("logits (B, T, V):", tuple(logits.shape), " attention weights (B, T, S):", tuple(weights.shape))
padding = np.broadcast_to(to_numpy(src)[:, None, :] == 0, weights.shape)  # (B, S) -> (B, T, S)
print("total weight on padding:", float(to_numpy(weights)[padding].sum()))

# %% [markdown]
# ## 7. Dates with attention
#
# The same training loop as in unit 01, now with the attending decoder.

# %%
date_history = train_seq2seq(date_model, date_task.train, sizes.date_steps, sizes.batch_size,
                             sizes.learning_rate, seed=session.seed, label="dates, attention")
date_predictions, date_attention = translate_dataset(date_model, date_task.test, date_task.max_target_len)
date_scores = experiments.score(date_task, date_predictions)
print(f"dates with attention: exact match {date_scores['exact_match']:.4f}, "
      f"token accuracy {date_scores['token_accuracy']:.4f} on {date_scores['count']} held-out dates")
report.headline("dates exact match (attention)", date_scores["exact_match"])
assert date_scores["exact_match"] >= 0.99, "attention should get at least 99% of held-out dates exactly right"

# %% [markdown]
# Where does the model look while writing each character? Year digits attend to the year,
# month digits to the month name or number, wherever the format put them:

# %%
def heatmap_example(task, index, predictions, attention, joiner=" "):
    """One held-out pair as an attention_grid entry: weights with source and output tokens."""
    source, _ = task.test_pairs[index]
    output = task.tgt_vocab.decode(predictions[index])
    weights = attention[index]  # (L, S), one row per output token, <eos> included when produced
    tokens = (output + ["<eos>"])[: len(weights)]
    return dict(weights=weights, source=task.src_tokenize(source), target=tokens, title=joiner.join(output))


plot.attention_grid([heatmap_example(date_task, i, date_predictions, date_attention, joiner="") for i in range(4)],
                    ncols=2, title="Attention while normalising dates")

# %% [markdown]
# ## 8. Toy translation: attention against the bottleneck
#
# Now the experiment of Bahdanau et al.'s Figure 2 in miniature: the same data, the same
# number of steps, one model without attention (unit 01's, with its final state fed at every
# step, like the paper's RNNencdec) and one with it. (The PyTorch and TensorFlow versions of
# this notebook start from the same initial weights and see the same batches; their losses
# agree at first and drift apart slowly through floating-point rounding, so their final
# numbers are close but not identical.)

# %%
def train_toy(attention):
    """Train a toy translation model and score it on the held-out pairs."""
    config = Seq2SeqConfig(src_vocab=len(toy_task.src_vocab), tgt_vocab=len(toy_task.tgt_vocab),
                           embed=sizes.embed, hidden=sizes.hidden, attention=attention)
    model = Seq2Seq(config, seed=session.seed)
    label = "toy, attention" if attention else "toy, no attention"
    history = train_seq2seq(model, toy_task.train, sizes.toy_steps, sizes.batch_size,
                            sizes.learning_rate, seed=session.seed, label=label)
    predictions, attention_weights = translate_dataset(model, toy_task.test, toy_task.max_target_len)
    return model, history, predictions, attention_weights, experiments.score(toy_task, predictions)


_, plain_history, plain_predictions, _, plain = train_toy(attention=False)
toy_model, toy_history, toy_predictions, toy_attention, attended = train_toy(attention=True)
plot.training_curves({"no attention": plain_history, "attention": toy_history}, smooth=20, title="Training loss")

# %%
for name, scores in (("no attention", plain), ("attention", attended)):
    print(f"{name:>13}: token accuracy {scores['token_accuracy']:.3f}, exact match {scores['exact_match']:.3f}, "
          f"BLEU {scores['bleu']:.1f}")
    for bucket, accuracy in scores["token_accuracy_by_length"].items():
        print(f"{'':>15}{bucket:>5} words: token accuracy {accuracy:.3f}, exact match {scores['exact_match_by_length'][bucket]:.3f}")
plot.quality_vs_length({"no attention": plain["token_accuracy_by_length"], "attention": attended["token_accuracy_by_length"]},
                       title="Token accuracy by source length (cf. Bahdanau et al. 2015, Fig. 2)")

# %%
plot.quality_vs_length({"no attention": plain["exact_match_by_length"], "attention": attended["exact_match_by_length"]},
                       ylabel="exact match", title="Whole sentences right, by source length")

# %% [markdown]
# The numbers this notebook promises, checked on every run:

# %%
plain_by_length, attended_by_length = plain["token_accuracy_by_length"], attended["token_accuracy_by_length"]
plain_drop = plain_by_length["4–10"] - plain_by_length["31–40"]
long_gain = attended_by_length["31–40"] - plain_by_length["31–40"]
report.headline("toy token accuracy (attention)", attended["token_accuracy"])
report.headline("toy token accuracy 31–40 words, attention minus none", long_gain)
report.headline("toy token accuracy, 4–10 minus 31–40 words (no attention)", plain_drop)
report.headline("toy exact match 31–40 words (attention)", attended["exact_match_by_length"]["31–40"])
assert plain_drop >= 0.3, f"without attention, long sentences should be much worse ({plain_drop:.3f})"
assert long_gain >= 0.2, f"attention should help most on long sentences ({long_gain:.3f})"
assert attended["token_accuracy"] >= 0.7, f"attention model under-trained ({attended['token_accuracy']:.3f})"
print(f"no attention loses {plain_drop:.2f} token accuracy from short to long sentences; "
      f"attention gains {long_gain:.2f} on the longest ones.")

# %% [markdown]
# ## 9. Looking at the alignments
#
# Attention weights are an alignment the model learned without ever being shown one. In the toy
# French the adjective follows its noun, so where the English says *the black cat* the
# weights must cross: *chat* looks at *cat*, then *noir* looks back at *black*.

# %%
index = experiments.reordered_example(toy_task, toy_predictions)
plot.attention_grid([heatmap_example(toy_task, index, toy_predictions, toy_attention)], ncols=1,
                    title="An adjective–noun swap, seen by attention")

# %% [markdown]
# How often does the strongest weight sit on the right word? The toy grammar knows the true
# word alignment, so we can count, over the held-out sentences translated exactly:

# %%
aligned = experiments.alignment_accuracy(toy_task, toy_predictions, toy_attention)
report.headline("toy alignment accuracy (attention arg-max on the gold source word)", aligned)
print(f"the strongest attention weight falls on a source word the target word translates {aligned:.1%} of the time")

# %% [markdown]
# ## 10. What you have seen
#
# - Three small functions — additive scores, a masked softmax, a weighted sum — give the
#   decoder a fresh view of the source at every step.
# - Attention removes the fixed-size bottleneck: long sentences are translated nearly as well
#   as short ones, where the plain encoder–decoder collapsed.
# - The weights form a soft alignment, learned from translation alone, that follows the
#   reordering of adjectives.
# - Next (unit 03): drop the recurrent network and keep only attention — scaled dot-product
#   and multi-head attention.
#
# ## Quiz
#
# Check your understanding (answers are saved in `quiz_responses/`; also available in a
# terminal as `seq2bert quiz take 02`):

# %%
from seq2bert.quiz import show_quiz

show_quiz("02")
