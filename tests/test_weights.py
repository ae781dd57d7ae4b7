"""Twin weights by layer type: drawing by walking a model, and loading PyTorch weights into Keras by path."""
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
import torch
from torch import nn

from seq2bert import init
from seq2bert.configs import Seq2SeqConfig
from seq2bert.init import WeightError
from seq2bert.tf import seq2seq as k
from seq2bert.tf import weights as tf_weights
from seq2bert.torch import seq2seq as t
from seq2bert.torch import weights as torch_weights

TOL = 1e-5
CONFIGS = [
    Seq2SeqConfig(src_vocab=13, tgt_vocab=11, embed=8, hidden=16, attention=False),
    Seq2SeqConfig(src_vocab=13, tgt_vocab=11, embed=8, hidden=16, attention=True, attention_width=12),
    Seq2SeqConfig(src_vocab=40, tgt_vocab=23, embed=5, hidden=7, attention=True),
    Seq2SeqConfig(src_vocab=13, tgt_vocab=11, embed=8, hidden=16, attention=False, bidirectional=True),
    Seq2SeqConfig(src_vocab=13, tgt_vocab=11, embed=8, hidden=16, attention=True, attention_width=12,
                  bidirectional=True),
]


def name_list_weights(config: Seq2SeqConfig, seed: int) -> dict[str, np.ndarray]:
    """The Seq2Seq start as drawn before the walk, from a hand-kept name list (units 01-02's numbers)."""
    rng = np.random.default_rng(seed)
    e, h, a = config.embed, config.hidden, config.attention_dim
    m = 2 * h if config.bidirectional else h  # memory width Dm, written out by hand

    def gru(prefix, inputs, suffix):
        bound = 1.0 / np.sqrt(h)
        shapes = {"weight_ih": (3 * h, inputs), "weight_hh": (3 * h, h), "bias_ih": (3 * h,), "bias_hh": (3 * h,)}
        return {f"{prefix}.{name}{suffix}": rng.uniform(-bound, bound, shape) for name, shape in shapes.items()}

    def linear(prefix, inputs, outputs, bias=True):
        bound = 1.0 / np.sqrt(inputs)
        weights = {f"{prefix}.weight": rng.uniform(-bound, bound, (outputs, inputs))}
        if bias:
            weights[f"{prefix}.bias"] = rng.uniform(-bound, bound, (outputs,))
        return weights

    weights = {"encoder.embedding.weight": rng.standard_normal((config.src_vocab, e))}
    weights.update(gru("encoder.rnn", e, "_l0"))
    if config.bidirectional:
        weights.update(gru("encoder.rnn", e, "_l0_reverse"))
        weights.update(linear("encoder.bridge", h, h))
    weights["decoder.embedding.weight"] = rng.standard_normal((config.tgt_vocab, e))
    if config.attention:
        weights.update(linear("decoder.attention.w_q", h, a, bias=False))
        weights.update(linear("decoder.attention.w_k", m, a, bias=False))
        weights.update(linear("decoder.attention.v", a, 1, bias=False))
        weights.update(gru("decoder.cell", e + m, ""))
        weights.update(linear("decoder.output_layer", h + m, config.tgt_vocab))
    else:
        weights.update(gru("decoder.rnn", e + h, "_l0"))
        weights.update(linear("decoder.output_layer", h, config.tgt_vocab))
    return {name: value.astype(np.float32) for name, value in weights.items()}


def assert_same_weights(a: dict, b: dict):
    assert list(a) == list(b)  # same names in the same (draw) order
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("seed", [0, 5])
def test_walk_draws_exactly_what_the_name_list_drew(config, seed):
    expected = name_list_weights(config, seed)
    torch_model, tf_model = t.Seq2Seq(config, seed=seed), k.Seq2Seq(config, seed=seed)
    assert_same_weights(torch_weights.initial_weights(torch_model, seed), expected)
    assert_same_weights(tf_weights.initial_weights(tf_model, seed), expected)
    assert_same_weights(torch_weights.torch_state(torch_model), expected)  # and that is what the model holds


@pytest.mark.parametrize("index", [0, 1, 3, 4])
def test_walkers_cover_every_parameter(index):
    config = CONFIGS[index]
    torch_model, tf_model = t.Seq2Seq(config), k.Seq2Seq(config)
    assert set(torch_weights.initial_weights(torch_model, 0)) == {name for name, _ in torch_model.named_parameters()}
    # Every Keras variable belongs to exactly one layer the walk visits, at the PyTorch module path.
    tf_layers = dict(tf_weights.registered_layers(tf_model))
    assert list(tf_layers) == [path for path, _ in torch_weights.registered_layers(torch_model)]
    held = [id(v) for layer in tf_layers.values() for v in layer.weights]
    assert sorted(held) == sorted(id(v) for v in tf_model.weights)


def changed(state: dict, **edits) -> dict:
    """A copy of state with entries replaced (a value) or removed (None); names use '__' for '.'."""
    state = dict(state)
    for key, value in edits.items():
        key = key.replace("__", ".")
        if value is None:
            del state[key]
        else:
            state[key] = value
    return state


