"""Exercises on the Transformer (unit 05): transformer_learning_rate, label_smoothed_cross_entropy,
decoder_layer and beam_search_step.

Contracts (briefs: api05): transformer_learning_rate(step, peak, warmup) = peak * min(step / warmup,
sqrt(warmup / step)) as a plain Python float, steps counted from 1. label_smoothed_cross_entropy
targets (1 - eps) one-hot + eps / V on every class and averages over non-PAD targets.
decoder_layer(layer, x, memory, self_mask, memory_mask) runs a real DecoderLayer's sub-layers in
the pre-LN or post-LN order its `norm_first` says; the check's layers are in eval mode, except in
the cases where `layer.dropout` applies one fixed mask, to see that it acts on each branch.
beam_search_step keeps the K best of the K * V candidates of each sentence, best first; a finished
beam offers exactly one candidate, pad_id with its score unchanged. Where candidates tie, any order
of the tied ones is accepted (the cases never tie at the K-th place; a mistake that makes such ties,
like a finished beam offering every token, gets its hint only if the learner's sort breaks ties by
lower index, as NumPy's stable sort and tf.math.top_k do).
Every check ends with a case drawn anew on each run, so answers tabulated ahead for the seeded
cases fail; the layer's own residual helpers and cached step, and this module's NumPy references,
earn no credit like the course's reference.
Shape legend: B batch, S source length, T target length, D width, H heads, Dh head width,
F feed-forward width, V vocabulary, K beam size.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seq2bert.check.references import references
from seq2bert.check.registry import register
from seq2bert.check.spec import Case, Exercise, Mistake, Output, lengths_mask, log_softmax, softmax

# Every check run ends with one case drawn from a generator seeded anew (OS entropy), so a table of
# answers to the seeded cases, computed ahead with the course's reference, cannot pass.
FRESH = "a fresh random case (new on every run)"


def _fresh() -> np.random.Generator:
    return np.random.default_rng()


def _numpy_reference(*functions: str) -> dict[str, tuple[str, ...]]:
    """This module's NumPy `functions` (the reference, not the helpers mistakes share) forbidden in both frameworks."""
    return {framework: tuple(f"{__name__}:{function}" for function in functions)
            for framework in ("pytorch", "tensorflow")}

# ---------------------------------------------------------------- transformer_learning_rate


def _rate_cases(rng: np.random.Generator) -> list[Case]:
    def case(label, step, peak, warmup):
        return Case(label, {"step": step, "peak": peak, "warmup": warmup})

    return [
        case("step 1", 1, 2e-3, 200),
        case("half-way through warm-up", 100, 2e-3, 200),
        case("the last warm-up step (step == warmup)", 200, 2e-3, 200),
        case("the first step after warm-up", 201, 2e-3, 200),
        case("decay at 4 x warmup (half the peak)", 800, 1e-3, 200),
        case("the paper's warm-up of 4000, step 1000", 1000, 7e-4, 4000),
        case("a huge step", 10 ** 9, 2e-3, 4000),
        case("warmup 1 (no warm-up) at step 1", 1, 0.5, 1),
        case("warmup 1 at step 9", 9, 0.5, 1),
        _fresh_rate_case(_fresh()),
    ]


def _fresh_rate_case(rng: np.random.Generator) -> Case:
    warmup = int(rng.integers(2, 5000))
    step = int(rng.integers(1, 20 * warmup))
    return Case(FRESH, {"step": step, "peak": float(rng.uniform(1e-4, 1e-2)), "warmup": warmup})


def _learning_rate(step, peak, warmup):
    return peak * min(step / warmup, math.sqrt(warmup / step))


def _rate(shape):
    return lambda step, peak, warmup: float(peak * shape(step, warmup))


_FORMULA = "lr = peak * min(step / warmup, sqrt(warmup / step))"

TRANSFORMER_LEARNING_RATE = Exercise(
    name="transformer_learning_rate",
    references={"pytorch": "seq2bert.schedules:transformer_learning_rate",
                "tensorflow": "seq2bert.schedules:transformer_learning_rate"},
    unit="05",
    outputs=(Output("the learning rate has", "number"),),
    make_cases=_rate_cases,
    reference=_learning_rate,
    # float32 arithmetic (a tensor, then .item()) is right too; every known mistake is off by far more
    rtol=1e-6,
    atol=0.0,
    forbidden=_numpy_reference("_learning_rate"),
    mistakes=(
        Mistake("steps_from_zero", _rate(lambda s, w: min((s - 1) / w, math.sqrt(w / max(s - 1, 1e-300)))),
                "off by one: steps count from 1, so step 1 gets peak / warmup (not 0) and the rate reaches the "
                f"peak exactly at step == warmup; {_FORMULA}"),
        Mistake("one_step_ahead", _rate(lambda s, w: min((s + 1) / w, math.sqrt(w / (s + 1)))),
                "off by one: you used step + 1; steps count from 1 and the rate reaches the peak exactly at "
                f"step == warmup; {_FORMULA}"),
        Mistake("warmup_plus_one", _rate(lambda s, w: min(s / (w + 1), math.sqrt((w + 1) / s))),
                f"off by one: divide by warmup, not warmup + 1, so the peak comes at step == warmup; {_FORMULA}"),
        Mistake("sqrt_missing", _rate(lambda s, w: min(s / w, w / s)),
                "after warm-up the rate decays like 1 / sqrt(step), not 1 / step: multiply the peak by "
                "sqrt(warmup / step)"),
        Mistake("sqrt_in_warmup", _rate(lambda s, w: min(math.sqrt(s / w), math.sqrt(w / s))),
                "the warm-up is linear: peak * step / warmup (no square root); only the decay has one"),
        Mistake("no_decay", _rate(lambda s, w: min(s / w, 1.0)),
                "after warm-up the rate must decay: peak * sqrt(warmup / step), not stay at the peak"),
        Mistake("no_warmup", _rate(lambda s, w: math.sqrt(w / s)),
                "the warm-up is missing: for step < warmup the rate climbs linearly, peak * step / warmup"),
        # After no_warmup: during warm-up the larger piece is the decay, so the two agree there.
        Mistake("max_not_min", _rate(lambda s, w: max(s / w, math.sqrt(w / s))),
                "take the smaller of the two pieces (min), not the larger: the rate climbs during warm-up "
                "and decays after it"),
        Mistake("decay_not_normalised", _rate(lambda s, w: min(s / w, 1.0 / math.sqrt(s))),
                "the decay must start from the peak at step == warmup: peak * sqrt(warmup / step), not "
                "peak / sqrt(step)"),
        Mistake("paper_formula_with_peak", _rate(lambda s, w: min(s ** -0.5, s * w ** -1.5)),
                "that is the paper's formula with d_model^-0.5 replaced by peak; here peak is the rate at "
                f"step == warmup, so the formula is {_FORMULA} (the paper's peak is d_model^-0.5 * warmup^-0.5)"),
    ),
)

