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
# word.
#
# **By the end you can**
# - compute additive attention — scores, a masked softmax, a context vector — and name its
#   query, keys and values;
# - write the decoder step that attends, in the paper's order;
# - read attention heatmaps, and explain where the model looks and why it may differ from
#   the word-for-word alignment;
# - reproduce in miniature the paper's Figure 2 (quality against sentence length, with and
#   without attention, trained on all lengths or on short sentences only), and say what
#   Bahdanau's bidirectional encoder changes.
#
# **Time:** about 90 minutes — 30 to read the lesson, the rest here. Training takes about
# eight minutes on a laptop CPU; set `SEQ2BERT_FAST=1` before `seq2bert.setup` for a
# two-minute pass with less data and fewer steps (same code, weaker numbers).
#
# ## Setup

# %%
import numpy as np

import seq2bert
from seq2bert import diagrams, experiments, plot, report
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
from seq2bert.torch.train import (teacher_forced_predictions, tensor, to_numpy, to_tensors, train_seq2seq,
                                  translate_dataset)


# %% framework="tensorflow"
import tensorflow as tf

from seq2bert.tf import ops
from seq2bert.tf.seq2seq import AdditiveAttention, AttentionDecoder, Seq2Seq
from seq2bert.tf.train import (teacher_forced_predictions, tensor, to_numpy, to_tensors, train_seq2seq,
                               translate_dataset)


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
# One decoder step with attention, at a glance (the lesson walks through it):

# %%
diagrams.attention_step()

# %% [markdown]
# At decoder step $i$ the decoder holds its previous state $s_{i-1}$ (shape `(B, D)`), the
# **query**: what it needs next. The encoder left one state $h_j$ per source position
# (`(B, S, D)`). Each $h_j$ plays two parts: as a **key** it is compared with the query, and as a
# **value** it is what gets averaged into the context. (Unit 03 gives keys and values separate
# projections; here they are the same vectors.) A small feed-forward network scores how well
# each source position fits what the decoder needs now:
#
# $$e_{ij} = v^\top \tanh(s_{i-1} W_q + h_j W_k)$$
#
# with learned $W_q, W_k$ of shape `(D, A)` (row vectors times matrices, exactly as the code
# computes `query @ w_q`) and $v$ of shape `(A,)`.
#
# ### Exercise 1: additive scores
#
# Write `additive_scores(query, keys, w_q, w_k, v)`: `query (B, D)`, `keys (B, S, D)` →
# scores `(B, S)`, one per source position, computed for the whole batch at once.
#
# Work out the shapes before you write code: what shape does $s_{i-1} W_q$ have, what shape
# $h_j W_k$ for all $j$ at once, and how do you add one query to every key of its own sentence?

# %% framework="pytorch" exercise="additive_scores"
def additive_scores(query, keys, w_q, w_k, v):
    """e_j = v^T tanh(s W_q + h_j W_k): (B, D), (B, S, D) -> (B, S)."""
    # BEGIN SOLUTION: compute the additive alignment scores
    projected_query = query @ w_q  # (B, D) @ (D, A) -> (B, A)
    projected_keys = keys @ w_k  # (B, S, D) @ (D, A) -> (B, S, A)
    hidden = torch.tanh(projected_query[:, None, :] + projected_keys)  # (B, 1, A) + (B, S, A)
    return hidden @ v  # (B, S, A) @ (A,) -> (B, S)
    # END SOLUTION

# %% framework="tensorflow" exercise="additive_scores"
def additive_scores(query, keys, w_q, w_k, v):
    """e_j = v^T tanh(s W_q + h_j W_k): (B, D), (B, S, D) -> (B, S)."""
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
# tokens) → weights `(B, S)` that sum to 1 over the real positions of each row and are exactly
# 0 at padding. (`ops.MASK_VALUE`, −10⁹, is a score whose exponential is 0 in float32.)
#
# Predict first: if you took a plain softmax and then set the padding weights to 0, what would
# go wrong?

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
# Your three functions on the lesson's worked example (D = A = 2, S = 3). They should print the
# lesson's numbers: scores [1.3482, 0.0191, 0.9051], weights [0.5244, 0.1388, 0.3367], context
# [0.8612, 0.4756]; and with position 3 as padding, weights [0.7907, 0.2093, 0].

