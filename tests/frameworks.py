"""PyTorch and Keras behind one small interface, for tests that run the same check in both twins.

A test that takes the ``fw`` fixture (tests/conftest.py) runs once with each class below;
``fw.attention`` / ``fw.positional`` are that framework's modules. Import the classes
(``from frameworks import Keras, Torch``) to use one framework by name.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf
import torch

from seq2bert.tf import attention as ka
from seq2bert.tf import positional as kp
from seq2bert.tf.weights import initial_weights as keras_initial_weights
from seq2bert.tf.weights import load_torch_state
from seq2bert.torch import attention as ta
from seq2bert.torch import positional as tp
from seq2bert.torch.weights import initial_weights as torch_initial_weights
from seq2bert.torch.weights import load_weights

PROJECTIONS = ("w_q", "w_k", "w_v", "w_o")  # MultiHeadAttention's dense layers


class Torch:
    attention = ta
    positional = tp

    @staticmethod
    def tensor(array):
        return torch.tensor(np.asarray(array))

    @staticmethod
    def numpy(tensor):
        return tensor.detach().numpy()

    @staticmethod
    def multi_head_attention(width, heads, rotary=False, seed=0):
        """A MultiHeadAttention holding seq2bert.init's weights for `seed`."""
        layer = ta.MultiHeadAttention(width, heads, rotary=rotary)
        load_weights(layer, torch_initial_weights(layer, seed))
        return layer

    @staticmethod
    def count(layer):
        return sum(p.numel() for p in layer.parameters())

    @staticmethod
    def state(layer):
        """A MultiHeadAttention's weights by PyTorch name and layout."""
        return {name: p.detach().numpy() for name, p in layer.named_parameters()}

    @staticmethod
    def load(layer, state):
        load_weights(layer, state)


class Keras:
    attention = ka
    positional = kp

    @staticmethod
    def tensor(array):
        return tf.constant(np.asarray(array))

    @staticmethod
    def numpy(tensor):
        return np.asarray(tensor)

    @staticmethod
    def multi_head_attention(width, heads, rotary=False, seed=0):
        """A MultiHeadAttention holding seq2bert.init's weights for `seed` (the same as Torch's)."""
        layer = ka.MultiHeadAttention(width, heads, rotary=rotary)
        x = tf.zeros((1, 1, width))
        layer(x, x, x)  # builds the dense layers
        load_torch_state(layer, keras_initial_weights(layer, seed))
        return layer

    @staticmethod
    def count(layer):
        return layer.count_params()

    @staticmethod
    def state(layer):
        """A MultiHeadAttention's weights by PyTorch name and layout (Keras kernels are (in, out))."""
        return {f"{name}.{part}": (value.T if part == "weight" else value)
                for name in PROJECTIONS
                for part, value in zip(("weight", "bias"), getattr(layer, name).get_weights())}

    @staticmethod
    def load(layer, state):
        load_torch_state(layer, state)


BY_NAME = {"pytorch": Torch, "tensorflow": Keras}  # the fw fixture's parameters, in order