@pytest.mark.parametrize("edit, message", [
    ({"decoder__output_layer__bias": None},
     r"decoder\.output_layer\.bias: missing \(the Keras Dense at decoder\.output_layer needs shape \(11,\)\)"),
    ({"decoder__extra__weight": np.zeros(3, np.float32)}, r"decoder\.extra\.weight: extra"),
    ({"decoder__output_layer__weight": np.zeros((16, 11), np.float32)},
     r"decoder\.output_layer\.weight: shape \(16, 11\), but the Keras Dense at decoder\.output_layer needs \(11, 16\)"),
    ({"encoder__rnn__weight_hh_l0": np.zeros((48, 15), np.float32)},
     r"encoder\.rnn\.weight_hh_l0: shape \(48, 15\), but the Keras GRU at encoder\.rnn needs \(48, 16\)"),
])
def test_loader_names_the_path_at_fault_and_changes_nothing(edit, message):
    config = CONFIGS[0]
    source, target = t.Seq2Seq(config, seed=1), k.Seq2Seq(config, seed=2)
    before = [w.copy() for w in target.get_weights()]
    with pytest.raises(WeightError, match=message):
        tf_weights.load_torch_state(target, changed(torch_weights.torch_state(source), **edit))
    for old, new in zip(before, target.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_loader_reports_every_problem_in_one_line():
    config = CONFIGS[0]
    state = changed(torch_weights.torch_state(t.Seq2Seq(config)), decoder__output_layer__bias=None,
                    decoder__rnn__bias_hh_l0=None, spare__weight=np.zeros(2, np.float32))
    with pytest.raises(WeightError) as raised:
        tf_weights.load_torch_state(k.Seq2Seq(config), state)
    text = str(raised.value)
    assert "\n" not in text
    for path in ("decoder.output_layer.bias: missing", "decoder.rnn.bias_hh_l0: missing", "spare.weight: extra"):
        assert path in text


def test_unidirectional_weights_do_not_load_into_a_bidirectional_encoder():
    state = torch_weights.torch_state(t.Seq2Seq(CONFIGS[1]))
    target = k.Seq2Seq(CONFIGS[4], seed=2)
    before = [w.copy() for w in target.get_weights()]
    with pytest.raises(WeightError) as raised:
        tf_weights.load_torch_state(target, state)
    text = str(raised.value)
    assert "encoder.rnn.weight_ih_l0_reverse: missing (the Keras Bidirectional at encoder.rnn needs shape (48, 8))" in text
    assert "encoder.bridge.weight: missing" in text
    assert "decoder.attention.w_k.weight: shape (12, 16), but the Keras Dense at decoder.attention.w_k needs (12, 32)" in text
    for old, new in zip(before, target.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_only_a_bidirectional_gru_has_a_layout():
    model = keras.Model()
    model.rnn = keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True))
    model.rnn(tf.zeros([1, 2, 3]))
    with pytest.raises(WeightError, match=r"only a Bidirectional GRU has a PyTorch twin here, not a Bidirectional LSTM"):
        tf_weights.initial_weights(model, 0)


def test_gru_without_reset_after_is_refused():
    model = keras.Model()
    model.rnn = keras.layers.GRU(4, reset_after=False)
    model.rnn(tf.zeros([1, 2, 3]))
    state = torch_weights.torch_state(_torch_gru_holder())
    with pytest.raises(WeightError, match=r"rnn: the Keras GRU holds shapes .* \(a GRU needs reset_after=True\)"):
        tf_weights.load_torch_state(model, state)


def _torch_gru_holder() -> nn.Module:
    holder = nn.Module()
    holder.rnn = nn.GRU(3, 4, batch_first=True)
    return holder


def test_torch_load_names_the_path_at_fault_and_changes_nothing():
    model = t.Seq2Seq(CONFIGS[1], seed=1)
    before = torch_weights.torch_state(model)
    state = changed(t.Seq2Seq(CONFIGS[1], seed=2).state_dict(), decoder__cell__bias_ih=None,
                    decoder__attention__v__weight=np.zeros((12, 1), np.float32), decoder__spare=np.zeros(1))
    state = {name: np.asarray(value) for name, value in state.items()}
    with pytest.raises(WeightError) as raised:
        torch_weights.load_weights(model, state)
    text = str(raised.value)
    assert "decoder.cell.bias_ih: missing" in text
    assert "decoder.attention.v.weight: shape (12, 1), but the model needs (1, 12)" in text
    assert "decoder.spare: extra" in text
    assert_same_weights(torch_weights.torch_state(model), before)


# A small model made up for the test, in both frameworks: no name list anywhere.


class TorchTagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(9, 6)
        self.blocks = nn.ModuleList([nn.Sequential(nn.Linear(6, 6), nn.LayerNorm(6)) for _ in range(2)])
        self.head = nn.Linear(6, 4)

    def forward(self, tokens):
        x = self.embedding(tokens)  # (B, S) -> (B, S, D)
        for block in self.blocks:
            x = x + torch.tanh(block(x))
        return self.head(x)  # (B, S, D) -> (B, S, V)


