"""Checks of last_real_state (unit 01) and attention_step (unit 02) against learner-style code.

Each wrong answer is written the way a learner would write it, in PyTorch and in TensorFlow; the
check must reject it from its values or shapes, with the hint of that mistake.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from seq2bert.check import all_exercises, evaluate, exercise_names, exercises

# Through the catalogue, so the check modules register in the order the notebooks see.
LAST_REAL_STATE, ATTENTION_STEP = (all_exercises()[name] for name in ("last_real_state", "attention_step"))

torch = pytest.importorskip("torch")
tf = pytest.importorskip("tensorflow")

FRAMEWORKS = ["pytorch", "tensorflow"]


@pytest.fixture(scope="module", params=FRAMEWORKS)
def fw(request):
    return exercises(request.param).framework


def hint_of(exercise, name):
    return next(mistake.hint for mistake in exercise.mistakes if mistake.name == name)


# ---------------------------------------------------------------- last_real_state, PyTorch


def torch_rows(outputs):
    return torch.arange(outputs.shape[0])


TORCH_LAST = {
    "solution": lambda outputs, lengths: torch.stack([outputs[b, int(n) - 1] for b, n in enumerate(lengths)]),
    "solution_gather": lambda outputs, lengths: outputs.gather(
        1, (lengths - 1)[:, None, None].expand(-1, 1, outputs.shape[2])).squeeze(1),
    "last_position": lambda outputs, lengths: outputs[:, -1],
    "first_position": lambda outputs, lengths: outputs[:, 0],
    "index_lengths": lambda outputs, lengths: outputs[torch_rows(outputs), lengths],  # IndexError at length S
    "index_lengths_clipped": lambda outputs, lengths: outputs[torch_rows(outputs),
                                                              lengths.clamp(max=outputs.shape[1] - 1)],
    "two_short": lambda outputs, lengths: outputs[torch_rows(outputs), lengths - 2],
    "every_length_for_every_row": lambda outputs, lengths: outputs[:, lengths - 1],
    "mean_of_real": lambda outputs, lengths: (
        (outputs * (torch.arange(outputs.shape[1])[None, :] < lengths[:, None])[..., None]).sum(1)
        / lengths[:, None]),
    "max_over_time": lambda outputs, lengths: outputs.max(dim=1).values,
    # Not a known mistake: counting from the end, as if the padding came first.
    "left_padded": lambda outputs, lengths: outputs[torch_rows(outputs), outputs.shape[1] - lengths],
    "detached": lambda outputs, lengths: outputs.detach()[torch_rows(outputs), lengths - 1],
}

# ---------------------------------------------------------------- last_real_state, TensorFlow


def tf_real(outputs, lengths):
    return tf.cast(tf.sequence_mask(lengths, tf.shape(outputs)[1]), outputs.dtype)[..., None]  # (B, S, 1)


TF_LAST = {
    "solution": lambda outputs, lengths: tf.gather_nd(
        outputs, tf.stack([tf.range(tf.shape(outputs)[0]), lengths - 1], axis=1)),
    "solution_gather": lambda outputs, lengths: tf.gather(outputs, lengths - 1, axis=1, batch_dims=1),
    "last_position": lambda outputs, lengths: outputs[:, -1],
    "first_position": lambda outputs, lengths: outputs[:, 0, :],
    "index_lengths": lambda outputs, lengths: tf.gather(outputs, lengths, batch_dims=1),  # error at length S
    "index_lengths_clipped": lambda outputs, lengths: tf.gather(
        outputs, tf.minimum(lengths, outputs.shape[1] - 1), batch_dims=1),
    "two_short": lambda outputs, lengths: tf.gather(outputs, lengths - 2, batch_dims=1),  # error at length 1
    "every_length_for_every_row": lambda outputs, lengths: tf.gather(outputs, lengths - 1, axis=1),
    "mean_of_real": lambda outputs, lengths: (tf.reduce_sum(outputs * tf_real(outputs, lengths), axis=1)
                                              / tf.cast(lengths, tf.float32)[:, None]),
    "max_over_time": lambda outputs, lengths: tf.reduce_max(outputs, axis=1),
    "left_padded": lambda outputs, lengths: tf.gather(outputs, outputs.shape[1] - lengths, batch_dims=1),
    "detached": lambda outputs, lengths: tf.gather(tf.stop_gradient(outputs), lengths - 1, batch_dims=1),
}

LAST = {"pytorch": TORCH_LAST, "tensorflow": TF_LAST}
LAST_MISTAKES = {
    "last_position": "last_position",
    "first_position": "first_position",
    "index_lengths": "index_lengths",
    "index_lengths_clipped": "index_lengths",
    "two_short": "two_short",
    "every_length_for_every_row": "every_length_for_every_row",
    "mean_of_real": "mean_of_real",
    "max_over_time": "max_over_time",
}


@pytest.mark.parametrize("learner", ["solution", "solution_gather"])
def test_last_real_state_solutions_pass(fw, learner):
    result = evaluate("last_real_state", fw, LAST[fw.name][learner])
    assert result.status == "passed", result.hint
    assert result.cases == 6


@pytest.mark.parametrize("learner", list(LAST_MISTAKES))
def test_last_real_state_mistakes_get_their_hint(fw, learner):
    result = evaluate("last_real_state", fw, LAST[fw.name][learner])
    assert result.status == "failed"
    assert result.mistake == LAST_MISTAKES[learner], result.hint
    assert result.hint.endswith(hint_of(LAST_REAL_STATE, LAST_MISTAKES[learner]))


def test_last_real_state_pairing_mistake_names_the_shape(fw):
    result = evaluate("last_real_state", fw, LAST[fw.name]["every_length_for_every_row"])
    assert result.hint.startswith("the last states have shape (4, 4, 3) but expected (4, 3): outputs[:, lengths - 1]")


def test_last_real_state_unknown_mistake_gets_a_generic_hint(fw):
    result = evaluate("last_real_state", fw, LAST[fw.name]["left_padded"])
    assert result.status == "failed" and result.mistake == ""
    assert result.hint.startswith("wrong values on case 1 of 6 (mixed lengths; inputs: outputs=float32 (4, 6, 3), "
                                  "lengths=[3, 5, 1, 4]): at index (0, 0) expected ")


def test_last_real_state_cut_off_gradient_is_caught(fw):
    result = evaluate("last_real_state", fw, LAST[fw.name]["detached"])
    assert result.status == "failed"
    assert "cannot be differentiated with respect to `outputs`" in result.hint


def test_last_real_state_padding_states_are_not_zero_nor_final():
    """The cases make outputs[:, -1] wrong: padding positions hold other, non-zero states."""
    import numpy as np

    cases = LAST_REAL_STATE.make_cases(np.random.default_rng(0))
    assert {case.label for case in cases} >= {"all full length", "all of length 1", "batch of 1",
                                             "batch size = source length", "state width 1"}
    for case in cases:
        outputs, lengths = case.args["outputs"], case.args["lengths"]
        assert np.all(outputs != 0) and lengths.min() >= 1 and lengths.max() <= outputs.shape[1]


# ---------------------------------------------------------------- attention_step, PyTorch


def torch_step(order="bahdanau", gru_input="embedded_context", output_input="state_context",
               returned_state="new", returned_weights="same", detach=False, probabilities=False):
    """A learner's attention_step in PyTorch; the keywords make the usual mistakes."""
    def attention_step(embedded, state, attend, cell, output_layer):
        previous = state.detach() if detach else state
        context, weights = attend(state)
        gru_in = {"embedded_context": torch.cat([embedded, context], dim=-1),
                  "context_embedded": torch.cat([context, embedded], dim=-1),
                  "embedded": embedded}[gru_input]
        new_state = cell(gru_in, previous)
        if order == "luong":
            context, weights = attend(new_state)
        out_in = {"state_context": torch.cat([new_state, context], dim=-1),
                  "context_state": torch.cat([context, new_state], dim=-1),
                  "state": new_state}[output_input]
        logits = output_layer(out_in)
        if returned_weights == "new":
            weights = attend(new_state)[1]
        if probabilities:
            logits = torch.softmax(logits, dim=-1)
        return logits, new_state if returned_state == "new" else state, weights
    return attention_step


