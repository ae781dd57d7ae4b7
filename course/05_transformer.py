# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# Units 03 and 04 built attention, heads and positions. This unit puts them together into the
# model of Vaswani et al. (2017): an **encoder** of self-attention layers reads the source, a
# **decoder** of masked self-attention and cross-attention layers writes the target, and the
# whole thing trains on unit 01's toy translation task — so you can set it next to the two
# recurrent models you trained there and in unit 02, sentence length by sentence length and
# second by second.
#
# **By the end you can**
# - write the position-wise feed-forward network and both orders of residual + layer norm
#   (the paper's post-LN and the pre-LN most later models use), and say which trains more
#   stably and why;
# - assemble a decoder layer — masked self-attention, cross-attention, feed-forward — and show
#   on numbers that the causal mask keeps every position from reading the future;
# - explain embedding scaling by $\sqrt{D}$ and weight tying, and what goes wrong when the token
#   vectors drown the positional encoding;
# - train with label smoothing, Adam(0.9, 0.98, 10⁻⁹) and the warm-up + inverse-square-root
#   learning-rate schedule;
# - decode greedily with a key/value cache and with beam search, and say what each costs and
#   buys;
# - compare the Transformer with the recurrent models per length bucket and per second of
#   training, and read its cross-attention heads.
#
# **Time:** about 2 hours — 40 minutes for the lesson, the rest here. The notebook trains one
# Transformer in full mode for several minutes on a laptop CPU, plus the recurrent models and
# ablations it is compared with (expect 10 minutes or more in all); set `SEQ2BERT_FAST=1` before
# `seq2bert.setup` for a pass of about two minutes with shorter sentences and fewer steps (same
# code, same asserts, weaker numbers).
#
# ## Setup

# %%
import math
import time

import numpy as np

import seq2bert
from seq2bert import decoding_example, diagrams, experiments, plot, report
from seq2bert.configs import TransformerConfig
from seq2bert.data.text import Vocab
from seq2bert.experiments import transformer as experiment
from seq2bert.schedules import vaswani_peak

session = seq2bert.setup("05", "{{fw}}")
sizes = session.sizes
rng = np.random.default_rng(session.seed)
print(session)
print(sizes)

# %% framework="pytorch"
import torch

from seq2bert.torch import attention, decoding, ops, transformer
from seq2bert.torch.train import tensor, to_numpy, train_seq2seq, translate_dataset

# %% framework="tensorflow"
import tensorflow as tf

from seq2bert.tf import attention, decoding, ops, transformer
from seq2bert.tf.train import tensor, to_numpy, train_seq2seq, translate_dataset

# %% [markdown]
# ## 1. The architecture
#
# Two stacks. The **encoder** turns the source tokens into one vector per token, the *memory*,
# with layers of self-attention and a feed-forward network (unit 04's encoder, exactly). The
# **decoder** writes the target one token at a time; each of its layers has three parts:
# masked self-attention over the target written so far, **cross-attention** from the target to
# the memory (unit 02's attention, now with queries, keys and values), and a feed-forward
# network. A linear layer on top turns the decoder's last vectors into scores over the target
# vocabulary.
#
# Every part is wrapped the same way: a residual connection (the part's output is *added* to
# its input) and a layer normalisation. The sections below build each piece, run it on a tiny
# input and show the shapes, then train the whole model.
#
# Shapes use the course's letters: B batch, S source length, T target length, D width, H heads,
# Dh = D/H, F feed-forward width, V target vocabulary.

# %%
diagrams.transformer()

# %% [markdown]
# ## 2. The position-wise feed-forward network
#
# After attention has mixed information *between* positions, each position is transformed on
# its own by a two-layer network, the same weights at every position:
#
# $$\text{FFN}(x) = \max(0,\ x W_1 + b_1)\, W_2 + b_2, \qquad W_1 \in \mathbb{R}^{D \times F},\
# W_2 \in \mathbb{R}^{F \times D}$$
#
# The paper uses $F = 4D$ (2048 for $D = 512$); this unit's model has $D = 128$, $F = 256$.
# Nearly half of a layer's parameters sit here. On a tiny input — 2 sequences of 3 tokens,
# width 8, $F = 16$ — the output has the input's shape, and changing one token changes only
# that token's output:

# %%
ffn = transformer.FeedForward(8, 16)
tiny = rng.normal(size=(2, 3, 8)).astype(np.float32)  # (B, T, D)
changed = tiny.copy()
changed[0, 1] += 1.0  # move token 2 of sequence 1 only
before, after = to_numpy(ffn(tensor(tiny))), to_numpy(ffn(tensor(changed)))  # (B, T, D) -> (B, T, F) -> (B, T, D)
print("x (B, T, D):", tiny.shape, "-> FFN(x) (B, T, D):", before.shape)
moved = [tuple(int(i) for i in where) for where in np.argwhere(np.abs(after - before).max(-1) > 0)]  # (sequence, position)
print("outputs that moved (sequence, position):", moved)
assert moved == [(0, 1)]

# %% [markdown]
# ## 3. Residual connections and layer normalisation, in two orders
#
# A sub-layer $f$ (attention or FFN) never replaces its input: its output is added to it, so
# every layer only *edits* a running vector, the **residual stream**, and gradients reach early
# layers through the additions unchanged. Layer normalisation
# $\text{LN}(x) = \gamma \odot (x - \mu) / \sqrt{\sigma^2 + \epsilon} + \beta$ (mean $\mu$ and
# variance $\sigma^2$ over the $D$ features of one token) keeps the scale in check. Where it
# goes is a choice:
#
# $$\text{post-LN (the paper):}\quad x \leftarrow \text{LN}\big(x + f(x)\big) \qquad\qquad
# \text{pre-LN:}\quad x \leftarrow x + f\big(\text{LN}(x)\big)$$
#
# Post-LN normalises the stream itself after every sub-layer, so every path from the loss back
# to an early layer passes through all the later layer norms. Pre-LN normalises only the copy a
# sub-layer reads; the stream itself is a plain sum, and one final LN closes the stack. Xiong et
# al. (2020) showed that post-LN's gradients near the output are large at the start of
# training, which is why it needs a learning-rate warm-up; pre-LN trains without one. This
# course's models default to pre-LN; `norm="post"` gives the paper's order. Section 15 trains
# both.