# %%
example = dict(query=np.array([[1.0, 0.0]]),  # s_{i-1}: (B, D) = (1, 2)
               keys=np.array([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]]),  # h_1, h_2, h_3: (1, 3, 2)
               w_q=np.array([[0.5, -0.5], [1.0, 0.0]]), w_k=np.array([[1.0, 0.0], [0.0, -1.0]]),
               v=np.array([2.0, 1.0]))
example = {name: tensor(value.astype(np.float32)) for name, value in example.items()}
scores = additive_scores(**example)
for label, real in (("all three real", [True, True, True]), ("position 3 padding", [True, True, False])):
    weights = masked_softmax(scores, tensor(np.array([real])))
    print(f"{label:>18}: scores {np.round(to_numpy(scores)[0], 4)}, weights {np.round(to_numpy(weights)[0], 4)}, "
          f"context {np.round(to_numpy(context_vector(weights, example['keys']))[0], 4)}")

# %% [markdown]
# Notice that position 1 wins although $k_3 = h_3 W_k = [1, -1]$ points exactly along the
# projected query $[0.5, -0.5]$: a plain dot product would pick position 3. The additive score
# is not a similarity measure but a small learned network: $v$ weights the second coordinate,
# and $k_3$ pushes it to $\tanh(-1.5)$. Unit 03 returns to this contrast.
#
# ## 5. The attention layer
#
# The course's `AdditiveAttention` layer is exactly your three functions, with one change for
# speed: $h_j W_k$ does not depend on the decoder step, so it is computed once per sentence
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
# `scale` in the role of $v$. Give it already projected inputs ($q = s W_q$, $k = h W_k$)
# and set `scale` to $v$, and the two coincide exactly; the course's tests check that, and
# that the PyTorch and TensorFlow versions of every layer here agree to 10⁻⁵ on copied weights.
#
# ## 6. A decoder that attends
#
# At each step the decoder
# 1. attends with its **previous** state $s_{i-1}$: context $c_i$ and weights $\alpha_i$;
# 2. feeds the previous token's embedding together with $c_i$ to its GRU: $s_i$;
# 3. predicts the next token from $[s_i; c_i]$ — the output layer reads the context too.
#
# (Luong et al. 2015 later attended with the *new* state $s_i$ instead; that is a different
# model, and not the one this unit builds.)
#
# ### Exercise 4: the attention decoder step
#
# Write `attention_step(embedded, state, attend, cell, output_layer)`:
# - `embedded (B, E)`: the embedding of the previous target token; `state (B, D)`: $s_{i-1}$;
# - `attend(query)` returns `(context (B, Dm), weights (B, S))` (Dm is the width of the encoder
#   states, D here);
# - `cell(x, state)` returns the GRU's new state `(B, D)`; `output_layer(x)` returns logits.
#
# Return `(logits (B, V), new_state (B, D), weights (B, S))`.
#
# Before you write it: which state goes into `attend`, and what two things does the output
# layer read?

# %% framework="pytorch" exercise="attention_step"
def attention_step(embedded, state, attend, cell, output_layer):
    """One Bahdanau decoder step -> logits (B, V), new state (B, D), attention weights (B, S)."""
    # BEGIN SOLUTION: attend with s_{i-1}, update the GRU on [y_{i-1}; c_i], predict from [s_i; c_i]
    context, weights = attend(state)  # (B, D) -> (B, Dm), (B, S)
    new_state = cell(torch.cat([embedded, context], dim=-1), state)  # (B, E + Dm) -> (B, D)
    logits = output_layer(torch.cat([new_state, context], dim=-1))  # (B, D + Dm) -> (B, V)
    return logits, new_state, weights
    # END SOLUTION

