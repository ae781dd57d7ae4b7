"""The per-framework part of the checks: tensors in, NumPy out, gradients, generators, references.

Each framework is imported only when its checks are created, so a TensorFlow notebook never
imports torch and the other way round.
"""
from __future__ import annotations

import sys
from typing import Any, Callable

import numpy as np

from seq2bert.units import FRAMEWORK_TITLES


class Framework:
    """What the checks need from a framework; subclasses fill in the tensor operations."""

    name = ""  # "pytorch" or "tensorflow"
    tensor_type = ""  # how hints name the expected tensor type
    stack = ""  # how hints name the stacking function

    @property
    def title(self) -> str:
        return FRAMEWORK_TITLES[self.name]

    def to_tensor(self, array: np.ndarray) -> Any:
        raise NotImplementedError

    def is_tensor(self, value: Any) -> bool:
        raise NotImplementedError

    def to_numpy(self, tensor: Any) -> np.ndarray:
        raise NotImplementedError

    def generator(self, seed: int) -> Any:
        """A random generator of this framework, seeded with `seed`."""
        raise NotImplementedError

    def gradient(self, function: Callable, args: list, index: int, weights: np.ndarray) -> np.ndarray | None:
        """d sum(weights * function(*args)) / d args[index] as NumPy, or None when no gradient flows."""
        raise NotImplementedError

    def loose_numpy(self, value: Any) -> np.ndarray:
        """A tensor, array, list or number as a NumPy array (for the fake decoder's inputs)."""
        return self.to_numpy(value) if self.is_tensor(value) else np.asarray(value)

    def reference(self, name: str) -> Callable:
        """The course's reference implementation of exercise `name` in this framework."""
        from seq2bert.check import registry

        return registry.resolve(registry.get(name).references[self.name])

    def forbidden(self, name: str) -> dict[str, Any]:
        """The callables a learner's `name` must not use, by "module:function" label.

        The course's reference in this framework, the library functions the exercise forbids, and
        the other framework's reference when that framework is already loaded (a check never
        imports the other framework). The checks' NumPy references are not watched: the known
        mistakes are built from them, and tests replay those through learner functions.
        """
        from seq2bert.check import registry

        exercise = registry.get(name)
        paths = [exercise.references[self.name], *exercise.forbidden.get(self.name, ())]
        for framework, path in exercise.references.items():
            if framework != self.name and path.partition(":")[0] in sys.modules:
                paths.append(path)
        return {path: registry.resolve(path) for path in paths}

    def wrong_type_hint(self, value: Any) -> str:
        """Why `value` is not an acceptable result, and what to return instead."""
        expected = f"expected a {self.tensor_type}"
        if value is None:
            return "your function returned None: did you forget the `return` statement?"
        module = type(value).__module__.split(".")[0]
        if isinstance(value, (np.ndarray, np.generic)):
            return (f"your function returned a NumPy array, {expected}: compute it with {self.title} "
                    "operations (no .numpy()) so gradients can flow through it")
        if isinstance(value, (bool, int, float)):
            return (f"your function returned a Python {type(value).__name__}, {expected}: "
                    "don't call .item(), float() or int() on the result")
        if isinstance(value, (list, tuple)):
            return (f"your function returned a {type(value).__name__}, {expected}: stack the pieces "
                    f"into one tensor ({self.stack})")
        if module in {"torch", "tensorflow", "keras", "jax"}:
            return (f"your function returned a {module} {type(value).__name__}, {expected}: "
                    f"this notebook uses {self.title}")
        return f"your function returned a {type(value).__name__}, {expected}"


class TorchFramework(Framework):
    """PyTorch: int64 ids and lengths, float32 values."""

    name = "pytorch"
    tensor_type = "torch.Tensor"
    stack = "torch.stack"

    def __init__(self) -> None:
        import torch

        self.torch = torch

    def to_tensor(self, array: np.ndarray) -> Any:
        array = np.asarray(array)
        if array.dtype == bool:
            return self.torch.tensor(array, dtype=self.torch.bool)
        if array.dtype.kind in "iu":
            return self.torch.tensor(array, dtype=self.torch.int64)
        return self.torch.tensor(array, dtype=self.torch.float32)

    def is_tensor(self, value: Any) -> bool:
        return isinstance(value, self.torch.Tensor)

    def to_numpy(self, tensor: Any) -> np.ndarray:
        return tensor.detach().cpu().numpy()

    def generator(self, seed: int) -> Any:
        return self.torch.Generator().manual_seed(seed)

    def gradient(self, function: Callable, args: list, index: int, weights: np.ndarray) -> np.ndarray | None:
        leaf = args[index].detach().clone().requires_grad_(True)
        output = function(*args[:index], leaf, *args[index + 1:])
        if not self.is_tensor(output) or not output.requires_grad or tuple(output.shape) != weights.shape:
            return None
        (grad,) = self.torch.autograd.grad((output * self.to_tensor(weights)).sum(), leaf, allow_unused=True)
        return None if grad is None else self.to_numpy(grad)


class TensorFlowFramework(Framework):
    """TensorFlow: int32 ids and lengths, float32 values."""

    name = "tensorflow"
    tensor_type = "tf.Tensor"
    stack = "tf.stack"

    def __init__(self) -> None:
        import tensorflow as tf

        self.tf = tf

    def to_tensor(self, array: np.ndarray) -> Any:
        array = np.asarray(array)
        if array.dtype == bool:
            return self.tf.constant(array, dtype=self.tf.bool)
        if array.dtype.kind in "iu":
            return self.tf.constant(array, dtype=self.tf.int32)
        return self.tf.constant(array, dtype=self.tf.float32)

    def is_tensor(self, value: Any) -> bool:
        return isinstance(value, (self.tf.Tensor, self.tf.Variable))

    def to_numpy(self, tensor: Any) -> np.ndarray:
        return np.asarray(tensor.numpy())

    def generator(self, seed: int) -> Any:
        return self.tf.random.Generator.from_seed(seed)

    def gradient(self, function: Callable, args: list, index: int, weights: np.ndarray) -> np.ndarray | None:
        with self.tf.GradientTape() as tape:
            tape.watch(args[index])
            output = function(*args)
            if not self.is_tensor(output) or tuple(output.shape) != weights.shape:
                return None
            total = self.tf.reduce_sum(output * self.to_tensor(weights))
        grad = tape.gradient(total, args[index])
        return None if grad is None else self.to_numpy(self.tf.convert_to_tensor(grad))


_FRAMEWORKS = {"pytorch": TorchFramework, "tensorflow": TensorFlowFramework}


def load_framework(name: str) -> Framework:
    """The adapter for "pytorch" or "tensorflow" (already normalised); imports that framework."""
    return _FRAMEWORKS[name]()