# ---------------------------------------------------------------- label_smoothed_cross_entropy


def _smoothing_case(rng, label, lengths, steps, vocab, pad_id, smoothing) -> Case:
    batch = len(lengths)
    logits = rng.normal(0.0, 2.0, size=(batch, steps, vocab)).astype(np.float32)
    real_ids = np.array([t for t in range(vocab) if t != pad_id])
    targets = rng.choice(real_ids, size=(batch, steps))
    targets[~lengths_mask(lengths, steps)] = pad_id
    return Case(label, {"logits": logits, "targets": targets.astype(np.int64), "pad_id": pad_id,
                        "smoothing": smoothing})


def _smoothing_cases(rng: np.random.Generator) -> list[Case]:
    return [
        _smoothing_case(rng, "random, padded tails", [5, 3, 1], 5, 7, 0, 0.1),
        _smoothing_case(rng, "pad_id is not 0", [4, 2, 3], 4, 6, 3, 0.2),
        _smoothing_case(rng, "smoothing 0 (plain masked cross-entropy)", [3, 2], 3, 5, 0, 0.0),
        _smoothing_case(rng, "padding everywhere but one token", [1, 0, 0], 4, 6, 0, 0.1),
        _smoothing_case(rng, "batch of 1 without padding, smoothing 0.5", [4], 4, 5, 0, 0.5),
        _smoothing_case(rng, "a wide vocabulary", [6, 2], 6, 40, 0, 0.1),
        _fresh_smoothing_case(_fresh()),
    ]


def _fresh_smoothing_case(rng: np.random.Generator) -> Case:
    batch, steps, vocab = int(rng.integers(1, 4)), int(rng.integers(2, 6)), int(rng.integers(4, 12))
    lengths = rng.integers(0, steps + 1, size=batch)
    lengths[0] = max(lengths[0], 1)  # at least one real target
    return _smoothing_case(rng, FRESH, lengths, steps, vocab, int(rng.integers(vocab)), float(rng.uniform(0.05, 0.5)))


def _keep(targets, pad_id):
    return targets != pad_id  # (B, T)


def _mean_over_real(losses, targets, pad_id):
    keep = _keep(targets, pad_id)
    return np.asarray((losses * keep).sum() / max(keep.sum(), 1))


def _smoothed_losses(logits, targets, smoothing, *, target_weight=None, others=None, pad_id=None):
    """(B, T) losses -sum_v q_v log p_v. Default q: (1 - eps) one-hot + eps / V on every class.

    target_weight and others (eps spread over the other classes, optionally skipping pad_id)
    build the known mistakes' distributions.
    """
    log_probs = log_softmax(logits)  # (B, T, V)
    vocab = logits.shape[-1]
    one_hot = np.eye(vocab)[targets]  # (B, T) -> (B, T, V)
    if others is None:
        weight = 1.0 - smoothing if target_weight is None else target_weight
        q = weight * one_hot + smoothing / vocab
    else:
        spread = (1.0 - one_hot)
        if pad_id is not None:
            spread[..., pad_id] = 0.0
        q = (1.0 - smoothing) * one_hot + smoothing * spread / spread.sum(axis=-1, keepdims=True)
    return -(q * log_probs).sum(axis=-1)  # (B, T, V) -> (B, T)


def _label_smoothed_cross_entropy(logits, targets, pad_id, smoothing):
    return _mean_over_real(_smoothed_losses(logits, targets, smoothing), targets, pad_id)


def _kl_divergence(logits, targets, pad_id, smoothing):
    vocab = logits.shape[-1]
    q = (1.0 - smoothing) * np.eye(vocab)[targets] + smoothing / vocab  # (B, T, V)
    entropy = -(q * np.log(np.where(q > 0, q, 1.0))).sum(axis=-1)  # (B, T)
    return _mean_over_real(_smoothed_losses(logits, targets, smoothing) - entropy, targets, pad_id)