# %% framework="tensorflow" exercise="attention_step"
def attention_step(embedded, state, attend, cell, output_layer):
    """One Bahdanau decoder step -> logits (B, V), new state (B, D), attention weights (B, S)."""
    # BEGIN SOLUTION: attend with s_{i-1}, update the GRU on [y_{i-1}; c_i], predict from [s_i; c_i]
    context, weights = attend(state)  # (B, D) -> (B, Dm), (B, S)
    new_state = cell(tf.concat([embedded, context], axis=-1), state)  # (B, E + Dm) -> (B, D)
    logits = output_layer(tf.concat([new_state, context], axis=-1))  # (B, D + Dm) -> (B, V)
    return logits, new_state, weights
    # END SOLUTION

# %% check="attention_step" points=2

# %% [markdown]
# The course's `AttentionDecoder` runs exactly this step, once per target position (its
# `forward` under teacher forcing, its `translate` while decoding):

# %%
plot.show_source(AttentionDecoder)

# %% [markdown]
# Your step, given the parts of an untrained date model, against the model's own step on four
# training dates:

# %%
batch = date_task.train.subset(np.arange(4))
src, src_len, tgt_in, tgt_out = to_tensors(batch)
date_config = Seq2SeqConfig(src_vocab=len(date_task.src_vocab), tgt_vocab=len(date_task.tgt_vocab),
                            embed=sizes.embed, hidden=sizes.hidden, attention=True)
date_model = Seq2Seq(date_config, seed=session.seed)
decoder = date_model.decoder
memory, state, mask, cache = date_model.encode(src, src_len)
prev = tgt_in[:, 0]  # <bos>
expected = decoder.step(prev, state, cache, memory, mask)
mine = attention_step(decoder.embedding(prev), state, lambda query: decoder.attention(query, cache, memory, mask),
                      decoder.next_state, decoder.output_layer)
for name, a, b in zip(("logits (B, V)", "new state (B, D)", "weights (B, S)"), mine, expected):
    print(f"{name:>17}: shape {tuple(a.shape)}, largest difference {float(np.abs(to_numpy(a) - to_numpy(b)).max()):.1e}")

# %%
logits, weights = date_model(src, src_len, tgt_in)
print("source (B, S):", tuple(src.shape), " decoder input (B, T):", tuple(tgt_in.shape))
print("logits (B, T, V):", tuple(logits.shape), " attention weights (B, T, S):", tuple(weights.shape))
padding = np.broadcast_to(to_numpy(src)[:, None, :] == 0, weights.shape)  # (B, S) -> (B, T, S)
print("total weight on padding:", float(to_numpy(weights)[padding].sum()))

# %% [markdown]
# ## 7. Dates with attention
#
# The same training loop as in unit 01 (Adam, teacher forcing, gradient clipped to norm 1.0),
# now with the attending decoder.

# %%
def train_model(task, data, steps, attention=True, bidirectional=False, label="training"):
    """Train a fresh model on `data` and translate the task's held-out pairs greedily."""
    config = Seq2SeqConfig(src_vocab=len(task.src_vocab), tgt_vocab=len(task.tgt_vocab), embed=sizes.embed,
                           hidden=sizes.hidden, attention=attention, bidirectional=bidirectional)
    model = Seq2Seq(config, seed=session.seed)
    history = train_seq2seq(model, data, steps, sizes.batch_size, sizes.learning_rate, seed=session.seed, label=label)
    predictions, attention_weights = translate_dataset(model, task.test, task.max_target_len)
    return model, history, predictions, attention_weights


date_model, date_history, date_predictions, date_attention = train_model(
    date_task, date_task.train, sizes.date_steps, label="dates, attention")
date_scores = experiments.score(date_task, date_predictions)
print(f"dates with attention: exact match {date_scores['exact_match']:.4f}, "
      f"token accuracy {date_scores['token_accuracy']:.4f} on {date_scores['count']} held-out dates")