# %%
diagrams.pre_post_ln()

# %% [markdown]
# The same encoder layer in both orders, on a tiny input: the stream of pre-LN keeps its own
# scale (here the input's, about 3), while post-LN's output always has each token's features
# at mean 0, standard deviation 1.

# %%
def layer_config(norm, **changes):
    """A tiny TransformerConfig (D 8, 2 heads, F 16, no dropout) for looking at layers."""
    return TransformerConfig(src_vocab=12, tgt_vocab=10, width=8, heads=2, ffn=16, norm=norm, dropout=0.0, **changes)


stream = tensor(3.0 * rng.normal(size=(2, 3, 8)).astype(np.float32))  # (B, T, D), RMS about 3
for norm in ("pre", "post"):
    layer = transformer.EncoderLayer(layer_config(norm).encoder_config())
    out, weights = layer(stream)  # (B, S, D), (B, H, S, S)
    out = to_numpy(out)
    print(f"{norm}-LN encoder layer: x {tuple(stream.shape)} -> {out.shape}, weights {tuple(weights.shape)}; "
          f"per-token std of the output {out.std(-1).mean():.2f}")

# %% [markdown]
# ## 4. The encoder: embeddings, positions, a stack of layers
#
# The encoder is unit 04's, with the padding mask of unit 03: source tokens are embedded,
# positions are added (sinusoidal here), $N$ layers run, and (pre-LN only) a final LN closes the
# stack. The output, one $D$-vector per source token, is the **memory** the decoder reads.
#
# `Transformer.encode(src, src_len)` returns the memory and the source mask (True = a real
# token). On a batch of two sources of lengths 5 and 3:

# %%
tiny_config = layer_config("pre")
tiny_model = transformer.Transformer(tiny_config, seed=session.seed)
tiny_src = tensor(np.array([[4, 5, 6, 7, 8], [9, 10, 11, 0, 0]]))  # (B, S), 0 = <pad>
tiny_src_len = tensor(np.array([5, 3]))
memory, src_mask = tiny_model.encode(tiny_src, tiny_src_len)  # (B, S, D), (B, S)
print("src (B, S):", tuple(tiny_src.shape), "-> memory (B, S, D):", tuple(memory.shape),
      " src_mask (B, S):\n", to_numpy(src_mask).astype(int))

# %% [markdown]
# ## 5. The decoder layer
#
# A decoder layer has three sub-layers, each with its residual connection and layer norm:
# 1. **masked self-attention** over the target tokens so far: queries, keys and values from
#    the target stream $x$, with the **causal** mask (position $t$ may read positions
#    $0 \ldots t$) combined with the target padding mask;
# 2. **cross-attention**: queries from $x$, keys and values from the encoder's memory, with the
#    source padding mask — this is where the target reads the source, and whose weights
#    section 13 draws;
# 3. the **feed-forward** network.
#
# In pre-LN order, with $\text{SA}$, $\text{CA}$ the two attentions:
#
# $$x \leftarrow x + \text{SA}(\text{LN}_1 x), \qquad x \leftarrow x + \text{CA}(\text{LN}_2 x,\
# \text{memory}), \qquad x \leftarrow x + \text{FFN}(\text{LN}_3 x)$$
#
# and in post-LN order $x \leftarrow \text{LN}_1(x + \text{SA}(x))$, then
# $\text{LN}_2(x + \text{CA}(x, \text{memory}))$, then $\text{LN}_3(x + \text{FFN}(x))$.
# Dropout applies to each sub-layer's output before it is added.
#
# ### Exercise 1: decoder_layer
#
# Write `decoder_layer(layer, x, memory, self_mask, memory_mask)` → `(x, cross_weights)`: one
# decoder layer's forward pass, reading only these attributes of `layer`:
# `self_attention_norm`, `self_attention`, `cross_attention_norm`, `cross_attention`,
# `ffn_norm`, `ffn`, `dropout` and `norm_first` (True: pre-LN, False: post-LN). The attentions
# are unit 04's `MultiHeadAttention`: `attention(query, key, value, mask)` → `(output,
# weights)`. `x` is `(B, T, D)`, `memory` `(B, S, D)`, `self_mask` broadcasts to
# `(B, H, T, T)` and `memory_mask` to `(B, H, T, S)`; return the new `x` and the
# cross-attention weights `(B, H, T, S)`.
#
# Predict first: in which sub-layer do the keys come from somewhere other than `x`?

# %% exercise="decoder_layer"
def decoder_layer(layer, x, memory, self_mask, memory_mask):
    """One decoder layer: masked self-attention, cross-attention, feed-forward -> x (B, T, D), cross weights (B, H, T, S)."""
    # BEGIN SOLUTION: three residual sub-layers; pre-LN normalises what each reads, post-LN what each returns
    if layer.norm_first:
        h = layer.self_attention_norm(x)
        x = x + layer.dropout(layer.self_attention(h, h, h, self_mask)[0])
        attended, cross_weights = layer.cross_attention(layer.cross_attention_norm(x), memory, memory, memory_mask)
        x = x + layer.dropout(attended)
        return x + layer.dropout(layer.ffn(layer.ffn_norm(x))), cross_weights
    x = layer.self_attention_norm(x + layer.dropout(layer.self_attention(x, x, x, self_mask)[0]))
    attended, cross_weights = layer.cross_attention(x, memory, memory, memory_mask)
    x = layer.cross_attention_norm(x + layer.dropout(attended))
    return layer.ffn_norm(x + layer.dropout(layer.ffn(x))), cross_weights
    # END SOLUTION

# %% check="decoder_layer" points=3

# %% [markdown]
# Your layer on the tiny batch: two targets of lengths 4 and 2 (padded to 4) reading the
# memory above. The self mask is unit 03's `combine_masks(target padding, causal)`, the memory
# mask the source padding lifted to `(B, 1, 1, S)`. Compare with the course's `DecoderLayer`:

# %%
tiny_tgt = tensor(np.array([[1, 4, 5, 6], [1, 7, 0, 0]]))  # (B, T): <bos> first, 0 = <pad>
x = tensor(rng.normal(size=(2, 4, 8)).astype(np.float32))  # (B, T, D): stand-in target vectors
causal = tensor(np.tril(np.ones((4, 4), dtype=bool)))  # (T, T): query t may read keys 0..t
self_mask = attention.combine_masks(tiny_tgt != Vocab.PAD, causal)  # (B, T) and (T, T) -> (B, 1, T, T)
memory_mask = src_mask[:, None, None, :]  # (B, S) -> (B, 1, 1, S)
first_layer = tiny_model.decoder.layers[0]
yours, yours_weights = decoder_layer(first_layer, x, memory, self_mask, memory_mask)
course, course_weights = first_layer(x, memory, self_mask, memory_mask)
print("x (B, T, D):", tuple(x.shape), " memory (B, S, D):", tuple(memory.shape), " self_mask:", tuple(self_mask.shape),
      " memory_mask:", tuple(memory_mask.shape))
print("-> x (B, T, D):", tuple(yours.shape), " cross weights (B, H, T, S):", tuple(yours_weights.shape))
print("cross weights of sequence 2 on its two padding keys:", float(to_numpy(yours_weights)[1, ..., 3:].sum()))
difference = float(np.abs(to_numpy(yours) - to_numpy(course)).max())
print(f"largest difference from the course's DecoderLayer: {difference:.1e}")
assert difference < 1e-5

# %% [markdown]
# ### The causal mask at work
#
# During training the decoder sees the whole target at once (teacher forcing), so without the
# causal mask position $t$ could simply read token $t+1$ — the answer it must predict. With the
# mask, nothing a position computes depends on later tokens. Test it on the whole tiny model:
# change the last target token and compare the logits position by position.

# %%
logits, _ = tiny_model(tiny_src, tiny_src_len, tiny_tgt)  # (B, T, V)
later = to_numpy(tiny_tgt).copy()
later[0, 3] = 9  # a different last token in sequence 1
later_logits, _ = tiny_model(tiny_src, tiny_src_len, tensor(later))
moved = np.abs(to_numpy(later_logits) - to_numpy(logits)).max(-1)[0]  # (T,) for sequence 1
print("largest change of the logits at positions 1..4 of sequence 1:", ", ".join(f"{m:.4f}" for m in moved))
assert np.all(moved[:3] < 1e-6) and moved[3] > 1e-3

# %% [markdown]
# ## 6. The whole model: embedding scale, weight tying, parameters
#
# Two details of the paper sit at the ends of the model.
#
# **Scaling the embeddings by √D.** Token vectors are stored small, drawn $N(0, 1/D)$, and
# multiplied by $\sqrt{D}$ on the way in, so they enter with root-mean-square (RMS) about 1 —
# the same scale as the positional encoding added to them, whose sines and cosines have RMS
# $1/\sqrt 2 \approx 0.71$. Neither drowns the other. Section 7 shows what happens otherwise.
#
# **Tying.** The output layer scores every target token $v$ by a dot product of the decoder's
# last vector with a $D$-vector per token, $\text{logits} = x E^\top + b$. The target embedding
# matrix $E$ (V, D) already has one $D$-vector per token, so the model reuses it (Press and
# Wolf 2017): $V \times D$ parameters fewer, and a token's input and output vectors learn
# together. `tie_embeddings=False` gives the output layer its own matrix.
#
# The unit's model — D 128, 4 heads, 2 + 2 layers, F 256 — on the toy task's vocabularies:

# %%
task = experiments.toy_task(sizes.toy_train, sizes.eval_pairs, seed=session.seed, max_words=sizes.max_words)
config = experiment.transformer_config(task, sizes)
model = transformer.Transformer(config, seed=session.seed)
untied = transformer.Transformer(experiment.transformer_config(task, sizes, tie_embeddings=False), seed=session.seed)
tied_count, untied_count = transformer.count_parameters(model), transformer.count_parameters(untied)
print(config)
print(f"vocabularies: source {config.src_vocab}, target {config.tgt_vocab}")
print(f"parameters: {tied_count:,} tied, {untied_count:,} untied (difference {untied_count - tied_count:,} "
      f"= V x D = {config.tgt_vocab} x {config.width})")
report.headline("Transformer parameters (tied)", tied_count)
assert untied_count - tied_count == config.tgt_vocab * config.width

# %% [markdown]
# ## 7. Why the √D scale needs small embeddings
#
# The scale only works together with the $N(0, 1/D)$ draw. Suppose instead the embeddings were
# drawn $N(0, 1)$ — the default of `nn.Embedding` and of many tutorials — and *still* multiplied
# by $\sqrt{D}$.
#
# **Predict before you run:** at $D = 128$, what is the RMS of a token vector as it enters the
# first layer? And of the positional encoding added to it?

# %%
scale = experiment.embedding_scale(session.framework, task, sizes, seed=session.seed)
print(f"as built, N(0, 1/D) x sqrt(D): token RMS {scale['token_rms']:.2f}, positional encoding RMS "
      f"{scale['position_rms']:.2f} (ratio {scale['ratio']:.1f})")
print(f"N(0, 1) x sqrt(D):             token RMS {scale['token_rms_scaled']:.2f}, positional encoding RMS "
      f"{scale['position_rms']:.2f} (ratio {scale['ratio_scaled']:.1f})")
report.headline("token RMS / position RMS, N(0, 1) x sqrt(D) embeddings", scale["ratio_scaled"])
assert 0.8 < scale["token_rms"] < 1.2 and scale["ratio_scaled"] > 10

