# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# In this unit you build the model that started neural machine translation: an **encoder** RNN
# reads the source sentence into one vector, and a **decoder** RNN writes the target sentence
# from that vector alone. You train it on two tasks generated on the fly (no downloads):
# human-written dates to ISO dates, and a toy English to a toy French. Then you measure where it
# breaks — and that breaking point is the reason attention exists (unit 02).
#
# **By the end you can**
# - turn sentences into padded id tensors with a padding mask, and say why the mask matters;
# - find the encoder's summary of each sentence in a padded batch (the state at its last *real*
#   token);
# - write a loss that ignores padding, and greedy decoding;
# - tell a length-specific weakness from the plain arithmetic of longer outputs.
#
# **Time:** about an hour — 20 minutes to read the lesson, the rest here. Training takes three to
# five minutes on a laptop CPU; set `SEQ2BERT_FAST=1` before `seq2bert.setup` for a
# one-minute pass with smaller data and fewer steps (same code, weaker numbers).
#
# ## Setup

# %%
import numpy as np

import seq2bert
from seq2bert import diagrams, experiments, plot, report
from seq2bert.configs import Seq2SeqConfig
from seq2bert.data import dates
from seq2bert.data.text import Vocab

session = seq2bert.setup("01", "{{fw}}")
sizes = session.sizes
print(session)
print(sizes)

# %% framework="pytorch"
import torch

from seq2bert.torch import ops
from seq2bert.torch.seq2seq import Decoder, Encoder, Seq2Seq
from seq2bert.torch.train import (scalar, teacher_forced_predictions, to_numpy, to_tensors, train_seq2seq,
                                  translate_dataset)

# %% framework="tensorflow"
import tensorflow as tf

from seq2bert.tf import ops
from seq2bert.tf.seq2seq import Decoder, Encoder, Seq2Seq
from seq2bert.tf.train import (scalar, teacher_forced_predictions, to_numpy, to_tensors, train_seq2seq,
                               translate_dataset)

# %% [markdown]
# ## 1. Two tasks, generated on the fly
#
# **Dates.** The same day written in many human ways; the target is always `YYYY-MM-DD`.
# Here is one day in every format the generator knows:

# %%
for name, text in dates.examples().items():
    print(f"{name:>24}  {text}")

# %% [markdown]
# **Toy translation.** English-like sentences from a small grammar, translated into a
# French-like language with real structure: the adjective comes *after* the noun, and
# articles, adjectives and verbs agree in gender and number. Sentences run from 4 to 40 words.

# %%
date_task = experiments.dates_task(sizes.date_train, sizes.eval_pairs, seed=session.seed)
toy_task = experiments.toy_task(sizes.toy_train, sizes.eval_pairs, seed=session.seed)
for source, target in toy_task.test_pairs[:3]:
    print(f"EN ({len(source.split())} words): {source}\nFR: {target}\n")
print(f"dates: {len(date_task.train)} training pairs, vocabularies {len(date_task.src_vocab)} -> {len(date_task.tgt_vocab)}")
print(f"toy:   {len(toy_task.train)} training pairs, vocabularies {len(toy_task.src_vocab)} -> {len(toy_task.tgt_vocab)}")

# %% [markdown]
# ## 2. Tokens, vocabularies and padding
#
# Dates are read character by character, toy sentences word by word. A `Vocab` maps tokens
# to ids; ids 0–3 are reserved for `<pad>`, `<bos>` (begin), `<eos>` (end) and `<unk>`.
# Sentences in a batch have different lengths, so shorter ones are **padded** with id 0.
# The decoder reads `tgt_in` (`<bos>` + target) and learns to predict `tgt_out`
# (target + `<eos>`): the same sequence shifted by one step.