def tf_step(order="bahdanau", gru_input="embedded_context", output_input="state_context",
            returned_state="new", returned_weights="same", detach=False, probabilities=False):
    """The same learner in TensorFlow."""
    def attention_step(embedded, state, attend, cell, output_layer):
        previous = tf.stop_gradient(state) if detach else state
        context, weights = attend(state)
        gru_in = {"embedded_context": tf.concat([embedded, context], axis=1),
                  "context_embedded": tf.concat([context, embedded], axis=1),
                  "embedded": embedded}[gru_input]
        new_state = cell(gru_in, previous)
        if order == "luong":
            context, weights = attend(new_state)
        out_in = {"state_context": tf.concat([new_state, context], axis=-1),
                  "context_state": tf.concat([context, new_state], axis=-1),
                  "state": new_state}[output_input]
        logits = output_layer(out_in)
        if returned_weights == "new":
            _, weights = attend(new_state)
        if probabilities:
            logits = tf.nn.softmax(logits)
        return logits, new_state if returned_state == "new" else state, weights
    return attention_step


STEP = {"pytorch": torch_step, "tensorflow": tf_step}
STEP_MISTAKES = {
    "attends_with_new_state": dict(order="luong"),
    "weights_of_new_state": dict(returned_weights="new"),
    "returns_old_state": dict(returned_state="old"),
    "gru_input_swapped": dict(gru_input="context_embedded"),
    "output_input_swapped": dict(output_input="context_state"),
}