# %% [markdown]
# About 11 against 0.7: the position is a ripple on a wave sixteen times taller. Attention
# still *could* dig it out, but every layer starts from vectors that are almost pure token
# identity, and the model has to learn order through that noise. In calibration the same model
# reached only 9 % exact match after 750 steps instead of about 92 %. Full mode trains it
# (section 15); fast mode shows only the RMS above.
#
# ## 8. Label smoothing
#
# The loss of units 01–02 pushed the probability of the right token towards 1, which needs
# logits growing without bound. **Label smoothing** (Szegedy et al. 2016) trains towards a
# softened target instead: with $\varepsilon = 0.1$, the right token gets $1 - \varepsilon$ and
# $\varepsilon / V$ is spread over **every** class of the vocabulary (the right one included,
# as `torch`'s `label_smoothing=` and Keras's do):
#
# $$q_v = (1 - \varepsilon)\,[v = y] + \frac{\varepsilon}{V}, \qquad
# \mathcal{L} = -\sum_v q_v \log p_v = (1 - \varepsilon)\,(-\log p_y) + \varepsilon\,
# \frac{1}{V}\sum_v (-\log p_v)$$
#
# averaged over the real (non-padding) target tokens. The model becomes less sure of itself:
# worse perplexity, better BLEU, said the paper.
#
# ### Exercise 2: label_smoothed_cross_entropy
#
# Write `label_smoothed_cross_entropy(logits, targets, pad_id, smoothing=0.1)`: logits
# `(B, T, V)`, targets `(B, T)` integer ids; return the scalar mean of $\mathcal{L}$ over the
# positions whose target is not `pad_id`. With `smoothing=0` it must equal unit 01's
# `masked_cross_entropy`. Use a log-softmax, not `log(softmax(...))`.

# %% framework="pytorch" exercise="label_smoothed_cross_entropy"
def label_smoothed_cross_entropy(logits, targets, pad_id, smoothing=0.1):
    """Mean over non-PAD targets of -sum_v q_v log p_v, q = (1 - eps) one-hot + eps / V."""
    # BEGIN SOLUTION: mix the true token's -log p with the mean -log p over all V classes, average over real tokens
    log_probs = torch.log_softmax(logits, dim=-1)  # (B, T, V)
    true_token = -log_probs.gather(-1, targets[..., None])[..., 0]  # (B, T, 1) -> (B, T)
    every_class = -log_probs.mean(dim=-1)  # (B, T): the eps / V share, summed over V classes
    loss = (1 - smoothing) * true_token + smoothing * every_class  # (B, T)
    real = (targets != pad_id).to(loss.dtype)  # (B, T)
    return (loss * real).sum() / real.sum()
    # END SOLUTION

# %% framework="tensorflow" exercise="label_smoothed_cross_entropy"
def label_smoothed_cross_entropy(logits, targets, pad_id, smoothing=0.1):
    """Mean over non-PAD targets of -sum_v q_v log p_v, q = (1 - eps) one-hot + eps / V."""
    # BEGIN SOLUTION: mix the true token's -log p with the mean -log p over all V classes, average over real tokens
    log_probs = tf.nn.log_softmax(logits, axis=-1)  # (B, T, V)
    true_token = -tf.gather(log_probs, targets, batch_dims=2)  # (B, T, V) at (B, T) ids -> (B, T)
    every_class = -tf.reduce_mean(log_probs, axis=-1)  # (B, T): the eps / V share, summed over V classes
    loss = (1 - smoothing) * true_token + smoothing * every_class  # (B, T)
    real = tf.cast(targets != pad_id, loss.dtype)  # (B, T)
    return tf.reduce_sum(loss * real) / tf.reduce_sum(real)
    # END SOLUTION

# %% check="label_smoothed_cross_entropy" points=2

# %% [markdown]
# On a tiny example — one sentence of 3 target positions (the last one padding), a vocabulary
# of 4 — your loss with $\varepsilon = 0$ equals `masked_cross_entropy`, and grows with
# $\varepsilon$ for a confident model:

# %%
smoothing_logits = tensor(np.array([[[4.0, 0.0, 0.0, 0.0], [0.0, 3.0, 1.0, 0.0], [9.0, 9.0, 9.0, 9.0]]]))  # (B, T, V)
smoothing_targets = tensor(np.array([[0, 1, 3]]))  # (B, T); id 3 plays PAD here
for eps in (0.0, 0.1, 0.3):
    loss = float(to_numpy(label_smoothed_cross_entropy(smoothing_logits, smoothing_targets, 3, eps)))
    print(f"smoothing {eps}: loss {loss:.4f}")
plain = float(to_numpy(ops.masked_cross_entropy(smoothing_logits, smoothing_targets, 3)))
print(f"masked_cross_entropy: {plain:.4f}")
assert abs(float(to_numpy(label_smoothed_cross_entropy(smoothing_logits, smoothing_targets, 3, 0.0))) - plain) < 1e-5

# %% [markdown]
# ## 9. The learning-rate schedule
#
# Adam with $\beta_2 = 0.98$ and $\epsilon = 10^{-9}$ (the paper's values), and a learning rate
# that rises linearly for `warmup` steps and then decays as $1/\sqrt{\text{step}}$:
#
# $$\text{lr}(s) = \text{peak} \cdot \min\!\left(\frac{s}{\text{warmup}},\
# \sqrt{\frac{\text{warmup}}{s}}\right), \qquad s = 1, 2, \ldots$$
#
# The paper writes it as $D^{-1/2} \min(s^{-1/2},\ s \cdot \text{warmup}^{-3/2})$ — the same
# curve, with peak $D^{-1/2}\,\text{warmup}^{-1/2}$ reached at $s = \text{warmup}$ (0.0007 for
# their $D = 512$, warm-up 4000). Early steps are small because Adam's second-moment estimates
# are still poor and (in post-LN) the gradients near the output are large; the decay lets the
# model settle.
#
# ### Exercise 3: transformer_learning_rate
#
# Write `transformer_learning_rate(step, peak, warmup)` for plain Python numbers (step ≥ 1).

# %% exercise="transformer_learning_rate"
def transformer_learning_rate(step, peak, warmup):
    """peak * min(step / warmup, sqrt(warmup / step)): linear warm-up, then inverse-square-root decay."""
    # BEGIN SOLUTION: the smaller of the rising line and the falling inverse square root
    return peak * min(step / warmup, math.sqrt(warmup / step))
    # END SOLUTION

# %% check="transformer_learning_rate" points=1