report.headline("dates exact match (attention)", date_scores["exact_match"])
assert date_scores["exact_match"] >= 0.99, "attention should get at least 99% of held-out dates exactly right"

# %% [markdown]
# **Predict before you look.** While the model writes the month digits of `2021-03-05`, where
# will it look when the source is `March 5, 2021`? And when it is `05/03/2021`? Remember that
# the encoder reads left to right: at the characters `05` its state cannot yet know whether
# they are a day or a month — only the rest of the date tells.

# %%
def heatmap_example(task, index, predictions, attention, joiner=" "):
    """One held-out pair as an attention_grid entry: weights with source and output tokens."""
    source, _ = task.test_pairs[index]
    output = task.tgt_vocab.decode(predictions[index])
    weights = attention[index]  # (L, S), one row per output token, <eos> included when produced
    tokens = (output + ["<eos>"])[: len(weights)]
    return dict(weights=weights, source=task.src_tokenize(source), target=tokens, title=joiner.join(output))


plot.attention_grid([heatmap_example(date_task, i, date_predictions, date_attention, joiner="") for i in range(4)],
                    ncols=2, title="Attention while normalising dates (left-to-right encoder)")

# %% [markdown]
# A month written as a name is looked at near its end, where the state has read enough
# letters to tell which month it is. Digits are often written while the model looks a little
# *later* than the digit itself — at the last digits of the year, or past a separator — at a
# position whose state has read enough to know what the digit means. Attention goes to the
# encoder state that holds the information, and with a left-to-right encoder that is not always
# the state of the character being copied. How often does a copied digit look at a source
# character equal to it?

# %%
date_copying = experiments.digits_on_same_digit(date_task, date_predictions, date_attention)
report.headline("dates: digits looking at the same digit (left-to-right encoder)", date_copying)
print(f"{date_copying:.1%} of output digits look hardest at a source character equal to them")

# %% [markdown]
# ## 8. Toy translation: attention against the bottleneck
#
# Now the experiment of Bahdanau et al.'s Figure 2 in miniature: the same data, one model
# without attention (unit 01's, with its final state fed at every step, like the paper's
# RNNencdec) and one with it. (The PyTorch and TensorFlow versions of this notebook start from
# the same initial weights and see the same batches; their losses agree at first and drift apart
# slowly through floating-point rounding, so their final numbers are close but not identical.)

# %%
_, plain_history, plain_predictions, _ = train_model(toy_task, toy_task.train, sizes.toy_steps, attention=False,
                                                     label="toy, no attention")
toy_model, toy_history, toy_predictions, toy_attention = train_model(toy_task, toy_task.train, sizes.attention_steps,
                                                                     label="toy, attention")
plain, attended = experiments.score(toy_task, plain_predictions), experiments.score(toy_task, toy_predictions)
plot.training_curves({"no attention": plain_history, "attention": toy_history}, smooth=20, title="Training loss")

# %%
for name, scores in (("no attention", plain), ("attention", attended)):
    print(f"{name:>13}: token accuracy {scores['token_accuracy']:.3f}, exact match {scores['exact_match']:.3f}, "
          f"BLEU {scores['bleu']:.1f}")
    for bucket, accuracy in scores["token_accuracy_by_length"].items():
        print(f"{'':>15}{bucket:>5} words: token accuracy {accuracy:.3f}, BLEU {scores['bleu_by_length'][bucket]:5.1f}, "
              f"exact match {scores['exact_match_by_length'][bucket]:.3f}")
plot.quality_vs_length({"no attention": plain["token_accuracy_by_length"], "attention": attended["token_accuracy_by_length"]},
                       title="Token accuracy by source length (cf. Bahdanau et al. 2015, Fig. 2)")

# %%
plot.quality_vs_length({"no attention": plain["bleu_by_length"], "attention": attended["bleu_by_length"]},
                       ylabel="BLEU", title="BLEU by source length, the paper's measure")

# %% [markdown]
# The same held-out sentences, translated by both models:

