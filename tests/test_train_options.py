"""train_seq2seq's unit 05 options: a learning-rate schedule, Adam's betas and eps, checkpoints against time.

A tiny unit 01 model (GRU encoder-decoder, no attention) on random pairs, in both frameworks.
"""
import time

import numpy as np
import pytest

from seq2bert.data.text import Encoded, Vocab

FRAMEWORKS = ["pytorch", "tensorflow"]
SRC_VOCAB, TGT_VOCAB, WIDTH = 13, 11, 8


def start_weights(seed=0):
    """NumPy weights shared by both twins of the tiny model."""
    rng = np.random.default_rng(seed)
    return {"src": rng.normal(0, 1, (SRC_VOCAB, WIDTH)), "tgt": rng.normal(0, 1, (TGT_VOCAB, WIDTH)),
            "w": rng.normal(0, WIDTH ** -0.5, (WIDTH, TGT_VOCAB)), "b": np.zeros(TGT_VOCAB)}


def random_pairs(n=24, seed=0) -> Encoded:
    rng = np.random.default_rng(seed)
    src_len, tgt_len = rng.integers(2, 7, n), rng.integers(2, 6, n)  # tgt_len counts the EOS
    src = np.where(np.arange(6)[None] < src_len[:, None], rng.integers(4, 13, (n, 6)), Vocab.PAD)
    words = np.where(np.arange(5)[None] < tgt_len[:, None] - 1, rng.integers(4, 11, (n, 5)), Vocab.PAD)
    tgt_in = np.concatenate([np.full((n, 1), Vocab.BOS), words], axis=1)  # (N, T)
    tgt_out = np.concatenate([words, np.full((n, 1), Vocab.PAD)], axis=1)
    tgt_out[np.arange(n), tgt_len - 1] = Vocab.EOS
    return Encoded(src, src_len, tgt_in, tgt_out, tgt_len)


