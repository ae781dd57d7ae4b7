"""A Keras model's initial weights, drawn by layer type, and the one loader of PyTorch weights.

Weights travel in PyTorch's layout (seq2bert.init). A Keras layer sits at the same attribute
path as its PyTorch twin (`decoder.output_layer`), and its type's `Layout` says how it stores
what PyTorch keeps under that path:
- Linear weight (out, in) is a Dense kernel (in, out).
- A GRU stores gates as (reset, update, new) in PyTorch and (update, reset, new) in Keras,
  weights transposed, and Keras keeps the input and recurrent biases as the two rows of one
  (2, 3D) bias (its reset_after=True form, which is PyTorch's formula).
- A Bidirectional GRU is PyTorch's nn.GRU(bidirectional=True): the forward layer takes the
  `_l0` weights and the backward layer the `_l0_reverse` ones.
- LayerNorm weight and bias are LayerNormalization's gamma and beta.
A new kind of layer is taught once with `register_layout`; a new model needs nothing.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np

from seq2bert import init
from seq2bert.init import WeightError


@dataclass(frozen=True)
class Layout:
    """How one Keras layer type stores the weights its PyTorch twin keeps under one module."""

    draw: init.Draw  # how they start: PyTorch's default for the twin module (seq2bert.init)
    shapes: Callable[[keras.layers.Layer], dict[str, tuple[int, ...]]]  # PyTorch names and shapes, in draw order
    to_keras: Callable[[keras.layers.Layer, dict[str, np.ndarray]], list[np.ndarray]]  # -> get_weights() order


LAYOUTS = init.Registry()


def register_layout(layer_type: type, layout: Layout) -> None:
    """Draw and load every `layer_type` layer (and subclass) as `layout` says."""
    LAYOUTS.register(layer_type, layout)


def _dense_shapes(layer) -> dict[str, tuple[int, ...]]:
    fan_in, units = layer.kernel.shape
    return {"weight": (units, fan_in), **({"bias": (units,)} if layer.use_bias else {})}


def _dense(layer, w: dict[str, np.ndarray]) -> list[np.ndarray]:
    return [w["weight"].T] + ([w["bias"]] if "bias" in w else [])  # (out, in) -> (in, out)


def _gru_cell(layer):
    return layer.cell if isinstance(layer, keras.layers.GRU) else layer


def _gru_suffix(layer) -> str:
    return "_l0" if isinstance(layer, keras.layers.GRU) else ""  # nn.GRU numbers its layers; nn.GRUCell does not


def _gru_shapes(layer) -> dict[str, tuple[int, ...]]:
    cell, suffix = _gru_cell(layer), _gru_suffix(layer)
    inputs, width = cell.kernel.shape[0], cell.units
    shapes = {f"weight_ih{suffix}": (3 * width, inputs), f"weight_hh{suffix}": (3 * width, width)}
    if cell.use_bias:
        shapes.update({f"bias_ih{suffix}": (3 * width,), f"bias_hh{suffix}": (3 * width,)})
    return shapes


def _gru_gates(weight: np.ndarray) -> np.ndarray:
    """PyTorch (r, z, n) stacked on axis 0 -> Keras (z, r, n) order."""
    r, z, n = np.split(weight, 3, axis=0)
    return np.concatenate([z, r, n], axis=0)


def _gru(layer, w: dict[str, np.ndarray]) -> list[np.ndarray]:
    suffix = _gru_suffix(layer)
    kernel = _gru_gates(w[f"weight_ih{suffix}"]).T  # (3D, in) -> (in, 3D)
    recurrent = _gru_gates(w[f"weight_hh{suffix}"]).T  # (3D, D) -> (D, 3D)
    if f"bias_ih{suffix}" not in w:
        return [kernel, recurrent]
    bias = np.stack([_gru_gates(w[f"bias_ih{suffix}"]), _gru_gates(w[f"bias_hh{suffix}"])])  # 2 x (3D,) -> (2, 3D)
    return [kernel, recurrent, bias]


def _bidirectional_shapes(layer) -> dict[str, tuple[int, ...]]:
    if not isinstance(layer.forward_layer, keras.layers.GRU):
        raise WeightError(f"{layer.name}: only a Bidirectional GRU has a PyTorch twin here, "
                          f"not a Bidirectional {type(layer.forward_layer).__name__}")
    backward = {f"{name}_reverse": shape for name, shape in _gru_shapes(layer.backward_layer).items()}
    return {**_gru_shapes(layer.forward_layer), **backward}  # nn.GRU's order: forward, then reverse


def _bidirectional(layer, w: dict[str, np.ndarray]) -> list[np.ndarray]:
    forward = {name: value for name, value in w.items() if not name.endswith("_reverse")}
    backward = {name.removesuffix("_reverse"): value for name, value in w.items() if name.endswith("_reverse")}
    return _gru(layer.forward_layer, forward) + _gru(layer.backward_layer, backward)  # Keras: forward, then backward


def _layer_norm_shapes(layer) -> dict[str, tuple[int, ...]]:
    shapes = {}
    if layer.scale:
        shapes["weight"] = tuple(layer.gamma.shape)
    if layer.center:
        shapes["bias"] = tuple(layer.beta.shape)
    return shapes


def _layer_norm(layer, w: dict[str, np.ndarray]) -> list[np.ndarray]:
    return [w[name] for name in ("weight", "bias") if name in w]  # gamma, beta


register_layout(keras.layers.Embedding, Layout(init.embedding, lambda layer: {"weight": tuple(layer.embeddings.shape)},
                                               lambda layer, w: [w["weight"]]))
register_layout(keras.layers.Dense, Layout(init.linear, _dense_shapes, _dense))
register_layout(keras.layers.GRU, Layout(init.recurrent, _gru_shapes, _gru))
register_layout(keras.layers.GRUCell, Layout(init.recurrent, _gru_shapes, _gru))
register_layout(keras.layers.Bidirectional, Layout(init.recurrent, _bidirectional_shapes, _bidirectional))
register_layout(keras.layers.LayerNormalization, Layout(init.layer_norm, _layer_norm_shapes, _layer_norm))


def _children(layer):
    """Sub-layers by public attribute name; lists and dicts of layers as `name.index` / `name.key`."""
    if isinstance(layer, keras.Sequential):
        yield from ((str(index), child) for index, child in enumerate(layer.layers))
        return
    for name, value in vars(layer).items():
        if name.startswith("_"):
            continue
        if isinstance(value, keras.layers.Layer):
            yield name, value
        elif isinstance(value, (list, tuple)):
            yield from ((f"{name}.{index}", child) for index, child in enumerate(value)
                        if isinstance(child, keras.layers.Layer))
        elif isinstance(value, dict):
            yield from ((f"{name}.{key}", child) for key, child in value.items()
                        if isinstance(child, keras.layers.Layer))


def registered_layers(model: keras.layers.Layer):
    """(path, layer) of every layer with a registered layout, in the order they were assigned."""
    return init.registered_layers(model, _children, LAYOUTS)


def _layers_and_shapes(model: keras.layers.Layer):
    """[(path, layer, layout, shapes)], or WeightError if a weight has no layout or a layer is unbuilt."""
    found, covered = [], set()
    for path, layer in registered_layers(model):
        if not layer.built:
            raise WeightError(f"{path}: the Keras {type(layer).__name__} has no weights yet; call the model once first")
        layout = LAYOUTS.lookup(layer)
        found.append((path, layer, layout, layout.shapes(layer)))
        covered.update(id(variable) for variable in layer.weights)
    uncovered = [variable.path for variable in model.weights if id(variable) not in covered]
    if uncovered:
        raise WeightError(f"no layout for the Keras weights {', '.join(uncovered)}: register the layer type "
                          "with seq2bert.tf.weights.register_layout")
    return found


def initial_weights(model: keras.layers.Layer, seed: int) -> dict[str, np.ndarray]:
    """Every weight of a built `model` in PyTorch layout, drawn as its PyTorch twin draws them."""
    return init.draw([(path, shapes, layout.draw) for path, _, layout, shapes in _layers_and_shapes(model)], seed)


def load_torch_state(model: keras.layers.Layer, state: dict[str, np.ndarray]) -> None:
    """Load weights in PyTorch layout, keyed by state-dict name, into the built Keras twin.

    Every weight must find its layer and every layer its weights, with PyTorch's shapes;
    otherwise WeightError names each path at fault and the model is left unchanged.
    """
    problems, plan, used = [], [], set()
    for path, layer, layout, shapes in _layers_and_shapes(model):
        kind = type(layer).__name__
        local = {}
        for name, shape in shapes.items():
            key = f"{path}.{name}" if path else name
            if key not in state:
                problems.append(f"{key}: missing (the Keras {kind} at {path} needs shape {shape})")
                continue
            used.add(key)
            got = tuple(np.shape(state[key]))
            if got != shape:
                problems.append(f"{key}: shape {got}, but the Keras {kind} at {path} needs {shape}")
            else:
                local[name] = np.asarray(state[key])
        if len(local) < len(shapes):
            continue
        arrays = layout.to_keras(layer, local)
        wanted = [tuple(variable.shape) for variable in layer.weights]
        if [a.shape for a in arrays] != wanted:
            hint = " (a GRU needs reset_after=True)" if layout.draw is init.recurrent else ""
            problems.append(f"{path}: the Keras {kind} holds shapes {wanted}, not {[a.shape for a in arrays]}{hint}")
        plan.append((layer, arrays))
    problems += [f"{key}: extra (no Keras layer at that path takes it)" for key in state if key not in used]
    if problems:
        raise WeightError(f"cannot load PyTorch weights into {type(model).__name__}: " + "; ".join(problems))
    for layer, arrays in plan:
        layer.set_weights(arrays)