def _smoothing_mistake(**options):
    return lambda logits, targets, pad_id, smoothing: _mean_over_real(
        _smoothed_losses(logits, targets, smoothing, **options), targets, pad_id)


_TARGET = "the target distribution is (1 - smoothing) on the target token plus smoothing / V on every class"

LABEL_SMOOTHED_CROSS_ENTROPY = Exercise(
    name="label_smoothed_cross_entropy",
    references=references("label_smoothed_cross_entropy"),
    unit="05",
    outputs=(Output("the loss has", "float"),),
    grad_arg="logits",
    make_cases=_smoothing_cases,
    reference=_label_smoothed_cross_entropy,
    mistakes=(
        Mistake("no_smoothing", lambda logits, targets, pad_id, smoothing: _mean_over_real(
                    _smoothed_losses(logits, targets, 0.0), targets, pad_id),
                f"this is the plain cross-entropy: the smoothing argument is ignored; {_TARGET} "
                "(V = logits.shape[-1])"),
        Mistake("spread_over_other_classes", _smoothing_mistake(others=True),
                f"you spread the smoothing over the V - 1 other classes: {_TARGET}, the target included "
                "(what label_smoothing= in PyTorch and Keras does)"),
        Mistake("pad_class_excluded", lambda logits, targets, pad_id, smoothing: _mean_over_real(
                    _smoothed_losses(logits, targets, smoothing, others=True, pad_id=pad_id), targets, pad_id),
                f"you left the pad class (and the target) out of the smoothing, as the Annotated Transformer "
                f"does: here {_TARGET}, pad_id included"),
        Mistake("target_not_reduced", _smoothing_mistake(target_weight=1.0),
                "the target keeps weight 1, so the target distribution sums to 1 + smoothing: give the "
                f"target token 1 - smoothing; {_TARGET}"),
        Mistake("kl_divergence", _kl_divergence,
                "this is the KL divergence KL(q || p) (what KLDivLoss computes), which is the cross-entropy "
                "minus the entropy of the smoothed targets: return the cross-entropy -sum_v q_v log p_v"),
        Mistake("mean_with_padding", lambda logits, targets, pad_id, smoothing: np.asarray(
                    _smoothed_losses(logits, targets, smoothing).mean()),
                "the loss also averages over padding positions: leave out targets equal to pad_id and "
                "divide by the number of real tokens"),
        Mistake("divide_by_all_positions", lambda logits, targets, pad_id, smoothing: np.asarray(
                    (_smoothed_losses(logits, targets, smoothing) * _keep(targets, pad_id)).sum() / targets.size),
                "padding is left out of the sum but you still divide by all B*T positions: divide by "
                "the number of non-padding tokens"),
        Mistake("sum", lambda logits, targets, pad_id, smoothing: np.asarray(
                    (_smoothed_losses(logits, targets, smoothing) * _keep(targets, pad_id)).sum()),
                "this is the sum of the per-token losses: divide it by the number of non-padding tokens"),
        Mistake("pad_id_fixed_0", lambda logits, targets, pad_id, smoothing: _label_smoothed_cross_entropy(
                    logits, targets, 0, smoothing),
                lambda case, got: "you treat token 0 as padding: use the pad_id argument "
                                  f"(this case has pad_id={case.args['pad_id']}), not a fixed number"),
        Mistake("smoothed_probabilities", lambda logits, targets, pad_id, smoothing: _mean_over_real(
                    _smoothed_losses(softmax(logits), targets, smoothing), targets, pad_id),
                "the logits went through a softmax before the loss: log_softmax the raw logits once"),
    ),
)

# ---------------------------------------------------------------- decoder_layer: the layer handed over

_LN_EPSILON = 1e-5  # PyTorch's default, which the course's Keras layers use too


def _layer_norm(x, weight, bias):
    mean = x.mean(axis=-1, keepdims=True)
    variance = x.var(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + _LN_EPSILON) * weight + bias


def _dense(x, weights, name):
    return x @ weights[f"{name}.weight"].T + weights[f"{name}.bias"]  # (..., in) @ (in, out) -> (..., out)


