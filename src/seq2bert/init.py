"""Initial weights drawn with NumPy by layer type, so the PyTorch and TensorFlow twins start identical.

Weights are named and laid out as in PyTorch (the canonical layout: a state-dict name such as
`decoder.output_layer.weight` and PyTorch's storage shapes) and drawn as PyTorch's defaults
draw them: embeddings N(0, 1); GRU weights and biases U(-1/sqrt(D), 1/sqrt(D)); linear
weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)); layer norm weight 1, bias 0.

Each framework walks its own model (seq2bert.torch.weights, seq2bert.tf.weights) and asks a
registry, keyed by layer type, how to draw each layer; paths and draw order follow the
attribute names and the order in which the layers were assigned, which the twins share. Same
data order, same optimiser settings and the same start make the twins' training runs track
each other. A new model needs no name list; a new kind of layer registers its type.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping

import numpy as np

class WeightError(ValueError):
    """Weights that do not fit a model: missing, extra, of the wrong shape, or of an unknown layer type."""


Shapes = Mapping[str, tuple[int, ...]]  # local weight name -> canonical shape, in draw order
Draw = Callable[[np.random.Generator, Shapes], dict[str, np.ndarray]]


def embedding(rng: np.random.Generator, shapes: Shapes) -> dict[str, np.ndarray]:
    """N(0, 1), as nn.Embedding."""
    return {name: rng.standard_normal(shape) for name, shape in shapes.items()}


def linear(rng: np.random.Generator, shapes: Shapes) -> dict[str, np.ndarray]:
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight (out, in) and bias, as nn.Linear."""
    bound = 1.0 / np.sqrt(shapes["weight"][1])
    return {name: rng.uniform(-bound, bound, shape) for name, shape in shapes.items()}


def recurrent(rng: np.random.Generator, shapes: Shapes) -> dict[str, np.ndarray]:
    """U(-1/sqrt(D), 1/sqrt(D)) for every weight, as nn.GRU and nn.GRUCell; D from weight_hh (3D, D)."""
    width = next(shape[1] for name, shape in shapes.items() if name.startswith("weight_hh"))
    bound = 1.0 / np.sqrt(width)
    return {name: rng.uniform(-bound, bound, shape) for name, shape in shapes.items()}


def layer_norm(rng: np.random.Generator, shapes: Shapes) -> dict[str, np.ndarray]:
    """Weight (gain) 1 and bias 0, as nn.LayerNorm; draws nothing."""
    return {name: (np.ones if name == "weight" else np.zeros)(shape) for name, shape in shapes.items()}


def token_embedding(rng: np.random.Generator, shapes: Shapes) -> dict[str, np.ndarray]:
    """N(0, 1/D) for a (V, D) table that the model multiplies by sqrt(D) (Vaswani et al. 2017, sec. 3.4)."""
    return {name: rng.standard_normal(shape) / np.sqrt(shape[-1]) for name, shape in shapes.items()}


def tied_output(rng: np.random.Generator, shapes: Shapes) -> dict[str, np.ndarray]:
    """Bias 0 for an output projection that reuses the target embedding (drawn there); draws nothing."""
    return {"bias": np.zeros(shapes["bias"])}


class Registry:
    """Values keyed by layer type; a layer finds the entry of its class or nearest base class."""

    def __init__(self):
        self._by_type: dict[type, object] = {}

    def register(self, layer_type: type, value: object) -> None:
        self._by_type[layer_type] = value

    def lookup(self, layer: object):
        """The entry for this layer's type, or None if neither it nor a base class is registered."""
        for cls in type(layer).__mro__:
            if cls in self._by_type:
                return self._by_type[cls]
        return None


Children = Callable[[object], Iterable[tuple[str, object]]]


def registered_layers(root: object, children: Children, registry: Registry) -> Iterator[tuple[str, object]]:
    """(path, layer) of every registered layer under root, depth first in attribute order.

    The walk does not enter a registered layer (an nn.GRU is one layer, not a parent of
    parameters) and visits a layer reachable by two paths once, under the first.
    """
    seen: set[int] = set()

    def visit(layer: object, path: str):
        if id(layer) in seen:
            return
        seen.add(id(layer))
        if registry.lookup(layer) is not None:
            yield path, layer
            return
        for name, child in children(layer):
            yield from visit(child, f"{path}.{name}" if path else name)

    yield from visit(root, "")


def draw(layers: Iterable[tuple[str, Shapes, Draw]], seed: int) -> dict[str, np.ndarray]:
    """Draw each (path, shapes, draw) in turn from one generator; float32, keyed `path.name`."""
    rng = np.random.default_rng(seed)
    weights = {}
    for path, shapes, draw_layer in layers:
        for name, value in draw_layer(rng, shapes).items():
            weights[f"{path}.{name}" if path else name] = np.asarray(value, dtype=np.float32)
    return weights