def test_attention_step_solution_passes(fw):
    result = evaluate("attention_step", fw, STEP[fw.name]())
    assert result.status == "passed", result.hint
    assert result.cases == 4


def test_attention_step_written_with_keras_and_functional_style_passes():
    """Other correct spellings: torch.concat and tf.keras.layers.Concatenate."""
    def torch_learner(embedded, state, attend, cell, output_layer):
        c, a = attend(state)
        s = cell(torch.concat((embedded, c), 1), state)
        return output_layer(torch.concat((s, c), 1)), s, a

    def tf_learner(embedded, state, attend, cell, output_layer):
        join = tf.keras.layers.Concatenate(axis=-1)
        c, a = attend(state)
        s = cell(join([embedded, c]), state)
        return output_layer(join([s, c])), s, a

    assert evaluate("attention_step", "pytorch", torch_learner).status == "passed"
    assert evaluate("attention_step", "tensorflow", tf_learner).status == "passed"


@pytest.mark.parametrize("mistake", list(STEP_MISTAKES))
def test_attention_step_mistakes_get_their_hint(fw, mistake):
    result = evaluate("attention_step", fw, STEP[fw.name](**STEP_MISTAKES[mistake]))
    assert result.status == "failed"
    assert result.mistake == mistake, result.hint
    assert result.hint == hint_of(ATTENTION_STEP, mistake)


def test_attention_step_luong_order_hint_says_which_state(fw):
    hint = evaluate("attention_step", fw, STEP[fw.name](order="luong")).hint
    assert "attended with the new state s_i (Luong's order)" in hint and "previous state s_{i-1}" in hint


def test_attention_step_without_context_in_the_output_layer_is_explained(fw):
    result = evaluate("attention_step", fw, STEP[fw.name](output_input="state"))
    assert result.status == "failed"
    assert result.hint == ("output_layer(x) got `x` of shape (3, 4), but expects [new state; context], shape (3, 10): "
                           "that is the width of the state alone; the output layer reads the context too: predict "
                           "from [s_i; c_i] (case 1: random)")


def test_attention_step_without_context_in_the_gru_input_is_explained(fw):
    result = evaluate("attention_step", fw, STEP[fw.name](gru_input="embedded"))
    assert result.status == "failed"
    assert result.hint == ("cell(x, state) got `x` of shape (3, 3), but expects [embedded; context], shape (3, 9): "
                           "that is the width of the embedding alone; concatenate the context to the embedding: the "
                           "GRU reads [y_{i-1}; c_i] (case 1: random)")