def setup_framework(framework):
    """(a fresh tiny model, train_seq2seq, weights(model) -> list of NumPy arrays).

    The model has the seq2seq call shape, (src, src_len, tgt_in) -> (logits (B, T, V), None), and
    traces in a moment: these tests are about the training loop, not the model.
    """
    weights = {name: value.astype(np.float32) for name, value in start_weights().items()}
    if framework == "pytorch":
        import torch

        from seq2bert.torch.train import train_seq2seq

        class Tiny(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.src = torch.nn.Parameter(torch.tensor(weights["src"]))
                self.tgt = torch.nn.Parameter(torch.tensor(weights["tgt"]))
                self.w = torch.nn.Parameter(torch.tensor(weights["w"]))
                self.b = torch.nn.Parameter(torch.tensor(weights["b"]))

            def forward(self, src, src_len, tgt_in):
                context = self.src[src].mean(dim=1)  # (B, S, D) -> (B, D)
                hidden = torch.tanh(self.tgt[tgt_in] + context[:, None])  # (B, T, D)
                return hidden @ self.w + self.b, None  # (B, T, D) @ (D, V) -> (B, T, V)

        return Tiny(), train_seq2seq, lambda m: [p.detach().numpy().copy() for p in m.parameters()]
    import keras
    import tensorflow as tf

    from seq2bert.tf.train import train_seq2seq

    class Tiny(keras.Model):
        def __init__(self):
            super().__init__()
            self.src = self.add_weight(shape=weights["src"].shape, initializer=keras.initializers.Constant(weights["src"]))
            self.tgt = self.add_weight(shape=weights["tgt"].shape, initializer=keras.initializers.Constant(weights["tgt"]))
            self.w = self.add_weight(shape=weights["w"].shape, initializer=keras.initializers.Constant(weights["w"]))
            self.b = self.add_weight(shape=weights["b"].shape, initializer=keras.initializers.Constant(weights["b"]))

        def call(self, src, src_len, tgt_in, training=False):
            context = tf.reduce_mean(tf.gather(self.src, src), axis=1)  # (B, S, D) -> (B, D)
            hidden = tf.tanh(tf.gather(self.tgt, tgt_in) + context[:, None])  # (B, T, D)
            return hidden @ self.w + self.b, None  # (B, T, D) @ (D, V) -> (B, T, V)

    return Tiny(), train_seq2seq, lambda m: [v.numpy().copy() for v in m.trainable_variables]


def train(framework, steps=4, **options):
    """Losses and the weights after every step (a checkpoint at every step snapshots them)."""
    model, train_seq2seq, weights = setup_framework(framework)
    snapshots = []
    snapshots.append(weights(model))
    history = train_seq2seq(model, random_pairs(), steps=steps, batch_size=8, learning_rate=1e-2,
                            on_checkpoint=lambda step, seconds: snapshots.append(weights(model)), every=1, **options)
    return history, snapshots


def largest_change(before, after) -> float:
    return max(float(np.abs(b - a).max()) for a, b in zip(before, after))


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_the_schedule_sets_every_steps_learning_rate(framework):
    calls = []
    rates = {1: 1e-2, 2: 0.0, 3: 4e-3, 4: 0.0}

    def recording(step):
        calls.append(step)
        return rates[step]

    _, snapshots = train(framework, schedule=recording)
    assert calls == [1, 2, 3, 4]
    changes = [largest_change(a, b) for a, b in zip(snapshots, snapshots[1:])]
    # Adam's first step moves each weight by lr * |g| / (|g| + eps): the largest moves by about lr.
    assert changes[0] == pytest.approx(1e-2, rel=1e-3)
    assert changes[1] == 0.0 and changes[3] == 0.0  # lr 0: not one weight moves
    assert changes[2] > 0.0
    # Same moments after steps 1-2, so step 3 with half the learning rate moves every weight half as far.
    _, halved = train(framework, schedule=lambda step: rates[step] / 2 if step == 3 else rates[step])
    for a, b, a_half, b_half in zip(snapshots[2], snapshots[3], halved[2], halved[3]):
        np.testing.assert_allclose(a_half, a, rtol=0, atol=1e-7)
        np.testing.assert_allclose(b_half - a_half, (b - a) / 2, rtol=0, atol=1e-6)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_defaults_are_unchanged(framework):
    """The old call and the same settings spelled out (schedule, betas, eps, checkpoints) give identical losses."""
    model, train_seq2seq, _ = setup_framework(framework)
    plain = train_seq2seq(model, random_pairs(), steps=5, batch_size=8, learning_rate=1e-2)
    model, train_seq2seq, _ = setup_framework(framework)
    spelled = train_seq2seq(model, random_pairs(), steps=5, batch_size=8, learning_rate=0.5,
                            schedule=lambda step: 1e-2, betas=(0.9, 0.999), eps=1e-8,
                            on_checkpoint=lambda step, seconds: None, every=2)
    assert plain == spelled


def test_betas_and_eps_reach_adam_in_both_frameworks():
    options = dict(betas=(0.5, 0.98), eps=1e-9)  # Keras adds eps before the bias correction, torch after: tiny eps
    histories = {fw: train(fw, steps=5, **options)[0] for fw in FRAMEWORKS}
    np.testing.assert_allclose(histories["tensorflow"], histories["pytorch"], rtol=0, atol=1e-5)
    default = train("pytorch", steps=5)[0]
    # Adam's first step does not depend on the betas (bias correction), so losses differ from step 3 on.
    assert np.abs(np.array(default[2:]) - histories["pytorch"][2:]).min() > 1e-4
    # A large eps damps Adam's first step: lr * |g| / (|g| + eps) is far below lr.
    for framework in FRAMEWORKS:
        _, snapshots = train(framework, steps=1, eps=10.0)
        assert largest_change(snapshots[0], snapshots[1]) < 1e-2 / 2


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_checkpoints_come_every_n_steps_with_training_seconds_only(framework):
    model, train_seq2seq, _ = setup_framework(framework)
    seen, clock, modes = [], [], []
    pause = 0.2

    def checkpoint(step, seconds):
        seen.append((step, seconds))
        clock.append(time.perf_counter())
        modes.append(getattr(model, "training", None))
        time.sleep(pause)  # an evaluation that takes a while

    start = time.perf_counter()
    train_seq2seq(model, random_pairs(), steps=10, batch_size=8, learning_rate=1e-2, on_checkpoint=checkpoint,
                  every=3)
    assert [step for step, _ in seen] == [3, 6, 9]
    seconds = [s for _, s in seen]
    assert 0 < seconds[0] < seconds[1] < seconds[2] <= clock[0] - start + (clock[2] - clock[0]) - 2 * pause
    for k in (1, 2):  # the time between checkpoints, minus the checkpoint's own pause
        assert seconds[k] - seconds[k - 1] <= clock[k] - clock[k - 1] - pause
    if framework == "pytorch":
        assert modes == [False] * 3  # evaluated in eval mode (dropout off) ...
        training = []
        model.register_forward_hook(lambda module, args, output: training.append(module.training))
        train_seq2seq(model, random_pairs(), steps=4, batch_size=8, learning_rate=1e-2,
                      on_checkpoint=lambda step, seconds: model.eval(), every=1)
        assert training == [True] * 4  # ... and every step after a checkpoint trains in train mode


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_bad_options_get_a_clear_error(framework):
    model, train_seq2seq, _ = setup_framework(framework)
    with pytest.raises(ValueError, match="on_checkpoint needs every >= 1 \\(a number of steps\\), got every=0"):
        train_seq2seq(model, random_pairs(), steps=2, batch_size=8, learning_rate=1e-2,
                      on_checkpoint=lambda step, seconds: None)
    with pytest.raises(ValueError, match="got every=-1"):
        train_seq2seq(model, random_pairs(), steps=2, batch_size=8, learning_rate=1e-2, every=-1)
