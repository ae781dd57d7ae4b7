"""Transformer encoder, decoder and the encoder-decoder model, in PyTorch (twin: seq2bert.tf.transformer).

Units 04-05 (Vaswani et al. 2017). Each sub-layer f (attention or feed-forward) is a residual
branch, normalised one of two ways (config.norm): pre-LN x + f(LN(x)) with one final LayerNorm
per stack (Xiong et al. 2020), or the paper's post-LN LN(x + f(x)) and no final norm. Positions
enter in one of four ways (EncoderConfig.positions): "none" (the model is then permutation
equivariant), "sinusoidal" or "learned" vectors added to the token embeddings, or "rotary"
(queries and keys rotated inside every attention layer; encoder only).

The Encoder is reused by BERT (units 06-07): nothing in it is specific to translation.

Shape legend: B batch, S source length, T target (or sequence) length, D model width, H heads,
Dh head width, F feed-forward width, V vocabulary.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from seq2bert import init
from seq2bert.configs import EncoderConfig, TransformerConfig
from seq2bert.data.text import Vocab
from seq2bert.torch import ops
from seq2bert.torch.attention import MultiHeadAttention, combine_masks
from seq2bert.torch.masks import causal_mask
from seq2bert.torch.positional import LearnedPositions, sinusoidal_encoding
from seq2bert.torch.weights import initial_weights, load_weights, register_initialiser

ACTIVATIONS = {"relu": torch.relu, "gelu": F.gelu}  # gelu: the exact (erf) form, as BERT and nn.Transformer*


class TokenEmbedding(nn.Embedding):
    """Token vectors stored N(0, 1/D) and multiplied by sqrt(D), so they enter with RMS about 1."""

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return super().forward(tokens) * math.sqrt(self.embedding_dim)  # (B, T) -> (B, T, D)


register_initialiser(TokenEmbedding, init.token_embedding)


class FeedForward(nn.Module):
    """The position-wise network: act(x W_1 + b_1) W_2 + b_2, the same at every position (act: ReLU or GELU)."""

    def __init__(self, width: int, ffn: int, activation: str = "relu"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(map(repr, ACTIVATIONS))}, not {activation!r}")
        self.activation = activation
        self.w_1 = nn.Linear(width, ffn)
        self.w_2 = nn.Linear(ffn, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w_2(ACTIVATIONS[self.activation](self.w_1(x)))  # (B, T, D) -> (B, T, F) -> (B, T, D)


def _branch_input(layer: nn.Module, norm: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    """What a sub-layer reads: LN(x) in a pre-LN layer, x itself in a post-LN one."""
    return norm(x) if layer.norm_first else x


def _add_branch(layer: nn.Module, norm: nn.LayerNorm, x: torch.Tensor, branch: torch.Tensor) -> torch.Tensor:
    """The residual step: x + drop(f) in a pre-LN layer, LN(x + drop(f)) in a post-LN one."""
    x = x + layer.dropout(branch)
    return x if layer.norm_first else norm(x)


class EncoderLayer(nn.Module):
    """Self-attention then feed-forward, each a residual branch: x + f(LN(x)) (pre-LN) or LN(x + f(x)) (post-LN)."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.norm_first = config.norm == "pre"
        self.attention_norm = nn.LayerNorm(config.width)
        self.attention = MultiHeadAttention(config.width, config.heads, rotary=config.positions == "rotary")
        self.ffn_norm = nn.LayerNorm(config.width)
        self.ffn = FeedForward(config.width, config.ffn, config.activation)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None):
        """x (B, T, D), attention_mask bool broadcastable to (B, H, T, T) -> x (B, T, D), weights (B, H, T, T)."""
        h = _branch_input(self, self.attention_norm, x)
        attended, weights = self.attention(h, h, h, attention_mask)  # queries, keys and values from one sequence
        x = _add_branch(self, self.attention_norm, x, attended)
        x = _add_branch(self, self.ffn_norm, x, self.ffn(_branch_input(self, self.ffn_norm, x)))
        return x, weights