def test_attention_step_with_the_state_as_gru_input_is_explained(fw):
    def state_into_gru(embedded, state, attend, cell, output_layer):
        context, weights = attend(state)
        join = torch.cat if fw.name == "pytorch" else tf.concat
        new_state = cell(join([embedded, state], -1), state)
        return output_layer(join([new_state, context], -1)), new_state, weights

    hint = evaluate("attention_step", fw, state_into_gru).hint
    assert hint.startswith("cell(x, state) got `x` of shape (3, 7), but expects [embedded; context], shape (3, 9): "
                           "that is the width of [embedded; state]; the state is cell's second argument")


def test_attention_step_with_the_context_as_gru_state_is_explained(fw):
    def context_as_state(embedded, state, attend, cell, output_layer):
        context, weights = attend(state)
        join = torch.cat if fw.name == "pytorch" else tf.concat
        new_state = cell(join([embedded, context], -1), context)
        return output_layer(join([new_state, context], -1)), new_state, weights

    hint = evaluate("attention_step", fw, context_as_state).hint
    assert hint == ("cell(x, state) got `state` of shape (3, 6), but expects the previous decoder state s_{i-1}, "
                    "shape (3, 4): that is the width of the context alone; the context goes into x; pass the decoder "
                    "state you were given as state (case 1: random)")


def test_attention_step_attending_with_the_context_is_explained(fw):
    def attend_twice(embedded, state, attend, cell, output_layer):
        context, weights = attend(state)
        context, weights = attend(context)
        join = torch.cat if fw.name == "pytorch" else tf.concat
        new_state = cell(join([embedded, context], -1), state)
        return output_layer(join([new_state, context], -1)), new_state, weights

    hint = evaluate("attention_step", fw, attend_twice).hint
    assert hint.startswith("attend(query) got `query` of shape (3, 6), but expects the decoder state s_{i-1}, "
                           "shape (3, 4): that is the width of the context alone; attend with the decoder state")


def test_attention_step_concatenating_on_the_wrong_axis_is_a_one_line_hint(fw):
    def batch_axis(embedded, state, attend, cell, output_layer):
        context, weights = attend(state)
        join = torch.cat if fw.name == "pytorch" else tf.concat
        new_state = cell(join([embedded, context], 0), state)
        return output_layer(join([new_state, context], 0)), new_state, weights

    hint = evaluate("attention_step", fw, batch_axis).hint
    assert hint.startswith("your function raised ") and "on case 1 (random; inputs: " in hint
    assert "Traceback" not in hint and "\n" not in hint


def test_attention_step_unknown_mistake_gets_a_generic_hint(fw):
    result = evaluate("attention_step", fw, STEP[fw.name](probabilities=True))
    assert result.status == "failed" and result.mistake == ""
    assert result.hint.startswith("wrong values in the logits on case 1 of 4 (random; inputs: embedded=float32 (3, 3), "
                                  "state=float32 (3, 4), attend=additive attention over a memory of shape (3, 5, 6), "
                                  "cell=a GRU cell (input 3 + 6, state 4), output_layer=an affine map (4 + 6 -> 7)): "
                                  "at index (0, 0) expected ")


def test_attention_step_detached_state_fails_the_gradient_check(fw):
    result = evaluate("attention_step", fw, STEP[fw.name](detach=True))
    assert result.status == "failed"
    assert result.hint.startswith("the logits has the right values, but its gradient with respect to `state` is wrong")


def test_attention_step_returning_two_results_is_a_type_problem(fw):
    def two(embedded, state, attend, cell, output_layer):
        logits, new_state, weights = STEP[fw.name]()(embedded, state, attend, cell, output_layer)
        return logits, new_state

    hint = evaluate("attention_step", fw, two).hint
    assert hint.startswith("your function returned a tuple of 2, expected a tuple of 3 ")
    assert hint.endswith("the logits, the new states, the attention weights")


def test_attention_step_widths_differ_so_mix_ups_show():
    import numpy as np

    for case in ATTENTION_STEP.make_cases(np.random.default_rng(0)):
        w = case.arguments["cell"].widths
        assert len({w.embed, w.state, w.memory, w.vocab}) == 4, case.label
        widths = [w.embed, w.state, w.memory, w.embed + w.state, w.state + w.memory, w.embed + w.memory]
        assert len(set(widths)) == len(widths), case.label


