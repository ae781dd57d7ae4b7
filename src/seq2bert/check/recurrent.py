"""Exercises on recurrent encoder-decoders: last_real_state (unit 01), attention_step (unit 02).

attention_step gets its three layers as callables built by the check from seeded NumPy weights,
in the learner's framework (the `Layer` arguments below), so gradients flow through them. A layer
called with an input of the wrong shape raises StepMisuse, whose message says what it expected:
that turns a learner's concatenation mistake into a hint rather than a matmul error.
Shape legend: B batch, S source length, D decoder state width, E embedding width, Dm memory
(encoder state) width, A attention width, V vocabulary.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np

from seq2bert.check.fake_decoder import StepMisuse
from seq2bert.check.references import references
from seq2bert.check.registry import register
from seq2bert.check.spec import Case, Exercise, Mistake, Output, lengths_mask, softmax

# Added to masked attention scores, as in the course's ops.
_MASK_VALUE = -1e9

# ---------------------------------------------------------------- last_real_state


def _last_case(rng, label, lengths, source, width) -> Case:
    batch = len(lengths)
    # Every position, padding included, holds a random non-zero state, as an unpacked GRU leaves it.
    outputs = rng.normal(size=(batch, source, width)).astype(np.float32)
    return Case(label, {"outputs": outputs, "lengths": np.array(lengths, dtype=np.int64)})


def _last_cases(rng: np.random.Generator) -> list[Case]:
    return [
        _last_case(rng, "mixed lengths", [3, 5, 1, 4], 6, 3),
        _last_case(rng, "all full length", [4, 4, 4], 4, 2),
        _last_case(rng, "all of length 1", [1, 1], 5, 3),
        _last_case(rng, "batch of 1", [2], 5, 4),
        _last_case(rng, "batch size = source length", [2, 4, 1, 3], 4, 3),
        _last_case(rng, "state width 1", [2, 6, 3], 6, 1),
    ]


def _rows(outputs):
    return np.arange(outputs.shape[0])  # (B,)


def _last_real_state(outputs, lengths):
    return outputs[_rows(outputs), lengths - 1]  # (B, S, D) -> (B, D)


def _mean_real(outputs, lengths):
    keep = lengths_mask(lengths, outputs.shape[1])[:, :, None]  # (B, S, 1)
    return (outputs * keep).sum(axis=1) / lengths[:, None]  # (B, D)


_INDEX = "sequence b's last real state is outputs[b, lengths[b] - 1]"

LAST_REAL_STATE = Exercise(
    name="last_real_state",
    references=references("last_real_state"),
    unit="01",
    outputs=(Output("the last states have", "float"),),
    grad_arg="outputs",
    make_cases=_last_cases,
    reference=_last_real_state,
    mistakes=(
        Mistake("last_position", lambda outputs, lengths: outputs[:, -1],
                "outputs[:, -1] is the state after the padding, not after the sequence's last word: "
                f"{_INDEX}"),
        Mistake("first_position", lambda outputs, lengths: outputs[:, 0],
                f"you took the state at the first position, which has read one word only: {_INDEX}"),
        Mistake("index_lengths",
                lambda outputs, lengths: outputs[_rows(outputs), np.minimum(lengths, outputs.shape[1] - 1)],
                f"off by one: positions count from 0, so the last real one is lengths[b] - 1, not lengths[b]; "
                f"{_INDEX}"),
        Mistake("two_short", lambda outputs, lengths: outputs[_rows(outputs), lengths - 2],
                f"off by one: you went back two positions; {_INDEX}"),
        Mistake("every_length_for_every_row", lambda outputs, lengths: outputs[:, lengths - 1],
                "outputs[:, lengths - 1] takes every sequence's length for every row (B, B, D): pair row b "
                "with its own length, indexing the batch axis with 0..B-1 and the time axis with lengths - 1 "
                "together (or gather with batch_dims=1)"),
        Mistake("mean_of_real", _mean_real,
                f"you averaged the real states: the encoder's summary is the single last real state; {_INDEX}"),
        Mistake("max_over_time", lambda outputs, lengths: outputs.max(axis=1),
                f"you took the maximum over time: the encoder's summary is the single last real state; {_INDEX}"),
    ),
)

# ---------------------------------------------------------------- attention_step layers


def _backend(fw: Any) -> SimpleNamespace:
    """The handful of operations the layers need, in framework `fw` (None: NumPy, float64)."""
    if fw is None:
        return SimpleNamespace(
            tensor=lambda array: np.asarray(array, dtype=bool if array.dtype == bool else np.float64),
            prepare=lambda x: np.asarray(x, dtype=np.float64),
            tanh=np.tanh, sigmoid=lambda x: 1.0 / (1.0 + np.exp(-x)), softmax=softmax,
            where=np.where, matvec=lambda m, v: m @ v)
    if fw.name == "pytorch":
        torch = fw.torch
        return SimpleNamespace(
            tensor=fw.to_tensor, prepare=lambda x: x, tanh=torch.tanh, sigmoid=torch.sigmoid,
            softmax=lambda x: torch.softmax(x, dim=-1),
            where=lambda mask, x, fill: torch.where(mask, x, torch.full_like(x, fill)),
            matvec=lambda m, v: m @ v)
    tf = fw.tf
    return SimpleNamespace(
        tensor=fw.to_tensor, prepare=lambda x: x, tanh=tf.tanh, sigmoid=tf.sigmoid,
        softmax=lambda x: tf.nn.softmax(x, axis=-1),
        where=lambda mask, x, fill: tf.where(mask, x, tf.fill(tf.shape(x), tf.constant(fill, x.dtype))),
        matvec=tf.linalg.matvec)


def _shape(value: Any) -> tuple | None:
    shape = getattr(value, "shape", None)
    try:
        return None if shape is None else tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Widths:
    """The widths of one attention_step case, all different so that mixed-up inputs show."""

    batch: int
    embed: int  # E
    state: int  # D
    memory: int  # Dm
    vocab: int  # V

    def named(self, width: int) -> str:
        """What a learner probably concatenated to get an input of this width ("" if unknown)."""
        names = {self.embed: "the embedding alone", self.memory: "the context alone",
                 self.state: "the state alone", self.embed + self.state: "[embedded; state]",
                 self.state + self.memory: "[state; context]", self.embed + self.memory: "[embedded; context]"}
        return names.get(width, "")


def _check_input(call: str, name: str, value: Any, widths: Widths, width: int, wanted: str, advice: dict) -> None:
    """Raise StepMisuse unless `value` has shape (B, width); the message says what went wrong."""
    shape = _shape(value)
    if shape == (widths.batch, width):
        return
    got = f"of shape {shape}" if shape is not None else f"that is a {type(value).__name__}"
    message = f"{call} got `{name}` {got}, but expects {wanted}, shape ({widths.batch}, {width})"
    if shape is not None and len(shape) == 2 and shape[0] == widths.batch:
        guess = widths.named(shape[1])
        if guess:
            message += f": that is the width of {guess}"
            if guess in advice:
                message += f"; {advice[guess]}"
    raise StepMisuse(message)


@dataclass(frozen=True, eq=False)
class Layer:
    """One layer handed to attention_step: "attend", "cell" or "output_layer", with NumPy weights."""

    kind: str
    weights: dict  # name -> ndarray
    widths: Widths

    def for_framework(self, fw: Any) -> Callable:
        return self.build(_backend(fw))

    def for_numpy(self) -> Callable:
        return self.build(_backend(None))

    def describe(self) -> str:
        w = self.widths
        if self.kind == "attend":
            return f"additive attention over a memory of shape {self.weights['memory'].shape}"
        if self.kind == "cell":
            return f"a GRU cell (input {w.embed} + {w.memory}, state {w.state})"
        return f"an affine map ({w.state} + {w.memory} -> {w.vocab})"

    def mutated(self, fw: Any, passed: Any) -> bool:
        return False

    def build(self, ops: SimpleNamespace) -> Callable:
        weights = {name: ops.tensor(array) for name, array in self.weights.items()}
        return {"attend": self._attend, "cell": self._cell, "output_layer": self._output_layer}[self.kind](ops, weights)

    def _attend(self, ops, p) -> Callable:
        w = self.widths
        projected_keys = p["memory"] @ p["w_k"]  # (B, S, Dm) @ (Dm, A) -> (B, S, A)

        def attend(query):
            _check_input("attend(query)", "query", query, w, w.state, "the decoder state s_{i-1}",
                         {"the context alone": "attend with the decoder state, not the context",
                          "the embedding alone": "attend with the decoder state, not the embedding"})
            query = ops.prepare(query)
            hidden = ops.tanh((query @ p["w_q"])[:, None, :] + projected_keys)  # (B, 1, A) + (B, S, A)
            scores = ops.where(p["mask"], ops.matvec(hidden, p["v"]), _MASK_VALUE)  # (B, S)
            weights = ops.softmax(scores)  # (B, S)
            context = (weights[:, None, :] @ p["memory"])[:, 0, :]  # (B, 1, S) @ (B, S, Dm) -> (B, Dm)
            return context, weights

        return attend

    def _cell(self, ops, p) -> Callable:
        w = self.widths
        d = w.state

        def cell(x, state):
            _check_input("cell(x, state)", "x", x, w, w.embed + w.memory, "[embedded; context]", {
                "the embedding alone": "concatenate the context to the embedding: the GRU reads [y_{i-1}; c_i]",
                "[embedded; state]": "the state is cell's second argument; concatenate the context, not the "
                                     "state, to the embedding",
                "the context alone": "concatenate the embedding and the context: the GRU reads [y_{i-1}; c_i]"})
            _check_input("cell(x, state)", "state", state, w, d, "the previous decoder state s_{i-1}", {
                "the context alone": "the context goes into x; pass the decoder state you were given as state"})
            x, state = ops.prepare(x), ops.prepare(state)
            gx = x @ p["w_x"] + p["b_x"]  # (B, E + Dm) @ (E + Dm, 3D) -> (B, 3D)
            gh = state @ p["w_h"] + p["b_h"]  # (B, D) @ (D, 3D) -> (B, 3D)
            reset = ops.sigmoid(gx[:, :d] + gh[:, :d])
            update = ops.sigmoid(gx[:, d:2 * d] + gh[:, d:2 * d])
            candidate = ops.tanh(gx[:, 2 * d:] + reset * gh[:, 2 * d:])
            return (1.0 - update) * candidate + update * state  # (B, D)

        return cell

    def _output_layer(self, ops, p) -> Callable:
        w = self.widths

        def output_layer(x):
            _check_input("output_layer(x)", "x", x, w, w.state + w.memory, "[new state; context]", {
                "the state alone": "the output layer reads the context too: predict from [s_i; c_i]",
                "the context alone": "the output layer reads the new state too: predict from [s_i; c_i]",
                "[embedded; context]": "predict from the new state and the context, [s_i; c_i]"})
            return ops.prepare(x) @ p["w_o"] + p["b_o"]  # (B, D + Dm) @ (D + Dm, V) -> (B, V)

        return output_layer


# ---------------------------------------------------------------- attention_step


def _step_case(rng, label, lengths, source, embed, state, memory, vocab, attention=5) -> Case:
    batch = len(lengths)
    widths = Widths(batch, embed, state, memory, vocab)

    def normal(*shape, scale=1.0):
        return (scale * rng.normal(size=shape)).astype(np.float32)

    attend = Layer("attend", {"memory": normal(batch, source, memory), "mask": lengths_mask(lengths, source),
                              "w_q": normal(state, attention, scale=0.7), "w_k": normal(memory, attention, scale=0.7),
                              "v": normal(attention)}, widths)
    cell = Layer("cell", {"w_x": normal(embed + memory, 3 * state, scale=0.5), "b_x": normal(3 * state, scale=0.1),
                          "w_h": normal(state, 3 * state, scale=0.5), "b_h": normal(3 * state, scale=0.1)}, widths)
    output_layer = Layer("output_layer", {"w_o": normal(state + memory, vocab), "b_o": normal(vocab, scale=0.1)},
                         widths)
    return Case(label, {"embedded": normal(batch, embed), "state": normal(batch, state, scale=0.8),
                        "attend": attend, "cell": cell, "output_layer": output_layer})


def _step_cases(rng: np.random.Generator) -> list[Case]:
    return [
        _step_case(rng, "random", [5, 3, 4], 5, embed=3, state=4, memory=6, vocab=7),
        _step_case(rng, "padded memory", [6, 2, 4], 6, embed=4, state=6, memory=3, vocab=8),
        _step_case(rng, "batch of 1, one source token", [1], 1, embed=2, state=3, memory=6, vocab=5),
        _step_case(rng, "batch size = source length", [3, 1, 2], 3, embed=5, state=2, memory=4, vocab=6),
    ]


def _cat(*parts):
    return np.concatenate(parts, axis=-1)


def _attention_step(embedded, state, attend, cell, output_layer):
    context, weights = attend(state)  # (B, D) -> (B, Dm), (B, S)
    new_state = cell(_cat(embedded, context), state)  # (B, E + Dm) -> (B, D)
    return output_layer(_cat(new_state, context)), new_state, weights  # (B, D + Dm) -> (B, V)


def _attends_with_new_state(embedded, state, attend, cell, output_layer):
    new_state = cell(_cat(embedded, attend(state)[0]), state)
    context, weights = attend(new_state)
    return output_layer(_cat(new_state, context)), new_state, weights


def _weights_of_new_state(embedded, state, attend, cell, output_layer):
    logits, new_state, _ = _attention_step(embedded, state, attend, cell, output_layer)
    return logits, new_state, attend(new_state)[1]


def _returns_old_state(embedded, state, attend, cell, output_layer):
    logits, _, weights = _attention_step(embedded, state, attend, cell, output_layer)
    return logits, state, weights


def _gru_input_swapped(embedded, state, attend, cell, output_layer):
    context, weights = attend(state)
    new_state = cell(_cat(context, embedded), state)
    return output_layer(_cat(new_state, context)), new_state, weights


def _output_input_swapped(embedded, state, attend, cell, output_layer):
    context, weights = attend(state)
    new_state = cell(_cat(embedded, context), state)
    return output_layer(_cat(context, new_state)), new_state, weights


ATTENTION_STEP = Exercise(
    name="attention_step",
    references=references("attention_step"),
    unit="02",
    outputs=(Output("the logits have", "float"), Output("the new states have", "float"),
             Output("the attention weights have", "float")),
    grad_arg="state",
    make_cases=_step_cases,
    reference=_attention_step,
    mistakes=(
        Mistake("attends_with_new_state", _attends_with_new_state,
                "you attended with the new state s_i (Luong's order): Bahdanau's decoder attends with the "
                "previous state s_{i-1} before the GRU runs, and that one context c_i feeds both the GRU and "
                "the output layer"),
        Mistake("weights_of_new_state", _weights_of_new_state,
                "the logits and state are right, but the weights you return come from another attend() call "
                "(with the new state): return the weights of the attend(state) call that made the context"),
        Mistake("returns_old_state", _returns_old_state,
                "you returned the state you were given: return the new state that cell() computed, so the "
                "next step starts from it"),
        Mistake("gru_input_swapped", _gru_input_swapped,
                "the GRU input is in the wrong order: its weights expect [embedded; context] (embedding first), "
                "not [context; embedded]"),
        Mistake("output_input_swapped", _output_input_swapped,
                "the output layer's input is in the wrong order: its weights expect [new_state; context] "
                "(state first), not [context; new_state]"),
    ),
)


register(LAST_REAL_STATE, ATTENTION_STEP)
