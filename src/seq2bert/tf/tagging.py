"""Training a per-position tagger (seq2bert.tf.transformer.SequenceTagger) in TensorFlow (twin: seq2bert.torch.tagging)."""
from __future__ import annotations

import time
from collections.abc import Iterator

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from seq2bert.settings import quiet

_BATCH_SIGNATURE = [tf.TensorSpec([None, None], tf.int64), tf.TensorSpec([None, None], tf.int64)]


class Warmup(keras.optimizers.schedules.LearningRateSchedule):
    """learning_rate * min(1, (step + 1) / warmup): step 0 gets learning_rate / warmup, as in the PyTorch twin."""

    def __init__(self, learning_rate: float, warmup: int):
        self.learning_rate, self.warmup = learning_rate, warmup

    def __call__(self, step):
        if self.warmup <= 0:
            return tf.constant(self.learning_rate, tf.float32)
        factor = tf.minimum(1.0, tf.cast(step + 1, tf.float32) / self.warmup)
        return self.learning_rate * factor

    def get_config(self):
        return {"learning_rate": self.learning_rate, "warmup": self.warmup}


def train_tagger(model: keras.Model, stream: Iterator, steps: int, learning_rate: float = 2e-3,
                 warmup: int = 100, label: str = "training") -> list[float]:
    """Adam with a linear warm-up, cross-entropy over every position; `stream` yields NumPy (tokens, targets)
    (B, T) batches. Returns the loss of every step."""
    # epsilon as in torch.optim.Adam, so both twins take the same steps.
    optimizer = keras.optimizers.Adam(learning_rate=Warmup(learning_rate, warmup), epsilon=1e-8)
    # Its moment variables made now, not inside the first trace: tracing then takes half the time.
    optimizer.build(model.trainable_variables)

    # One trace for every batch shape: the signature leaves batch size and length unknown.
    @tf.function(input_signature=_BATCH_SIGNATURE)
    def train_step(tokens, targets):
        with tf.GradientTape() as tape:
            logits = model(tokens, training=True)  # (B, T, V)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits))
        grads = tape.gradient(loss, model.trainable_variables)
        # Dense embedding gradients: Adam then decays every row's moments, as PyTorch's does.
        grads = [tf.convert_to_tensor(g) for g in grads]
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    history = []
    start = time.perf_counter()
    for _ in tqdm(range(steps), desc=label, disable=quiet()):
        tokens, targets = next(stream)
        history.append(float(train_step(tf.constant(tokens, tf.int64), tf.constant(targets, tf.int64))))
    if steps and not quiet():
        print(f"{label}: {steps} steps in {time.perf_counter() - start:.1f} s, "
              f"loss {np.mean(history[:10]):.3f} -> {np.mean(history[-10:]):.3f}")
    return history


def predict_tags(model: keras.Model, tokens: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """The arg-max label at every position: (N, T) tokens -> (N, T) int64."""
    tokens = np.asarray(tokens)
    return np.concatenate([tf.argmax(model(tf.constant(tokens[i: i + batch_size], tf.int64)), -1).numpy()
                           for i in range(0, len(tokens), batch_size)])
