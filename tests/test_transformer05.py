"""The PyTorch encoder-decoder Transformer (unit 05): layers and model against torch.nn.Transformer*,
cached decoding against uncached, padding, tied weights, parameter count, cost per step, errors."""
import math

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from seq2bert.configs import EncoderConfig, TransformerConfig
from seq2bert.data.text import Vocab
from seq2bert.torch.attention import combine_masks
from seq2bert.torch.masks import causal_mask
from seq2bert.torch.positional import sinusoidal_encoding
from seq2bert.torch.transformer import (DecoderCache, DecoderLayer, Encoder, EncoderLayer, Transformer,
                                        count_parameters, decoder_layer, scale_embeddings)

TOL = 1e-5
D, H, F, V_SRC, V_TGT, MAX = 16, 4, 24, 13, 11, 12


def config(**overrides) -> TransformerConfig:
    fields = dict(src_vocab=V_SRC, tgt_vocab=V_TGT, width=D, heads=H, ffn=F, max_length=MAX, dropout=0.0)
    return TransformerConfig(**{**fields, **overrides})


def randomise(module: nn.Module, seed: int = 0, scale: float = 0.5) -> nn.Module:
    """Weights unlike the shared start (LayerNorm gains and biases too), so every mapping is exercised."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * scale)
    return module


def batch(seed: int = 0):
    """src (3, 7) with lengths 7, 5, 2 (PAD after); tgt_in (3, 6) = BOS + tokens, row 1 padded after 4."""
    generator = torch.Generator().manual_seed(seed)
    src = torch.randint(4, V_SRC, (3, 7), generator=generator)
    src_len = torch.tensor([7, 5, 2])
    src[torch.arange(7)[None, :] >= src_len[:, None]] = Vocab.PAD
    tgt_in = torch.randint(3, V_TGT, (3, 6), generator=generator)
    tgt_in[:, 0] = Vocab.BOS
    tgt_in[1, 4:] = Vocab.PAD
    return src, src_len, tgt_in


def diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a - b).detach().abs().max())


# ------------------------------------------------------------------ copying weights into torch.nn references


def copy_attention(ours, theirs: nn.MultiheadAttention) -> None:
    """Our w_q, w_k, w_v (D, D) each -> nn.MultiheadAttention's stacked in_proj (3D, D); w_o -> out_proj."""
    with torch.no_grad():
        theirs.in_proj_weight.copy_(torch.cat([ours.w_q.weight, ours.w_k.weight, ours.w_v.weight]))  # 3 x (D, D) -> (3D, D)
        theirs.in_proj_bias.copy_(torch.cat([ours.w_q.bias, ours.w_k.bias, ours.w_v.bias]))  # 3 x (D,) -> (3D,)
        theirs.out_proj.load_state_dict(ours.w_o.state_dict())


def copy_ffn(ours, theirs) -> None:
    theirs.linear1.load_state_dict(ours.ffn.w_1.state_dict())
    theirs.linear2.load_state_dict(ours.ffn.w_2.state_dict())


def reference_encoder_layer(ours: EncoderLayer, norm_first: bool, activation: str) -> nn.TransformerEncoderLayer:
    ref = nn.TransformerEncoderLayer(D, H, F, dropout=0.0, activation=activation, batch_first=True,
                                     norm_first=norm_first)
    copy_attention(ours.attention, ref.self_attn)
    copy_ffn(ours, ref)
    ref.norm1.load_state_dict(ours.attention_norm.state_dict())
    ref.norm2.load_state_dict(ours.ffn_norm.state_dict())
    return ref.train()  # training mode (dropout 0) keeps torch off its fused inference path: plain float32 maths


def reference_decoder_layer(ours: DecoderLayer, norm_first: bool, activation: str) -> nn.TransformerDecoderLayer:
    ref = nn.TransformerDecoderLayer(D, H, F, dropout=0.0, activation=activation, batch_first=True,
                                     norm_first=norm_first)
    copy_attention(ours.self_attention, ref.self_attn)
    copy_attention(ours.cross_attention, ref.multihead_attn)
    copy_ffn(ours, ref)
    ref.norm1.load_state_dict(ours.self_attention_norm.state_dict())
    ref.norm2.load_state_dict(ours.cross_attention_norm.state_dict())
    ref.norm3.load_state_dict(ours.ffn_norm.state_dict())
    return ref.train()