class Encoder(nn.Module):
    """Token embeddings (+ positions), `config.layers` layers, and a final LayerNorm if pre-LN (`norm` None if post-LN)."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        self.embedding = TokenEmbedding(config.vocab, config.width)
        self.positions = LearnedPositions(config.max_length, config.width) if config.positions == "learned" else None
        if config.positions == "sinusoidal":  # a fixed table: a buffer, not a parameter
            self.register_buffer("sinusoid", sinusoidal_encoding(config.max_length, config.width), persistent=False)
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.layers))
        self.norm = nn.LayerNorm(config.width) if config.norm == "pre" else None  # post-LN layers end normalised
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor | None = None, return_weights: bool = False):
        """tokens (B, T), mask (B, T) bool (True = real token) or None -> (B, T, D) [, H-head weights per layer]."""
        x = self.dropout(self.embed(tokens))  # (B, T, D)
        attend = None if mask is None else _key_mask(mask, tokens)  # (B, 1, 1, T): every query, every head
        weights = []
        for layer in self.layers:
            x, layer_weights = layer(x, attend)  # (B, T, D), (B, H, T, T)
            weights.append(layer_weights)
        if self.norm is not None:
            x = self.norm(x)
        return (x, weights) if return_weights else x

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token vectors plus, if the config says so, added position vectors: (B, T) -> (B, T, D)."""
        _check_tokens(tokens, self.config.max_length, self.config.vocab)
        x = self.embedding(tokens)  # (B, T) -> (B, T, D)
        if self.config.positions == "sinusoidal":
            x = x + self.sinusoid[: tokens.shape[1]]  # (B, T, D) + (T, D)
        elif self.positions is not None:
            x = self.positions(x)
        return x


class SequenceTagger(nn.Module):
    """An Encoder and a linear layer to V logits at every position (one label per token)."""

    def __init__(self, config: EncoderConfig, seed: int = 0):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.output_layer = nn.Linear(config.width, config.vocab)
        # Start from the same NumPy-drawn weights as the TensorFlow twin (seq2bert.init).
        load_weights(self, initial_weights(self, seed))

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor | None = None, return_weights: bool = False):
        """tokens (B, T), mask (B, T) or None -> logits (B, T, V) [, per-layer weights (B, H, T, T)]."""
        x, weights = self.encoder(tokens, mask, return_weights=True)  # (B, T, D), layers x (B, H, T, T)
        logits = self.output_layer(x)  # (B, T, D) -> (B, T, V)
        return (logits, weights) if return_weights else logits


# ---------------------------------------------------------------- the encoder-decoder (unit 05)


