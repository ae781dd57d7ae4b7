"""RNN encoder–decoder with optional attention (additive or scaled dot-product), in PyTorch (twin: seq2bert.tf.seq2seq).

Shape legend: B batch, S source length, T target length, D model width (the GRU state),
V target vocabulary; for this model also E embedding width, A attention (scorer) width,
Dm memory width (width of an encoder state h_j: D, or 2D when bidirectional), L decoded length.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seq2bert.configs import Seq2SeqConfig
from seq2bert.torch import ops
from seq2bert.torch.attention import scaled_dot_product_attention
from seq2bert.torch.weights import initial_weights, load_weights


class Encoder(nn.Module):
    """Embeds the source and runs a GRU over it; returns every state h_j and the decoder's start s_0.

    Unidirectional: s_0 is the final state. Bidirectional (Bahdanau et al. 2015, sec. 3.2):
    h_j = [forward h_j; backward h_j] and s_0 = tanh(W_s backward h_1 + b), through `bridge`.
    """

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        self.embedding = nn.Embedding(config.src_vocab, config.embed)
        self.rnn = nn.GRU(config.embed, config.hidden, batch_first=True, bidirectional=config.bidirectional)
        self.bridge = nn.Linear(config.hidden, config.hidden) if config.bidirectional else None

    def forward(self, src: torch.Tensor, src_len: torch.Tensor):
        x = self.embedding(src)  # (B, S) -> (B, S, E)
        # Packing ends the forward pass at each sequence's last real token and starts the
        # backward pass there, so padding never enters either direction.
        packed = pack_padded_sequence(x, src_len.cpu(), batch_first=True, enforce_sorted=False)
        packed_out, final = self.rnn(packed)  # final: (1 or 2 directions, B, D), backward last
        outputs, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=src.shape[1])  # (B, S, Dm), 0 at padding
        if self.bridge is None:
            return outputs, final[0]  # (B, S, D), (B, D)
        # final[-1] is the backward direction's last state, the one at position 1: (B, D).
        return outputs, torch.tanh(self.bridge(final[-1]))  # (B, S, 2D), (B, D)


class Decoder(nn.Module):
    """A GRU decoder that sees the source only through the encoder's final state (unit 01).

    As in Cho et al. (2014), that state c both initialises the decoder and is fed in at every
    step next to the previous token, so the decoder cannot forget it, only outgrow it. With a
    bidirectional encoder, c is the encoder's s_0 (the bridged backward state), width D.
    """

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        self.embedding = nn.Embedding(config.tgt_vocab, config.embed)
        self.rnn = nn.GRU(config.embed + config.hidden, config.hidden, batch_first=True)
        self.output_layer = nn.Linear(config.hidden, config.tgt_vocab)

    def start(self, memory: torch.Tensor, state: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Per-sentence work done once before decoding: keep the summary vector c."""
        return state

    def forward(self, tgt_in: torch.Tensor, state: torch.Tensor, cache, memory: torch.Tensor, mask: torch.Tensor):
        """Teacher forcing over all steps at once: (B, T), (B, D) -> logits (B, T, V), no weights."""
        x = self.embedding(tgt_in)  # (B, T) -> (B, T, E)
        context = cache[:, None, :].expand(-1, x.shape[1], -1)  # (B, D) -> (B, T, D)
        outputs, _ = self.rnn(torch.cat([x, context], dim=-1), state[None])  # (B, T, E + D), (1, B, D) -> (B, T, D)
        return self.output_layer(outputs), None

    def step(self, prev: torch.Tensor, state: torch.Tensor, cache, memory: torch.Tensor, mask: torch.Tensor):
        """One decoding step: (B,) previous tokens, (B, D) state -> (B, V) logits, new state, no weights."""
        x = torch.cat([self.embedding(prev), cache], dim=-1)[:, None, :]  # (B, E + D) -> (B, 1, E + D)
        _, state = self.rnn(x, state[None])  # -> (1, B, D)
        return self.output_layer(state[0]), state[0], None


class AdditiveAttention(nn.Module):
    """Bahdanau scores e_j = v^T tanh(s W_q + h_j W_k), masked softmax, weighted sum of h_j."""

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        self.w_q = nn.Linear(config.hidden, config.attention_dim, bias=False)
        self.w_k = nn.Linear(config.memory_width, config.attention_dim, bias=False)
        self.v = nn.Linear(config.attention_dim, 1, bias=False)

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        """h_j W_k for every source position, computed once per sentence: (B, S, Dm) -> (B, S, A)."""
        return self.w_k(keys)

    def forward(self, query: torch.Tensor, projected_keys: torch.Tensor, values: torch.Tensor, mask: torch.Tensor):
        """query (B, D), projected keys (B, S, A), values (B, S, Dm) -> context (B, Dm), weights (B, S)."""
        hidden = torch.tanh(self.w_q(query)[:, None, :] + projected_keys)  # (B, 1, A) + (B, S, A) -> (B, S, A)
        scores = self.v(hidden).squeeze(-1)  # (B, S, A) -> (B, S, 1) -> (B, S)
        weights = ops.masked_softmax(scores, mask)
        return ops.context_vector(weights, values), weights


