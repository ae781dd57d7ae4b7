"""Training and batch decoding of seq2seq models in PyTorch (twin: seq2bert.tf.train)."""
from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from seq2bert.data.text import Encoded, Vocab, batches
from seq2bert.settings import quiet
from seq2bert.torch import decoding, ops


def to_tensors(batch: Encoded):
    """NumPy batch -> (src, src_len, tgt_in, tgt_out) int64 tensors."""
    return tuple(torch.as_tensor(a, dtype=torch.long) for a in (batch.src, batch.src_len, batch.tgt_in, batch.tgt_out))


def tensor(array: np.ndarray):
    """NumPy -> a PyTorch tensor: float64 becomes float32, other dtypes (bool, int64, float32) stay."""
    return torch.as_tensor(array if array.dtype != np.float64 else array.astype(np.float32))


def to_numpy(value) -> np.ndarray:
    """A tensor (even one that requires grad) as a NumPy array."""
    return value.detach().numpy()


def scalar(value) -> float:
    """A 0-d tensor (even one that requires grad) as a Python float."""
    return float(value.detach())


def train_seq2seq(model: torch.nn.Module, data: Encoded, steps: int, batch_size: int, learning_rate: float,
                  seed: int = 0, clip: float = 1.0, loss_fn=ops.masked_cross_entropy, label: str = "training",
                  step_seconds: list | None = None, schedule: Callable[[int], float] | None = None,
                  betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                  on_checkpoint: Callable[[int, float], None] | None = None, every: int = 0) -> list[float]:
    """Adam with teacher forcing for `steps` batches; returns the loss of every step.

    Pass a list as `step_seconds` to get each step's wall-clock seconds appended to it.
    `schedule(step)` gives the learning rate of steps 1..steps (it overrides `learning_rate`).
    `on_checkpoint(step, seconds)` runs after every `every` steps, in eval mode, with the training
    seconds so far (its own time excluded), e.g. to measure quality against training time.
    """
    _check_options(every, on_checkpoint)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate, betas=betas, eps=eps)
    stream = batches(data, batch_size, seed)
    history = []
    start = time.perf_counter()
    paused = 0.0  # seconds spent in on_checkpoint
    model.train()
    for step in tqdm(range(1, steps + 1), desc=label, disable=quiet()):
        step_start = time.perf_counter()
        if schedule is not None:
            for group in optimizer.param_groups:
                group["lr"] = schedule(step)
        src, src_len, tgt_in, tgt_out = to_tensors(next(stream))
        logits, _ = model(src, src_len, tgt_in)  # (B, T, V)
        loss = loss_fn(logits, tgt_out, Vocab.PAD)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        history.append(scalar(loss))
        if step_seconds is not None:
            step_seconds.append(time.perf_counter() - step_start)
        if on_checkpoint is not None and step % every == 0:
            pause_start = time.perf_counter()
            model.eval()
            on_checkpoint(step, pause_start - start - paused)
            model.train()
            paused += time.perf_counter() - pause_start
    model.eval()
    print(f"{label}: {steps} steps in {time.perf_counter() - start - paused:.1f} s, "
          f"loss {np.mean(history[:10]):.3f} -> {np.mean(history[-10:]):.3f}")
    return history


def _check_options(every: int, on_checkpoint) -> None:
    if every < 0 or (on_checkpoint is not None and every < 1):
        raise ValueError(f"on_checkpoint needs every >= 1 (a number of steps), got every={every}")


def translate_dataset(model: torch.nn.Module, data: Encoded, max_len: int, batch_size: int = 512,
                      beam_size: int | None = None):
    """Greedy translations of every pair: (token-id lists, (L, S) weight arrays or None), L the decoded length.

    With `beam_size`, beam search (seq2bert.torch.decoding.beam_search) instead; it returns no weights.
    """
    predictions, attention = [], []
    model.eval()
    for begin in range(0, len(data), batch_size):
        batch = data.subset(np.arange(begin, min(begin + batch_size, len(data))))
        src, src_len, _, _ = to_tensors(batch)
        if beam_size is None:
            tokens, weights = model.translate(src, src_len, max_len)
        else:
            tokens, weights = decoding.beam_search(model, src, src_len, beam_size, max_len), None
        for row in range(tokens.shape[0]):
            ids = tokens[row].tolist()
            length = ids.index(Vocab.EOS) + 1 if Vocab.EOS in ids else len(ids)
            predictions.append(ids[:length])
            attention.append(None if weights is None else weights[row, :length, : int(src_len[row])].numpy())
    return predictions, attention


@torch.no_grad()
def teacher_forced_predictions(model: torch.nn.Module, data: Encoded, batch_size: int = 256) -> list[np.ndarray]:
    """Arg-max token at every target position when the true previous tokens are fed in (one array per pair)."""
    predictions = []
    model.eval()
    for begin in range(0, len(data), batch_size):
        batch = data.subset(np.arange(begin, min(begin + batch_size, len(data))))
        src, src_len, tgt_in, _ = to_tensors(batch)
        logits, _ = model(src, src_len, tgt_in)  # (B, T, V)
        best = logits.argmax(dim=-1).numpy()  # (B, T)
        predictions += [best[row, : int(batch.tgt_len[row])] for row in range(best.shape[0])]
    return predictions