class ReferenceTransformer(nn.Module):
    """nn.Embedding (x sqrt(D), + the same positions) -> nn.Transformer -> x E^T + b, with our model's weights."""

    def __init__(self, ours: Transformer):
        super().__init__()
        cfg = ours.config
        self.config, self.ours = cfg, ours
        self.transformer = nn.Transformer(cfg.width, cfg.heads, cfg.encoder_layers, cfg.decoder_layers, cfg.ffn,
                                          dropout=0.0, activation=cfg.activation, batch_first=True,
                                          norm_first=cfg.norm == "pre")
        for layer, ref in zip(ours.encoder.layers, self.transformer.encoder.layers):
            ref.load_state_dict(reference_encoder_layer(layer, cfg.norm == "pre", cfg.activation).state_dict())
        for layer, ref in zip(ours.decoder.layers, self.transformer.decoder.layers):
            ref.load_state_dict(reference_decoder_layer(layer, cfg.norm == "pre", cfg.activation).state_dict())
        if cfg.norm == "pre":
            self.transformer.encoder.norm.load_state_dict(ours.encoder.norm.state_dict())
            self.transformer.decoder.norm.load_state_dict(ours.decoder.norm.state_dict())
        else:  # the paper's post-LN stacks end with the last layer's own LayerNorm
            self.transformer.encoder.norm = None
            self.transformer.decoder.norm = None
        self.src_embedding = nn.Embedding.from_pretrained(ours.encoder.embedding.weight.detach().clone())
        self.tgt_embedding = nn.Embedding.from_pretrained(ours.decoder.embedding.weight.detach().clone())
        self.train()

    def positions(self, stack, length: int) -> torch.Tensor:
        if self.config.positions == "sinusoidal":
            return sinusoidal_encoding(self.config.max_length, self.config.width)[:length]  # (T, D)
        if self.config.positions == "learned":
            return stack.positions.embedding.weight[:length].detach()  # (T, D)
        return torch.zeros(length, self.config.width)

    def forward(self, src, src_len, tgt_in):
        scale = math.sqrt(self.config.width)
        x_src = self.src_embedding(src) * scale + self.positions(self.ours.encoder, src.shape[1])  # (B, S, D)
        x_tgt = self.tgt_embedding(tgt_in) * scale + self.positions(self.ours.decoder, tgt_in.shape[1])  # (B, T, D)
        source_padding = torch.arange(src.shape[1])[None, :] >= src_len[:, None]  # (B, S) True = PAD (torch's way)
        x = self.transformer(x_src, x_tgt, tgt_mask=~causal_mask(tgt_in.shape[1]),
                             src_key_padding_mask=source_padding, tgt_key_padding_mask=tgt_in == Vocab.PAD,
                             memory_key_padding_mask=source_padding)  # (B, T, D)
        out = self.ours.output_layer
        if self.config.tie_embeddings:
            return x @ self.tgt_embedding.weight.T + out.bias.detach()  # (B, T, D) @ (D, V) -> (B, T, V)
        return x @ out.weight.detach().T + out.bias.detach()  # (B, T, D) @ (D, V) -> (B, T, V)


# ------------------------------------------------------------------ parity with torch.nn


