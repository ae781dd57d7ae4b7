"""The course's one mask convention, and the converters for PyTorch APIs that use another.

Everywhere in seq2bert a boolean mask is True where a query may attend (a real token, an
allowed position) and False where it may not (padding, the future). Masks combine with `&`.
PyTorch's own APIs disagree with each other, so every hand-over goes through one function here:

| API                                              | its convention               | converter              |
|--------------------------------------------------|------------------------------|------------------------|
| nn.MultiheadAttention(key_padding_mask=)         | True = ignore this key       | to_key_padding_mask    |
| nn.MultiheadAttention / nn.Transformer* attn_mask| True = not allowed           | to_blocked_mask        |
| F.scaled_dot_product_attention(attn_mask=)       | True = take part (ours)      | to_sdpa_mask           |
| an additive float mask                           | 0 allowed, -inf (or -1e9) not| to_additive_mask       |

Shape legend: B batch, S key (source) length, T query (target) length.
"""
from __future__ import annotations

import torch


def _check_bool(mask: torch.Tensor) -> torch.Tensor:
    if mask.dtype != torch.bool:
        raise TypeError(f"expected a bool mask (True = may attend), got dtype {mask.dtype}")
    return mask


def causal_mask(length: int, device: torch.device | None = None) -> torch.Tensor:
    """(T, T) True on and below the diagonal: position t may attend to positions 0..t."""
    return torch.ones(length, length, dtype=torch.bool, device=device).tril()


def to_key_padding_mask(mask: torch.Tensor) -> torch.Tensor:
    """(B, S) may-attend mask -> nn.MultiheadAttention's key_padding_mask (True = padding)."""
    return ~_check_bool(mask)


def to_blocked_mask(mask: torch.Tensor) -> torch.Tensor:
    """(T, S) or (B*H, T, S) may-attend mask -> attn_mask of nn.MultiheadAttention / nn.Transformer*."""
    return ~_check_bool(mask)


def to_sdpa_mask(mask: torch.Tensor) -> torch.Tensor:
    """A may-attend mask for F.scaled_dot_product_attention, which shares our convention."""
    return _check_bool(mask)


def to_additive_mask(mask: torch.Tensor, dtype: torch.dtype = torch.float32, blocked: float = float("-inf")) -> torch.Tensor:
    """A may-attend mask -> a float mask added to the scores: 0 where allowed, `blocked` elsewhere."""
    zeros = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
    return zeros.masked_fill(~_check_bool(mask), blocked)
