"""Checks of unit 05's exercises against learner-style code, in PyTorch and in TensorFlow.

Each wrong answer is written the way a learner would write it; the check must reject it with the
hint of that mistake. Several correct spellings of each exercise must pass.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import seq2bert.check.transformer as checks  # noqa: F401  registers unit 05's exercises
from seq2bert.check import evaluate, exercises

torch = pytest.importorskip("torch")
tf = pytest.importorskip("tensorflow")

FRAMEWORKS = ["pytorch", "tensorflow"]
NAMES = ["transformer_learning_rate", "label_smoothed_cross_entropy", "decoder_layer", "beam_search_step"]


@pytest.fixture(scope="module", params=FRAMEWORKS)
def fw(request):
    return exercises(request.param).framework


def hint_of(exercise, name):
    return next(mistake.hint for mistake in exercise.mistakes if mistake.name == name)


def assert_mistake(result, exercise, name):
    assert result.status == "failed"
    assert result.mistake == name, result.hint
    hint = hint_of(exercise, name)
    if isinstance(hint, str):
        assert result.hint.endswith(hint)


@pytest.mark.parametrize("name", NAMES)
def test_stub_is_not_attempted(fw, name):
    def stub(*args):
        raise NotImplementedError

    assert evaluate(name, fw, stub).status == "not_attempted"


@pytest.mark.parametrize("name", NAMES)
def test_returning_none_fails(fw, name):
    result = evaluate(name, fw, lambda *args: None)
    assert result.status == "failed" and "None" in result.hint


@pytest.mark.parametrize("name", NAMES)
def test_the_course_reference_passes_and_is_refused(fw, name):
    reference = fw.reference(name)
    result = evaluate(name, fw, lambda *args: reference(*args))
    assert result.status == "failed" and "which already solves it" in result.hint


# ---------------------------------------------------------------- transformer_learning_rate

RATE_CORRECT = {
    "min_of_two": lambda step, peak, warmup: peak * min(step / warmup, (warmup / step) ** 0.5),
    "two_branches": lambda step, peak, warmup: (peak * step / warmup if step <= warmup
                                                else peak * math.sqrt(warmup / step)),
    "paper_rescaled": lambda step, peak, warmup: peak * warmup ** 0.5 * min(step ** -0.5, step * warmup ** -1.5),
    "numpy": lambda step, peak, warmup: peak * np.minimum(step / warmup, np.sqrt(warmup / step)),
}

RATE_MISTAKES = {
    "steps_from_zero": ("steps_from_zero", lambda step, peak, warmup: peak * min(
        (step - 1) / warmup, math.sqrt(warmup / max(step - 1, 1)))),
    "step_plus_one": ("one_step_ahead", lambda step, peak, warmup: peak * min(
        (step + 1) / warmup, math.sqrt(warmup / (step + 1)))),
    "sqrt_missing": ("sqrt_missing", lambda step, peak, warmup: peak * min(step / warmup, warmup / step)),
    "sqrt_in_warmup": ("sqrt_in_warmup", lambda step, peak, warmup: peak * math.sqrt(min(step / warmup, warmup / step))),
    "max": ("max_not_min", lambda step, peak, warmup: peak * max(step / warmup, math.sqrt(warmup / step))),
    "no_warmup": ("no_warmup", lambda step, peak, warmup: peak * math.sqrt(warmup / step)),
    "no_decay": ("no_decay", lambda step, peak, warmup: peak * min(step / warmup, 1)),
    "paper_with_peak": ("paper_formula_with_peak", lambda step, peak, warmup: peak * min(
        step ** -0.5, step * warmup ** -1.5)),
    "rsqrt_decay": ("decay_not_normalised", lambda step, peak, warmup: peak * min(step / warmup, step ** -0.5)),
}


@pytest.mark.parametrize("style", list(RATE_CORRECT))
def test_learning_rate_correct_styles_pass(fw, style):
    result = evaluate("transformer_learning_rate", fw, RATE_CORRECT[style])
    assert result.status == "passed", result.hint
    assert result.cases == 10


@pytest.mark.parametrize("learner", list(RATE_MISTAKES))
def test_learning_rate_mistakes_get_their_hint(fw, learner):
    name, function = RATE_MISTAKES[learner]
    assert_mistake(evaluate("transformer_learning_rate", fw, function), checks.TRANSFORMER_LEARNING_RATE, name)


def test_learning_rate_as_a_tensor_is_refused(fw):
    make = (lambda v: torch.tensor(v)) if fw.name == "pytorch" else (lambda v: tf.constant(v))
    result = evaluate("transformer_learning_rate", fw,
                      lambda step, peak, warmup: make(peak * min(step / warmup, math.sqrt(warmup / step))))
    assert result.status == "failed"
    assert result.hint.startswith(f"your function returned a {fw.tensor_type}, expected a plain Python float")


def test_learning_rate_cases_cover_the_edges():
    args = [case.args for case in checks.TRANSFORMER_LEARNING_RATE.make_cases(np.random.default_rng(0))]
    assert any(a["step"] == 1 for a in args) and any(a["step"] == a["warmup"] for a in args)
    assert any(a["step"] >= 10 ** 6 * a["warmup"] / 4000 for a in args) and any(a["warmup"] == 1 for a in args)


# ---------------------------------------------------------------- label_smoothed_cross_entropy, PyTorch

F = torch.nn.functional


def torch_masked_mean(losses, targets, pad_id, keep_padding=False):
    keep = torch.ones_like(losses) if keep_padding else (targets != pad_id).float()
    return (losses * keep).sum() / keep.sum()


def torch_smoothed(logits, targets, pad_id, smoothing, *, spread="all", target_weight=None, kl=False,
                   keep_padding=False):
    vocab = logits.shape[-1]
    log_probs = torch.log_softmax(logits, dim=-1)
    one_hot = F.one_hot(targets, vocab).float()
    if spread == "all":
        q = (1 - smoothing if target_weight is None else target_weight) * one_hot + smoothing / vocab
    else:  # over the other classes
        q = (1 - smoothing) * one_hot + (1 - one_hot) * smoothing / (vocab - 1)
    losses = -(q * log_probs).sum(-1)
    if kl:
        losses = F.kl_div(log_probs, q, reduction="none").sum(-1)
    return torch_masked_mean(losses, targets, pad_id, keep_padding)


def torch_library(logits, targets, pad_id, smoothing):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=pad_id,
                           label_smoothing=smoothing)


def torch_mixture(logits, targets, pad_id, smoothing):
    log_probs = logits.log_softmax(-1)
    nll = -log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    uniform = -log_probs.mean(-1)
    keep = targets != pad_id
    return ((1 - smoothing) * nll + smoothing * uniform)[keep].mean()


TORCH_SMOOTHING = {
    "library": torch_library,
    "explicit": torch_smoothed,
    "mixture": torch_mixture,
    "no_smoothing": lambda logits, targets, pad_id, smoothing: F.cross_entropy(
        logits.transpose(1, 2), targets, ignore_index=pad_id),
    "spread_over_other_classes": lambda *args: torch_smoothed(*args, spread="others"),
    "target_not_reduced": lambda *args: torch_smoothed(*args, target_weight=1.0),
    "kl_divergence": lambda *args: torch_smoothed(*args, kl=True),
    "mean_with_padding": lambda *args: torch_smoothed(*args, keep_padding=True),
    "pad_id_fixed_0": lambda logits, targets, pad_id, smoothing: torch_library(logits, targets, 0, smoothing),
}

# ---------------------------------------------------------------- label_smoothed_cross_entropy, TensorFlow


def tf_masked_mean(losses, targets, pad_id, keep_padding=False):
    keep = tf.ones_like(losses) if keep_padding else tf.cast(targets != pad_id, losses.dtype)
    return tf.reduce_sum(losses * keep) / tf.reduce_sum(keep)


def tf_smoothed(logits, targets, pad_id, smoothing, *, spread="all", target_weight=None, kl=False,
                keep_padding=False):
    vocab = logits.shape[-1]
    log_probs = tf.nn.log_softmax(logits, axis=-1)
    one_hot = tf.one_hot(targets, vocab)
    if spread == "all":
        q = (1 - smoothing if target_weight is None else target_weight) * one_hot + smoothing / vocab
    else:
        q = (1 - smoothing) * one_hot + (1 - one_hot) * smoothing / (vocab - 1)
    losses = -tf.reduce_sum(q * log_probs, axis=-1)
    if kl:
        losses = tf.keras.losses.KLDivergence(reduction=None)(q, tf.nn.softmax(logits))
    return tf_masked_mean(losses, targets, pad_id, keep_padding)


def tf_library(logits, targets, pad_id, smoothing):
    losses = tf.keras.losses.categorical_crossentropy(tf.one_hot(targets, logits.shape[-1]), logits,
                                                      from_logits=True, label_smoothing=smoothing)
    return tf_masked_mean(losses, targets, pad_id)


def tf_mixture(logits, targets, pad_id, smoothing):
    log_probs = tf.nn.log_softmax(logits)
    nll = -tf.gather(log_probs, targets, axis=-1, batch_dims=2)
    uniform = -tf.reduce_mean(log_probs, axis=-1)
    keep = tf.not_equal(targets, pad_id)
    return tf.reduce_mean(tf.boolean_mask((1 - smoothing) * nll + smoothing * uniform, keep))


TF_SMOOTHING = {
    "library": tf_library,
    "explicit": tf_smoothed,
    "mixture": tf_mixture,
    "no_smoothing": lambda logits, targets, pad_id, smoothing: tf_masked_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits), targets, pad_id),
    "spread_over_other_classes": lambda *args: tf_smoothed(*args, spread="others"),
    "target_not_reduced": lambda *args: tf_smoothed(*args, target_weight=1.0),
    "kl_divergence": lambda *args: tf_smoothed(*args, kl=True),
    "mean_with_padding": lambda *args: tf_smoothed(*args, keep_padding=True),
    "pad_id_fixed_0": lambda logits, targets, pad_id, smoothing: tf_library(logits, targets, 0, smoothing),
}

SMOOTHING = {"pytorch": TORCH_SMOOTHING, "tensorflow": TF_SMOOTHING}
SMOOTHING_CORRECT = ["library", "explicit", "mixture"]
SMOOTHING_MISTAKES = ["no_smoothing", "spread_over_other_classes", "target_not_reduced", "kl_divergence",
                      "mean_with_padding", "pad_id_fixed_0"]


@pytest.mark.parametrize("style", SMOOTHING_CORRECT)
def test_label_smoothing_correct_styles_pass(fw, style):
    result = evaluate("label_smoothed_cross_entropy", fw, SMOOTHING[fw.name][style])
    assert result.status == "passed", result.hint
    assert result.cases == 7


@pytest.mark.parametrize("mistake", SMOOTHING_MISTAKES)
def test_label_smoothing_mistakes_get_their_hint(fw, mistake):
    result = evaluate("label_smoothed_cross_entropy", fw, SMOOTHING[fw.name][mistake])
    assert_mistake(result, checks.LABEL_SMOOTHED_CROSS_ENTROPY, mistake)


def test_label_smoothing_cases_cover_the_edges():
    args = [case.args for case in checks.LABEL_SMOOTHED_CROSS_ENTROPY.make_cases(np.random.default_rng(0))]
    assert any(a["smoothing"] == 0 for a in args) and any(a["pad_id"] != 0 for a in args)
    assert any((a["targets"] != a["pad_id"]).sum() == 1 for a in args)


def test_label_smoothing_reference_matches_the_libraries():
    """The check's NumPy reference is what torch's label_smoothing= computes (the contract's definition)."""
    for case in checks.LABEL_SMOOTHED_CROSS_ENTROPY.make_cases(np.random.default_rng(3)):
        a = case.args
        expected = torch_library(torch.tensor(a["logits"]), torch.tensor(a["targets"]), a["pad_id"], a["smoothing"])
        np.testing.assert_allclose(checks._label_smoothed_cross_entropy(**a), expected.item(), rtol=1e-5)


# ---------------------------------------------------------------- beam_search_step, PyTorch


def torch_candidates(log_probs, scores, finished, pad_id, finished_rule="pad"):
    candidates = scores[..., None] + log_probs  # (B, K, V)
    if finished_rule == "extend":
        return candidates
    only_pad = torch.full_like(candidates, -math.inf)
    if finished_rule == "pad":
        only_pad[..., pad_id] = scores
    elif finished_rule == "all_tokens":
        only_pad = scores[..., None].expand_as(candidates)
    return torch.where(finished[..., None], only_pad, candidates)


def torch_beam(order="topk", finished_rule="pad", parents="divide", add_scores=True, largest=True):
    """A learner's beam_search_step in PyTorch; the keywords make the usual mistakes."""
    def beam_search_step(log_probs, scores, finished, eos_id, pad_id):
        batch, beam, vocab = log_probs.shape
        base = scores if add_scores else torch.where(finished, scores, torch.zeros_like(scores))
        candidates = torch_candidates(log_probs, base, finished, pad_id, finished_rule)
        if order == "per_beam":
            new_scores, tokens = candidates.max(dim=-1)
            return new_scores, torch.arange(beam).expand(batch, beam), tokens
        flat = candidates.reshape(batch, beam * vocab)
        if order == "argsort":
            index = flat.argsort(dim=-1, descending=True)[:, :beam]
            new_scores = flat.gather(1, index)
        elif order == "two_stage":  # each beam's K best, then the K best of those K * K
            per_beam, per_token = candidates.topk(beam, dim=-1)  # (B, K, K)
            new_scores, pick = per_beam.reshape(batch, -1).topk(beam, dim=-1)
            index = (pick // beam) * vocab + per_token.reshape(batch, -1).gather(1, pick)
        else:
            new_scores, index = flat.topk(beam, dim=-1, largest=largest, sorted=True)
        if order == "ascending_tail":  # the K best, but in ascending order
            index = flat.argsort(dim=-1)[:, -beam:]
            new_scores = flat.gather(1, index)
        parent = {"divide": index // vocab, "modulo": index % beam, "floor_divide": torch.div(
            index, vocab, rounding_mode="floor")}[parents]
        return new_scores, parent, index % vocab
    return beam_search_step


# ---------------------------------------------------------------- beam_search_step, TensorFlow


def tf_candidates(log_probs, scores, finished, pad_id, finished_rule="pad"):
    candidates = scores[..., None] + log_probs  # (B, K, V)
    if finished_rule == "extend":
        return candidates
    vocab = log_probs.shape[-1]
    if finished_rule == "pad":
        is_pad = tf.one_hot(pad_id, vocab, on_value=True, off_value=False)  # (V,)
        only_pad = tf.where(is_pad, scores[..., None], -math.inf)
    else:
        only_pad = tf.broadcast_to(scores[..., None], tf.shape(candidates))
    return tf.where(finished[..., None], only_pad, candidates)


def tf_beam(order="topk", finished_rule="pad", parents="divide", add_scores=True, largest=True):
    """The same learner in TensorFlow."""
    def beam_search_step(log_probs, scores, finished, eos_id, pad_id):
        batch, beam, vocab = log_probs.shape
        base = scores if add_scores else tf.where(finished, scores, 0.0)
        candidates = tf_candidates(log_probs, base, finished, pad_id, finished_rule)
        if order == "per_beam":
            tokens = tf.argmax(candidates, axis=-1, output_type=tf.int32)
            return tf.reduce_max(candidates, -1), tf.broadcast_to(tf.range(beam), [batch, beam]), tokens
        flat = tf.reshape(candidates, [batch, beam * vocab])
        if order == "argsort":
            index = tf.argsort(flat, axis=-1, direction="DESCENDING")[:, :beam]
            new_scores = tf.gather(flat, index, batch_dims=1)
        elif order == "two_stage":
            per_beam, per_token = tf.math.top_k(candidates, k=beam)  # (B, K, K)
            new_scores, pick = tf.math.top_k(tf.reshape(per_beam, [batch, -1]), k=beam)
            index = (pick // beam) * vocab + tf.gather(tf.reshape(per_token, [batch, -1]), pick, batch_dims=1)
        elif order == "ascending_tail":
            index = tf.argsort(flat, axis=-1)[:, -beam:]
            new_scores = tf.gather(flat, index, batch_dims=1)
        elif largest:
            new_scores, index = tf.math.top_k(flat, k=beam)
        else:
            negated, index = tf.math.top_k(-flat, k=beam)
            new_scores = -negated
        parent = {"divide": index // vocab, "modulo": index % beam,
                  "floor_divide": tf.math.floordiv(index, vocab)}[parents]
        return new_scores, parent, index % vocab
    return beam_search_step


BEAM = {"pytorch": torch_beam, "tensorflow": tf_beam}
BEAM_CORRECT = {"topk": {}, "argsort": dict(order="argsort"), "two_stage": dict(order="two_stage"),
                "floor_divide": dict(parents="floor_divide")}
BEAM_MISTAKES = {
    "best_token_per_beam": dict(order="per_beam"),
    "parents_by_modulo": dict(parents="modulo"),
    "finished_beams_extended": dict(finished_rule="extend"),
    "scores_not_added": dict(add_scores=False),
    "worst_first": dict(order="ascending_tail"),
}


@pytest.mark.parametrize("mistake, slip", [("finished_beams_every_token", dict(finished_rule="all_tokens")),
                                           ("smallest_k", dict(largest=False))])
def test_mistakes_tying_at_the_kth_place_are_rejected(fw, mistake, slip):
    """Their candidates tie at the K-th place: rejected always, recognised when ties go to the lower index."""
    result = evaluate("beam_search_step", fw, BEAM[fw.name](**slip))
    assert result.status == "failed"
    if result.mistake:
        assert_mistake(result, checks.BEAM_SEARCH_STEP, mistake)
    else:
        assert result.hint.startswith("wrong values in the new scores on case ")


@pytest.mark.parametrize("style", list(BEAM_CORRECT))
def test_beam_search_step_correct_styles_pass(fw, style):
    result = evaluate("beam_search_step", fw, BEAM[fw.name](**BEAM_CORRECT[style]))
    assert result.status == "passed", result.hint
    assert result.cases == 8


@pytest.mark.parametrize("mistake", list(BEAM_MISTAKES))
def test_beam_search_step_mistakes_get_their_hint(fw, mistake):
    result = evaluate("beam_search_step", fw, BEAM[fw.name](**BEAM_MISTAKES[mistake]))
    assert_mistake(result, checks.BEAM_SEARCH_STEP, mistake)


def test_beam_search_ties_may_come_in_any_order(fw):
    """Tied candidates swapped (the other beam of a tie first) still pass; the cases do have ties."""
    right = BEAM[fw.name]()

    def ties_reversed(*args):
        new_scores, parents, tokens = (fw.to_numpy(part) for part in right(*args))
        for row in range(len(new_scores)):
            for k in range(new_scores.shape[1] - 1):
                if new_scores[row, k] == new_scores[row, k + 1] and parents[row, k] < parents[row, k + 1]:
                    for part in (parents, tokens):
                        part[row, [k, k + 1]] = part[row, [k + 1, k]]
        return tuple(fw.to_tensor(part) for part in (new_scores, parents, tokens))

    cases = checks.BEAM_SEARCH_STEP.make_cases(np.random.default_rng(0))
    tied = [case for case in cases if "ties" in case.label][0]
    got = checks._beam_search_step(**tied.args)[0]
    assert np.any(np.diff(got, axis=-1) == 0)
    assert evaluate("beam_search_step", fw, ties_reversed).status == "passed"


def test_beam_search_cases_cover_the_edges():
    cases = checks.BEAM_SEARCH_STEP.make_cases(np.random.default_rng(0))
    args = [case.args for case in cases]
    assert any(a["scores"].shape[1] == 1 for a in args) and any(a["scores"].shape[0] > 1 for a in args)
    assert any(np.isneginf(a["scores"]).any() for a in args) and any(a["finished"].all() for a in args)
    assert any(a["pad_id"] != 0 for a in args)


# ---------------------------------------------------------------- decoder_layer (one learner for both frameworks:
# it only calls the layer's sub-layers and adds)


def learner_layer(order="by_flag", self_mask_on=True, memory_mask_on=True, swap_masks=False, cross_source="memory",
                  residual=True, one_norm=False, ffn_before_cross=False, return_self_weights=False, dropout="branch"):
    """A learner's decoder_layer; the keywords make the usual mistakes."""
    def decoder_layer(layer, x, memory, self_mask, memory_mask):
        masks = (memory_mask, self_mask) if swap_masks else (self_mask, memory_mask)
        masks = (masks[0] if self_mask_on else None, masks[1] if memory_mask_on else None)
        norms = [layer.self_attention_norm, layer.cross_attention_norm, layer.ffn_norm]
        if one_norm:
            norms = [layer.self_attention_norm] * 3
        found = {}

        def self_block(h):
            out, found["self"] = layer.self_attention(h, h, h, masks[0])
            return out

        def cross_block(h):
            source = {"memory": memory, "x": h, "normalised": norms[1](memory)}[cross_source]
            out, found["cross"] = layer.cross_attention(h, source, source, masks[1])
            return out

        blocks = [(self_block, norms[0]), (cross_block, norms[1]), (layer.ffn, norms[2])]
        if ffn_before_cross:
            blocks = [blocks[0], blocks[2], blocks[1]]
        pre = layer.norm_first if order == "by_flag" else order == "pre"
        for block, norm in blocks:
            if pre:
                out = block(norm(x))
                out = layer.dropout(out) if dropout == "branch" else out
                x = x + out if residual else out
                x = layer.dropout(x) if dropout == "after_residual" and residual else x
            else:
                out = block(x)
                out = layer.dropout(out) if dropout == "branch" else out
                total = x + out if residual else out
                x = norm(layer.dropout(total) if dropout == "after_residual" else total)
        return x, found["self" if return_self_weights else "cross"]
    return decoder_layer


def written_out(layer, x, memory, self_mask, memory_mask):
    """The contract line by line, one branch per order (correct)."""
    if layer.norm_first:
        h = layer.self_attention_norm(x)
        x = x + layer.dropout(layer.self_attention(h, h, h, self_mask)[0])
        h = layer.cross_attention_norm(x)
        attended, weights = layer.cross_attention(h, memory, memory, memory_mask)
        x = x + layer.dropout(attended)
        return x + layer.dropout(layer.ffn(layer.ffn_norm(x))), weights
    x = layer.self_attention_norm(x + layer.dropout(layer.self_attention(x, x, x, self_mask)[0]))
    attended, weights = layer.cross_attention(x, memory, memory, memory_mask)
    x = layer.cross_attention_norm(x + layer.dropout(attended))
    return layer.ffn_norm(x + layer.dropout(layer.ffn(x))), weights


def residual_helper(layer, x, memory, self_mask, memory_mask):
    """A helper for 'one residual branch' (correct)."""
    def branch(x, norm, f):
        if layer.norm_first:
            return x + layer.dropout(f(norm(x)))
        return norm(x + layer.dropout(f(x)))

    x = branch(x, layer.self_attention_norm, lambda h: layer.self_attention(h, h, h, mask=self_mask)[0])
    kept = []
    x = branch(x, layer.cross_attention_norm,
               lambda h: kept.append(layer.cross_attention(h, memory, memory, mask=memory_mask)) or kept[-1][0])
    x = branch(x, layer.ffn_norm, layer.ffn)
    return x, kept[-1][1]


DECODER_CORRECT = {"loop": learner_layer(), "written_out": written_out, "residual_helper": residual_helper}
DECODER_MISTAKES = {
    "always_post_ln": dict(order="post"),
    "always_pre_ln": dict(order="pre"),
    "self_mask_missing": dict(self_mask_on=False),
    "memory_mask_missing": dict(memory_mask_on=False),
    "masks_swapped": dict(swap_masks=True),
    "cross_attention_reads_x": dict(cross_source="x"),
    "memory_normalised": dict(cross_source="normalised"),
    "residual_missing": dict(residual=False),
    "one_norm_for_all": dict(one_norm=True),
    "ffn_before_cross_attention": dict(ffn_before_cross=True),
    "self_attention_weights": dict(return_self_weights=True),
    "dropout_missing": dict(dropout="none"),
    "dropout_after_residual": dict(dropout="after_residual"),
}


@pytest.mark.parametrize("style", list(DECODER_CORRECT))
def test_decoder_layer_correct_styles_pass(fw, style):
    result = evaluate("decoder_layer", fw, DECODER_CORRECT[style])
    assert result.status == "passed", result.hint
    assert result.cases == 10


@pytest.mark.parametrize("mistake", list(DECODER_MISTAKES))
def test_decoder_layer_mistakes_get_their_hint(fw, mistake):
    result = evaluate("decoder_layer", fw, learner_layer(**DECODER_MISTAKES[mistake]))
    assert_mistake(result, checks.DECODER_LAYER, mistake)


def test_decoder_layer_calling_the_layer_itself_is_refused(fw):
    result = evaluate("decoder_layer", fw, lambda layer, x, memory, self_mask, memory_mask: layer(
        x, memory, self_mask, memory_mask))
    assert result.status == "failed" and "which already solves it" in result.hint


def test_decoder_layer_with_dropout_left_on_fails(fw):
    """The check's layers have dropout 0.1 in eval mode: a learner who forces dropout on gets other values."""
    if fw.name == "pytorch":
        drop = lambda layer, x: torch.nn.functional.dropout(x, 0.1)  # noqa: E731  (training=True by default)
    else:
        drop = lambda layer, x: layer.dropout(x, training=True)  # noqa: E731

    def forced(layer, x, memory, self_mask, memory_mask):
        out, weights = written_out(layer, x, memory, self_mask, memory_mask)
        return drop(layer, out), weights

    assert evaluate("decoder_layer", fw, forced).status == "failed"


@pytest.mark.parametrize("case_index", range(10))
def test_the_check_layer_is_the_course_layer(fw, case_index):
    """The NumPy stand-in the reference reads computes what the framework's DecoderLayer computes."""
    case = checks.DECODER_LAYER.make_cases(np.random.default_rng(5))[case_index]
    layer = case.arguments["layer"]
    args = [argument.for_framework(fw) for argument in case.arguments.values()]
    got_x, got_weights = (fw.to_numpy(part) for part in args[0](*args[1:]))
    want_x, want_weights = checks._decoder_layer(*case.args.values())
    np.testing.assert_allclose(got_x, want_x, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got_weights, want_weights, rtol=1e-5, atol=1e-6)
    assert args[0].norm_first == layer.norm_first
    if layer.fixed_dropout:  # half the features dropped, the others doubled, every call alike
        assert sorted(set(layer.pattern.tolist())) == [0.0, 2.0]


def test_decoder_cases_cover_both_orders_and_the_edges():
    cases = checks.DECODER_LAYER.make_cases(np.random.default_rng(0))
    layers = [case.arguments["layer"] for case in cases]
    assert {layer.norm_first for layer in layers} == {True, False} and any(layer.heads == 1 for layer in layers)
    args = [case.args for case in cases]
    assert any(a["x"].shape[1] == a["memory"].shape[1] for a in args)  # S == T: mask mix-ups broadcast
    assert any(a["x"].shape[1] == 1 for a in args) and any(a["x"].shape[0] == 1 for a in args)
    assert any(np.all(a["memory_mask"].sum(-1) == 1) for a in args)  # one real source token per sentence
    assert {layer.norm_first for layer in layers if layer.fixed_dropout} == {True, False}
    for a in args:  # every query keeps a key: what an empty row gets is not this exercise's question
        assert a["self_mask"].any(-1).all() and a["memory_mask"].any(-1).all()


@pytest.mark.parametrize("name", NAMES)
def test_the_course_references_meet_the_checks(fw, name):
    """Each framework's reference (what the notebook falls back to) gives the check's results on every case."""
    from seq2bert.check.originality import Watch
    from seq2bert.check.registry import get
    from seq2bert.check.runner import _run_case

    exercise = get(name)
    for index, case in enumerate(exercise.make_cases(np.random.default_rng(7)), 1):
        outcome = _run_case(exercise, fw, fw.reference(name), case, index, Watch({}))
        assert outcome.kind == "ok", (case.label, outcome.kind, outcome.hint)


def test_unit_05_lists_its_four_exercises():
    from seq2bert.check import exercise_names

    assert sorted(exercise_names("05")) == sorted(NAMES)


# ---------------------------------------------------------------- hostile submissions and unusual right answers


def test_learning_rate_in_float32_passes(fw):
    """A tensor computation turned into a float (float32 rounding, ~2e-7 relative) is a right answer."""
    if fw.name == "pytorch":
        def rate(step, peak, warmup):
            return (torch.tensor(peak) * torch.minimum(torch.tensor(step / warmup),
                                                       torch.tensor(warmup / step).sqrt())).item()
    else:
        def rate(step, peak, warmup):
            return float(tf.constant(peak) * tf.minimum(tf.constant(step / warmup), tf.sqrt(tf.constant(warmup / step))))
    result = evaluate("transformer_learning_rate", fw, rate)
    assert result.status == "passed", result.hint


def seeded_answers(fw, name):
    """A learner's table of the course reference's answers to the check's seeded cases, made before the check runs."""
    import zlib

    from seq2bert.check.registry import get

    def key(args):
        return tuple(fw.to_numpy(arg).tobytes() if fw.is_tensor(arg) else arg for arg in args
                     if fw.is_tensor(arg) or isinstance(arg, (int, float)))

    reference, table = fw.reference(name), {}
    for case in get(name).make_cases(np.random.default_rng(zlib.crc32(name.encode()))):
        if case.label != checks.FRESH:
            args = [argument.for_framework(fw) for argument in case.arguments.values()]
            table[key(args)] = reference(*args)
    return lambda *args: table[key(args)]


@pytest.mark.parametrize("name", ["transformer_learning_rate", "label_smoothed_cross_entropy", "beam_search_step"])
def test_a_table_of_the_seeded_cases_fails_on_the_fresh_case(fw, name):
    result = evaluate(name, fw, seeded_answers(fw, name))
    assert result.status == "failed"
    assert result.hint.startswith("your function raised KeyError") and checks.FRESH in result.hint


def test_every_check_ends_with_a_case_drawn_anew_on_each_run():
    def fingerprint(case):
        return [np.asarray(getattr(argument, "array", getattr(argument, "value", None))).tobytes()
                for argument in case.arguments.values()]

    for exercise in (checks.TRANSFORMER_LEARNING_RATE, checks.LABEL_SMOOTHED_CROSS_ENTROPY, checks.DECODER_LAYER,
                     checks.BEAM_SEARCH_STEP):
        first, second = (exercise.make_cases(np.random.default_rng(0))[-1] for _ in range(2))
        assert first.label == second.label == checks.FRESH
        assert fingerprint(first) != fingerprint(second), exercise.name


def test_the_checks_own_numpy_reference_earns_no_credit(fw):
    def rate(step, peak, warmup):
        return checks._learning_rate(step, peak, warmup)

    def beam(log_probs, scores, finished, eos_id, pad_id):
        arrays = [fw.to_numpy(t) for t in (log_probs, scores, finished)]
        candidates = checks._candidates(*arrays, pad_id)  # a helper the known mistakes share, not watched
        new_scores, parents, tokens = checks._best(candidates, arrays[1].shape[-1])
        return fw.to_tensor(new_scores.astype(np.float32)), fw.to_tensor(parents), fw.to_tensor(tokens)

    for name, function in (("transformer_learning_rate", rate), ("beam_search_step", beam)):
        result = evaluate(name, fw, function)
        assert result.status == "failed" and "which already solves it" in result.hint, (name, result.hint)


def course_helpers(fw):
    """decoder_layer written with the course layer's own residual code instead of the learner's."""
    if fw.name == "pytorch":
        from seq2bert.torch.transformer import _add_branch, _branch_input

        def via_helpers(layer, x, memory, self_mask, memory_mask):
            h = _branch_input(layer, layer.self_attention_norm, x)
            x = _add_branch(layer, layer.self_attention_norm, x, layer.self_attention(h, h, h, self_mask)[0])
            h = _branch_input(layer, layer.cross_attention_norm, x)
            attended, weights = layer.cross_attention(h, memory, memory, memory_mask)
            x = _add_branch(layer, layer.cross_attention_norm, x, attended)
            return _add_branch(layer, layer.ffn_norm, x, layer.ffn(_branch_input(layer, layer.ffn_norm, x))), weights
        return via_helpers

    def via_residual(layer, x, memory, self_mask, memory_mask):
        def before(norm, x):
            return norm(x) if layer.norm_first else x

        h = before(layer.self_attention_norm, x)
        x = layer._residual(x, layer.dropout(layer.self_attention(h, h, h, self_mask)[0]), layer.self_attention_norm)
        h = before(layer.cross_attention_norm, x)
        attended, weights = layer.cross_attention(h, memory, memory, memory_mask)
        x = layer._residual(x, layer.dropout(attended), layer.cross_attention_norm)
        h = before(layer.ffn_norm, x)
        return layer._residual(x, layer.dropout(layer.ffn(h)), layer.ffn_norm), weights
    return via_residual


def cached_step(layer, x, memory, self_mask, memory_mask):
    """The layer's cached decoding step, which computes the sub-layers in the same order."""
    k, v = layer.cross_attention.project_keys_values(memory, memory)
    first = layer.self_attention.project_keys_values(x[:, :1], x[:, :1])
    empty = [part[:, :, :0] for part in first]
    out, weights, _, _ = layer.step(x[:, :1], *empty, (k, v), memory_mask, 0)
    return out, weights


@pytest.mark.parametrize("learner", ["helpers", "step"])
def test_decoder_layer_built_from_the_course_layers_code_earns_no_credit(fw, learner):
    function = course_helpers(fw) if learner == "helpers" else cached_step
    result = evaluate("decoder_layer", fw, function)
    assert result.status == "failed" and "which already solves it" in result.hint, result.hint


def test_a_learner_changing_the_layer_does_not_fail_the_next_check(fw):
    """TensorFlow's check layers are built once and shared: what one function sets on them is undone."""
    def meddling(layer, x, memory, self_mask, memory_mask):
        layer.norm_first = not layer.norm_first
        layer.ffn_norm = layer.self_attention_norm
        return written_out(layer, x, memory, self_mask, memory_mask)

    assert evaluate("decoder_layer", fw, meddling).status == "failed"
    result = evaluate("decoder_layer", fw, written_out)
    assert result.status == "passed", result.hint


def residual_from_normalised(layer, x, memory, self_mask, memory_mask):
    """Pre-LN with the residual taken from LN(x): h = LN(x); x = h + f(h)."""
    if not layer.norm_first:
        return written_out(layer, x, memory, self_mask, memory_mask)
    h = layer.self_attention_norm(x)
    x = h + layer.dropout(layer.self_attention(h, h, h, self_mask)[0])
    h = layer.cross_attention_norm(x)
    attended, weights = layer.cross_attention(h, memory, memory, memory_mask)
    x = h + layer.dropout(attended)
    h = layer.ffn_norm(x)
    return h + layer.dropout(layer.ffn(h)), weights


def normalised_branch(layer, x, memory, self_mask, memory_mask):
    """Post-LN that normalises each sub-layer's output instead of the sum: x = x + LN(f(x))."""
    if layer.norm_first:
        return written_out(layer, x, memory, self_mask, memory_mask)
    x = x + layer.self_attention_norm(layer.dropout(layer.self_attention(x, x, x, self_mask)[0]))
    attended, weights = layer.cross_attention(x, memory, memory, memory_mask)
    x = x + layer.cross_attention_norm(layer.dropout(attended))
    return x + layer.ffn_norm(layer.dropout(layer.ffn(x))), weights


@pytest.mark.parametrize("mistake, learner", [("residual_from_normalised", residual_from_normalised),
                                              ("post_ln_normalises_the_branch", normalised_branch)])
def test_decoder_layer_norm_placement_slips_get_their_hint(fw, mistake, learner):
    assert_mistake(evaluate("decoder_layer", fw, learner), checks.DECODER_LAYER, mistake)


def test_best_token_per_beam_by_topk_gets_its_hint(fw):
    """topk(1) per beam picks any index among a dead beam's -inf candidates; the hint must not depend on it."""
    if fw.name == "pytorch":
        def per_beam(log_probs, scores, finished, eos_id, pad_id):
            best, tokens = torch_candidates(log_probs, scores, finished, pad_id).topk(1, dim=-1)  # (B, K, 1)
            batch, beam = scores.shape
            return best[..., 0], torch.arange(beam).expand(batch, beam), tokens[..., 0]
    else:
        def per_beam(log_probs, scores, finished, eos_id, pad_id):
            best, tokens = tf.math.top_k(tf_candidates(log_probs, scores, finished, pad_id), k=1)  # (B, K, 1)
            batch, beam = scores.shape
            return best[..., 0], tf.broadcast_to(tf.range(beam), [batch, beam]), tokens[..., 0]
    assert_mistake(evaluate("beam_search_step", fw, per_beam), checks.BEAM_SEARCH_STEP, "best_token_per_beam")
