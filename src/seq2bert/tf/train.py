"""Training and batch decoding of seq2seq models in TensorFlow (twin: seq2bert.torch.train)."""
from __future__ import annotations

import time
from typing import Callable

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from seq2bert.data.text import Encoded, Vocab, batches
from seq2bert.settings import quiet
from seq2bert.tf import decoding, ops

_BATCH_SIGNATURE = [tf.TensorSpec([None, None], tf.int64), tf.TensorSpec([None], tf.int64),
                    tf.TensorSpec([None, None], tf.int64), tf.TensorSpec([None, None], tf.int64)]


def to_tensors(batch: Encoded):
    """NumPy batch -> (src, src_len, tgt_in, tgt_out) int64 tensors."""
    return tuple(tf.constant(a, dtype=tf.int64) for a in (batch.src, batch.src_len, batch.tgt_in, batch.tgt_out))


def tensor(array: np.ndarray):
    """NumPy -> a TensorFlow tensor: float64 becomes float32, other dtypes (bool, int64, float32) stay."""
    return tf.constant(array if array.dtype != np.float64 else array.astype(np.float32))


def to_numpy(value) -> np.ndarray:
    """A tensor as a NumPy array."""
    return np.asarray(value)


def scalar(value) -> float:
    """A 0-d tensor as a Python float."""
    return float(value)


def train_seq2seq(model: keras.Model, data: Encoded, steps: int, batch_size: int, learning_rate: float,
                  seed: int = 0, clip: float = 1.0, loss_fn=ops.masked_cross_entropy, label: str = "training",
                  step_seconds: list | None = None, schedule: Callable[[int], float] | None = None,
                  betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                  on_checkpoint: Callable[[int, float], None] | None = None, every: int = 0) -> list[float]:
    """Adam with teacher forcing for `steps` batches; returns the loss of every step.

    Pass a list as `step_seconds` to get each step's wall-clock seconds appended to it (the first
    includes tracing the step function). `schedule(step)` gives the learning rate of steps
    1..steps (it overrides `learning_rate`). `on_checkpoint(step, seconds)` runs after every
    `every` steps with the training seconds so far (its own time excluded).
    """
    if every < 0 or (on_checkpoint is not None and every < 1):
        raise ValueError(f"on_checkpoint needs every >= 1 (a number of steps), got every={every}")
    # epsilon as in torch.optim.Adam, so both twins take the same steps.
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate, beta_1=betas[0], beta_2=betas[1], epsilon=eps)

    # One trace for every batch shape: the signature leaves lengths unknown.
    @tf.function(input_signature=_BATCH_SIGNATURE)
    def train_step(src, src_len, tgt_in, tgt_out):
        with tf.GradientTape() as tape:
            logits, _ = model(src, src_len, tgt_in, training=True)  # (B, T, V)
            loss = loss_fn(logits, tgt_out, Vocab.PAD)
        grads = tape.gradient(loss, model.trainable_variables)
        # Embedding gradients arrive sparse, and Adam would then update only the rows in this
        # batch; dense gradients give PyTorch's Adam, which decays every row's moments.
        grads = [tf.convert_to_tensor(g) for g in grads]
        grads, _ = tf.clip_by_global_norm(grads, clip)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    stream = batches(data, batch_size, seed)
    history = []
    start = time.perf_counter()
    paused = 0.0  # seconds spent in on_checkpoint
    for step in tqdm(range(1, steps + 1), desc=label, disable=quiet()):
        step_start = time.perf_counter()
        if schedule is not None:
            optimizer.learning_rate = schedule(step)  # assigns the optimizer's variable: no retracing
        history.append(float(train_step(*to_tensors(next(stream)))))
        if step_seconds is not None:
            step_seconds.append(time.perf_counter() - step_start)
        if on_checkpoint is not None and step % every == 0:
            pause_start = time.perf_counter()
            on_checkpoint(step, pause_start - start - paused)
            paused += time.perf_counter() - pause_start
    print(f"{label}: {steps} steps in {time.perf_counter() - start - paused:.1f} s, "
          f"loss {np.mean(history[:10]):.3f} -> {np.mean(history[-10:]):.3f}")
    return history


def translate_dataset(model: keras.Model, data: Encoded, max_len: int, batch_size: int = 512,
                      beam_size: int | None = None):
    """Greedy translations of every pair: (token-id lists, (L, S) weight arrays or None), L the decoded length.

    With `beam_size`, beam search (seq2bert.tf.decoding.beam_search) instead; it returns no weights.
    """
    predictions, attention = [], []
    for begin in range(0, len(data), batch_size):
        batch = data.subset(np.arange(begin, min(begin + batch_size, len(data))))
        src, src_len, _, _ = to_tensors(batch)
        if beam_size is None:
            tokens, weights = model.translate(src, src_len, max_len)
        else:
            tokens, weights = decoding.beam_search(model, src, src_len, beam_size, max_len), None
        tokens = tokens.numpy()
        for row in range(tokens.shape[0]):
            ids = tokens[row].tolist()
            length = ids.index(Vocab.EOS) + 1 if Vocab.EOS in ids else len(ids)
            predictions.append(ids[:length])
            attention.append(None if weights is None else weights.numpy()[row, :length, : int(batch.src_len[row])])
    return predictions, attention


def teacher_forced_predictions(model: keras.Model, data: Encoded, batch_size: int = 256) -> list[np.ndarray]:
    """Arg-max token at every target position when the true previous tokens are fed in (one array per pair)."""
    predictions = []
    for begin in range(0, len(data), batch_size):
        batch = data.subset(np.arange(begin, min(begin + batch_size, len(data))))
        src, src_len, tgt_in, _ = to_tensors(batch)
        logits, _ = model(src, src_len, tgt_in)  # (B, T, V)
        best = tf.argmax(logits, axis=-1).numpy()  # (B, T)
        predictions += [best[row, : int(batch.tgt_len[row])] for row in range(best.shape[0])]
    return predictions