# %%
for index in experiments.pick_by_length(toy_task):
    source, reference = toy_task.test_pairs[index]
    print(f"EN        {source}\nREF       {reference}")
    for name, predictions in (("no attn", plain_predictions), ("attention", toy_predictions)):
        output = " ".join(toy_task.tgt_vocab.decode(predictions[index]))
        print(f"{name:<9} {output}  {'✓' if output == reference else '✗'}")
    print()

# %% [markdown]
# Exact match falls with length even with attention. Is that a weakness for long sentences?
# Compare it with what independent per-token errors alone would give, p^T (p: the bucket's
# teacher-forced token accuracy, T: the reference length; see unit 01):

# %%
independent = experiments.exact_match_if_independent(toy_task, teacher_forced_predictions(toy_model, toy_task.test))
figure = plot.quality_vs_length({"exact match": {b: row["exact_match"] for b, row in independent.items()},
                                 "p^T (independent errors)": {b: row["expected"] for b, row in independent.items()}},
                                ylabel="exact match", title="Attention model: exact match against p^T")
figure.axes[0].lines[1].set_linestyle("--")
figure

# %%
for bucket, row in independent.items():
    print(f"{bucket:>5} words: per-token accuracy {row['token_accuracy']:.4f}, p^T {row['expected']:.3f}, "
          f"exact match {row['exact_match']:.3f}")

# %% [markdown]
# Per-token accuracy falls only a little with length (a few points in fast mode, under one
# point in full mode), and exact match stays at or above p^T (to rounding): the attention
# model's long sentences fail no more often than their length and that small per-token loss
# explain. Its errors even cluster in fewer sentences than independence would predict.
#
# The numbers this notebook promises, checked on every run:

# %%
plain_by_length, attended_by_length = plain["token_accuracy_by_length"], attended["token_accuracy_by_length"]
plain_drop = plain_by_length["4–10"] - plain_by_length["31–40"]
long_gain = attended_by_length["31–40"] - plain_by_length["31–40"]
report.headline("toy token accuracy (attention)", attended["token_accuracy"])
report.headline("toy token accuracy 31–40 words, attention minus none", long_gain)
report.headline("toy token accuracy, 4–10 minus 31–40 words (no attention)", plain_drop)
report.headline("toy exact match 31–40 words (attention)", attended["exact_match_by_length"]["31–40"])
report.headline("toy BLEU 31–40 words (attention)", attended["bleu_by_length"]["31–40"])
report.headline("toy BLEU 31–40 words (no attention)", plain["bleu_by_length"]["31–40"])
assert plain_drop >= 0.3, f"without attention, long sentences should be much worse ({plain_drop:.3f})"
assert long_gain >= 0.2, f"attention should help most on long sentences ({long_gain:.3f})"
assert attended["token_accuracy"] >= 0.7, f"attention model under-trained ({attended['token_accuracy']:.3f})"
print(f"no attention loses {plain_drop:.2f} token accuracy from short to long sentences; "
      f"attention gains {long_gain:.2f} on the longest ones.")

# %% [markdown]
# ## 9. Looking at the alignments
#
# Attention weights are an alignment the model learned without ever being shown one. In the toy
# French the adjective follows its noun, so where the English says *the black cats* the French
# says *les chatols noirels*.
#
# **Predict before you run the next cell:** when the model writes *les*, where will it look — at
# *the*, at *black*, or at *cats*? (Hint: *les* tells gender and number; which English word
# reveals them, and which encoder states have already read it?)

# %%
index = experiments.reordered_example(toy_task, toy_predictions)
plot.attention_grid([heatmap_example(toy_task, index, toy_predictions, toy_attention)], ncols=1,
                    title="An adjective–noun swap, seen by attention")

# %% [markdown]
# The article looks at its **noun**, not at *the*: with a left-to-right encoder, the state at
# *the* has not seen the noun yet, and only the noun decides between *le*, *la* and *les*. The
# noun is looked at where it stands, and the adjective mostly at its own English word — so the
# weights may cross, where the word order changes. A long sentence, to see it at scale:

