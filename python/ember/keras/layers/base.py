"""The Keras Layer: an ember.nn.Module that builds its parameters from the first input shape it sees (or from
`input_shape`), has a Keras name (dense, dense_1, ...), and can run without its final activation so a model can
fuse softmax/sigmoid into the loss. Also InputLayer and keras.Input. No training logic here."""
import re

import numpy as np

from ... import _C
from ...autograd import no_grad
from ...nn import Module

__all__ = ["Layer", "InputLayer", "Input"]

_NAME_COUNTS = {}


def _snake_case(class_name):
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", class_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(prefix):
    """Keras' naming: the first dense layer is 'dense', then 'dense_1', 'dense_2', ..."""
    count = _NAME_COUNTS.get(prefix, 0)
    _NAME_COUNTS[prefix] = count + 1
    return prefix if count == 0 else f"{prefix}_{count}"


def as_shape(shape, owner, what="input_shape"):
    """A shape argument as a tuple of positive ints (None allowed for unknown sizes)."""
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    try:
        shape = tuple(None if size is None else int(size) for size in shape)
    except (TypeError, ValueError):
        raise TypeError(f"{owner}: {what} must be a tuple of ints, got {shape!r}") from None
    if any(size is not None and size <= 0 for size in shape):
        raise ValueError(f"{owner}: {what} must have positive sizes, got {shape}")
    return shape


def as_pair(value, owner, what):
    """An int or a pair of ints as a pair of positive ints (kernel sizes, strides, pool sizes)."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0
                                 for v in pair):
        raise ValueError(f"{owner}: {what} must be a positive int or a pair of positive ints, got {value!r}")
    return int(pair[0]), int(pair[1])


class Layer(Module):
    """Base class of the Keras layers. Subclasses implement build(input_shape) and forward(x); layers with an
    activation also implement forward_pre_activation(x) and set `activation_name`."""

    activation_name = None        # 'softmax', 'relu', ... for layers whose forward ends in an activation

    def __init__(self, name=None, input_shape=None, trainable=True, dtype=None, batch_input_shape=None):
        super().__init__()
        owner = type(self).__name__
        if dtype not in (None, "float32"):
            raise NotImplementedError(f"{owner}: only dtype='float32' is supported by ember.keras, got {dtype!r}")
        if name is not None and (not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)):
            raise ValueError(f"{owner}: name must be an identifier (letters, digits, _), got {name!r}")
        self.name = name or unique_name(_snake_case(owner))
        self.built = False
        self.trainable = bool(trainable)
        if batch_input_shape is not None:
            input_shape = tuple(batch_input_shape)[1:]
        self.declared_input_shape = None if input_shape is None else as_shape(input_shape, owner)
        self.output_shape = None          # (None, ...) once the layer has run or been built by its model

    # ---- building
    def build(self, input_shape):
        """Creates the parameters for inputs of `input_shape` (batch dim included, possibly None)."""
        self.built = True

    def _build_from(self, x):
        shape = (None,) + tuple(x.shape[1:])
        if self.declared_input_shape is not None:
            self._check_declared_shape(shape)
        self.build(shape)
        self.built = True
        if not self.trainable:
            for parameter in self.parameters():
                parameter.requires_grad_(False)

    def _check_declared_shape(self, shape):
        expected = self.declared_input_shape
        if len(shape) - 1 != len(expected) or any(e is not None and e != s for e, s in zip(expected, shape[1:])):
            raise ValueError(f"Input of layer '{self.name}' ({type(self).__name__}) is incompatible with the layer: "
                             f"expected shape (None, {', '.join(map(str, expected))}) from input_shape="
                             f"{expected}, but received input with shape {shape}")

    def __call__(self, x, *args, **kwargs):
        if not self.built:
            if not isinstance(x, _C.Tensor):
                raise TypeError(f"layer '{self.name}' ({type(self).__name__}): expected an ember.Tensor input, got "
                                f"{type(x).__name__} (convert NumPy arrays with ember.from_numpy)")
            self._build_from(x)
        return Module.__call__(self, x, *args, **kwargs)

    def forward_pre_activation(self, x):
        """forward(x) without the final activation (for layers whose activation_name is set)."""
        raise NotImplementedError(f"{type(self).__name__} has no separate activation")

    def _incompatible(self, x, expected):
        return ValueError(f"Input of layer '{self.name}' ({type(self).__name__}) is incompatible with the layer: "
                          f"expected {expected}, but received input with shape {tuple(x.shape)}")

    # ---- Keras conveniences
    def count_params(self):
        if not self.built:
            raise ValueError(f"layer '{self.name}' has not been built yet: call it on an input (or give "
                             f"input_shape) first")
        return sum(p.numel() for p in self.parameters())

    def get_weights(self):
        """The layer's weights as NumPy arrays in Keras' layout and order (e.g. Dense: kernel (in, units), bias)."""
        return [self._to_keras_layout(name, t.detach().numpy().copy()) for name, t in self._weight_items()]

    def set_weights(self, weights):
        items = self._weight_items()
        if len(weights) != len(items):
            raise ValueError(f"set_weights of layer '{self.name}': expected {len(items)} arrays, got {len(weights)}")
        for (name, tensor), value in zip(items, weights):
            value = self._from_keras_layout(name, np.asarray(value, dtype=np.float32))
            if value.shape != tuple(tensor.shape):
                raise ValueError(f"set_weights of layer '{self.name}': weight '{name}' has shape "
                                 f"{tuple(tensor.shape)}, got an array of shape {value.shape} (in Keras' layout)")
            with no_grad():
                tensor.copy_(_C.from_numpy(np.ascontiguousarray(value)))

    def _weight_items(self):
        return list(self.named_parameters()) + [(n, b) for n, b in self.named_buffers()
                                                 if b.dtype == _C.dtype.float32]

    def _to_keras_layout(self, name, array):
        return array

    def _from_keras_layout(self, name, array):
        return array

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable}
        if self.declared_input_shape is not None:
            config["input_shape"] = list(self.declared_input_shape)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def extra_repr(self):
        return f"name={self.name!r}"


class InputLayer(Layer):
    """Declares the input shape of a model (what keras.Input returns); passes its input through."""

    def __init__(self, shape=None, batch_size=None, name=None, dtype=None, input_shape=None):
        shape = shape if shape is not None else input_shape
        if shape is None:
            raise ValueError("Input: shape is required, e.g. keras.Input(shape=(784,))")
        super().__init__(name=name, input_shape=shape)
        self.dtype_name = dtype

    def forward(self, x):
        return x

    def get_config(self):
        return {"name": self.name, "shape": list(self.declared_input_shape), "dtype": self.dtype_name}


def Input(shape=None, batch_size=None, name=None, dtype=None):
    """keras.Input(shape): the input of a model, given as the first element of Sequential([...])."""
    return InputLayer(shape=shape, batch_size=batch_size, name=name, dtype=dtype)
