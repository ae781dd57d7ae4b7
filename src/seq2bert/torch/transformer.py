"""A small Transformer encoder (pre-LN) and a per-position tagger on top, in PyTorch (twin: seq2bert.tf.transformer).

Pre-LN (Xiong et al. 2020): each sub-layer reads a layer-normalised copy of the residual stream
and adds its result back, x + f(LN(x)); one final LayerNorm closes the stack. Positions enter
in one of four ways (EncoderConfig.positions): "none" (the model is then permutation
equivariant), "sinusoidal" or "learned" vectors added to the token embeddings, or "rotary"
(queries and keys rotated inside every attention layer).

Shape legend: B batch, T sequence length, D model width, H heads, Dh head width, F feed-forward
width, V vocabulary.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from seq2bert import init
from seq2bert.configs import EncoderConfig
from seq2bert.torch.attention import MultiHeadAttention
from seq2bert.torch.positional import LearnedPositions, sinusoidal_encoding
from seq2bert.torch.weights import initial_weights, load_weights, register_initialiser


class TokenEmbedding(nn.Embedding):
    """Token vectors stored N(0, 1/D) and multiplied by sqrt(D), so they enter with RMS about 1."""

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return super().forward(tokens) * math.sqrt(self.embedding_dim)  # (B, T) -> (B, T, D)


register_initialiser(TokenEmbedding, init.token_embedding)


class FeedForward(nn.Module):
    """The position-wise network: ReLU(x W_1 + b_1) W_2 + b_2, the same at every position."""

    def __init__(self, width: int, ffn: int):
        super().__init__()
        self.w_1 = nn.Linear(width, ffn)
        self.w_2 = nn.Linear(ffn, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w_2(torch.relu(self.w_1(x)))  # (B, T, D) -> (B, T, F) -> (B, T, D)


class EncoderLayer(nn.Module):
    """Self-attention then feed-forward, each as a pre-LN residual branch: x + f(LN(x))."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.attention_norm = nn.LayerNorm(config.width)
        self.attention = MultiHeadAttention(config.width, config.heads, rotary=config.positions == "rotary")
        self.ffn_norm = nn.LayerNorm(config.width)
        self.ffn = FeedForward(config.width, config.ffn)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None):
        """x (B, T, D), attention_mask bool broadcastable to (B, H, T, T) -> x (B, T, D), weights (B, H, T, T)."""
        h = self.attention_norm(x)
        attended, weights = self.attention(h, h, h, attention_mask)  # queries, keys and values from one sequence
        x = x + self.dropout(attended)
        x = x + self.dropout(self.ffn(self.ffn_norm(x)))
        return x, weights


class Encoder(nn.Module):
    """Token embeddings (+ positions), `config.layers` pre-LN layers, a final LayerNorm."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        self.embedding = TokenEmbedding(config.vocab, config.width)
        self.positions = LearnedPositions(config.max_length, config.width) if config.positions == "learned" else None
        if config.positions == "sinusoidal":  # a fixed table: a buffer, not a parameter
            self.register_buffer("sinusoid", sinusoidal_encoding(config.max_length, config.width), persistent=False)
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.layers))
        self.norm = nn.LayerNorm(config.width)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor | None = None, return_weights: bool = False):
        """tokens (B, T), mask (B, T) bool (True = real token) or None -> (B, T, D) [, H-head weights per layer]."""
        x = self.dropout(self.embed(tokens))  # (B, T, D)
        attend = None if mask is None else _key_mask(mask, tokens)  # (B, 1, 1, T): every query, every head
        weights = []
        for layer in self.layers:
            x, layer_weights = layer(x, attend)  # (B, T, D), (B, H, T, T)
            weights.append(layer_weights)
        x = self.norm(x)
        return (x, weights) if return_weights else x

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token vectors plus, if the config says so, added position vectors: (B, T) -> (B, T, D)."""
        _check_tokens(tokens, self.config)
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


def _key_mask(mask: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """(B, T) True = real token -> (B, 1, 1, T): a query may attend to every real key, in every head."""
    if mask.dtype != torch.bool:
        raise TypeError(f"the mask must be bool (True = real token), got dtype {mask.dtype}")
    if tuple(mask.shape) != tuple(tokens.shape):
        raise ValueError(f"the mask has shape {tuple(mask.shape)} but the tokens {tuple(tokens.shape)}")
    return mask[:, None, None, :]  # (B, T) -> (B, 1, 1, T)


def _check_tokens(tokens: torch.Tensor, config: EncoderConfig) -> None:
    if tokens.dim() != 2:
        raise ValueError(f"expected tokens of shape (B, T), got shape {tuple(tokens.shape)}")
    if tokens.shape[1] > config.max_length:
        raise ValueError(f"a sequence of length {tokens.shape[1]} is longer than max_length {config.max_length}")