# %%
batch = date_task.train.subset(np.arange(4))
print("source ids (B, S):\n", batch.src)
print("source lengths (B,):", batch.src_len)
print("first source decoded:", "".join(date_task.src_vocab.decode(batch.src[0])))
print("tgt_in[0] :", date_task.tgt_vocab.decode(batch.tgt_in[0]), "<- starts with <bos>, which decode drops")
print("tgt_out[0]:", batch.tgt_out[0], "<- ends with <eos> = 2")

# %% [markdown]
# ### Exercise 1: the padding mask
#
# Write `padding_mask(lengths, max_len)`: given the real length of each sequence, shape `(B,)`,
# return a boolean tensor of shape `(B, max_len)` that is `True` at real tokens and `False` at
# padding. Every later step uses such a mask to make padding invisible. No Python loops needed:
# compare a row of positions `0 … max_len-1` with a column of lengths and let broadcasting work.

# %% framework="pytorch" exercise="padding_mask"
def padding_mask(lengths, max_len):
    """(B,) lengths -> (B, max_len) bool, True at real tokens."""
    # BEGIN SOLUTION: build a (B, max_len) bool mask from the lengths
    positions = torch.arange(max_len)  # (S,)
    return positions[None, :] < lengths[:, None]  # (1, S) < (B, 1) -> (B, S)
    # END SOLUTION

# %% framework="tensorflow" exercise="padding_mask"
def padding_mask(lengths, max_len):
    """(B,) lengths -> (B, max_len) bool, True at real tokens."""
    # BEGIN SOLUTION: build a (B, max_len) bool mask from the lengths
    positions = tf.range(max_len, dtype=lengths.dtype)  # (S,)
    return positions[None, :] < lengths[:, None]  # (1, S) < (B, 1) -> (B, S)
    # END SOLUTION

# %% check="padding_mask" points=1

# %% [markdown]
# The mask of the batch above (1 = real character, 0 = padding):

# %%
src, src_len, tgt_in, tgt_out = to_tensors(batch)
print(np.asarray(padding_mask(src_len, batch.src.shape[1])).astype(int))

# %% [markdown]
# ## 3. The encoder
#
# The whole model at a glance: the encoder reads the source into states $h_1 \dots h_S$; only
# the last one, $c$, reaches the decoder, which starts from it and sees it again at every step.

# %%
diagrams.encoder_decoder(attention=False)

# %% [markdown]
# The encoder embeds each token and runs a GRU over the sequence. It returns the GRU state at
# every position (unused in this unit, the heart of unit 02) and the **final state**: the state
# after each sequence's last *real* token, which must summarise the whole input.
# Here is the course's implementation:

# %%
plot.show_source(Encoder)

# %%
config = Seq2SeqConfig(src_vocab=len(date_task.src_vocab), tgt_vocab=len(date_task.tgt_vocab),
                       embed=sizes.embed, hidden=sizes.hidden, attention=False)
encoder = Encoder(config)
memory, final_state = encoder(src, src_len)
print("source (B, S):", tuple(src.shape))
print("all states (B, S, D):", tuple(memory.shape))
print("final state (B, D):", tuple(final_state.shape))

# %% [markdown]
# ### Exercise 2: the last real state
#
# The course's encoder lets the framework skip padding, so its final state is the one after
# each sentence's last real token. Run the same GRU over the padded batch *without* that help,
# and it simply keeps going through the padding: its state at the last position has read
# `<pad>` tokens and is not the sentence's summary.
#
# Write `last_real_state(outputs, lengths)`: `outputs (B, S, D)` are the states of a padded
# batch, `lengths (B,)` the real lengths; return `(B, D)`, the state at position `length − 1`
# of each sequence. One indexing operation does it, no loop.
#
# Before you run the check: for a sentence of full length S, which position do you pick? And
# for one of length 1?

# %% framework="pytorch" exercise="last_real_state"
def last_real_state(outputs, lengths):
    """(B, S, D) states, (B,) lengths -> (B, D): each sequence's state at its last real token."""
    # BEGIN SOLUTION: pick position length - 1 of every sequence
    rows = torch.arange(outputs.shape[0])  # (B,)
    return outputs[rows, lengths - 1]  # one (row, position) pair per sequence -> (B, D)
    # END SOLUTION