# %%
long_index = experiments.pick_by_length(toy_task, ((31, 40),), 1)[0]
plot.attention_grid([heatmap_example(toy_task, long_index, toy_predictions, toy_attention)], ncols=1,
                    title="A long sentence: attention stays on track")

# %% [markdown]
# How often does the strongest weight sit on the right word? The toy grammar knows the gold
# word alignment (an article links to its English determiner) and which noun every article and
# adjective agrees with, so we can count per word class, over the held-out sentences translated
# exactly:

# %%
def show_alignment_table(rows):
    for row, value in rows.items():
        print(f"{row:>34}: {value['accuracy']:.3f}  ({value['count']} words)")


show_alignment_table(experiments.alignment_by_class(toy_task, toy_predictions, toy_attention))
aligned = experiments.alignment_accuracy(toy_task, toy_predictions, toy_attention)
report.headline("toy alignment accuracy (articles and adjectives may look at their noun)", aligned)
print(f"\nthe strongest weight falls on the word translated, or on the noun an article or adjective "
      f"agrees with, {aligned:.1%} of the time")

# %% [markdown]
# Scored against the gold alignment alone, articles would look "wrong" most of the time — for
# exactly the behaviour the model needs. A metric has to ask where the *information* is.
#
# ## 10. Trained on short sentences only
#
# Bahdanau et al. trained every model twice, on sentences of up to 30 and up to 50 words, and
# tested on all lengths: RNNsearch-30 held up well beyond 30 words, RNNencdec-30 did not. The
# same experiment in miniature: train on sources of at most `sizes.short_words` words and test
# on all of 4–40.

# %%
short = toy_task.train.subset(np.flatnonzero(toy_task.train.src_len <= sizes.short_words))
print(f"{len(short)} of {len(toy_task.train)} training pairs have at most {sizes.short_words} source words")
curves = {"no attention, all lengths": plain["bleu_by_length"], "attention, all lengths": attended["bleu_by_length"]}
short_plain = None
if sizes.short_plain_steps:  # fast mode (CI) skips it to stay short; the assertion below needs only the attention model
    _, _, short_plain_predictions, _ = train_model(toy_task, short, sizes.short_plain_steps, attention=False,
                                                   label="short only, no attention")
    short_plain = experiments.score(toy_task, short_plain_predictions)
    curves[f"no attention, ≤ {sizes.short_words} words"] = short_plain["bleu_by_length"]
else:
    print("fast mode: the model without attention trained on short sentences runs in full mode only")
_, _, short_predictions, short_attention = train_model(toy_task, short, sizes.short_steps,
                                                       label="short only, attention")
short_attended = experiments.score(toy_task, short_predictions)
curves[f"attention, ≤ {sizes.short_words} words"] = short_attended["bleu_by_length"]
plot.quality_vs_length(curves, ylabel="BLEU", title="Trained on all lengths or on short sentences only")

# %%
report.headline("toy BLEU 31–40 words (attention, short training only)", short_attended["bleu_by_length"]["31–40"])
short_models = {"attention, short only": short_attended}
if short_plain is not None:
    report.headline("toy BLEU 31–40 words (no attention, short training only)", short_plain["bleu_by_length"]["31–40"])
    short_models = {"no attention, short only": short_plain, **short_models}
for name, scores in short_models.items():
    print(f"{name:>25}: BLEU by length {', '.join(f'{b} {v:.1f}' for b, v in scores['bleu_by_length'].items())}")
assert short_attended["bleu_by_length"]["31–40"] > plain["bleu_by_length"]["31–40"], \
    "attention trained on short sentences should still beat no attention trained on every length"