class _NumpyAttention:
    """The course's MultiHeadAttention in float64: query, key, value, mask -> output, weights."""

    def __init__(self, weights: dict, heads: int) -> None:
        self.weights, self.heads = weights, heads

    def __call__(self, query, key, value, mask=None):
        w, heads = self.weights, self.heads

        def split(x):
            batch, length, width = x.shape
            return x.reshape(batch, length, heads, width // heads).transpose(0, 2, 1, 3)  # -> (B, H, L, Dh)

        q, k, v = split(_dense(query, w, "w_q")), split(_dense(key, w, "w_k")), split(_dense(value, w, "w_v"))
        scores = q @ k.swapaxes(-1, -2) / np.sqrt(q.shape[-1])  # (B, H, T, Dh) @ (B, H, Dh, S) -> (B, H, T, S)
        if mask is not None:
            scores = np.where(mask, scores, -np.inf)
        weights = softmax(scores)  # (B, H, T, S)
        context = weights @ v  # (B, H, T, S) @ (B, H, S, Dh) -> (B, H, T, Dh)
        batch, _, length, _ = context.shape
        merged = context.transpose(0, 2, 1, 3).reshape(batch, length, -1)  # -> (B, T, H, Dh) -> (B, T, D)
        return _dense(merged, w, "w_o"), weights


@dataclass(frozen=True, eq=False)
class DecoderLayerArgument:
    """A DecoderLayer with seeded random weights (LayerNorms included), dropout off, as a case argument.

    For a framework it is the course's real DecoderLayer (PyTorch module in eval mode, Keras layer
    called with training unset); for the NumPy reference it is a float64 stand-in with the same
    attributes, so the reference and the known mistakes read it like learners do. With
    fixed_dropout, `layer.dropout` multiplies by one fixed pattern of 0s and 2s over the features
    (dropout with p = 0.5 that draws the same mask every time), so the check sees where it is applied.
    """

    norm_first: bool
    width: int  # D
    heads: int  # H
    ffn: int  # F
    seed: int
    fixed_dropout: bool = False
    weights: dict = field(init=False)  # PyTorch state-dict names -> float32 arrays
    pattern: np.ndarray = field(init=False)  # (D,) the fixed dropout's factors, 0 or 2

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        d, f = self.width, self.ffn
        weights = {}
        for attention in ("self_attention", "cross_attention"):
            for name in ("w_q", "w_k", "w_v", "w_o"):
                weights[f"{attention}.{name}.weight"] = rng.normal(0.0, d ** -0.5, size=(d, d))
                weights[f"{attention}.{name}.bias"] = rng.normal(0.0, 0.1, size=d)
        weights["ffn.w_1.weight"] = rng.normal(0.0, d ** -0.5, size=(f, d))
        weights["ffn.w_1.bias"] = rng.normal(0.0, 0.1, size=f)
        weights["ffn.w_2.weight"] = rng.normal(0.0, f ** -0.5, size=(d, f))
        weights["ffn.w_2.bias"] = rng.normal(0.0, 0.1, size=d)
        for norm in ("self_attention_norm", "cross_attention_norm", "ffn_norm"):
            # Different scales and shifts per LayerNorm, so using the wrong one shows.
            weights[f"{norm}.weight"] = rng.uniform(0.5, 1.5, size=d)
            weights[f"{norm}.bias"] = rng.normal(0.0, 0.2, size=d)
        object.__setattr__(self, "weights", {name: value.astype(np.float32) for name, value in weights.items()})
        pattern = np.tile([2.0, 0.0], d)[:d]  # half the features kept (times 1 / (1 - p)), half dropped
        object.__setattr__(self, "pattern", rng.permutation(pattern).astype(np.float32))

    def config(self):
        from seq2bert.configs import TransformerConfig

        return TransformerConfig(src_vocab=5, tgt_vocab=5, width=self.width, heads=self.heads, ffn=self.ffn,
                                 norm="pre" if self.norm_first else "post", dropout=0.1)

    def for_framework(self, fw: Any) -> Any:
        if fw.name == "pytorch":
            from seq2bert.torch.transformer import DecoderLayer
            from seq2bert.torch.weights import load_weights

            layer = DecoderLayer(self.config())
            load_weights(layer, self.weights)
            if self.fixed_dropout:
                layer.dropout = _torch_fixed_dropout(fw.to_tensor(self.pattern))
            return layer.eval()  # dropout off
        from seq2bert.tf.weights import load_torch_state

        layer, parts = self._keras_layer(fw)
        for name, part in parts.items():  # undo whatever an earlier learner's function set on the shared layer
            setattr(layer, name, part)
        load_torch_state(layer, self.weights)
        if self.fixed_dropout:
            pattern = fw.to_tensor(self.pattern)
            layer.dropout = lambda x, training=None: x * pattern  # (B, T, D) * (D,)
        return layer

    def _keras_layer(self, fw: Any) -> tuple:
        """A built Keras DecoderLayer of this shape and its attributes by name, built once (it takes seconds)."""
        key = (self.width, self.heads, self.ffn, self.norm_first)
        if key not in _KERAS_LAYERS:
            from seq2bert.tf.transformer import DecoderLayer

            layer = DecoderLayer(self.config())
            x = fw.to_tensor(np.zeros((1, 2, self.width), np.float32))
            memory = fw.to_tensor(np.zeros((1, 3, self.width), np.float32))
            layer(x, memory, fw.to_tensor(np.ones((1, 1, 2, 2), bool)), fw.to_tensor(np.ones((1, 1, 1, 3), bool)))
            _KERAS_LAYERS[key] = (layer, {name: getattr(layer, name) for name in _LAYER_ATTRIBUTES})
        return _KERAS_LAYERS[key]

    def for_numpy(self) -> Any:
        def part(prefix):
            return {name[len(prefix) + 1:]: value.astype(np.float64) for name, value in self.weights.items()
                    if name.startswith(prefix + ".")}

        def norm(prefix):
            p = part(prefix)
            return lambda x: _layer_norm(x, p["weight"], p["bias"])

        ffn = part("ffn")
        return _NumpyDecoderLayer(
            self_attention_norm=norm("self_attention_norm"),
            self_attention=_NumpyAttention(part("self_attention"), self.heads),
            cross_attention_norm=norm("cross_attention_norm"),
            cross_attention=_NumpyAttention(part("cross_attention"), self.heads),
            ffn_norm=norm("ffn_norm"),
            ffn=lambda x: _dense(np.maximum(_dense(x, ffn, "w_1"), 0.0), ffn, "w_2"),  # (B, T, D) -> (B, T, F) -> (B, T, D)
            dropout=(lambda x: x * self.pattern) if self.fixed_dropout else (lambda x: x),  # (B, T, D) * (D,)
            norm_first=self.norm_first)

    def describe(self) -> str:
        order = "pre-LN" if self.norm_first else "post-LN"
        fixed = ", dropout replaced by a fixed pattern" if self.fixed_dropout else ""
        return f"a {order} DecoderLayer (D {self.width}, H {self.heads}, F {self.ffn}{fixed})"

    def mutated(self, fw: Any, passed: Any) -> bool:
        return False


# What decoder_layer may read of a DecoderLayer (api05).
_LAYER_ATTRIBUTES = ("self_attention_norm", "self_attention", "cross_attention_norm", "cross_attention", "ffn_norm",
                     "ffn", "dropout", "norm_first")
# Built Keras layers by (D, H, F, norm_first); each use restores their attributes and loads its case's weights.
_KERAS_LAYERS: dict[tuple, tuple] = {}


def _torch_fixed_dropout(pattern):
    from torch import nn

    class FixedDropout(nn.Module):
        """Dropout whose mask is always `pattern` (D,)."""

        def forward(self, x):
            return x * pattern  # (B, T, D) * (D,)

    return FixedDropout()


@dataclass
class _NumpyDecoderLayer:
    self_attention_norm: Any
    self_attention: Any
    cross_attention_norm: Any
    cross_attention: Any
    ffn_norm: Any
    ffn: Any
    dropout: Any
    norm_first: bool


# ---------------------------------------------------------------- decoder_layer


def _decoder_case(rng, label, norm_first, src_lengths, tgt_lengths, source, target, width=8, heads=2, ffn=12,
                  fixed_dropout=False):
    batch = len(src_lengths)
    causal = np.tril(np.ones((target, target), dtype=bool))  # (T, T)
    self_mask = causal[None, None] & lengths_mask(tgt_lengths, target)[:, None, None, :]  # -> (B, 1, T, T)
    memory_mask = lengths_mask(src_lengths, source)[:, None, None, :]  # (B, S) -> (B, 1, 1, S)
    layer = DecoderLayerArgument(norm_first, width, heads, ffn, seed=int(rng.integers(2 ** 31)),
                                 fixed_dropout=fixed_dropout)
    return Case(label, {"layer": layer,
                        "x": rng.normal(size=(batch, target, width)).astype(np.float32),
                        "memory": rng.normal(size=(batch, source, width)).astype(np.float32),
                        "self_mask": self_mask, "memory_mask": memory_mask})


def _decoder_cases(rng: np.random.Generator) -> list[Case]:
    return [
        _decoder_case(rng, "pre-LN, padded source and target", True, [5, 3], [4, 2], 5, 4),
        _decoder_case(rng, "post-LN, padded source and target", False, [5, 3], [4, 2], 5, 4),
        # S == T: a mask given to the wrong attention still broadcasts, so only the values tell.
        _decoder_case(rng, "pre-LN, source as long as target (S == T)", True, [4, 2], [3, 4], 4, 4),
        _decoder_case(rng, "post-LN, source as long as target (S == T)", False, [2, 4], [4, 4], 4, 4),
        _decoder_case(rng, "pre-LN, source padded everywhere but one token", True, [1, 1], [3, 2], 6, 3),
        _decoder_case(rng, "post-LN, batch of 1, one target token (T = 1)", False, [3], [1], 3, 1),
        _decoder_case(rng, "pre-LN, one head (H = 1)", True, [2, 3], [3, 1], 3, 3, width=6, heads=1, ffn=10),
        # Dropout is off in the cases above; here it drops a fixed half of the features, to see where it acts.
        _decoder_case(rng, "pre-LN, dropout with a fixed mask", True, [4, 2], [3, 2], 4, 3, fixed_dropout=True),
        _decoder_case(rng, "post-LN, dropout with a fixed mask", False, [4, 2], [3, 2], 4, 3, fixed_dropout=True),
        _fresh_decoder_case(_fresh()),
    ]


def _fresh_decoder_case(rng: np.random.Generator) -> Case:
    batch, source, target = int(rng.integers(1, 4)), int(rng.integers(1, 7)), int(rng.integers(1, 6))
    return _decoder_case(rng, FRESH, bool(rng.integers(2)), rng.integers(1, source + 1, size=batch),
                         rng.integers(1, target + 1, size=batch), source, target, fixed_dropout=bool(rng.integers(2)))


def _decoder_layer(layer, x, memory, self_mask, memory_mask, *, order=None, self_mask_on=True,
                   memory_mask_on=True, swap_masks=False, cross_on_x=False, normalise_memory=False,
                   residual=True, one_norm=False, ffn_before_cross=False, self_weights=False, dropout="branch",
                   residual_from_normalised=False, normalised_branch=False):
    """The contract in float64; each keyword switches in one known mistake."""
    x = np.asarray(x, dtype=np.float64)
    memory = np.asarray(memory, dtype=np.float64)
    pre = layer.norm_first if order is None else order == "pre"
    norms = [layer.self_attention_norm, layer.cross_attention_norm, layer.ffn_norm]
    if one_norm:
        norms = [layer.self_attention_norm] * 3
    masks = (memory_mask, self_mask) if swap_masks else (self_mask, memory_mask)
    masks = (masks[0] if self_mask_on else None, masks[1] if memory_mask_on else None)
    found = {}

    def self_block(h):
        out, found["self"] = layer.self_attention(h, h, h, masks[0])  # (B, T, D), (B, H, T, T)
        return out

    def cross_block(h):
        source = h if cross_on_x else (norms[1](memory) if normalise_memory else memory)
        out, found["cross"] = layer.cross_attention(h, source, source, masks[1])  # (B, T, D), (B, H, T, S)
        return out

    blocks = [(self_block, norms[0]), (cross_block, norms[1]), (layer.ffn, norms[2])]
    if ffn_before_cross:
        blocks = [blocks[0], (layer.ffn, norms[2]), (cross_block, norms[1])]
    drop_branch = layer.dropout if dropout == "branch" else (lambda h: h)
    drop_sum = layer.dropout if dropout == "after_residual" else (lambda h: h)
    for block, norm in blocks:
        if pre:
            h = norm(x)
            branch = drop_branch(block(h))
            x = drop_sum((h if residual_from_normalised else x) + branch) if residual else branch
        elif normalised_branch:
            x = x + norm(drop_branch(block(x)))
        else:
            branch = drop_branch(block(x))
            x = norm(drop_sum(x + branch) if residual else branch)
    return x, found["self" if self_weights else "cross"]


def _decoder_mistake(**slip):
    return lambda *args: _decoder_layer(*args, **slip)


_PRE = "pre-LN (norm_first True): x = x + dropout(f(LN(x)))"
_POST = "post-LN (norm_first False): x = LN(x + dropout(f(x)))"

DECODER_LAYER = Exercise(
    name="decoder_layer",
    references=references("decoder_layer", module="transformer"),
    unit="05",
    outputs=(Output("the output has", "float"), Output("the cross-attention weights have", "float")),
    grad_arg="x",
    make_cases=_decoder_cases,
    reference=_decoder_layer,
    # The layer's own residual helpers and its cached decoding step compute the same sub-layer order.
    forbidden={"pytorch": ("seq2bert.torch.transformer:_add_branch", "seq2bert.torch.transformer:_branch_input",
                           "seq2bert.torch.transformer:DecoderLayer.step"),
               "tensorflow": ("seq2bert.tf.transformer:DecoderLayer._residual",
                              "seq2bert.tf.transformer:DecoderLayer.step")},
    mistakes=(
        Mistake("always_post_ln", _decoder_mistake(order="post"),
                f"the pre-LN cases are wrong: you used the post-LN order whatever layer.norm_first says; {_PRE}, "
                f"{_POST}"),
        Mistake("always_pre_ln", _decoder_mistake(order="pre"),
                f"the post-LN cases are wrong: you used the pre-LN order whatever layer.norm_first says; {_POST}, "
                f"{_PRE}"),
        Mistake("self_mask_missing", _decoder_mistake(self_mask_on=False),
                "the causal mask is missing: pass self_mask to the self-attention, or each position sees the "
                "target tokens after it (the very ones it must predict) and the padding"),
        Mistake("memory_mask_missing", _decoder_mistake(memory_mask_on=False),
                "the cross-attention ignores memory_mask, so it attends to the padding of the source: pass "
                "memory_mask to layer.cross_attention"),
        Mistake("masks_swapped", _decoder_mistake(swap_masks=True),
                "the masks are swapped: self_mask (causal & target padding, (B, 1, T, T)) goes to the "
                "self-attention, memory_mask (source padding, (B, 1, 1, S)) to the cross-attention"),
        Mistake("cross_attention_reads_x", _decoder_mistake(cross_on_x=True),
                "the cross-attention takes its keys and values from the decoder stream: queries come from x, "
                "keys and values from memory (the encoder's output), layer.cross_attention(h, memory, memory, "
                "memory_mask)"),
        Mistake("memory_normalised", _decoder_mistake(normalise_memory=True),
                "you normalised the memory too: cross_attention_norm applies to the decoder stream x only; the "
                "memory goes in as it is (the encoder already normalised it)"),
        Mistake("residual_missing", _decoder_mistake(residual=False),
                "the residual connections are missing: each sub-layer's output is added to its input x "
                f"({_PRE}; {_POST})"),
        Mistake("residual_from_normalised", _decoder_mistake(residual_from_normalised=True),
                "in the pre-LN cases the residual starts from LN(x): add the sub-layer's output to x itself, "
                f"h = LN(x); x = x + dropout(f(h)), so the un-normalised stream carries through; {_PRE}"),
        Mistake("post_ln_normalises_the_branch", _decoder_mistake(normalised_branch=True),
                "in the post-LN cases you normalised the sub-layer's output before adding it: post-LN normalises "
                f"the sum, {_POST}"),
        Mistake("one_norm_for_all", _decoder_mistake(one_norm=True),
                "each sub-layer has its own LayerNorm: self_attention_norm, cross_attention_norm and ffn_norm "
                "(they learn different scales and shifts)"),
        Mistake("ffn_before_cross_attention", _decoder_mistake(ffn_before_cross=True),
                "the sub-layers are in the wrong order: self-attention, then cross-attention, then the "
                "feed-forward network"),
        Mistake("dropout_missing", _decoder_mistake(dropout="none"),
                "dropout is missing: apply layer.dropout to each sub-layer's output before adding it to x "
                "(the check's layers drop a fixed half of the features, to see where dropout acts)"),
        Mistake("dropout_after_residual", _decoder_mistake(dropout="after_residual"),
                "dropout acts on the residual sum: apply layer.dropout to the sub-layer's output only, "
                "x + dropout(f(...)), so the residual path itself is never dropped"),
        Mistake("self_attention_weights", _decoder_mistake(self_weights=True),
                "you returned the self-attention weights: return the cross-attention's (B, H, T, S) weights, "
                "the ones that show which source words each target position reads"),
    ),
)

# ---------------------------------------------------------------- beam_search_step

_TIE_DECIMALS = 4  # candidate scores in the cases are equal or at least 1e-3 apart


def _beam_case(rng, label, batch, beam, vocab, *, eos_id=2, pad_id=0, start=False, finished=None,
               twins=False, best_finished=False) -> Case:
    """One case whose candidates are either tied exactly or clearly apart (so ties never straddle the K-th)."""
    for _ in range(1000):
        log_probs = log_softmax(rng.normal(0.0, 1.5, size=(batch, beam, vocab))).astype(np.float32)
        scores = np.sort(rng.normal(-3.0, 1.5, size=(batch, beam)), axis=-1)[:, ::-1].astype(np.float32)
        if start:  # the first step: one live beam, every row of log_probs the same (they share BOS)
            log_probs[:] = log_probs[:, :1]
            scores[:] = -np.inf
            scores[:, 0] = 0.0
        if twins:  # beams 0 and 1 are the same hypothesis twice: their candidates tie pairwise
            log_probs[:, 1] = log_probs[:, 0]
            scores[:, 1] = scores[:, 0]
        done = np.zeros((batch, beam), dtype=bool) if finished is None else np.array(finished, dtype=bool)
        if best_finished:
            scores[done] = 0.5  # a finished hypothesis beats every extension
        case = Case(label, {"log_probs": log_probs, "scores": scores, "finished": done,
                            "eos_id": eos_id, "pad_id": pad_id})
        if _ties_are_clean(case, beam):
            return case
    raise RuntimeError(f"could not draw a clean beam-search case for {label!r}")


def _candidates(log_probs, scores, finished, pad_id, *, finished_rule="pad"):
    """(B, K, V) candidate scores; a finished beam's row follows `finished_rule` (mistakes vary it)."""
    candidates = scores[..., None].astype(np.float64) + log_probs  # (B, K, 1) + (B, K, V)
    only = np.full(log_probs.shape[-1], -np.inf)
    if finished_rule == "extend":
        return candidates
    for b, k in zip(*np.nonzero(finished)):
        if finished_rule == "pad":
            candidates[b, k] = only
            candidates[b, k, pad_id] = scores[b, k]
        elif finished_rule == "all_tokens":
            candidates[b, k] = scores[b, k]
        elif finished_rule == "dropped":
            candidates[b, k] = only
    return candidates


def _best(candidates, beam):
    """The K best of each sentence's K * V candidates, best first (ties: lower flat index first)."""
    batch, _, vocab = candidates.shape
    flat = candidates.reshape(batch, -1)  # (B, K, V) -> (B, K * V)
    order = np.argsort(-flat, axis=-1, kind="stable")[:, :beam]  # (B, K)
    return np.take_along_axis(flat, order, axis=-1), order // vocab, order % vocab


def _ties_are_clean(case: Case, beam: int) -> bool:
    a = case.args
    flat = np.sort(_candidates(a["log_probs"], a["scores"], a["finished"], a["pad_id"]).reshape(
        len(a["scores"]), -1), axis=-1)[:, ::-1]  # (B, K * V), best first
    finite = flat[:, : beam + 1]
    gaps = np.abs(np.diff(finite, axis=-1))
    gaps = gaps[np.isfinite(gaps)]
    clean = np.all((gaps == 0) | (gaps > 1e-3))
    boundary = flat.shape[1] <= beam or np.all(flat[:, beam - 1] != flat[:, beam])
    return bool(clean and boundary)


def _beam_cases(rng: np.random.Generator) -> list[Case]:
    return [
        _beam_case(rng, "first step: scores [0, -inf, -inf]", 2, 3, 6, start=True),
        _beam_case(rng, "random live beams, B > 1", 2, 3, 7),
        _beam_case(rng, "finished beams", 2, 4, 6, finished=[[False, True, False, False], [True, False, False, True]]),
        _beam_case(rng, "beam size 1 (greedy)", 3, 1, 5, finished=[[False], [True], [False]]),
        _beam_case(rng, "ties: two beams hold the same hypothesis", 1, 4, 5, twins=True),
        _beam_case(rng, "other special ids, a finished beam is the best", 2, 3, 6, eos_id=4, pad_id=3,
                   finished=[[True, False, False], [False, False, True]], best_finished=True),
        _beam_case(rng, "every beam finished", 1, 3, 5, finished=[[True, True, True]]),
        _fresh_beam_case(_fresh()),
    ]


def _fresh_beam_case(rng: np.random.Generator) -> Case:
    batch, beam = int(rng.integers(1, 4)), int(rng.integers(1, 5))
    vocab = int(rng.integers(beam + 2, 9))
    eos_id, pad_id = (int(i) for i in rng.choice(vocab, size=2, replace=False))
    start = beam > 1 and bool(rng.integers(2))
    finished = np.zeros((batch, beam), bool) if start else rng.random((batch, beam)) < 0.3
    return _beam_case(rng, FRESH, batch, beam, vocab, eos_id=eos_id, pad_id=pad_id, start=start, finished=finished)


def _beam_search_step(log_probs, scores, finished, eos_id, pad_id):
    return _best(_candidates(log_probs, scores, finished, pad_id), scores.shape[-1])


def _canonical_ties(result, case: Case):
    """Tied candidates in a fixed order, so any tie-breaking is accepted; a result not sorted is left as is."""
    new_scores, parents, tokens = (np.asarray(part) for part in result)
    if new_scores.ndim != 2 or parents.shape != new_scores.shape or tokens.shape != new_scores.shape:
        return result
    # Which beam and token a -inf candidate is says nothing (a right answer never keeps one; a mistake
    # such as the best token per beam does, at whatever index its argmax or topk gives).
    dead = np.isneginf(new_scores)
    parents, tokens = np.where(dead, -1, parents), np.where(dead, -1, tokens)
    rounded = np.round(new_scores.astype(np.float64), _TIE_DECIMALS)
    with np.errstate(invalid="ignore"):
        steps = np.diff(rounded, axis=-1)
        steps = np.where(np.isnan(steps), 0.0, steps)  # -inf next to -inf
    if np.all(steps <= 0):
        key = -rounded  # best first, as asked
    elif np.all(steps >= 0):
        key = rounded  # worst first: a known mistake, whose ties are put in order too
    else:
        return result
    order = np.stack([np.lexsort((tokens[b], parents[b], key[b])) for b in range(len(rounded))])  # (B, K)
    return tuple(np.take_along_axis(part, order, axis=-1) for part in (new_scores, parents, tokens))


def _beam_mistake(finished_rule="pad", add_scores=True, ascending=False, smallest=False, parents="divide"):
    def wrong(log_probs, scores, finished, eos_id, pad_id):
        base = scores if add_scores else np.where(finished, scores, 0.0)
        token, rule = (eos_id, "pad") if finished_rule == "eos" else (pad_id, finished_rule)
        candidates = _candidates(log_probs, base, finished, token, finished_rule=rule)
        beam, vocab = scores.shape[-1], log_probs.shape[-1]
        flat = candidates.reshape(len(scores), -1)  # (B, K * V)
        order = np.argsort(flat if smallest else -flat, axis=-1, kind="stable")[:, :beam]
        if ascending:
            order = order[:, ::-1]
        best = np.take_along_axis(flat, order, axis=-1)
        if parents == "modulo":
            return best, order % beam, order % vocab
        if parents == "divide_by_beam":
            return best, order // beam, order % vocab
        return best, order // vocab, order % vocab
    return wrong


def _best_token_per_beam(log_probs, scores, finished, eos_id, pad_id):
    candidates = _candidates(log_probs, scores, finished, pad_id)  # (B, K, V)
    tokens = candidates.argmax(axis=-1)  # (B, K)
    parents = np.broadcast_to(np.arange(scores.shape[-1]), scores.shape)
    return candidates.max(axis=-1), parents, tokens


_FLAT = "flatten the candidates to (B, K * V); flat index i is beam i // V, token i % V"

BEAM_SEARCH_STEP = Exercise(
    name="beam_search_step",
    references=references("beam_search_step", module="decoding"),
    unit="05",
    outputs=(Output("the new scores have", "float"), Output("the parents have", "int"),
             Output("the tokens have", "int")),
    make_cases=_beam_cases,
    reference=_beam_search_step,
    forbidden=_numpy_reference("_beam_search_step", "_best"),
    normalise=_canonical_ties,
    mistakes=(
        Mistake("best_token_per_beam", _best_token_per_beam,
                "you extended each beam by its own best token: the new beams are the K best of all K * V "
                "(beam, token) candidates of a sentence, so a strong beam may have several children and a weak "
                f"one none; {_FLAT}"),
        Mistake("parents_by_modulo", _beam_mistake(parents="modulo"),
                f"the parents are wrong: {_FLAT} (not i % K)"),
        Mistake("parents_divided_by_beam", _beam_mistake(parents="divide_by_beam"),
                f"the parents are wrong: {_FLAT} (divide by V, the vocabulary size, not by K)"),
        Mistake("finished_beams_extended", _beam_mistake(finished_rule="extend"),
                "finished beams were extended like live ones: a finished beam offers exactly one candidate, "
                "pad_id, with its score unchanged"),
        Mistake("finished_beams_every_token", _beam_mistake(finished_rule="all_tokens"),
                "a finished beam offers every token with its unchanged score, so one finished hypothesis can "
                "fill several beams: it must offer exactly one candidate, pad_id with its score unchanged"),
        Mistake("finished_beams_dropped", _beam_mistake(finished_rule="dropped"),
                "finished beams were dropped: a finished hypothesis stays in the running with one candidate, "
                "pad_id with its score unchanged, so a short good translation can win"),
        Mistake("finished_beams_eos", _beam_mistake(finished_rule="eos"),
                "a finished beam's one candidate must be pad_id (with its score unchanged), not eos_id"),
        Mistake("scores_not_added", _beam_mistake(add_scores=False),
                "the candidates' scores ignore the beams' scores: a candidate scores its beam's score plus "
                "the token's log-probability, scores[..., None] + log_probs"),
        Mistake("worst_first", _beam_mistake(ascending=True),
                "the new beams come worst first: sort them best first (largest score first)"),
        Mistake("smallest_k", _beam_mistake(smallest=True),
                "you kept the K lowest-scoring candidates: keep the K highest, best first (topk's default; "
                "an ascending sort puts the worst first)"),
    ),
)


register(TRANSFORMER_LEARNING_RATE, LABEL_SMOOTHED_CROSS_ENTROPY, DECODER_LAYER, BEAM_SEARCH_STEP)