# %% framework="tensorflow" exercise="last_real_state"
def last_real_state(outputs, lengths):
    """(B, S, D) states, (B,) lengths -> (B, D): each sequence's state at its last real token."""
    # BEGIN SOLUTION: pick position length - 1 of every sequence
    return tf.gather(outputs, lengths - 1, axis=1, batch_dims=1)  # (B, S, D), (B,) -> (B, D)
    # END SOLUTION

# %% check="last_real_state" points=1

# %% [markdown]
# The same GRU weights, run over the padded batch without skipping padding: the state at the
# last position differs from the encoder's final state for every padded sentence, while your
# gathered state is exactly the encoder's.

# %% framework="pytorch"
unpacked, _ = encoder.rnn(encoder.embedding(src))  # through padding too: (B, S, D)

# %% framework="tensorflow"
unpacked, _ = encoder.rnn(encoder.embedding(src))  # no mask: through padding too, (B, S, D)

# %%
def largest_gap(a, b):
    """Max abs difference per sequence: (B, D), (B, D) -> (B,)."""
    return np.abs(to_numpy(a) - to_numpy(b)).max(axis=-1)


print("source lengths:            ", np.asarray(src_len))
print("last position vs final:    ", np.round(largest_gap(unpacked[:, -1], final_state), 4))
print("your gather vs final:      ", np.round(largest_gap(last_real_state(unpacked, src_len), final_state), 6))

# %% [markdown]
# ## 4. The decoder and teacher forcing
#
# The decoder starts from the encoder's final state $c$, and, as in Cho et al. (2014), it is
# also given $c$ again at every step next to the previous token. During training it is fed the true previous
# token at every step (**teacher forcing**), so one pass over `tgt_in` yields a score for every
# vocabulary entry at every position: logits of shape `(B, T, V)`.

# %%
plot.show_source(Decoder)

# %%
decoder = Decoder(config)
logits, _ = decoder(tgt_in, final_state, final_state, memory, None)  # state, then c
print("decoder input tgt_in (B, T):", tuple(tgt_in.shape))
print("logits (B, T, V):", tuple(logits.shape))

# %% [markdown]
# ### Exercise 3: a loss that ignores padding
#
# Write `masked_cross_entropy(logits, targets, pad_id)`: the cross-entropy of `logits (B, T, V)`
# against `targets (B, T)`, **averaged over the non-padding target tokens only**. Padding
# positions must contribute nothing, and a batch with many short targets must not get a smaller
# loss just because it holds more padding.

# %% framework="pytorch" exercise="masked_cross_entropy"
def masked_cross_entropy(logits, targets, pad_id):
    """Mean cross-entropy over the non-padding targets. logits (B, T, V), targets (B, T)."""
    # BEGIN SOLUTION: average the per-token cross-entropy over non-padding tokens
    per_token = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none")  # (B, T)
    keep = (targets != pad_id).float()  # (B, T)
    return (per_token * keep).sum() / keep.sum()
    # END SOLUTION

# %% framework="tensorflow" exercise="masked_cross_entropy"
def masked_cross_entropy(logits, targets, pad_id):
    """Mean cross-entropy over the non-padding targets. logits (B, T, V), targets (B, T)."""
    # BEGIN SOLUTION: average the per-token cross-entropy over non-padding tokens
    per_token = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits)  # (B, T)
    keep = tf.cast(targets != pad_id, per_token.dtype)  # (B, T)
    return tf.reduce_sum(per_token * keep) / tf.reduce_sum(keep)
    # END SOLUTION

# %% check="masked_cross_entropy" points=2

# %% [markdown]
# An untrained decoder spreads its bets evenly, so its loss should be close to
# $\ln V$, the loss of a uniform guess over the whole vocabulary:

# %%
print(f"loss of the untrained decoder: {scalar(masked_cross_entropy(logits, tgt_out, Vocab.PAD)):.3f}")
print(f"ln V = ln {config.tgt_vocab} = {np.log(config.tgt_vocab):.3f}")

# %% [markdown]
# ## 5. Training on dates
#
# `Seq2Seq` puts the encoder and decoder together; `train_seq2seq` runs Adam with teacher
# forcing, using *your* loss function if it passed its check. Before each update it clips the
# gradient to norm 1.0: a recurrent network's gradient can grow step by step through time, and
# one huge update would undo what it had learned.

# %%
date_model = Seq2Seq(config, seed=session.seed)
date_history = train_seq2seq(date_model, date_task.train, sizes.date_steps, sizes.batch_size,
                             sizes.learning_rate, seed=session.seed, loss_fn=masked_cross_entropy, label="dates")
plot.training_curves({"dates, no attention": date_history}, smooth=20, title="Training loss")

# %%
assert np.mean(date_history[-20:]) < 0.5 * np.mean(date_history[:20]), "the date model did not learn"

# %% [markdown]
# ### Exercise 4: greedy decoding
#
# At test time there is no true previous token to feed in. **Greedy decoding** feeds the
# model's own best guess back in, one step at a time. Write
# `greedy_decode(step, state, batch_size, bos_id, eos_id, pad_id, max_len)` where
# `step(prev_tokens, state)` returns `(logits, new_state)` with logits of shape `(B, V)`:
#
# 1. start every sequence with `bos_id`;
# 2. at each step take the arg-max token of every sequence and feed it back in;
# 3. once a sequence has produced `eos_id`, every later position of it is `pad_id`;
# 4. stop after `max_len` steps, or earlier once every sequence has produced `eos_id`.
#
# Return the tokens as an integer tensor of shape `(B, L)` with `L ≤ max_len`.

# %% framework="pytorch" exercise="greedy_decode"
def greedy_decode(step, state, batch_size, bos_id, eos_id, pad_id, max_len):
    """Feed back the arg-max token each step; pad after <eos>; stop when all are done."""
    # BEGIN SOLUTION: decode greedily, padding after each sequence's <eos>
    prev = torch.full((batch_size,), bos_id, dtype=torch.long)
    done = torch.zeros(batch_size, dtype=torch.bool)
    outputs = []
    for _ in range(max_len):
        logits, state = step(prev, state)
        token = logits.argmax(dim=-1)  # (B, V) -> (B,)
        token = torch.where(done, torch.full_like(token, pad_id), token)
        outputs.append(token)
        done = done | (token == eos_id)
        prev = token
        if bool(done.all()):
            break
    return torch.stack(outputs, dim=1)  # L x (B,) -> (B, L)
    # END SOLUTION

# %% framework="tensorflow" exercise="greedy_decode"
def greedy_decode(step, state, batch_size, bos_id, eos_id, pad_id, max_len):
    """Feed back the arg-max token each step; pad after <eos>; stop when all are done."""
    # BEGIN SOLUTION: decode greedily, padding after each sequence's <eos>
    prev = tf.fill([batch_size], tf.constant(bos_id, tf.int64))
    done = tf.zeros([batch_size], tf.bool)
    outputs = []
    for _ in range(max_len):
        logits, state = step(prev, state)
        token = tf.argmax(logits, axis=-1)  # (B, V) -> (B,)
        token = tf.where(done, tf.constant(pad_id, tf.int64), token)
        outputs.append(token)
        done = done | (token == eos_id)
        prev = token
        if bool(tf.reduce_all(done)):
            break
    return tf.stack(outputs, axis=1)  # L x (B,) -> (B, L)
    # END SOLUTION

# %% check="greedy_decode" points=2

# %% [markdown]
# Your decoder, driving the trained date model on five held-out dates:

# %%
sample = date_task.test.subset(np.arange(5))
src, src_len, _, _ = to_tensors(sample)
memory, state, mask, cache = date_model.encode(src, src_len)
tokens = greedy_decode(lambda prev, s: date_model.decoder.step(prev, s, cache, memory, mask)[:2],
                       state, 5, Vocab.BOS, Vocab.EOS, Vocab.PAD, date_task.max_target_len)
for (source, target), ids in zip(date_task.test_pairs[:5], np.asarray(tokens).tolist()):
    print(f"{source:>30}  ->  {''.join(date_task.tgt_vocab.decode(ids)):<12} (reference {target})")

# %% [markdown]
# ## 6. How good is it?
#
# Three measures on held-out pairs: **exact match** (the whole output is right), **token
# accuracy** (the share of reference positions predicted correctly) and **BLEU** (n-gram overlap,
# the usual translation score, 0–100, computed with `sacrebleu`).

# %%
date_predictions, _ = translate_dataset(date_model, date_task.test, date_task.max_target_len)
date_scores = experiments.score(date_task, date_predictions)
print(f"dates, no attention: exact match {date_scores['exact_match']:.3f}, "
      f"token accuracy {date_scores['token_accuracy']:.3f}, BLEU {date_scores['bleu']:.1f}")
for source, reference, prediction in experiments.examples(date_task, date_predictions, 8, joiner=""):
    print(f"{'✓' if prediction == reference else '✗'} {source:>30} -> {prediction:<12} ({reference})")
report.headline("dates exact match (no attention)", date_scores["exact_match"])

# %% [markdown]
# ## 7. Toy translation and the bottleneck
#
# Now the same architecture on sentences of 4 to 40 words. Everything the decoder knows about
# the source must squeeze through one vector of `D` numbers, however long the sentence.

# %%
toy_config = Seq2SeqConfig(src_vocab=len(toy_task.src_vocab), tgt_vocab=len(toy_task.tgt_vocab),
                           embed=sizes.embed, hidden=sizes.hidden, attention=False)
toy_model = Seq2Seq(toy_config, seed=session.seed)
toy_history = train_seq2seq(toy_model, toy_task.train, sizes.toy_steps, sizes.batch_size,
                            sizes.learning_rate, seed=session.seed, loss_fn=masked_cross_entropy, label="toy translation")
toy_predictions, _ = translate_dataset(toy_model, toy_task.test, toy_task.max_target_len)
toy_scores = experiments.score(toy_task, toy_predictions)
plot.training_curves({"toy translation, no attention": toy_history}, smooth=20, title="Training loss")

# %%
print(f"toy translation, no attention: token accuracy {toy_scores['token_accuracy']:.3f}, BLEU {toy_scores['bleu']:.1f}")
for bucket, accuracy in toy_scores["token_accuracy_by_length"].items():
    print(f"  source {bucket:>5} words: token accuracy {accuracy:.3f}  "
          f"(exact match {toy_scores['exact_match_by_length'][bucket]:.3f}, "
          f"{toy_scores['count_by_length'][bucket]} sentences)")
plot.quality_vs_length({"no attention": toy_scores["token_accuracy_by_length"]},
                       title="Quality falls with source length")

# %% [markdown]
# A few held-out translations, short and long (✓ exactly right):

# %%
for index in experiments.pick_by_length(toy_task):
    source, reference = toy_task.test_pairs[index]
    output = " ".join(toy_task.tgt_vocab.decode(toy_predictions[index]))
    print(f"{'✓' if output == reference else '✗'} EN  {source}\n  REF {reference}\n  OUT {output}\n")

# %% [markdown]
# BLEU, the usual translation score (and Bahdanau et al.'s), tells the same story as token
# accuracy:

# %%
plot.quality_vs_length({"no attention": toy_scores["bleu_by_length"]}, ylabel="BLEU",
                       title="BLEU by source length")