# ---------------------------------------------------------------- both


@pytest.mark.parametrize("name", ["last_real_state", "attention_step"])
def test_stub_is_not_attempted_and_returning_none_fails(fw, name):
    def stub(*args):
        raise NotImplementedError

    assert evaluate(name, fw, stub).status == "not_attempted"
    result = evaluate(name, fw, lambda *args: None)
    assert result.status == "failed" and "returned None" in result.hint


def test_units_list_the_new_exercises():
    assert "last_real_state" in exercise_names("01")
    assert "attention_step" in exercise_names("02")


def test_solutions_pass_in_a_fresh_interpreter():
    program = (
        "import torch\n"
        "from seq2bert.check import exercises\n"
        "check = exercises('pytorch')\n"
        "def last_real_state(outputs, lengths):\n"
        "    return outputs[torch.arange(len(lengths)), lengths - 1]\n"
        "def attention_step(embedded, state, attend, cell, output_layer):\n"
        "    context, weights = attend(state)\n"
        "    new_state = cell(torch.cat([embedded, context], -1), state)\n"
        "    return output_layer(torch.cat([new_state, context], -1)), new_state, weights\n"
        "assert check.last_real_state(last_real_state) is last_real_state\n"
        "assert check.attention_step(attention_step) is attention_step\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "last_real_state: passed (6 cases)" in done.stdout and "attention_step: passed (4 cases)" in done.stdout


# ---------------------------------------------------------------- the layers handed to attention_step


def test_the_check_cell_is_a_real_gru_cell():
    """The cell built from the case's NumPy weights equals torch.nn.GRUCell with those weights."""
    import numpy as np

    case = ATTENTION_STEP.make_cases(np.random.default_rng(1))[0]
    layer, w = case.arguments["cell"], case.arguments["cell"].widths
    gru = torch.nn.GRUCell(w.embed + w.memory, w.state)
    with torch.no_grad():  # PyTorch keeps (3D, in) matrices, gates in the order reset, update, new
        gru.weight_ih.copy_(torch.from_numpy(layer.weights["w_x"].T.copy()))
        gru.weight_hh.copy_(torch.from_numpy(layer.weights["w_h"].T.copy()))
        gru.bias_ih.copy_(torch.from_numpy(layer.weights["b_x"]))
        gru.bias_hh.copy_(torch.from_numpy(layer.weights["b_h"]))
    x = torch.randn(w.batch, w.embed + w.memory)
    state = torch.from_numpy(case.args["state"])
    expected = gru(x, state).detach().numpy()
    for framework in FRAMEWORKS:
        fw = exercises(framework).framework
        got = fw.to_numpy(layer.for_framework(fw)(fw.to_tensor(x.numpy()), fw.to_tensor(state.numpy())))
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.for_numpy()(x.numpy(), state.numpy()), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_the_check_attention_is_the_course_additive_attention(framework):
    """attend(state) = the course's additive_scores, masked_softmax and context_vector over the padded memory."""
    import numpy as np

    fw = exercises(framework).framework
    case = ATTENTION_STEP.make_cases(np.random.default_rng(2))[1]  # padded memory
    p = case.arguments["attend"].weights
    ops = {name: fw.reference(name) for name in ("additive_scores", "masked_softmax", "context_vector")}
    memory, state = fw.to_tensor(p["memory"]), fw.to_tensor(case.args["state"])
    scores = ops["additive_scores"](state, memory, fw.to_tensor(p["w_q"]), fw.to_tensor(p["w_k"]), fw.to_tensor(p["v"]))
    weights = ops["masked_softmax"](scores, fw.to_tensor(p["mask"]))
    context = ops["context_vector"](weights, memory)
    got_context, got_weights = case.arguments["attend"].for_framework(fw)(state)
    np.testing.assert_allclose(fw.to_numpy(got_weights), fw.to_numpy(weights), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fw.to_numpy(got_context), fw.to_numpy(context), rtol=1e-5, atol=1e-6)
    assert np.all(fw.to_numpy(got_weights)[~p["mask"]] == 0) and not p["mask"].all()