class ScaledDotAttention(nn.Module):
    """Luong-style scores e_j = (s W_q) . (h_j W_k) / sqrt(A), scaled as in Vaswani et al. (2017); unit 03.

    Same interface as AdditiveAttention: the score is one dot product per source position instead
    of a small tanh network, so a step costs one batched matrix product.
    """

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        self.w_q = nn.Linear(config.hidden, config.attention_dim, bias=False)
        self.w_k = nn.Linear(config.memory_width, config.attention_dim, bias=False)

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        """h_j W_k for every source position, computed once per sentence: (B, S, Dm) -> (B, S, A)."""
        return self.w_k(keys)

    def forward(self, query: torch.Tensor, projected_keys: torch.Tensor, values: torch.Tensor, mask: torch.Tensor):
        """query (B, D), projected keys (B, S, A), values (B, S, Dm) -> context (B, Dm), weights (B, S)."""
        projected_query = self.w_q(query)[:, None, :]  # (B, D) -> (B, A) -> (B, 1, A): one query per sentence
        context, weights = scaled_dot_product_attention(projected_query, projected_keys, values, mask[:, None, :])
        return context[:, 0, :], weights[:, 0, :]  # (B, 1, Dm) -> (B, Dm); (B, 1, S) -> (B, S)


# Seq2SeqConfig.score -> the attention class AttentionDecoder uses.
ATTENTIONS = {"additive": AdditiveAttention, "scaled_dot": ScaledDotAttention}


class AttentionDecoder(nn.Module):
    """A GRU decoder that attends over the encoder states at every step (unit 02; unit 03's scorer by config.score)."""

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        self.embedding = nn.Embedding(config.tgt_vocab, config.embed)
        self.attention = ATTENTIONS[config.score](config)
        self.cell = nn.GRUCell(config.embed + config.memory_width, config.hidden)
        self.output_layer = nn.Linear(config.hidden + config.memory_width, config.tgt_vocab)

    def start(self, memory: torch.Tensor, state: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Per-sentence work done once before decoding: h_j W_k for every source position."""
        return self.attention.project_keys(memory)

    def forward(self, tgt_in: torch.Tensor, state: torch.Tensor, cache, memory: torch.Tensor, mask: torch.Tensor):
        """Teacher forcing, one step at a time: (B, T), (B, D) -> logits (B, T, V), weights (B, T, S)."""
        all_logits, all_weights = [], []
        for t in range(tgt_in.shape[1]):
            logits, state, weights = self.step(tgt_in[:, t], state, cache, memory, mask)
            all_logits.append(logits)
            all_weights.append(weights)
        return torch.stack(all_logits, dim=1), torch.stack(all_weights, dim=1)  # T x (B, V) -> (B, T, V); (B, T, S)

    def step(self, prev: torch.Tensor, state: torch.Tensor, cache, memory: torch.Tensor, mask: torch.Tensor):
        """One step: attend with s_{i-1}, feed [y_{i-1}; c_i] to the GRU, predict from [s_i; c_i]."""
        attend = lambda query: self.attention(query, cache, memory, mask)  # noqa: E731  (B, D) -> (B, Dm), (B, S)
        return ops.attention_step(self.embedding(prev), state, attend, self.next_state, self.output_layer)

    def next_state(self, x: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """The GRU update: input (B, E + Dm), state (B, D) -> new state (B, D)."""
        return self.cell(x, state)


class Seq2Seq(nn.Module):
    """Encoder plus decoder; `forward` uses teacher forcing, `translate` decodes greedily."""

    def __init__(self, config: Seq2SeqConfig, seed: int = 0):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = AttentionDecoder(config) if config.attention else Decoder(config)
        # Start from the same NumPy-drawn weights as the TensorFlow twin (seq2bert.init).
        load_weights(self, initial_weights(self, seed))

    def encode(self, src: torch.Tensor, src_len: torch.Tensor):
        memory, state = self.encoder(src, src_len)  # (B, S, Dm), (B, D)
        mask = ops.padding_mask(src_len, src.shape[1])  # (B, S)
        return memory, state, mask, self.decoder.start(memory, state, mask)

    def forward(self, src: torch.Tensor, src_len: torch.Tensor, tgt_in: torch.Tensor):
        """Teacher forcing: (B, S), (B,), (B, T) -> logits (B, T, V), weights (B, T, S) or None."""
        memory, state, mask, cache = self.encode(src, src_len)
        return self.decoder(tgt_in, state, cache, memory, mask)

    @torch.no_grad()
    def translate(self, src: torch.Tensor, src_len: torch.Tensor, max_len: int, bos_id: int = 1,
                  eos_id: int = 2, pad_id: int = 0):
        """Greedy decoding: -> tokens (B, L), attention weights (B, L, S) or None."""
        memory, state, mask, cache = self.encode(src, src_len)
        collected = []

        def step(prev, state):
            logits, state, weights = self.decoder.step(prev, state, cache, memory, mask)
            collected.append(weights)
            return logits, state

        tokens = ops.greedy_decode(step, state, src.shape[0], bos_id, eos_id, pad_id, max_len)
        weights = torch.stack(collected, dim=1) if self.config.attention else None  # (B, L, S)
        return tokens, weights