# %% [markdown]
# Attention trained on short sentences translates lengths it never saw far better than a
# plain encoder–decoder trained on every length, though it loses some quality beyond its
# training lengths — the shape of the paper's RNNsearch-30 curve.
#
# ## 11. Bahdanau's bidirectional encoder
#
# The paper's encoder reads the source in both directions and gives attention
# $h_j = [\overrightarrow{h}_j; \overleftarrow{h}_j]$, so every state knows the words on both
# sides of it. The course's model has it as a switch, `Seq2SeqConfig(bidirectional=True)`: the
# encoder states get width 2D, and the decoder starts from $\tanh(W_s \overleftarrow{h}_1)$ as
# in the paper. What does it change? Trained on the same short sentences (in full mode; fast
# mode, which CI runs, skips this model to keep the notebook under its time budget):

# %%
encoders = {"left-to-right": (short_predictions, short_attention)}
if sizes.bidirectional_steps:  # fast mode (CI) skips this model to stay short
    _, _, bi_predictions, bi_attention = train_model(toy_task, short, sizes.bidirectional_steps, bidirectional=True,
                                                     label="short only, attention, bidirectional")
    encoders["bidirectional"] = (bi_predictions, bi_attention)
else:
    print("fast mode: the bidirectional model trains in full mode only; the left-to-right encoder alone:\n")
rows = {name: experiments.alignment_by_class(toy_task, *outputs) for name, outputs in encoders.items()}
for name, name_rows in rows.items():
    print(f"{name} encoder")
    show_alignment_table(name_rows)
    print()

# %%
uni_on_noun = rows["left-to-right"]["article on its noun"]["accuracy"]
report.headline("articles looking at their noun, left-to-right encoder", uni_on_noun)
if "bidirectional" in rows:
    bi_on_noun = rows["bidirectional"]["article on its noun"]["accuracy"]
    report.headline("articles looking at their noun, bidirectional encoder", bi_on_noun)
    report.headline("articles looking just before their determiner, bidirectional encoder",
                    rows["bidirectional"]["article on the word before its own"]["accuracy"])
    assert uni_on_noun - bi_on_noun >= 0.3, "the bidirectional encoder should move the articles' attention off the noun"
index = experiments.reordered_example(toy_task, list(encoders.values())[-1][0])
plot.attention_grid([dict(heatmap_example(toy_task, index, *outputs), title=name) for name, outputs in encoders.items()],
                    ncols=len(encoders), title="Where the articles look, by encoder")

# %% [markdown]
# With a left-to-right encoder, the noun's state is the first to know the noun's gender and
# number, so the article looks there. With a bidirectional encoder, the backward half of
# every state in front of the noun has already read it: the article no longer needs the
# noun's position. Its strongest weight leaves the noun, mostly for the word just before the
# determiner, whose backward half has just read the whole noun phrase. Same data, same steps —
# only the encoder changed, and with it where "the right place to look" is. An attention map
# shows where the information sits in the encoder states, not which word translates which.
#
# **Try it yourself (not run here, to keep the notebook short):** train the date model of
# section 7 with `bidirectional=True` and compare its heatmaps and
# `experiments.digits_on_same_digit(...)` with the left-to-right model's. Do the digits move
# onto the digits they copy, now that every state has read the separators?
#
# %% [markdown]
# ## 12. What you have seen
#
# - Three small functions — additive scores, a masked softmax, a weighted sum — give the
#   decoder a fresh view of the source at every step; the decoder attends with its previous
#   state and predicts from its new state and the context.
# - Attention removes the fixed-size bottleneck: long sentences are translated nearly as well
#   as short ones, where the plain encoder–decoder collapsed — even when attention was trained
#   on short sentences only.
# - The weights form a soft alignment, learned from translation alone. It follows the
#   information in the encoder states, which is not always the word-for-word alignment: with a
#   left-to-right encoder an article looks at its noun.
# - The additive score is a small learned network, not a similarity. Next (unit 03): the dot
#   product as a score, queries, keys and values with their own projections, and masks.
#
# ## Quiz
#
# Check your understanding: each question gives feedback when you press Check, and Save keeps
# your answers in `quiz_responses/` for your instructor.

# %%
from seq2bert.quiz import show_quiz

show_quiz("02")