# %% [markdown]
# **Before you run the next cell, predict:** in a long sentence, which target words will the
# model get wrong — the first ones, the last ones, or all alike?
#
# To find out, measure accuracy at each target position. Free-running output would blur that:
# one missing or extra word shifts every later word out of place. So feed the decoder the true
# previous words (teacher forcing, as in training) and ask only for its best guess at each
# position: every position is then judged on its own.

# %%
teacher_forced = teacher_forced_predictions(toy_model, toy_task.test)
curves = experiments.accuracy_by_position(toy_task, teacher_forced)
figure = plot.training_curves({name: list(curve.values()) for name, curve in curves.items()},
                              ylabel="token accuracy at this position (teacher forcing)",
                              title="Accuracy along the target: short vs long sources")
figure.axes[0].set_xlabel("target position")
figure

# %%
long_curve = list(curves["31–40 words"].values())
print(f"long sources, teacher-forced accuracy: first word {long_curve[0]:.2f}, words 2-10 "
      f"{np.mean(long_curve[1:10]):.2f}, words 11-30 {np.mean(long_curve[10:30]):.2f}, last ten "
      f"{np.mean(long_curve[-10:]):.2f}")
report.headline("toy teacher-forced accuracy, long sources, words 2-10 (no attention)", np.mean(long_curve[1:10]))
report.headline("toy teacher-forced accuracy, long sources, words 11-30 (no attention)", np.mean(long_curve[10:30]))
report.headline("toy teacher-forced accuracy, long sources, last ten words (no attention)", np.mean(long_curve[-10:]))

# %% [markdown]
# In full mode, for long sources the first words come out well; accuracy then falls along the
# sentence, and picks up a little over the last words, whose source words the encoder read
# last. The single vector keeps the beginning of the sentence (what the decoder needs first)
# and its end (what the encoder read most recently) better than the middle, and not well
# enough for either. Short sentences stay right to the end. (In fast mode the model trains
# only briefly: after the first word its accuracy on long sentences is low everywhere.)
#
# **Exact match needs care.** It falls with length for *any* model that makes per-token
# errors: with per-token accuracy p, a sentence of T tokens is all right with probability
# about p^T if errors are independent (0.99^40 ≈ 0.67). So a falling exact-match curve is not
# by itself evidence of a bottleneck; token accuracy or BLEU falling is. The dashed line below
# is p^T with p the teacher-forced accuracy of each bucket:

# %%
independent = experiments.exact_match_if_independent(toy_task, teacher_forced)
figure = plot.quality_vs_length({"exact match": {b: row["exact_match"] for b, row in independent.items()},
                                 "p^T (independent errors)": {b: row["expected"] for b, row in independent.items()}},
                                ylabel="exact match", title="Exact match against what per-token errors explain")
figure.axes[0].lines[1].set_linestyle("--")
figure

# %%
by_length = toy_scores["token_accuracy_by_length"]
gap = by_length["4–10"] - by_length["31–40"]
report.headline("toy token accuracy, 4–10 minus 31–40 words (no attention)", gap)
assert gap >= 0.3, f"expected a clear drop with length, got {gap:.3f}"

# %% [markdown]
# ## 8. What you have seen
#
# - An encoder–decoder learns the dates (in full mode every held-out date exactly; fast mode
#   trains too briefly for that); it learns to translate short toy sentences and fails on long
#   ones.
# - In a padded batch the sentence's summary is the state at its last *real* token.
# - On long sentences token accuracy and BLEU fall, at every target position after the first:
#   one fixed-size vector cannot carry the whole source. (Exact match falls with length for
#   any model with per-token errors, so it alone proves nothing.)
# - Unit 02 removes the bottleneck: the decoder looks back at *every* encoder state, and
#   learns where to look.
#
# ## Quiz
#
# Check your understanding: each question gives feedback when you press Check, and Save keeps
# your answers in `quiz_responses/` for your instructor.

# %%
from seq2bert.quiz import show_quiz

show_quiz("01")