class KerasTagger(keras.Model):
    def __init__(self):
        super().__init__()
        self.embedding = keras.layers.Embedding(9, 6)
        self.blocks = [keras.Sequential([keras.layers.Dense(6), keras.layers.LayerNormalization(epsilon=1e-5)])
                       for _ in range(2)]
        self.head = keras.layers.Dense(4)

    def call(self, tokens):
        x = self.embedding(tokens)  # (B, S) -> (B, S, D)
        for block in self.blocks:
            x = x + tf.tanh(block(x))
        return self.head(x)  # (B, S, D) -> (B, S, V)


def keras_tagger() -> KerasTagger:
    model = KerasTagger()
    model(tf.zeros([1, 1], tf.int64))
    return model


def test_a_new_model_loads_by_path_and_agrees():
    torch_model = TorchTagger()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # layer-norm gains and biases away from 1 and 0, so their mapping is tested
        for parameter in torch_model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
    tf_model = keras_tagger()
    tf_weights.load_torch_state(tf_model, torch_weights.torch_state(torch_model))
    tokens = np.random.default_rng(0).integers(0, 9, (3, 5))
    expected = torch_model(torch.tensor(tokens)).detach().numpy()
    assert np.abs(np.asarray(tf_model(tf.constant(tokens))) - expected).max() <= TOL
    assert np.abs(expected).max() > 0.1  # not trivially zero


def test_a_new_model_starts_identical_in_both_frameworks():
    torch_model, tf_model = TorchTagger(), keras_tagger()
    start = torch_weights.initial_weights(torch_model, seed=4)
    assert_same_weights(tf_weights.initial_weights(tf_model, seed=4), start)
    assert [name for name in start if "blocks.0" in name] == [
        "blocks.0.0.weight", "blocks.0.0.bias", "blocks.0.1.weight", "blocks.0.1.bias"]
    np.testing.assert_array_equal(start["blocks.1.1.weight"], np.ones(6, np.float32))  # layer norm: 1 and 0
    np.testing.assert_array_equal(start["blocks.1.1.bias"], np.zeros(6, np.float32))
    assert np.abs(start["head.weight"]).max() <= 1 / np.sqrt(6)


class TorchScale(nn.Module):
    """A layer type of its own: a learned per-feature scale."""

    def __init__(self, width):
        super().__init__()
        self.gain = nn.Parameter(torch.empty(width))

    def forward(self, x):
        return x * self.gain


class KerasScale(keras.layers.Layer):
    def build(self, input_shape):
        self.gain = self.add_weight(shape=(input_shape[-1],), name="gain")

    def call(self, x):
        return x * self.gain


def test_an_unregistered_layer_type_is_named_and_a_registered_one_works():
    torch_model, tf_model = nn.Module(), keras.Model()
    torch_model.scale, tf_model.scale = TorchScale(3), KerasScale()
    tf_model.scale(tf.zeros([1, 3]))
    with pytest.raises(WeightError, match=r"no initialiser for the parameters of scale \(TorchScale\)"):
        torch_weights.initial_weights(torch_model, 0)
    with pytest.raises(WeightError, match=r"no layout for the Keras weights .*gain"):
        tf_weights.initial_weights(tf_model, 0)

    def draw(rng, shapes):
        return {name: rng.uniform(0.5, 1.5, shape) for name, shape in shapes.items()}

    torch_weights.register_initialiser(TorchScale, draw)
    tf_weights.register_layout(KerasScale, tf_weights.Layout(draw, lambda layer: {"gain": tuple(layer.gain.shape)},
                                                             lambda layer, w: [w["gain"]]))
    start = torch_weights.initial_weights(torch_model, 7)
    assert list(start) == ["scale.gain"]
    assert_same_weights(tf_weights.initial_weights(tf_model, 7), start)
    tf_weights.load_torch_state(tf_model, start)
    np.testing.assert_array_equal(np.asarray(tf_model.scale.gain), start["scale.gain"])


def test_an_unbuilt_keras_model_is_refused_with_a_hint():
    with pytest.raises(WeightError, match=r"embedding: the Keras Embedding has no weights yet; call the model once"):
        tf_weights.load_torch_state(KerasTagger(), torch_weights.torch_state(TorchTagger()))


def test_registry_finds_the_nearest_base_class():
    registry = init.Registry()
    registry.register(nn.Linear, "linear")
    assert registry.lookup(nn.modules.linear.NonDynamicallyQuantizableLinear(2, 2)) == "linear"
    assert registry.lookup(nn.ReLU()) is None


@pytest.mark.parametrize("framework, other", [("tf", "torch"), ("torch", "tensorflow")])
def test_each_twin_starts_without_importing_the_other_framework(framework, other):
    """A learner's TensorFlow notebook never loads PyTorch to draw its start, nor the reverse."""
    program = (
        "import sys\n"
        "from seq2bert.configs import Seq2SeqConfig\n"
        f"from seq2bert.{framework}.seq2seq import Seq2Seq\n"
        "Seq2Seq(Seq2SeqConfig(src_vocab=7, tgt_vocab=7, embed=4, hidden=4), seed=0)\n"
        f"assert {other!r} not in sys.modules, 'imported {other}'\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
