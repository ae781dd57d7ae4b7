"""Training a per-position tagger (seq2bert.torch.transformer.SequenceTagger) in PyTorch (twin: seq2bert.tf.tagging)."""
from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from seq2bert.settings import quiet


def warmup_factor(step: int, warmup: int) -> float:
    """The learning rate's multiplier at optimiser step `step` (from 0): linear from 1/warmup up to 1, then 1."""
    return min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0


def train_tagger(model: torch.nn.Module, stream: Iterator, steps: int, learning_rate: float = 2e-3,
                 warmup: int = 100, label: str = "training") -> list[float]:
    """Adam with a linear warm-up, cross-entropy over every position; `stream` yields NumPy (tokens, targets)
    (B, T) batches. Returns the loss of every step."""
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: warmup_factor(step, warmup))
    history = []
    start = time.perf_counter()
    model.train()
    for _ in tqdm(range(steps), desc=label, disable=quiet()):
        tokens, targets = (torch.as_tensor(a, dtype=torch.long) for a in next(stream))
        logits = model(tokens)  # (B, T, V)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())  # (B*T, V), (B*T,)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        history.append(float(loss.detach()))
    model.eval()
    if steps and not quiet():
        print(f"{label}: {steps} steps in {time.perf_counter() - start:.1f} s, "
              f"loss {np.mean(history[:10]):.3f} -> {np.mean(history[-10:]):.3f}")
    return history


@torch.no_grad()
def predict_tags(model: torch.nn.Module, tokens: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """The arg-max label at every position: (N, T) tokens -> (N, T) int64."""
    model.eval()
    tokens = torch.as_tensor(np.asarray(tokens), dtype=torch.long)
    return np.concatenate([model(tokens[i: i + batch_size]).argmax(-1).numpy()
                           for i in range(0, len(tokens), batch_size)])