class DecoderLayer(nn.Module):
    """Masked self-attention, cross-attention over the encoder's memory, feed-forward: three residual branches."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.norm_first = config.norm == "pre"
        self.self_attention_norm = nn.LayerNorm(config.width)
        self.self_attention = MultiHeadAttention(config.width, config.heads)
        self.cross_attention_norm = nn.LayerNorm(config.width)
        self.cross_attention = MultiHeadAttention(config.width, config.heads)
        self.ffn_norm = nn.LayerNorm(config.width)
        self.ffn = FeedForward(config.width, config.ffn, config.activation)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, self_mask: torch.Tensor | None = None,
                memory_mask: torch.Tensor | None = None):
        """x (B, T, D), memory (B, S, D), self_mask bool to (B, 1, T, T), memory_mask to (B, 1, T|1, S)
        -> x (B, T, D), cross-attention weights (B, H, T, S)."""
        return decoder_layer(self, x, memory, self_mask, memory_mask)

    def step(self, x: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, cross: tuple,
             memory_mask: torch.Tensor, position: int):
        """One new position: x (B, 1, D), this layer's cached self k, v (B, H, t, Dh), cross (k, v) (B, H, S, Dh)
        -> x (B, 1, D), cross weights (B, H, 1, S), keys and values grown to (B, H, t+1, Dh)."""
        h = _branch_input(self, self.self_attention_norm, x)
        k, v = self.self_attention.project_keys_values(h, h)  # (B, H, 1, Dh) each: only the new position
        keys, values = torch.cat([keys, k], dim=2), torch.cat([values, v], dim=2)  # (B, H, t, Dh) -> (B, H, t+1, Dh)
        # No mask: every cached key is at or before this position, so the causal mask allows them all.
        attended, _ = self.self_attention.attend(h, keys, values, query_offset=position)  # (B, 1, D)
        x = _add_branch(self, self.self_attention_norm, x, attended)
        h = _branch_input(self, self.cross_attention_norm, x)
        attended, weights = self.cross_attention.attend(h, *cross, memory_mask)  # (B, 1, D), (B, H, 1, S)
        x = _add_branch(self, self.cross_attention_norm, x, attended)
        x = _add_branch(self, self.ffn_norm, x, self.ffn(_branch_input(self, self.ffn_norm, x)))
        return x, weights, keys, values


def decoder_layer(layer: DecoderLayer, x: torch.Tensor, memory: torch.Tensor, self_mask: torch.Tensor | None,
                  memory_mask: torch.Tensor | None):
    """One decoder layer, written out: x (B, T, D), memory (B, S, D) -> x (B, T, D), cross weights (B, H, T, S).

    Pre-LN:  x += drop(SA(LN1 x)); x += drop(CA(LN2 x, memory)); x += drop(FFN(LN3 x)).
    Post-LN: x = LN1(x + drop(SA(x))); x = LN2(x + drop(CA(x, memory))); x = LN3(x + drop(FFN(x))).
    self_mask (causal & target padding) keeps each position from reading later ones and padding.
    """
    if layer.norm_first:
        h = layer.self_attention_norm(x)
        x = x + layer.dropout(layer.self_attention(h, h, h, self_mask)[0])
        h = layer.cross_attention_norm(x)
        attended, weights = layer.cross_attention(h, memory, memory, memory_mask)  # queries from the target
        x = x + layer.dropout(attended)
        x = x + layer.dropout(layer.ffn(layer.ffn_norm(x)))
    else:
        x = layer.self_attention_norm(x + layer.dropout(layer.self_attention(x, x, x, self_mask)[0]))
        attended, weights = layer.cross_attention(x, memory, memory, memory_mask)  # keys, values from the source
        x = layer.cross_attention_norm(x + layer.dropout(attended))
        x = layer.ffn_norm(x + layer.dropout(layer.ffn(x)))
    return x, weights


@dataclass(frozen=True)
class DecoderCache:
    """What a decoding step needs from the steps before it; each step returns a new cache (never mutated)."""

    memory_mask: torch.Tensor  # (B, 1, 1, S) bool, True at real source tokens
    cross: list  # per layer (k, v), each (B, H, S, Dh): the memory, projected once
    keys: list  # per layer (B, H, t, Dh): self-attention keys of the t positions fed so far
    values: list  # per layer (B, H, t, Dh): their values
    length: int  # t: positions fed so far, i.e. the position of the next token

    def reorder(self, index: torch.Tensor) -> "DecoderCache":
        """Rows index[i] of every tensor, as row i (beam search keeps the surviving hypotheses): index (N,) int."""
        if not isinstance(index, torch.Tensor) or index.dim() != 1 or index.dtype.is_floating_point \
                or index.dtype == torch.bool:
            raise ValueError(f"index must be a 1-D integer tensor of rows, got {index!r}")
        batch = self.memory_mask.shape[0]
        if index.numel() and (int(index.min()) < 0 or int(index.max()) >= batch):
            raise ValueError(f"index holds rows {int(index.min())}..{int(index.max())}, but the cache has {batch}")

        def pick(x: torch.Tensor) -> torch.Tensor:
            return x.index_select(0, index)  # (B, ...) -> (N, ...)

        return DecoderCache(pick(self.memory_mask), [(pick(k), pick(v)) for k, v in self.cross],
                            [pick(k) for k in self.keys], [pick(v) for v in self.values], self.length)


class Decoder(nn.Module):
    """Target embeddings (+ positions), `config.decoder_layers` decoder layers, a final LayerNorm if pre-LN."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.embedding = TokenEmbedding(config.tgt_vocab, config.width)
        self.positions = LearnedPositions(config.max_length, config.width) if config.positions == "learned" else None
        if config.positions == "sinusoidal":  # a fixed table: a buffer, not a parameter
            self.register_buffer("sinusoid", sinusoidal_encoding(config.max_length, config.width), persistent=False)
        self.layers = nn.ModuleList(DecoderLayer(config) for _ in range(config.decoder_layers))
        self.norm = nn.LayerNorm(config.width) if config.norm == "pre" else None
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, tgt_in: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor,
                return_weights: bool = False):
        """tgt_in (B, T), memory (B, S, D), memory_mask (B, S) bool -> x (B, T, D) [, per layer (B, H, T, S)]."""
        x = self.dropout(self.embed(tgt_in))  # (B, T, D)
        cross_mask = _memory_mask(memory_mask, memory, tgt_in)  # (B, 1, 1, S)
        # Position t reads positions 0..t that are not padding (BOS, never PAD, keeps every row non-empty).
        self_mask = combine_masks(tgt_in != Vocab.PAD, causal_mask(tgt_in.shape[1], tgt_in.device))  # (B, 1, T, T)
        weights = []
        for layer in self.layers:
            x, layer_weights = layer(x, memory, self_mask, cross_mask)  # (B, T, D), (B, H, T, S)
            weights.append(layer_weights)
        x = x if self.norm is None else self.norm(x)
        return (x, weights) if return_weights else x

    def embed(self, tokens: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Token vectors plus the position vectors of positions start .. start+T-1: (B, T) -> (B, T, D)."""
        _check_tokens(tokens, self.config.max_length, self.config.tgt_vocab, start)
        x = self.embedding(tokens)  # (B, T) -> (B, T, D)
        end = start + tokens.shape[1]
        if self.config.positions == "sinusoidal":
            x = x + self.sinusoid[start:end]  # (B, T, D) + (T, D)
        elif self.positions is not None:
            x = x + self.positions.embedding.weight[start:end]  # (B, T, D) + (T, D)
        return x

    def start_cache(self, memory: torch.Tensor, memory_mask: torch.Tensor) -> DecoderCache:
        """An empty cache for this memory (B, S, D), memory_mask (B, S): cross k, v projected once per layer."""
        batch, heads, head_width = memory.shape[0], self.config.heads, self.config.head_width
        empty = memory.new_zeros(batch, heads, 0, head_width)  # (B, H, 0, Dh): no position fed yet
        cross = [layer.cross_attention.project_keys_values(memory, memory) for layer in self.layers]
        mask = _memory_mask(memory_mask, memory)  # (B, 1, 1, S)
        return DecoderCache(mask, cross, [empty] * len(self.layers), [empty] * len(self.layers), 0)

    def step(self, tokens: torch.Tensor, cache: DecoderCache):
        """Feed one token per row at position cache.length: tokens (B,) -> x (B, D), the last layer's
        cross weights (B, H, S), the cache grown by one position. Costs O(t), not a recompute of the prefix."""
        _check_step_tokens(tokens, cache)
        x = self.dropout(self.embed(tokens[:, None], start=cache.length))  # (B,) -> (B, 1) -> (B, 1, D)
        keys, values = [], []
        for layer, k, v, cross in zip(self.layers, cache.keys, cache.values, cache.cross):
            x, weights, k, v = layer.step(x, k, v, cross, cache.memory_mask, cache.length)
            keys.append(k)
            values.append(v)
        x = x if self.norm is None else self.norm(x)
        cache = DecoderCache(cache.memory_mask, cache.cross, keys, values, cache.length + 1)
        return x[:, 0], weights[:, :, 0], cache  # (B, 1, D) -> (B, D); (B, H, 1, S) -> (B, H, S)


class TiedOutput(nn.Module):
    """logits = x E^T + b: the output projection reuses the target embedding matrix E (Press & Wolf 2017)."""

    def __init__(self, embedding: nn.Embedding):
        super().__init__()
        self.embedding = embedding  # the decoder's own module: one shared (V, D) parameter, counted once
        self.bias = nn.Parameter(torch.zeros(embedding.num_embeddings))  # (V,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.embedding.weight.T + self.bias  # (B, T, D) @ (D, V) + (V,) -> (B, T, V)


register_initialiser(TiedOutput, init.tied_output)


class Transformer(nn.Module):
    """The encoder-decoder Transformer for translation: Encoder, Decoder and an output projection to V logits."""

    def __init__(self, config: TransformerConfig, seed: int = 0):
        super().__init__()
        if not isinstance(config, TransformerConfig):
            raise TypeError(f"config must be a TransformerConfig, got {type(config).__name__}")
        self.config = config
        self.encoder = Encoder(config.encoder_config())
        self.decoder = Decoder(config)
        self.output_layer = (TiedOutput(self.decoder.embedding) if config.tie_embeddings
                             else nn.Linear(config.width, config.tgt_vocab))
        # Start from the same NumPy-drawn weights as the TensorFlow twin (seq2bert.init).
        load_weights(self, initial_weights(self, seed))

    def encode(self, src: torch.Tensor, src_len: torch.Tensor):
        """src (B, S), src_len (B,) -> memory (B, S, D), src_mask (B, S) bool (True = real token)."""
        _check_lengths(src_len, src)
        src_mask = ops.padding_mask(src_len, src.shape[1])  # (B, S)
        return self.encoder(src, src_mask), src_mask

    def decode(self, tgt_in: torch.Tensor, memory: torch.Tensor, src_mask: torch.Tensor, return_weights: bool = False):
        """tgt_in (B, T), memory (B, S, D), src_mask (B, S) -> logits (B, T, V) [, per layer (B, H, T, S)]."""
        x, weights = self.decoder(tgt_in, memory, src_mask, return_weights=True)  # (B, T, D)
        logits = self.output_layer(x)  # (B, T, D) -> (B, T, V)
        return (logits, weights) if return_weights else logits

    def forward(self, src: torch.Tensor, src_len: torch.Tensor, tgt_in: torch.Tensor):
        """Teacher forcing: (B, S), (B,), (B, T) -> logits (B, T, V), last layer's cross weights (B, H, T, S)."""
        memory, src_mask = self.encode(src, src_len)
        logits, weights = self.decode(tgt_in, memory, src_mask, return_weights=True)
        return logits, weights[-1]

    def start_cache(self, memory: torch.Tensor, src_mask: torch.Tensor) -> DecoderCache:
        """An empty decoding cache for memory (B, S, D), src_mask (B, S); see Decoder.start_cache."""
        return self.decoder.start_cache(memory, src_mask)

    def decode_step(self, tokens: torch.Tensor, cache: DecoderCache):
        """tokens (B,) at position cache.length -> logits (B, V) for the next token, the grown cache."""
        x, _, cache = self.decoder.step(tokens, cache)  # (B, D)
        return self.output_layer(x), cache  # (B, D) -> (B, V)

    @torch.no_grad()
    def translate(self, src: torch.Tensor, src_len: torch.Tensor, max_len: int, cache: bool = True):
        """Greedy decoding: -> tokens (B, L) (PAD after EOS), weights (B, L, S) = last layer's cross weights,
        averaged over heads. cache=False re-decodes the whole prefix every step (same tokens, O(t^2) work).

        PAD is never chosen before EOS: it is not a word, and the uncached decoder would mask it out
        of the prefix while the cached one would not.
        """
        if isinstance(max_len, bool) or not isinstance(max_len, int) or not 1 <= max_len <= self.config.max_length:
            raise ValueError(f"max_len must be an int in 1..max_length {self.config.max_length}, got {max_len!r}")
        memory, src_mask = self.encode(src, src_len)
        collected = []

        def step(prev: torch.Tensor, state):
            if cache:
                x, weights, state = self.decoder.step(prev, state)  # (B, D), (B, H, S)
                logits = self.output_layer(x)  # (B, D) -> (B, V)
            else:
                state = torch.cat([state, prev[:, None]], dim=1)  # (B, t) -> (B, t+1): the prefix so far
                logits, weights = self.decode(state, memory, src_mask, return_weights=True)
                logits, weights = logits[:, -1], weights[-1][:, :, -1]  # (B, V), (B, H, S): the newest position
            collected.append(weights.mean(dim=1))  # (B, H, S) -> (B, S)
            return logits.index_fill(1, torch.tensor([Vocab.PAD], device=logits.device), float("-inf")), state

        start = self.start_cache(memory, src_mask) if cache else src.new_zeros(src.shape[0], 0)
        tokens = ops.greedy_decode(step, start, src.shape[0], Vocab.BOS, Vocab.EOS, Vocab.PAD, max_len)
        return tokens, torch.stack(collected, dim=1)  # L x (B, S) -> (B, L, S)


def scale_embeddings(model: Transformer, factor: float) -> None:
    """Multiply the source and target token embedding matrices by `factor`, in place.

    factor sqrt(D) turns the N(0, 1/D) draw into N(0, 1); the model's own sqrt(D) then lifts tokens
    to RMS about sqrt(D) (11 at D = 128) against positions of RMS about 0.7, so order is drowned out.
    """
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor > 0:
        raise ValueError(f"factor must be a positive number, got {factor!r}")
    with torch.no_grad():
        model.encoder.embedding.weight.mul_(factor)
        model.decoder.embedding.weight.mul_(factor)  # with tied embeddings, the output projection's too


def count_parameters(model: nn.Module) -> int:
    """Trainable numbers in the model; a tied matrix counts once (fixed tables such as sinusoids are buffers)."""
    return sum(p.numel() for p in model.parameters())  # parameters() yields a shared tensor once


def _memory_mask(mask: torch.Tensor, memory: torch.Tensor, tgt_in: torch.Tensor | None = None) -> torch.Tensor:
    """(B, S) bool, True = real source token -> (B, 1, 1, S), after one-line checks against memory (B, S, D)."""
    if not isinstance(memory, torch.Tensor) or memory.dim() != 3:
        got = tuple(memory.shape) if isinstance(memory, torch.Tensor) else type(memory).__name__
        raise ValueError(f"memory must have shape (B, S, D), got {got}")
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        kind = mask.dtype if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise TypeError(f"the source mask must be bool (True = real token), got {kind}")
    if tuple(mask.shape) != tuple(memory.shape[:2]):
        raise ValueError(f"the source mask has shape {tuple(mask.shape)} but the memory holds (B, S) = "
                         f"{tuple(memory.shape[:2])}")
    if tgt_in is not None and tgt_in.dim() == 2 and tgt_in.shape[0] != memory.shape[0]:
        raise ValueError(f"{tgt_in.shape[0]} target rows but {memory.shape[0]} source rows")
    return mask[:, None, None, :]  # (B, S) -> (B, 1, 1, S)


def _check_lengths(src_len: torch.Tensor, src: torch.Tensor) -> None:
    if not isinstance(src_len, torch.Tensor) or src_len.dim() != 1 or src_len.dtype.is_floating_point:
        raise ValueError(f"src_len must be a 1-D integer tensor (B,), got {src_len!r}")
    if not isinstance(src, torch.Tensor) or src.dim() != 2:
        got = tuple(src.shape) if isinstance(src, torch.Tensor) else type(src).__name__
        raise ValueError(f"expected tokens of shape (B, T), got shape {got}")
    if src_len.shape[0] != src.shape[0]:
        raise ValueError(f"src_len has {src_len.shape[0]} lengths but src {src.shape[0]} rows")
    if src_len.numel() and (int(src_len.min()) < 1 or int(src_len.max()) > src.shape[1]):
        raise ValueError(f"source lengths must lie in 1..{src.shape[1]}, got {int(src_len.min())}..{int(src_len.max())}")


def _check_step_tokens(tokens: torch.Tensor, cache: DecoderCache) -> None:
    if not isinstance(cache, DecoderCache):
        raise TypeError(f"cache must be a DecoderCache (from start_cache), got {type(cache).__name__}")
    batch = cache.memory_mask.shape[0]
    if not isinstance(tokens, torch.Tensor) or tuple(tokens.shape) != (batch,):
        got = tuple(tokens.shape) if isinstance(tokens, torch.Tensor) else type(tokens).__name__
        raise ValueError(f"a decoding step takes one token per row, shape ({batch},), got {got}")


def _key_mask(mask: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """(B, T) True = real token -> (B, 1, 1, T): a query may attend to every real key, in every head."""
    if mask.dtype != torch.bool:
        raise TypeError(f"the mask must be bool (True = real token), got dtype {mask.dtype}")
    if tuple(mask.shape) != tuple(tokens.shape):
        raise ValueError(f"the mask has shape {tuple(mask.shape)} but the tokens {tuple(tokens.shape)}")
    return mask[:, None, None, :]  # (B, T) -> (B, 1, 1, T)


def _check_tokens(tokens: torch.Tensor, max_length: int, vocab: int, start: int = 0) -> None:
    """Integer (B, T) ids below vocab whose positions start .. start+T-1 fit in max_length."""
    if not isinstance(tokens, torch.Tensor):
        raise TypeError(f"tokens must be a torch.Tensor, got {type(tokens).__name__}")
    if tokens.dim() != 2:
        raise ValueError(f"expected tokens of shape (B, T), got shape {tuple(tokens.shape)}")
    if tokens.dtype.is_floating_point or tokens.dtype == torch.bool or tokens.dtype.is_complex:
        raise TypeError(f"tokens must be integer ids, got dtype {tokens.dtype}")
    if start + tokens.shape[1] > max_length:
        raise ValueError(f"a sequence of length {start + tokens.shape[1]} is longer than max_length {max_length}")
    if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= vocab):
        raise ValueError(f"token ids must lie in 0..{vocab - 1} (the vocabulary), got "
                         f"{int(tokens.min())}..{int(tokens.max())}")