# %%
steps_axis = np.arange(1, sizes.steps + 1)
curve = [transformer_learning_rate(int(s), sizes.peak_learning_rate, sizes.warmup) for s in steps_axis]
paper = [512 ** -0.5 * min(s ** -0.5, s * 4000 ** -1.5) for s in (1000, 4000, 16000)]  # D^-1/2 min(s^-1/2, s w^-3/2)
print(f"this unit: peak {sizes.peak_learning_rate} at step {sizes.warmup}; "
      f"lr at steps 1, {sizes.warmup}, {4 * sizes.warmup}: "
      + ", ".join(f"{transformer_learning_rate(s, sizes.peak_learning_rate, sizes.warmup):.2e}"
                  for s in (1, sizes.warmup, 4 * sizes.warmup)))
print("the paper's form, D 512, warm-up 4000, at steps 1000, 4000, 16000:", [f"{v:.2e}" for v in paper],
      f"= peak {vaswani_peak(512, 4000):.2e} x min(s / 4000, sqrt(4000 / s))")
assert all(abs(v - transformer_learning_rate(s, vaswani_peak(512, 4000), 4000)) < 1e-12
           for v, s in zip(paper, (1000, 4000, 16000)))
no_warmup = experiment.learning_rate_schedule(sizes, warmup=False)  # section 15's contrast
plot.learning_rate_schedule({"warm-up, then 1/√step": curve, "no warm-up": [no_warmup(int(s)) for s in steps_axis]},
                            warmup=sizes.warmup, title="The learning rate of every training step")

# %% [markdown]
# ## 10. Training
#
# Everything together: the toy translation task of unit 01, the model of section 6, label
# smoothing 0.1, Adam(0.9, 0.98, 10⁻⁹) on the schedule above, gradient clipping at norm 1,
# dropout 0.1 on the embeddings and every residual branch, batches of 64 pairs. `train_seq2seq`
# is unit 01's loop; the model takes the same `(src, src_len, tgt_in)` and returns the same
# `(logits, weights)` as the recurrent models, so nothing else changes.
#
# **Predict first:** unit 02's attention RNN needed about 1200 steps to get most long
# sentences right. Will the Transformer need more steps or fewer? More seconds or fewer?
#
# `experiment.train_transformer` is the whole recipe, the same code in both frameworks (the
# loss is the course's `label_smoothed_cross_entropy`, the schedule its
# `transformer_learning_rate`: the references your exercises were checked against):

# %%
plot.show_source(experiment.train_transformer)

# %%
run = experiment.main_run(session.framework, task, sizes, seed=session.seed)
model = run.model
plot.training_curves({"Transformer": run.history}, smooth=20, title="Training loss (label-smoothed)")

# %% [markdown]
# With smoothing the loss cannot reach 0: even a model that predicts the smoothed target $q$
# exactly pays its entropy $-\sum_v q_v \log q_v$ (lesson, section 8), here with
# this task's $V$:

# %%
smoothed_target = np.full(config.tgt_vocab, sizes.label_smoothing / config.tgt_vocab)  # q (V,) for a true token 0
smoothed_target[0] += 1 - sizes.label_smoothing
floor = float(-(smoothed_target * np.log(smoothed_target)).sum())
print(f"lowest possible loss with smoothing {sizes.label_smoothing}, V = {config.tgt_vocab}: {floor:.3f} nats; "
      f"mean loss of the last 20 steps: {np.mean(run.history[-20:]):.3f}")
assert np.mean(run.history[-20:]) > floor

# %% [markdown]
# Greedy translations of the held-out sentences:

# %%
predictions, _ = translate_dataset(model, task.test, task.max_target_len)
scores = experiments.score(task, predictions)
for source, reference, output in experiments.examples(task, predictions, count=3):
    print(f"source:      {source}\nreference:   {reference}\nTransformer: {output}\n")
print(f"token accuracy {scores['token_accuracy']:.3f}, exact match {scores['exact_match']:.3f}, "
      f"BLEU {scores['bleu']:.1f} after {run.steps} steps ({run.seconds:.0f} s, {run.seconds_per_step:.3f} s per step)")
report.headline("toy token accuracy (Transformer)", scores["token_accuracy"])
report.headline("toy exact match (Transformer)", scores["exact_match"])
report.headline("toy BLEU (Transformer)", scores["bleu"])
report.headline("training seconds per step (Transformer)", run.seconds_per_step)
missed = experiment.check_headline(run, session.fast)
assert not missed, "; ".join(missed)

# %% [markdown]
# ## 11. Greedy decoding with a key/value cache
#
# At inference the decoder writes one token per step. Naively, step $t$ runs the decoder on the
# whole prefix $y_1 \ldots y_t$ again, although the first $t - 1$ positions give exactly the same
# vectors as last step (the causal mask guarantees it). A **key/value cache** keeps, per layer,
# the self-attention keys and values of the positions already written, and the cross-attention
# keys and values of the memory, computed once. Step $t$ then processes **one** position: its
# query attends to $t$ cached keys, $O(t)$ work instead of $O(t^2)$ for the recomputed prefix
# (per layer, times $D$).

# %%
diagrams.kv_cache()

# %% [markdown]
# `model.start_cache(memory, src_mask)` builds the cache, `model.decode_step(tokens, cache)`
# feeds one token per sentence and returns the next logits and the cache grown by one:

# %%
batch = task.test.subset(np.arange(2))
memory, src_mask = model.encode(tensor(batch.src), tensor(batch.src_len))
cache = model.start_cache(memory, src_mask)
tokens = tensor(np.full(2, Vocab.BOS))
for step in range(3):
    step_logits, cache = model.decode_step(tokens, cache)  # (B, V)
    tokens = tensor(to_numpy(step_logits).argmax(-1))
    print(f"step {step + 1}: logits (B, V) {tuple(step_logits.shape)}, cache length {cache.length}, "
          f"self keys of layer 1 (B, H, t, Dh) {tuple(cache.keys[0].shape)}, "
          f"cross keys (B, H, S, Dh) {tuple(cache.cross[0][0].shape)}")

# %% [markdown]
# The cache changes the cost, never the result: both ways give the same tokens. Timed on the
# longest held-out sentences (one CPU thread, a shared machine: expect noise):

