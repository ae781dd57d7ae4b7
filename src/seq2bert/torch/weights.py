"""A PyTorch model's initial weights, drawn by layer type (seq2bert.init), and its weights as NumPy.

A layer type with parameters of its own (say a custom attention module) is taught once with
`register_initialiser(MyLayer, draw)`; every model that uses it then starts from the same
weights as its TensorFlow twin, which registers its own type in seq2bert.tf.weights.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from seq2bert import init
from seq2bert.init import WeightError

INITIALISERS = init.Registry()


def register_initialiser(layer_type: type, draw: init.Draw) -> None:
    """Draw the weights of every `layer_type` module (and subclass) with `draw(rng, shapes)`."""
    INITIALISERS.register(layer_type, draw)


register_initialiser(nn.Embedding, init.embedding)
register_initialiser(nn.Linear, init.linear)
register_initialiser(nn.GRU, init.recurrent)
register_initialiser(nn.GRUCell, init.recurrent)
register_initialiser(nn.LayerNorm, init.layer_norm)


def _shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    return {name: tuple(p.shape) for name, p in module.named_parameters()}


def registered_layers(model: nn.Module):
    """(path, module) of every module with a registered initialiser, in definition order."""
    return init.registered_layers(model, lambda module: module.named_children(), INITIALISERS)


def initial_weights(model: nn.Module, seed: int) -> dict[str, np.ndarray]:
    """Every parameter of `model`, float32, drawn layer by layer and keyed by its state-dict name."""
    layers = [(path, _shapes(module), INITIALISERS.lookup(module)) for path, module in registered_layers(model)]
    drawn = init.draw(layers, seed)
    parameters = dict(model.named_parameters())  # a tied parameter appears once, under its first name
    uncovered = [name for name in parameters if name not in drawn]
    if uncovered:
        owners = sorted({name.rpartition(".")[0] for name in uncovered})
        described = ", ".join(f"{path or '(model)'} ({type(model.get_submodule(path)).__name__})" for path in owners)
        raise WeightError(f"no initialiser for the parameters of {described}: "
                          "register the layer type with seq2bert.torch.weights.register_initialiser")
    return {name: value for name, value in drawn.items() if name in parameters}


def load_weights(model: nn.Module, weights: dict[str, np.ndarray]) -> None:
    """Copy NumPy weights keyed by parameter name into `model`; nothing changes unless all fit."""
    parameters = dict(model.named_parameters())
    problems = [f"{name}: missing" for name in parameters if name not in weights]
    problems += [f"{name}: extra (the model has no such parameter)" for name in weights if name not in parameters]
    problems += [f"{name}: shape {tuple(np.shape(value))}, but the model needs {tuple(parameters[name].shape)}"
                 for name, value in weights.items()
                 if name in parameters and tuple(np.shape(value)) != tuple(parameters[name].shape)]
    if problems:
        raise WeightError(f"cannot load weights into {type(model).__name__}: " + "; ".join(problems))
    with torch.no_grad():
        for name, parameter in parameters.items():
            parameter.copy_(torch.as_tensor(np.asarray(weights[name]), dtype=parameter.dtype))


def torch_state(model: nn.Module) -> dict[str, np.ndarray]:
    """A PyTorch model's parameters as NumPy arrays, keyed by state-dict name."""
    return {name: p.detach().cpu().numpy().copy() for name, p in model.named_parameters()}
