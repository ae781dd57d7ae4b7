"""Beam search with a length penalty, in TensorFlow (twin: seq2bert.torch.decoding).

A model decodes through three calls, as seq2bert.tf.transformer.Transformer does:
`encode(src, src_len) -> memory, src_mask`, `start_cache(memory, src_mask) -> cache` and
`decode_step(tokens (N,), cache) -> logits (N, V), cache`, where `cache.reorder(index (N,))`
keeps the rows of the surviving hypotheses. TableModel gives the same interface to a table of
next-token log-probabilities (seq2bert.decoding_example). Runs eagerly; token ids are int32.

Shape legend: B batch, S source length, K beam size, V vocabulary, L decoded length, t tokens so far.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable

import numpy as np
import tensorflow as tf

from seq2bert.data.text import Vocab

NEG_INF = float("-inf")


def beam_search_step(log_probs: tf.Tensor, scores: tf.Tensor, finished: tf.Tensor, eos_id: int, pad_id: int):
    """Keep the K best of the K*V one-token extensions of K hypotheses, best first.

    log_probs (B, K, V) of each beam's next token, scores (B, K) summed log-probs so far,
    finished (B, K) bool (the beam has produced eos_id). A finished beam has one candidate: pad_id,
    its score unchanged. Returns new_scores (B, K), parents (B, K) (the beam each one extends) and
    tokens (B, K). Ties go to the lower beam, then the lower token id.
    """
    batch, beams, vocab = _check_step_inputs(log_probs, scores, finished, eos_id, pad_id)
    log_probs = tf.convert_to_tensor(log_probs, tf.float32)
    scores = tf.convert_to_tensor(scores, tf.float32)
    candidates = scores[..., None] + log_probs  # (B, K, 1) + (B, K, V) -> (B, K, V)
    is_pad = tf.range(vocab) == pad_id  # (V,)
    frozen = tf.where(is_pad, scores[..., None], tf.fill(tf.shape(candidates), NEG_INF))  # (B, K, V)
    candidates = tf.where(finished[..., None], frozen, candidates)
    flat = tf.reshape(candidates, [batch, beams * vocab])  # (B, K, V) -> (B, K*V)
    new_scores, best = tf.math.top_k(flat, k=beams)  # (B, K), (B, K) int32; ties: lower index first
    return new_scores, best // vocab, best % vocab


def wu_length_penalty(lengths: tf.Tensor, alpha: float) -> tf.Tensor:
    """((5 + len) / 6) ** alpha (Wu et al. 2016): scores are divided by it, so longer hypotheses are not punished."""
    return ((5.0 + tf.cast(lengths, tf.float32)) / 6.0) ** alpha


def beam_search(model, src, src_len, beam_size: int = 4, max_len: int | None = None,
                length_penalty: float = 0.6) -> tf.Tensor:
    """The best hypothesis per sentence by score / ((5 + len) / 6) ** length_penalty -> tokens (B, L) int32.

    len counts the words and the EOS; PAD follows EOS. As greedy decoding (translate), PAD is never
    chosen before EOS, and beam_size=1 gives greedy's tokens. max_len defaults to model.config.max_length.
    """
    beams, max_len = _check_search_options(model, beam_size, max_len, length_penalty)
    memory, src_mask = model.encode(src, src_len)
    batch = int(memory.shape[0])
    # Every sentence's memory once per beam: rows b*K .. b*K+K-1 belong to sentence b.
    cache = model.start_cache(tf.repeat(memory, beams, axis=0), tf.repeat(src_mask, beams, axis=0))
    # Only beam 0 is live at first, so step 1 does not pick K copies of the same token.
    scores = tf.tile(tf.constant([[0.0] + [NEG_INF] * (beams - 1)]), [batch, 1])  # (B, K)
    finished = tf.zeros([batch, beams], tf.bool)
    lengths = tf.zeros([batch, beams], tf.int32)
    history = tf.zeros([batch, beams, 0], tf.int32)  # (B, K, t)
    prev = tf.fill([batch * beams], tf.constant(Vocab.BOS, tf.int32))
    first_row = tf.range(batch)[:, None] * beams  # (B, 1)
    for _ in range(max_len):
        logits, cache = model.decode_step(prev, cache)  # (B*K, V)
        vocab = int(logits.shape[-1])
        _check_vocab(beams, vocab)
        no_pad = tf.one_hot(Vocab.PAD, vocab, on_value=NEG_INF, off_value=0.0)  # (V,): PAD is not a word
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1) + no_pad
        log_probs = tf.reshape(log_probs, [batch, beams, vocab])  # (B*K, V) -> (B, K, V)
        scores, parents, tokens = beam_search_step(log_probs, scores, finished, Vocab.EOS, Vocab.PAD)
        cache = cache.reorder(tf.reshape(first_row + parents, [-1]))  # (B, K) -> (B*K,) rows of the parents
        history = tf.concat([tf.gather(history, parents, batch_dims=1), tokens[..., None]],
                            axis=2)  # (B, K, t) -> (B, K, t+1)
        was_finished = tf.gather(finished, parents, batch_dims=1)  # (B, K)
        lengths = tf.gather(lengths, parents, batch_dims=1) + tf.cast(~was_finished, tf.int32)
        finished = was_finished | (tokens == Vocab.EOS)
        prev = tf.reshape(tokens, [-1])  # (B, K) -> (B*K,)
        if bool(tf.reduce_all(finished | tf.math.is_inf(scores))):  # nothing left to extend
            break
    normalised = scores / wu_length_penalty(lengths, length_penalty)  # (B, K)
    best = tf.math.top_k(normalised, k=1).indices[:, 0]  # (B,); ties: the lower beam
    chosen_lengths = tf.gather(lengths, best, batch_dims=1)  # (B,)
    return tf.gather(history, best, batch_dims=1)[:, : int(tf.reduce_max(chosen_lengths))]  # (B, K, t) -> (B, L)


@dataclass(frozen=True)
class TableCache:
    """The decoding state of a TableModel: the tokens fed so far."""

    prefixes: tf.Tensor  # (N, t) int32, BOS first

    @property
    def length(self) -> int:
        return int(self.prefixes.shape[1])

    def reorder(self, index) -> TableCache:
        return TableCache(tf.gather(self.prefixes, index))  # (N, t) -> (len(index), t)


class TableModel:
    """A stand-in for a trained model: next-token log-probs from `next_log_probs(prefixes (N, t)) -> (N, V)`.

    The source is ignored except for its batch size; e.g. TableModel(decoding_example.next_token_log_probs).
    """

    def __init__(self, next_log_probs: Callable[[np.ndarray], np.ndarray], max_length: int = 16):
        self.next_log_probs = next_log_probs
        self.config = SimpleNamespace(max_length=max_length)

    def encode(self, src, src_len):
        src, src_len = tf.convert_to_tensor(src), tf.convert_to_tensor(src_len)
        mask = tf.range(tf.shape(src)[1], dtype=src_len.dtype)[None, :] < src_len[:, None]  # (1, S) < (B, 1)
        return tf.cast(src, tf.float32)[..., None], mask  # (B, S) -> (B, S, 1)

    def start_cache(self, memory, src_mask) -> TableCache:
        return TableCache(tf.zeros([memory.shape[0], 0], tf.int32))

    def decode_step(self, tokens, cache: TableCache):
        prefixes = tf.concat([cache.prefixes, tf.cast(tokens, tf.int32)[:, None]], axis=1)  # (N, t) -> (N, t+1)
        return tf.constant(self.next_log_probs(prefixes.numpy()), tf.float32), TableCache(prefixes)  # (N, V)


def _check_step_inputs(log_probs, scores, finished, eos_id: int, pad_id: int) -> tuple:
    if len(log_probs.shape) != 3:
        raise ValueError(f"log_probs must have shape (B, K, V), got {tuple(log_probs.shape)}")
    batch, beams, vocab = (int(n) for n in log_probs.shape)
    if tuple(scores.shape) != (batch, beams) or tuple(finished.shape) != (batch, beams):
        raise ValueError(f"scores {tuple(scores.shape)} and finished {tuple(finished.shape)} must both have shape "
                         f"(B, K) = {(batch, beams)}, as log_probs {tuple(log_probs.shape)}")
    if finished.dtype != tf.bool:
        raise TypeError(f"finished must be bool, got {finished.dtype.name}")
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