# %%
longest = np.argsort(-task.test.src_len, kind="stable")[:16]  # the 16 longest held-out sources
timing = task.test.subset(longest)
src, src_len = tensor(timing.src), tensor(timing.src_len)
decode_seconds, decoded = {}, {}
for cached in (True, False):
    model.translate(src[:2], src_len[:2], 3, cache=cached)  # warm-up (TensorFlow builds its functions)
    start = time.perf_counter()
    decoded[cached], _ = model.translate(src, src_len, task.max_target_len, cache=cached)
    decode_seconds[cached] = time.perf_counter() - start
same = np.array_equal(to_numpy(decoded[True]), to_numpy(decoded[False]))
speedup = decode_seconds[False] / decode_seconds[True]
print(f"{len(timing)} sentences of {int(timing.src_len.min())}-{int(timing.src_len.max())} words, "
      f"{to_numpy(decoded[True]).shape[1]} decoding steps: with the cache {decode_seconds[True]:.2f} s, "
      f"without {decode_seconds[False]:.2f} s ({speedup:.1f}x); same tokens: {same}")
report.headline("greedy decoding, uncached / cached time", speedup)
assert same, "cached and uncached greedy decoding must give the same tokens"

# %% [markdown]
# The benchmark script `benchmarks/decoding_cost.py` measures the same at target length 40 in
# both frameworks (batch 64 and batch 1).
#
# ## 12. Beam search
#
# Greedy decoding takes the most probable token at every step, but the most probable *first*
# token need not start the most probable *sentence*. **Beam search** keeps the $K$ best partial
# translations (beams) at each step: every beam is extended by every token, the $K \cdot V$
# candidates are scored by their total log-probability, and the best $K$ survive. A beam that
# has produced `<eos>` is finished: it keeps its score and is extended only by padding. At the
# end, hypotheses of different lengths are compared by score divided by a length penalty
# $\left(\frac{5 + |y|}{6}\right)^\alpha$, $\alpha = 0.6$ (Wu et al. 2016), since every extra
# token adds a negative log-probability.
#
# ### Exercise 4: beam_search_step
#
# Write `beam_search_step(log_probs, scores, finished, eos_id, pad_id)`: `log_probs (B, K, V)`
# are each beam's next-token log-probabilities, `scores (B, K)` the beams' totals so far,
# `finished (B, K)` bool. Candidates are `scores[..., None] + log_probs`, except that a
# finished beam has exactly one candidate: token `pad_id` with its score unchanged. Return the
# $K$ best candidates over all $K \cdot V$ of each sentence, best first: `new_scores (B, K)`,
# `parents (B, K)` (which beam each came from) and `tokens (B, K)`. (`eos_id` is given for
# completeness; the step itself does not need it.)

# %% framework="pytorch" exercise="beam_search_step"
def beam_search_step(log_probs, scores, finished, eos_id, pad_id):
    """The K best extensions over all K * V candidates per sentence -> new_scores, parents, tokens (B, K)."""
    # BEGIN SOLUTION: score every (beam, token), give finished beams only the PAD candidate, take the top K of K * V
    batch, beams, vocab = log_probs.shape
    candidates = scores[..., None] + log_probs  # (B, K, 1) + (B, K, V) -> (B, K, V)
    only_pad = torch.full_like(candidates, float("-inf"))
    only_pad[..., pad_id] = scores  # a finished beam: one candidate, PAD, score unchanged
    candidates = torch.where(finished[..., None], only_pad, candidates)
    new_scores, best = candidates.reshape(batch, beams * vocab).topk(beams, dim=-1)  # (B, K * V) -> (B, K)
    return new_scores, best // vocab, best % vocab
    # END SOLUTION

# %% framework="tensorflow" exercise="beam_search_step"
def beam_search_step(log_probs, scores, finished, eos_id, pad_id):
    """The K best extensions over all K * V candidates per sentence -> new_scores, parents, tokens (B, K)."""
    # BEGIN SOLUTION: score every (beam, token), give finished beams only the PAD candidate, take the top K of K * V
    batch, beams, vocab = log_probs.shape
    candidates = scores[..., None] + log_probs  # (B, K, 1) + (B, K, V) -> (B, K, V)
    pad_only = tf.one_hot(pad_id, vocab, on_value=0.0, off_value=float("-inf"), dtype=candidates.dtype)  # (V,)
    only_pad = scores[..., None] + pad_only  # a finished beam: one candidate, PAD, score unchanged (B, K, V)
    candidates = tf.where(finished[..., None], only_pad, candidates)
    new_scores, best = tf.math.top_k(tf.reshape(candidates, [-1, beams * vocab]), k=beams)  # (B, K * V) -> (B, K)
    return new_scores, best // vocab, best % vocab
    # END SOLUTION

# %% check="beam_search_step" points=3

# %% [markdown]
# **A case where greedy loses.** The lesson's made-up model over the words a, b and `</s>`:
# the next word's probabilities after each prefix are
#
# | prefix | a | b | `</s>` |
# |---|---|---|---|
# | (start) | 0.5 | 0.4 | 0.1 |
# | a | 0.4 | 0.25 | 0.35 |
# | b | 0.1 | 0.1 | 0.8 |
# | a a | 0.2 | 0.2 | 0.6 |
#
# "a" is the likelier first word, but every continuation of "a" is unsure, while "b" is almost
# surely followed by `</s>`. **Predict first:** which sentence does greedy decoding write, and
# with what probability? Then watch your `beam_search_step` with $K = 2$ (id 0 is the padding
# a finished beam is extended with):

# %%
WORDS = ["<pad>", "a", "b", "</s>"]  # ids 0..3: pad_id 0, eos_id 3
TREE = {(): [0.5, 0.4, 0.1], ("a",): [0.4, 0.25, 0.35], ("b",): [0.1, 0.1, 0.8], ("a", "a"): [0.2, 0.2, 0.6]}


def next_log_probs(prefix):
    """log P(next word | prefix) over the 4 ids (the padding gets -inf); prefixes outside the table: uniform."""
    with np.errstate(divide="ignore"):
        return np.log([0.0, *TREE.get(tuple(prefix), [1 / 3] * 3)])


greedy_words, greedy_score = [], 0.0
while not greedy_words or greedy_words[-1] != "</s>":
    log_probs = next_log_probs(greedy_words)
    greedy_words.append(WORDS[int(log_probs.argmax())])
    greedy_score += float(log_probs.max())
