"""Beam search with a length penalty, in PyTorch (twin: seq2bert.tf.decoding).

A model decodes through three calls, as seq2bert.torch.transformer.Transformer does:
`encode(src, src_len) -> memory, src_mask`, `start_cache(memory, src_mask) -> cache` and
`decode_step(tokens (N,), cache) -> logits (N, V), cache`, where `cache.reorder(index (N,))`
keeps the rows of the surviving hypotheses. TableModel gives the same interface to a table of
next-token log-probabilities (seq2bert.decoding_example).

Shape legend: B batch, S source length, K beam size, V vocabulary, L decoded length, t tokens so far.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable

import numpy as np
import torch

from seq2bert.data.text import Vocab

NEG_INF = float("-inf")


def beam_search_step(log_probs: torch.Tensor, scores: torch.Tensor, finished: torch.Tensor, eos_id: int,
                     pad_id: int):
    """Keep the K best of the K*V one-token extensions of K hypotheses, best first.

    log_probs (B, K, V) of each beam's next token, scores (B, K) summed log-probs so far,
    finished (B, K) bool (the beam has produced eos_id). A finished beam has one candidate: pad_id,
    its score unchanged. Returns new_scores (B, K), parents (B, K) (the beam each one extends) and
    tokens (B, K). Ties go to the lower beam, then the lower token id.
    """
    batch, beams, vocab = _check_step_inputs(log_probs, scores, finished, eos_id, pad_id)
    candidates = scores[..., None] + log_probs  # (B, K, 1) + (B, K, V) -> (B, K, V)
    is_pad = torch.arange(vocab, device=log_probs.device) == pad_id  # (V,)
    frozen = torch.where(is_pad, scores[..., None], torch.full_like(candidates, NEG_INF))  # (B, K, V)
    candidates = torch.where(finished[..., None], frozen, candidates)
    flat = candidates.reshape(batch, beams * vocab)  # (B, K, V) -> (B, K*V)
    best = torch.sort(flat, dim=-1, descending=True, stable=True).indices[:, :beams]  # (B, K)
    return flat.gather(1, best), best // vocab, best % vocab


def wu_length_penalty(lengths: torch.Tensor, alpha: float) -> torch.Tensor:
    """((5 + len) / 6) ** alpha (Wu et al. 2016): scores are divided by it, so longer hypotheses are not punished."""
    return ((5.0 + lengths.to(torch.float32)) / 6.0) ** alpha


@torch.no_grad()
def beam_search(model, src: torch.Tensor, src_len: torch.Tensor, beam_size: int = 4, max_len: int | None = None,
                length_penalty: float = 0.6) -> torch.Tensor:
    """The best hypothesis per sentence by score / ((5 + len) / 6) ** length_penalty -> tokens (B, L).

    len counts the words and the EOS; PAD follows EOS. As greedy decoding (translate), PAD is never
    chosen before EOS, and beam_size=1 gives greedy's tokens. max_len defaults to model.config.max_length.
    """
    beams, max_len = _check_search_options(model, beam_size, max_len, length_penalty)
    memory, src_mask = model.encode(src, src_len)
    batch = memory.shape[0]
    # Every sentence's memory once per beam: rows b*K .. b*K+K-1 belong to sentence b.
    cache = model.start_cache(memory.repeat_interleave(beams, 0), src_mask.repeat_interleave(beams, 0))
    scores = torch.full((batch, beams), NEG_INF)  # (B, K): only beam 0 is live at first, so step 1
    scores[:, 0] = 0.0  # does not pick K copies of the same token
    finished = torch.zeros(batch, beams, dtype=torch.bool)
    lengths = torch.zeros(batch, beams, dtype=torch.long)
    history = torch.zeros(batch, beams, 0, dtype=torch.long)  # (B, K, t)
    prev = torch.full((batch * beams,), Vocab.BOS, dtype=torch.long)
    first_row = torch.arange(batch)[:, None] * beams  # (B, 1)
    for _ in range(max_len):
        logits, cache = model.decode_step(prev, cache)  # (B*K, V)
        _check_vocab(beams, logits.shape[-1])
        log_probs = torch.log_softmax(logits.float(), dim=-1)
        log_probs[:, Vocab.PAD] = NEG_INF  # PAD is not a word
        log_probs = log_probs.reshape(batch, beams, -1)  # (B*K, V) -> (B, K, V)
        scores, parents, tokens = beam_search_step(log_probs, scores, finished, Vocab.EOS, Vocab.PAD)
        cache = cache.reorder((first_row + parents).reshape(-1))  # (B, K) -> (B*K,) rows of the parents
        history = torch.cat([history.gather(1, parents[..., None].expand(-1, -1, history.shape[2])),
                             tokens[..., None]], dim=2)  # (B, K, t) -> (B, K, t+1)
        was_finished = finished.gather(1, parents)  # (B, K)
        lengths = lengths.gather(1, parents) + (~was_finished).long()
        finished = was_finished | (tokens == Vocab.EOS)
        prev = tokens.reshape(-1)  # (B, K) -> (B*K,)
        if bool((finished | torch.isneginf(scores)).all()):  # nothing left to extend
            break
    normalised = scores / wu_length_penalty(lengths, length_penalty)  # (B, K)
    best = torch.sort(normalised, dim=-1, descending=True, stable=True).indices[:, 0]  # (B,)
    rows = torch.arange(batch)
    return history[rows, best, : int(lengths[rows, best].max())]  # (B, K, t) -> (B, L)


@dataclass(frozen=True)
class TableCache:
    """The decoding state of a TableModel: the tokens fed so far."""

    prefixes: torch.Tensor  # (N, t) int64, BOS first

    @property
    def length(self) -> int:
        return self.prefixes.shape[1]

    def reorder(self, index: torch.Tensor) -> TableCache:
        return TableCache(self.prefixes.index_select(0, index))  # (N, t) -> (len(index), t)


class TableModel:
    """A stand-in for a trained model: next-token log-probs from `next_log_probs(prefixes (N, t)) -> (N, V)`.

    The source is ignored except for its batch size; e.g. TableModel(decoding_example.next_token_log_probs).
    """

    def __init__(self, next_log_probs: Callable[[np.ndarray], np.ndarray], max_length: int = 16):
        self.next_log_probs = next_log_probs
        self.config = SimpleNamespace(max_length=max_length)

    def encode(self, src: torch.Tensor, src_len: torch.Tensor):
        mask = torch.arange(src.shape[1])[None, :] < src_len[:, None]  # (1, S) < (B, 1) -> (B, S)
        return src[..., None].float(), mask  # (B, S) -> (B, S, 1)

    def start_cache(self, memory: torch.Tensor, src_mask: torch.Tensor) -> TableCache:
        return TableCache(torch.zeros(memory.shape[0], 0, dtype=torch.long))

    def decode_step(self, tokens: torch.Tensor, cache: TableCache):
        prefixes = torch.cat([cache.prefixes, tokens[:, None].long()], dim=1)  # (N, t) -> (N, t+1)
        logits = torch.as_tensor(self.next_log_probs(prefixes.numpy()), dtype=torch.float32)  # (N, V)
        return logits, TableCache(prefixes)


def _check_step_inputs(log_probs, scores, finished, eos_id: int, pad_id: int) -> tuple:
    if log_probs.dim() != 3:
        raise ValueError(f"log_probs must have shape (B, K, V), got {tuple(log_probs.shape)}")
    batch, beams, vocab = log_probs.shape
    if tuple(scores.shape) != (batch, beams) or tuple(finished.shape) != (batch, beams):
        raise ValueError(f"scores {tuple(scores.shape)} and finished {tuple(finished.shape)} must both have shape "
                         f"(B, K) = {(batch, beams)}, as log_probs {tuple(log_probs.shape)}")
    if finished.dtype != torch.bool:
        raise TypeError(f"finished must be bool, got {finished.dtype}")
    if beams > vocab:
        raise ValueError(f"beam size K = {beams} is larger than the vocabulary V = {vocab}")
    for name, token in (("eos_id", eos_id), ("pad_id", pad_id)):
        if not 0 <= int(token) < vocab:
            raise ValueError(f"{name} {token} is not a token id in 0..{vocab - 1}")
    return batch, beams, vocab


def _check_search_options(model, beam_size, max_len, alpha) -> tuple[int, int]:
    if isinstance(beam_size, bool) or not isinstance(beam_size, (int, np.integer)) or beam_size < 1:
        raise ValueError(f"beam_size must be an int >= 1, got {beam_size!r}")
    max_len = model.config.max_length if max_len is None else max_len
    if isinstance(max_len, bool) or not isinstance(max_len, (int, np.integer)) or max_len < 1:
        raise ValueError(f"max_len must be an int >= 1, got {max_len!r}")
    if not alpha >= 0:
        raise ValueError(f"length_penalty must be >= 0, got {alpha!r}")
    return int(beam_size), int(max_len)


def _check_vocab(beams: int, vocab: int) -> None:
    if beams > vocab - 1:
        raise ValueError(f"beam_size {beams} is larger than the {vocab - 1} tokens a beam can choose from "
                         f"(V = {vocab} without PAD)")
