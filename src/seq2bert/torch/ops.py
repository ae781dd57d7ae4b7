"""Small tensor functions the notebooks ask learners to write; these are the references.

Shape legend: B batch, S source length, T target length, D state width, A attention width,
V vocabulary.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

# Added to masked scores: large enough to zero a softmax, small enough to stay finite.
MASK_VALUE = -1e9


def padding_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B,) lengths -> (B, max_len) bool mask, True at real tokens, False at padding."""
    positions = torch.arange(max_len, device=lengths.device)  # (S,)
    return positions[None, :] < lengths[:, None]  # (1, S) < (B, 1) -> (B, S)


def masked_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, pad_id: int) -> torch.Tensor:
    """Mean cross-entropy over the non-padding target tokens. logits (B, T, V), targets (B, T)."""
    per_token = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")  # (B, V, T) -> (B, T)
    keep = (targets != pad_id).to(per_token.dtype)  # (B, T)
    return (per_token * keep).sum() / keep.sum().clamp(min=1.0)


def greedy_decode(step: Callable, state, batch_size: int, bos_id: int, eos_id: int,
                  pad_id: int, max_len: int) -> torch.Tensor:
    """Decode greedily with `step(prev_tokens (B,), state) -> (logits (B, V), state)`.

    Returns (B, L) token ids, L <= max_len; positions after a sequence's EOS hold pad_id.
    Stops early once every sequence has produced EOS.
    """
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


def additive_scores(query: torch.Tensor, keys: torch.Tensor, w_q: torch.Tensor,
                    w_k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Bahdanau scores e_j = v^T tanh(s W_q + h_j W_k).

    query (B, D), keys (B, S, D), w_q (D, A), w_k (D, A), v (A,) -> scores (B, S).
    """
    projected_query = query @ w_q  # (B, D) @ (D, A) -> (B, A)
    projected_keys = keys @ w_k  # (B, S, D) @ (D, A) -> (B, S, A)
    hidden = torch.tanh(projected_query[:, None, :] + projected_keys)  # (B, 1, A) + (B, S, A)
    return hidden @ v  # (B, S, A) @ (A,) -> (B, S)


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis where mask is True; masked positions get weight 0."""
    scores = scores.masked_fill(~mask, MASK_VALUE)
    return torch.softmax(scores, dim=-1)


def context_vector(weights: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Weighted sum of values: weights (B, S), values (B, S, D) -> (B, D)."""
    return (weights[:, None, :] @ values).squeeze(1)  # (B, 1, S) @ (B, S, D) -> (B, 1, D) -> (B, D)


def last_real_state(outputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Each sequence's state at its last real token: outputs (B, S, D), lengths (B,) -> (B, D).

    The RNN ran over the padding too, so outputs[:, -1] is a state after padding tokens.
    """
    batch = torch.arange(outputs.shape[0], device=outputs.device)  # (B,)
    return outputs[batch, lengths - 1]  # row b paired with position lengths[b] - 1 -> (B, D)


def attention_step(embedded: torch.Tensor, state: torch.Tensor, attend: Callable, cell: Callable,
                   output_layer: Callable):
    """One Bahdanau decoder step: attend with s_{i-1}, run the GRU on [y_{i-1}; c_i], predict from [s_i; c_i].

    embedded (B, E) is the previous target token's embedding, state (B, D) is s_{i-1};
    attend(state) -> (context (B, Dm), weights (B, S)); cell(x, state) -> new state (B, D);
    output_layer(x) -> logits (B, V). Returns (logits, new_state, weights).
    """
    context, weights = attend(state)  # (B, D) -> (B, Dm), (B, S)
    new_state = cell(torch.cat([embedded, context], dim=-1), state)  # (B, E + Dm), (B, D) -> (B, D)
    logits = output_layer(torch.cat([new_state, context], dim=-1))  # (B, D + Dm) -> (B, V)
    return logits, new_state, weights


def _check_smoothing_inputs(logits_shape: tuple, targets_shape: tuple, smoothing: float) -> None:
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
    if len(logits_shape) != 3 or tuple(targets_shape) != tuple(logits_shape[:2]):
        raise ValueError(f"targets have shape {tuple(targets_shape)} but logits {tuple(logits_shape)}: "
                         f"expected logits (B, T, V) and targets (B, T)")


def label_smoothed_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, pad_id: int,
                                 smoothing: float = 0.1) -> torch.Tensor:
    """Cross-entropy against (1 - eps) one-hot + eps / V on every class, mean over non-padding targets.

    logits (B, T, V), targets (B, T). Per token: (1 - eps) * (-log p_y) + eps * mean_v(-log p_v).
    """
    _check_smoothing_inputs(tuple(logits.shape), tuple(targets.shape), smoothing)
    log_probs = torch.log_softmax(logits, dim=-1)  # (B, T, V)
    nll = -log_probs.gather(-1, targets[..., None]).squeeze(-1)  # (B, T, 1) -> (B, T)
    uniform = -log_probs.mean(dim=-1)  # (B, T, V) -> (B, T)
    per_token = (1.0 - smoothing) * nll + smoothing * uniform  # (B, T)
    keep = (targets != pad_id).to(per_token.dtype)  # (B, T)
    return (per_token * keep).sum() / keep.sum().clamp(min=1.0)