print(f"greedy: {' '.join(greedy_words)}  (log-probability {greedy_score:.4f}, probability {math.exp(greedy_score):.2f})")

beams, beam_scores = [[], []], np.array([0.0, -np.inf])  # start: one live beam (the other scores -inf)
finished = np.array([False, False])
while not finished.all():
    log_probs = np.stack([next_log_probs(words) for words in beams])  # (K, V)
    new_scores, parents, tokens = (to_numpy(t)[0] for t in beam_search_step(
        tensor(log_probs[None]), tensor(beam_scores[None]), tensor(finished[None]), 3, 0))  # (B, K) each, B = 1
    beams = [beams[p] + ([] if finished[p] else [WORDS[t]]) for p, t in zip(parents, tokens)]
    beam_scores, finished = new_scores.astype(np.float64), finished[parents] | (tokens == 3)
    print("beams: " + ",  ".join(f"{' '.join(words):<9} {score:8.4f}{' (finished)' if done else ''}"
                                 for words, score, done in zip(beams, beam_scores, finished)))
print(f"beam search, K = 2: {' '.join(beams[0])}  (log-probability {beam_scores[0]:.4f}, probability "
      f"{math.exp(beam_scores[0]):.2f})")
assert greedy_words == ["a", "a", "</s>"] and beams[0] == ["b", "</s>"] and beam_scores[0] > greedy_score

# %% [markdown]
# The course's `decoding.beam_search(model, src, src_len, beam_size, max_len, length_penalty)`
# is this loop for a real model: it starts the key/value cache once, calls
# `model.decode_step` for all B × K beams at once, reorders the cache rows by `parents` after
# every step, and picks each sentence's best finished hypothesis by score / length penalty.
# Here it decodes another made-up table (`seq2bert.decoding_example`, "un chat": "the" is the
# likelier first word, but only "a" is surely followed by "cat"), through a stand-in model
# that looks the table up:

# %%
table_model = decoding.TableModel(decoding_example.next_token_log_probs)
one_source = (tensor(np.array([[4, 5]])), tensor(np.array([2])))  # (B, S) = (1, 2): the source is not read
for beam_size in (1, 2):
    ids = to_numpy(decoding.beam_search(table_model, *one_source, beam_size=beam_size, max_len=5))[0]
    print(f"beam size {beam_size}: {' '.join(decoding_example.words(ids))}  "
          f"(probability {decoding_example.sequence_probability(ids):.3f})")

# %% [markdown]
# On the toy task, greedy against beam search ($K = 4$, $\alpha = 0.6$) on the held-out
# sentences:

# %%
comparison = experiment.greedy_against_beam(session.framework, run, task, sizes)
for name, result in comparison.items():
    print(f"{name:>6}: BLEU {result['bleu']:.2f}, exact match {result['exact_match']:.3f}, "
          f"token accuracy {result['token_accuracy']:.3f} on the first {sizes.beam_pairs} held-out pairs")
report.headline("toy BLEU, greedy (beam subset)", comparison["greedy"]["bleu"])
report.headline(f"toy BLEU, beam search K = {sizes.beam_size} (beam subset)", comparison["beam"]["bleu"])

# %% [markdown]
# Beam search finds sentences the *model* scores higher; that helps only as far as the model's
# scores are right. On this nearly deterministic toy language a well-trained model's most
# probable next word is almost always the start of its most probable sentence, so greedy is
# already close to what beam search finds, and the difference is small. An under-trained model
# (fast mode) can even lose BLEU with beam search: a sentence it scores higher — often a shorter
# one, or one that drops a word it was unsure of — is not a better translation. Beam search
# earns its cost on real translation, where several continuations are plausible (Vaswani et
# al. used $K = 4$, $\alpha = 0.6$).

# %% [markdown]
# ## 13. Against the recurrent models, per length bucket and per second
#
# **Predict first:** which bucket of source lengths will separate the three models most? And
# at equal training *time*, not steps, which model will be ahead?
#
# (Full mode trains unit 01's RNN and unit 02's attention RNN on the same data and scores them
# on the same held-out pairs; fast mode shows the Transformer alone.)

# %%
rivals = experiment.baselines(session.framework, task, sizes, seed=session.seed)
everyone = {"Transformer": run, **rivals}
print(experiment.table(everyone, "exact_match"))
print()
print(experiment.table(everyone, "token_accuracy"))
plot.quality_vs_length({name: r.scores["exact_match_by_length"] for name, r in everyone.items()},
                       ylabel="exact match", title="Exact match by source length")

# %%
plot.quality_vs_length({name: r.scores["bleu_by_length"] for name, r in everyone.items()},
                       ylabel="BLEU", title="BLEU by source length")

# %% [markdown]
# **Per second, not per step.** A Transformer step and an RNN step cost different times. During
# training both models were scored every few steps on the first held-out pairs (the time
# spent scoring is not counted): quality against training seconds, on the longest sentences
# of the task.

# %%
longest_bucket = list(scores["exact_match_by_length"])[-1]  # "31–40" (fast mode: "11–20")
curves = {name: experiment.curve(r, "exact_match", longest_bucket) for name, r in everyone.items() if r.checkpoints}
if curves:
    figure = plot.quality_vs_seconds(curves, ylabel=f"exact match, {longest_bucket} words",
                                     title="Quality against training time")
else:
    figure = None
    print("fast mode: no quality checkpoints (full mode races the Transformer against the attention RNN)")
figure

# %%
for name, value in experiment.headlines(everyone).items():
    report.headline(name, value)
rnn_name = "attention RNN (unit 02)"
if rnn_name in everyone and everyone[rnn_name].checkpoints and run.checkpoints:
    equal_time = experiment.race(run, everyone[rnn_name], "exact_match", longest_bucket)
    print(f"after {equal_time['seconds']:.0f} s of training, exact match on {longest_bucket} words: "
          + ", ".join(f"{name} {equal_time[name]:.3f}" for name in (run.name, rnn_name)))
    report.headline(f"exact match {longest_bucket} words at equal training time, Transformer minus attention RNN",
                    equal_time[run.name] - equal_time[rnn_name])