@pytest.mark.parametrize("norm", ["pre", "post"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer_matches_torch(norm, activation):
    enc_config = EncoderConfig(vocab=V_SRC, width=D, heads=H, ffn=F, norm=norm, activation=activation)
    ours = randomise(EncoderLayer(enc_config)).eval()
    ref = reference_encoder_layer(ours, norm == "pre", activation)
    x = torch.randn(3, 7, D, generator=torch.Generator().manual_seed(1))
    _, src_len, _ = batch()
    real = torch.arange(7)[None, :] < src_len[:, None]  # (B, S)
    got, weights = ours(x, combine_masks(real, None))
    assert diff(got, ref(x, src_key_padding_mask=~real)) <= TOL
    assert float(weights[2, :, :, 2:].detach().abs().max()) == 0.0  # no query reads the padding


@pytest.mark.parametrize("norm", ["pre", "post"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_decoder_layer_matches_torch(norm, activation):
    ours = randomise(DecoderLayer(config(norm=norm, activation=activation))).eval()
    ref = reference_decoder_layer(ours, norm == "pre", activation)
    generator = torch.Generator().manual_seed(2)
    x, memory = torch.randn(3, 6, D, generator=generator), torch.randn(3, 7, D, generator=generator)
    src, src_len, tgt_in = batch()
    source_real, target_real = src != Vocab.PAD, tgt_in != Vocab.PAD  # (B, S), (B, T)
    self_mask = combine_masks(target_real, causal_mask(6))  # (B, 1, T, T)
    got, weights = ours(x, memory, self_mask, source_real[:, None, None, :])
    expected = ref(x, memory, tgt_mask=~causal_mask(6), tgt_key_padding_mask=~target_real,
                   memory_key_padding_mask=~source_real)
    assert diff(got, expected) <= TOL
    assert weights.shape == (3, H, 6, 7)  # (B, H, T, S)
    assert float(weights[2, :, :, 2:].detach().abs().max()) == 0.0
    # The exercise reference is the very computation the layer runs.
    again, _ = decoder_layer(ours, x, memory, self_mask, source_real[:, None, None, :])
    assert diff(again, expected) <= TOL


TRANSFORMER_CASES = [  # norm, positions, tie_embeddings, activation
    ("pre", "sinusoidal", True, "relu"),
    ("post", "sinusoidal", True, "relu"),
    ("pre", "learned", False, "gelu"),
    ("post", "none", True, "gelu"),
]


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")  # nn.Transformer's note on pre-LN stacks
@pytest.mark.parametrize("norm, positions, tie, activation", TRANSFORMER_CASES)
def test_transformer_matches_torch(norm, positions, tie, activation):
    ours = randomise(Transformer(config(norm=norm, positions=positions, tie_embeddings=tie, activation=activation,
                                        encoder_layers=2, decoder_layers=3))).eval()
    ref = ReferenceTransformer(ours)
    src, src_len, tgt_in = batch()
    logits, weights = ours(src, src_len, tgt_in)
    assert logits.shape == (3, 6, V_TGT) and weights.shape == (3, H, 6, 7)  # (B, T, V), (B, H, T, S)
    assert diff(logits, ref(src, src_len, tgt_in)) <= TOL
    assert (ours.encoder.norm is None) == (ours.decoder.norm is None) == (norm == "post")


# ------------------------------------------------------------------ cached decoding


@pytest.mark.parametrize("norm", ["pre", "post"])
@pytest.mark.parametrize("positions", ["sinusoidal", "learned"])
def test_cached_steps_equal_uncached_decoding(norm, positions):
    model = randomise(Transformer(config(norm=norm, positions=positions)), seed=3).eval()
    src, src_len, tgt_in = batch()
    tgt_in[1, 4:] = 5  # a real token: the cache treats every token it is fed as real
    memory, src_mask = model.encode(src, src_len)
    full = model.decode(tgt_in, memory, src_mask)  # (B, T, V)
    cache = model.start_cache(memory, src_mask)
    for t in range(tgt_in.shape[1]):
        logits, cache = model.decode_step(tgt_in[:, t], cache)
        assert diff(logits, full[:, t]) <= TOL, f"step {t}"
        assert cache.length == t + 1
        assert all(k.shape == (3, H, t + 1, D // H) for k in cache.keys + cache.values)  # (B, H, t+1, Dh)


def copy_task(rows: int, generator: torch.Generator):
    """Sources of 1-7 tokens; the target copies them (ids shifted into the target vocabulary), then EOS."""
    src_len = torch.randint(1, 8, (rows,), generator=generator)
    src = torch.randint(4, V_SRC, (rows, 7), generator=generator)
    src[torch.arange(7)[None, :] >= src_len[:, None]] = Vocab.PAD
    target = torch.where(src == Vocab.PAD, src, (src - 4) % (V_TGT - 3) + 3)  # ids 3..V-1, PAD kept
    tgt_out = torch.cat([target, torch.zeros(rows, 1, dtype=src.dtype)], dim=1)  # (N, 8)
    tgt_out[torch.arange(rows), src_len] = Vocab.EOS
    tgt_in = torch.cat([torch.full((rows, 1), Vocab.BOS), target], dim=1)  # (N, 8)
    return src, src_len, tgt_in, tgt_out


def briefly_trained(norm: str) -> Transformer:
    """A model trained for a few seconds on copying: its greedy outputs vary and end at different steps.

    Adam is written out because torch.optim's first step imports torch._dynamo (about 10 s here).
    """
    torch.manual_seed(0)
    model = Transformer(config(norm=norm, max_length=16), seed=4)
    parameters = list(model.parameters())
    moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in parameters]
    generator = torch.Generator().manual_seed(5)
    for step in range(1, 41):
        src, src_len, tgt_in, tgt_out = copy_task(16, generator)
        logits, _ = model(src, src_len, tgt_in)
        loss = nn.functional.cross_entropy(logits.transpose(1, 2), tgt_out, ignore_index=Vocab.PAD)
        gradients = torch.autograd.grad(loss, parameters)
        with torch.no_grad():
            for p, g, (m, v) in zip(parameters, gradients, moments):
                m.mul_(0.9).add_(g, alpha=0.1)
                v.mul_(0.999).addcmul_(g, g, value=0.001)
                p.sub_(1e-2 * (m / (1 - 0.9 ** step)) / ((v / (1 - 0.999 ** step)).sqrt() + 1e-8))
    return model.eval()


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_translate_with_and_without_cache_agree(norm):
    model = briefly_trained(norm)
    src, src_len, _, _ = copy_task(16, torch.Generator().manual_seed(6))
    tokens, weights = model.translate(src, src_len, max_len=12)
    again, weights_again = model.translate(src, src_len, max_len=12, cache=False)
    assert torch.equal(tokens, again)
    # Up to each row's EOS; after it, a finished row is fed PAD, which only the uncached decoder masks.
    live = torch.cat([torch.ones(16, 1, dtype=torch.bool), (tokens[:, :-1] != Vocab.EOS).cummin(dim=1).values],
                     dim=1)  # (B, L) True up to and including the first EOS
    assert diff(weights[live], weights_again[live]) <= TOL
    assert weights.shape == (16, tokens.shape[1], 7)  # (B, L, S)
    assert len(set(tokens.flatten().tolist())) >= 5, "a meaningful comparison needs varied tokens"
    assert len({row.index(Vocab.EOS) for row in tokens.tolist() if Vocab.EOS in row}) >= 3  # rows end apart
    assert torch.allclose(weights.sum(-1), torch.ones(()))  # head-averaged weights still sum to 1
    padding = torch.arange(7)[None, None, :] >= src_len[:, None, None]  # (B, 1, S)
    assert float(weights.masked_select(padding).abs().max()) == 0.0  # no weight on source PAD
    for row in tokens.tolist():  # PAD exactly after EOS, never before it
        if Vocab.EOS in row:
            end = row.index(Vocab.EOS)
            assert all(token == Vocab.PAD for token in row[end + 1:])
            assert Vocab.PAD not in row[:end]
        else:
            assert Vocab.PAD not in row


def test_cache_reorder_gathers_rows():
    model = randomise(Transformer(config()), seed=6).eval()
    src, src_len, tgt_in = batch()
    memory, src_mask = model.encode(src, src_len)
    cache = model.start_cache(memory, src_mask)
    for t in range(3):
        _, cache = model.decode_step(tgt_in[:, t], cache)
    index = torch.tensor([2, 0, 0])
    logits, _ = model.decode_step(tgt_in[index, 3], cache.reorder(index))
    full = model.decode(tgt_in[index, :4], memory[index], src_mask[index])  # (N, 4, V)
    assert diff(logits, full[:, 3]) <= TOL
    assert cache.reorder(index).length == 3 and cache.length == 3  # the original cache is untouched
    with pytest.raises(ValueError, match="index holds rows 0..3, but the cache has 3"):
        cache.reorder(torch.tensor([0, 3]))


def test_decoding_step_cost_is_linear_in_the_prefix():
    """A cached step projects only the new token and reads t cached keys: O(t); cross k, v are projected once."""
    model = randomise(Transformer(config(max_length=40)), seed=7).eval()
    src, src_len, _ = batch()
    memory, src_mask = model.encode(src, src_len)
    calls = {"cross": 0, "self_lengths": []}
    for layer in model.decoder.layers:
        cross, self_attention = layer.cross_attention, layer.self_attention

        def counted_cross(key, value, _original=cross.project_keys_values):
            calls["cross"] += 1
            return _original(key, value)

        def recorded_self(key, value, _original=self_attention.project_keys_values):
            calls["self_lengths"].append(key.shape[1])
            return _original(key, value)

        cross.project_keys_values, self_attention.project_keys_values = counted_cross, recorded_self
    cache = model.start_cache(memory, src_mask)
    flops = []
    for t in range(8):
        with FlopCounterMode(display=False) as counter:
            _, cache = model.decode_step(torch.full((3,), 5), cache)
        flops.append(counter.get_total_flops())
    assert calls["cross"] == len(model.decoder.layers)  # once per layer, at start_cache, never per step
    assert set(calls["self_lengths"]) == {1}  # each step projects its own token only
    growth = [b - a for a, b in zip(flops, flops[1:])]
    assert len(set(growth)) == 1 and growth[0] > 0  # FLOPs grow by the same amount per step: linear in t
    # Without a cache, step t re-runs the whole prefix: cost grows with t^2 in total, and the cross
    # keys and values are projected again at every step.
    calls["cross"] = 0
    model.translate(src, src_len, max_len=10, cache=False)
    assert calls["cross"] >= 2 * len(model.decoder.layers)


# ------------------------------------------------------------------ padding, tying, counting


def test_source_padding_changes_nothing():
    model = randomise(Transformer(config()), seed=8).eval()
    src, src_len, tgt_in = batch()
    logits, weights = model(src, src_len, tgt_in)
    wider = torch.cat([src, torch.zeros(3, 3, dtype=src.dtype)], dim=1)  # three more PAD columns: (B, S + 3)
    wider_logits, wider_weights = model(wider, src_len, tgt_in)
    assert diff(logits, wider_logits) <= TOL
    assert diff(weights, wider_weights[..., :7]) <= TOL and float(wider_weights[..., 7:].abs().max()) == 0.0
    other = src.clone()
    other[2, 2:] = 7  # different tokens where row 2 is padding
    assert diff(logits[2], model(other, src_len, tgt_in)[0][2]) <= TOL


def test_tied_output_shares_one_tensor_and_learns_from_both_uses():
    model = randomise(Transformer(config()), seed=9)
    table = model.decoder.embedding.weight
    assert model.output_layer.embedding.weight is table
    assert sum(p is table for p in model.parameters()) == 1
    src, src_len, tgt_in = batch()

    def gradient(**cut) -> torch.Tensor:
        model.zero_grad()
        hooks = []
        if cut.get("input"):  # only the output projection may send gradient to the table
            hooks.append(model.decoder.embedding.register_forward_hook(lambda m, i, out: out.detach()))
        if cut.get("output"):  # only the embedding lookup may
            hooks.append(model.output_layer.register_forward_hook(
                lambda m, i, out: i[0] @ table.detach().T + m.bias))
        logits, _ = model(src, src_len, tgt_in)
        logits.pow(2).mean().backward()
        for hook in hooks:
            hook.remove()
        return table.grad.clone()

    total, through_output, through_input = gradient(), gradient(input=True), gradient(output=True)
    assert float(through_output.abs().max()) > 0 and float(through_input.abs().max()) > 0
    assert torch.allclose(total, through_output + through_input, atol=1e-6)


def expected_parameters(cfg: TransformerConfig) -> int:
    d, f = cfg.width, cfg.ffn
    attention = 4 * d * d + 4 * d  # w_q, w_k, w_v, w_o with biases
    ffn = d * f + f + f * d + d
    norm = 2 * d  # gain and bias
    positions = cfg.max_length * d if cfg.positions == "learned" else 0
    final_norm = norm if cfg.norm == "pre" else 0
    encoder = cfg.src_vocab * d + positions + cfg.encoder_layers * (attention + ffn + 2 * norm) + final_norm
    decoder = cfg.tgt_vocab * d + positions + cfg.decoder_layers * (2 * attention + ffn + 3 * norm) + final_norm
    output = cfg.tgt_vocab if cfg.tie_embeddings else d * cfg.tgt_vocab + cfg.tgt_vocab
    return encoder + decoder + output


@pytest.mark.parametrize("overrides", [{}, {"tie_embeddings": False}, {"norm": "post", "positions": "learned"},
                                       {"width": 128, "ffn": 256, "src_vocab": 40, "tgt_vocab": 44,
                                        "max_length": 64}])
def test_count_parameters_matches_the_formula(overrides):
    cfg = config(**overrides)
    model = Transformer(cfg)
    assert count_parameters(model) == expected_parameters(cfg)
    untied = Transformer(config(**{**overrides, "tie_embeddings": False}))
    tied = Transformer(config(**{**overrides, "tie_embeddings": True}))
    assert count_parameters(untied) - count_parameters(tied) == cfg.width * cfg.tgt_vocab


def test_start_weights_and_scaling():
    model, again = Transformer(config(), seed=3), Transformer(config(), seed=3)
    for (name, a), (_, b) in zip(model.named_parameters(), again.named_parameters()):
        assert torch.equal(a, b), name
    assert float(model.output_layer.bias.abs().max()) == 0.0
    table = model.encoder.embedding.weight
    assert 0.7 < float(table.std()) * math.sqrt(D) < 1.3  # N(0, 1/D): x sqrt(D) enters at RMS about 1
    before = model.decoder.embedding.weight.detach().clone()
    scale_embeddings(model, math.sqrt(D))
    assert torch.allclose(model.decoder.embedding.weight, before * math.sqrt(D))
    assert 0.7 < float(table.std()) < 1.3  # now N(0, 1): the tokens drown the positional encoding
    with pytest.raises(ValueError, match="factor must be a positive number"):
        scale_embeddings(model, 0)


def test_encoder_stays_the_unit04_module():
    assert EncoderConfig(vocab=5).norm == "pre" and EncoderConfig(vocab=5).activation == "relu"
    encoder = Encoder(EncoderConfig(vocab=5, width=8, heads=2, ffn=8, norm="post", activation="gelu"))
    assert encoder.norm is None and all(not layer.norm_first for layer in encoder.layers)
    cfg = config(norm="post", activation="gelu", encoder_layers=3)
    assert cfg.encoder_config() == EncoderConfig(vocab=V_SRC, width=D, heads=H, layers=3, ffn=F, positions="sinusoidal",
                                                 max_length=MAX, dropout=0.0, norm="post", activation="gelu")


# ------------------------------------------------------------------ clear errors


@pytest.mark.parametrize("overrides, message", [
    ({"positions": "rotary"}, "positions must be one of 'none', 'sinusoidal', 'learned'"),
    ({"norm": "middle"}, "norm must be one of 'pre', 'post'"),
    ({"activation": "tanh"}, "activation must be one of 'relu', 'gelu'"),
    ({"heads": 3}, "width 16 is not divisible by 3 heads"),
    ({"decoder_layers": 0}, "decoder_layers must be a positive integer"),
    ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
    ({"tie_embeddings": "yes"}, "tie_embeddings must be True or False"),
])
def test_config_errors(overrides, message):
    with pytest.raises(ValueError, match=message):
        config(**overrides)


def test_clear_errors():
    model = Transformer(config()).eval()
    src, src_len, tgt_in = batch()
    with pytest.raises(ValueError, match=r"expected tokens of shape \(B, T\), got shape \(6,\)"):
        model(src, src_len, tgt_in[0])
    with pytest.raises(ValueError, match="a sequence of length 13 is longer than max_length 12"):
        model(src, src_len, torch.ones(3, 13, dtype=torch.long))
    with pytest.raises(ValueError, match="a sequence of length 14 is longer than max_length 12"):
        model(torch.ones(3, 14, dtype=torch.long), src_len, tgt_in)
    with pytest.raises(TypeError, match="tokens must be integer ids"):
        model(src, src_len, tgt_in.float())
    with pytest.raises(ValueError, match=r"token ids must lie in 0..10"):
        model(src, src_len, tgt_in + 10)
    with pytest.raises(ValueError, match=r"source lengths must lie in 1..7"):
        model(src, torch.tensor([7, 0, 2]), tgt_in)
    memory, src_mask = model.encode(src, src_len)
    with pytest.raises(TypeError, match="the source mask must be bool"):
        model.decode(tgt_in, memory, src_mask.float())
    with pytest.raises(TypeError, match="mask must be a bool tensor"):
        model.decoder.layers[0](torch.zeros(3, 6, D), memory, causal_mask(6).float(), None)
    cache = model.start_cache(memory, src_mask)
    with pytest.raises(ValueError, match=r"one token per row, shape \(3,\), got \(3, 1\)"):
        model.decode_step(tgt_in[:, :1], cache)
    for _ in range(MAX):
        _, cache = model.decode_step(tgt_in[:, 0], cache)
    with pytest.raises(ValueError, match="a sequence of length 13 is longer than max_length 12"):
        model.decode_step(tgt_in[:, 0], cache)
    with pytest.raises(ValueError, match="max_len must be an int in 1..max_length 12"):
        model.translate(src, src_len, max_len=20)
    assert isinstance(cache, DecoderCache)