# %% [markdown]
# ## 14. What the attention learned
#
# Cross-attention weights of every head of the last decoder layer, on a held-out sentence
# whose adjective comes after its noun in French (the swap of unit 01): rows are the output
# tokens, columns the source words.

# %%
def attention_maps(model, task, index, output_ids):
    """Per-layer cross-attention (H, L, S) and encoder self-attention (H, S, S) of one held-out pair, as NumPy."""
    pair = task.test.subset([index])
    length = int(pair.src_len[0])
    src = tensor(pair.src[:, :length])  # (1, S)
    memory, src_mask = model.encode(src, tensor(pair.src_len))  # (1, S, D), (1, S)
    tgt_in = tensor(np.array([[Vocab.BOS, *output_ids[:-1]]]))  # (1, L): what the decoder read while writing
    _, cross_maps = model.decode(tgt_in, memory, src_mask, return_weights=True)  # per layer (1, H, L, S)
    _, self_maps = model.encoder(src, src_mask, return_weights=True)  # per layer (1, H, S, S)
    return [to_numpy(w)[0] for w in cross_maps], [to_numpy(w)[0] for w in self_maps]


index = experiments.reordered_example(task, predictions)
source_words = task.src_tokenize(task.test_pairs[index][0])
output_words = [task.tgt_vocab.tokens[i] for i in predictions[index]]
cross_maps, self_maps = attention_maps(model, task, index, predictions[index])
print("source:", " ".join(source_words))
print("output:", " ".join(output_words))
plot.head_heatmaps(cross_maps[-1], source_words, output_words, ncols=2,
                   title=f"Cross-attention of decoder layer {len(cross_maps)}, per head")

# %% [markdown]
# Unit 02's single attention had to do everything with one set of weights. Here each head can
# take a share: look for a head whose strongest weights run along the words being translated
# — with a step back at the swapped adjective and noun — and heads that spread over the noun
# phrase or look at a fixed neighbour. Heads of the *first* decoder layer often look less
# tidy: the last layer's vectors have already gathered what the first one read.
#
# The encoder's self-attention, every layer, on the same source (rows: each word as a
# query, columns: the words it reads):

# %%
plot.self_attention_maps(self_maps, source_words, title="Encoder self-attention, every layer and head")

# %% [markdown]
# ## 15. Ablations: what each part is worth
#
# Full mode trains the unit's model again with one thing changed at a time, for the same
# number of steps, and scores each on the same held-out pairs:
# - **no positions**: the encoder and decoder see bags of tokens (unit 04's blind spot);
# - **1 head of width 128** instead of 4 heads of width 32: the same parameters and cost;
# - **post-LN**, the paper's order, with the same warm-up.
#
# **Predict first:** which change hurts most? Which hardly matters at this size?

# %%
ablation_runs = experiment.ablations(session.framework, task, sizes, seed=session.seed)
if ablation_runs:
    print(experiment.table(ablation_runs, "exact_match"))
    for name, value in experiment.headlines(ablation_runs).items():
        if name.startswith(("exact match,", "token accuracy,", "BLEU,", "bleu,")):
            report.headline(f"ablation: {name}", value)
    figure = plot.training_curves({name: r.history for name, r in ablation_runs.items()}, smooth=20,
                                  title="Ablations: training loss")
else:
    figure = None
    print("fast mode: the ablations are trained in full mode only")
figure

# %% [markdown]
# **Warm-up and the order of the norms.** The same model in both orders, each with and without
# the warm-up (without: the learning rate starts at its peak, holds it, and decays
# from the warm-up's last step on, as with it). Xiong et al. (2020) predict that post-LN suffers most without warm-up: at the
# start, its last layers get the largest gradients, and a full-size step there throws the model
# off.

# %%
warmup_runs = experiment.warmup_experiment(session.framework, task, sizes, seed=session.seed, reuse=ablation_runs)
if warmup_runs:
    print(experiment.table(warmup_runs, "exact_match"))
    panels = {norm: {name: r.history for name, r in warmup_runs.items() if name.startswith(norm)}
              for norm in ("pre-LN", "post-LN")}
    figure = plot.loss_curves_side_by_side(panels, smooth=20, title="With and without warm-up")
else:
    figure = None
    print("fast mode: the warm-up experiment runs in full mode only")
figure

# %% [markdown]
# **The "why" of section 7, trained.** The unit's model with token vectors drawn $N(0, 1)$ and
# scaled by $\sqrt{D}$, everything else unchanged:

# %%
drowned = experiment.why_run(session.framework, task, sizes, seed=session.seed)
if drowned is not None:
    print(f"{drowned.name}: exact match {drowned.scores['exact_match']:.3f} after {drowned.steps} steps "
          f"(the unit's model after {run.steps}: {scores['exact_match']:.3f})")
    report.headline("toy exact match, embeddings N(0, 1) x sqrt(D)", drowned.scores["exact_match"])
    figure = plot.training_curves({"as built": run.history[: drowned.steps], drowned.name: drowned.history}, smooth=20,
                                  title="Positions drowned by the token vectors")
else:
    figure = None
    print("fast mode: the drowned-positions model is trained in full mode only")
figure

# %% [markdown]
# ## 16. What you have seen
#
# - An encoder layer is self-attention and a feed-forward network, each inside a residual
#   connection with a layer norm; a decoder layer adds cross-attention to the memory and masks
#   its self-attention causally.
# - Post-LN normalises the stream after every sub-layer (the paper); pre-LN normalises what
#   each sub-layer reads, and trains without warm-up.
# - Embeddings drawn $N(0, 1/D)$ and scaled by $\sqrt{D}$ enter at the positional encoding's
#   scale; tying shares the target embedding with the output layer.
# - Label smoothing, Adam(0.9, 0.98, 10⁻⁹) and warm-up + 1/√step train it in minutes on a CPU.
# - A key/value cache makes each decoding step process one position, with the same result;
#   beam search keeps K hypotheses and can find better sentences than greedy.
# - Next (unit 06): the encoder alone, pretrained on unlabelled text — BERT.
#
# ## Quiz
#
# Check your understanding: each question gives feedback when you press Check, and Save keeps
# your answers in `quiz_responses/` for your instructor.

# %%
from seq2bert.quiz import show_quiz

show_quiz("05")
