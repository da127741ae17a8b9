"""Keras core layers over ember ops: Dense (one fused linear + bias + relu/gelu call where possible), Activation,
Dropout, Flatten, Reshape, Embedding, BatchNormalization and LayerNormalization (Keras defaults: momentum 0.99,
epsilon 1e-3). Parameters are stored in ember's (PyTorch's) layout; get_weights() returns Keras' layout."""
from ... import _C
from ...nn import Parameter
from ...nn import functional as F
from .. import activations, initializers
from .base import Layer

__all__ = ["Dense", "Activation", "Dropout", "Flatten", "Reshape", "Embedding", "BatchNormalization",
           "LayerNormalization"]


class _ActivatedLayer(Layer):
    """A layer whose forward is activation(forward_pre_activation(x))."""

    def _set_activation(self, activation):
        self.activation_name, self.activation = activations.resolve(activation, type(self).__name__)

    def forward(self, x):
        return self.activation(self.forward_pre_activation(x))

    def _activation_config(self):
        if self.activation_name is None:
            raise ValueError(f"layer '{self.name}': a custom activation function cannot be saved in a config; use "
                             f"an activation name ({', '.join(activations.NAMES)})")
        return self.activation_name


class Dense(_ActivatedLayer):
    """activation(x @ kernel + bias) over the last axis; weight is (units, in_features), Keras' kernel transposed."""

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", input_shape=None, input_dim=None, **kwargs):
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        super().__init__(input_shape=input_shape, **kwargs)
        if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
            raise ValueError(f"Dense: units must be a positive int, got {units!r}")
        self.units = units
        self.use_bias = bool(use_bias)
        self._set_activation(activation)
        self._fused_activation = activations.FUSABLE_IN_LINEAR.get(self.activation_name)
        self.kernel_initializer = initializers.check(kernel_initializer, "Dense")
        self.bias_initializer = initializers.check(bias_initializer, "Dense")
        self.in_features = None

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"Dense '{self.name}': needs inputs with a known last dimension, got {input_shape}")
        self.in_features = input_shape[-1]
        self.weight = Parameter(_C.empty(self.units, self.in_features))
        initializers.initialize(self.weight, self.kernel_initializer)
        if self.use_bias:
            self.bias = Parameter(_C.empty(self.units))
            initializers.initialize(self.bias, self.bias_initializer)
        else:
            self.register_parameter("bias", None)
        self.built = True

    def _check(self, x):
        if x.ndim < 2 or x.shape[-1] != self.in_features:
            raise self._incompatible(x, f"axis -1 of the input to have value {self.in_features}")

    def forward(self, x):
        self._check(x)
        if self._fused_activation is not None:
            return _C.linear(x, self.weight, self.bias, self._fused_activation)
        return self.activation(_C.linear(x, self.weight, self.bias, "none"))

    def forward_pre_activation(self, x):
        self._check(x)
        return _C.linear(x, self.weight, self.bias, "none")

    def _to_keras_layout(self, name, array):
        return array.T.copy() if name == "weight" else array

    def _from_keras_layout(self, name, array):
        return array.T if name == "weight" else array

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self._activation_config(),
                "use_bias": self.use_bias}

    def extra_repr(self):
        return f"name={self.name!r}, units={self.units}, activation={self.activation_name!r}"


class Activation(_ActivatedLayer):
    """Applies an activation by name ('relu', 'softmax', ...) or a callable."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self._set_activation(activation)

    def forward_pre_activation(self, x):
        return x

    def get_config(self):
        return {**super().get_config(), "activation": self._activation_config()}


class Dropout(Layer):
    """Zeroes inputs with probability `rate` in training (scaling the rest by 1 / (1 - rate)); identity otherwise."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0.0 <= rate < 1.0:
            raise ValueError(f"Dropout: rate must be a number in [0, 1), got {rate!r}")
        if seed is not None:
            raise NotImplementedError("Dropout: per-layer seeds are not supported; use ember.manual_seed")
        self.rate = float(rate)

    def forward(self, x):
        return F.dropout(x, self.rate, self.training)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1 * d2 * ...), in channels-last order as in Keras."""

    def forward(self, x):
        if x.ndim == 1:
            return x.reshape(x.shape[0], 1)
        return x.reshape(x.shape[0], -1)


class Reshape(Layer):
    """Reshapes each sample to `target_shape` (one entry may be -1)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(size) for size in target_shape)

    def forward(self, x):
        return x.reshape((x.shape[0],) + self.target_shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class Embedding(Layer):
    """Integer indices (N, ...) in [0, input_dim) -> vectors (N, ..., output_dim); weight is (input_dim, output_dim)."""

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", mask_zero=False, input_length=None,
                 **kwargs):
        super().__init__(**kwargs)
        for what, value in (("input_dim", input_dim), ("output_dim", output_dim)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"Embedding: {what} must be a positive int, got {value!r}")
        if mask_zero:
            raise NotImplementedError("Embedding: mask_zero=True is not supported by ember.keras")
        self.input_dim, self.output_dim = input_dim, output_dim
        self.embeddings_initializer = initializers.check(embeddings_initializer, "Embedding")

    def build(self, input_shape):
        self.weight = Parameter(_C.empty(self.input_dim, self.output_dim))
        initializers.initialize(self.weight, self.embeddings_initializer)
        self.built = True

    def forward(self, x):
        if x.dtype != _C.dtype.int64:
            x = x.to(_C.dtype.int64)
        return F.embedding(x, self.weight)

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim}


def _channels_first(x):
    """(N, ..., C) -> (N, C, ...) as a view (BatchNorm's fused op normalises dim 1)."""
    order = (0, x.ndim - 1) + tuple(range(1, x.ndim - 1))
    return x.permute(*order)


def _channels_last(x):
    order = (0,) + tuple(range(2, x.ndim)) + (1,)
    return x.permute(*order)


class BatchNormalization(Layer):
    """Normalises the last axis over the batch (and spatial axes); moving averages with Keras' momentum 0.99."""

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, **kwargs):
        super().__init__(**kwargs)
        if axis != -1:
            raise NotImplementedError(f"BatchNormalization: only axis=-1 (channels last) is supported, got {axis}")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"BatchNormalization: momentum must be in [0, 1], got {momentum}")
        if not epsilon > 0:
            raise ValueError(f"BatchNormalization: epsilon must be positive, got {epsilon}")
        self.axis, self.momentum, self.epsilon = axis, float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)

    def build(self, input_shape):
        channels = input_shape[-1]
        if len(input_shape) < 2 or channels is None:
            raise ValueError(f"BatchNormalization '{self.name}': needs a known last dimension, got {input_shape}")
        self.register_parameter("weight", Parameter(_C.ones(channels)) if self.scale else None)
        self.register_parameter("bias", Parameter(_C.zeros(channels)) if self.center else None)
        self.register_buffer("running_mean", _C.zeros(channels))
        self.register_buffer("running_var", _C.ones(channels))
        self.channels = channels
        self.built = True

    def forward(self, x):
        if x.ndim < 2 or x.shape[-1] != self.channels:
            raise self._incompatible(x, f"axis -1 of the input to have value {self.channels}")
        channels_first = x if x.ndim == 2 else _channels_first(x)
        # ember/PyTorch momentum weighs the new batch: 1 - Keras' momentum
        y = F.batch_norm(channels_first, self.running_mean, self.running_var, self.weight, self.bias,
                         self.training, 1.0 - self.momentum, self.epsilon)
        return y if x.ndim == 2 else _channels_last(y)

    def _weight_items(self):
        items = [("weight", self.weight), ("bias", self.bias), ("running_mean", self.running_mean),
                 ("running_var", self.running_var)]
        return [(name, tensor) for name, tensor in items if tensor is not None]

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale}


class LayerNormalization(Layer):
    """Normalises each sample over the last axis (Keras' default epsilon 1e-3)."""

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, **kwargs):
        super().__init__(**kwargs)
        if axis != -1:
            raise NotImplementedError(f"LayerNormalization: only axis=-1 is supported, got {axis}")
        self.epsilon, self.center, self.scale = float(epsilon), bool(center), bool(scale)

    def build(self, input_shape):
        self.channels = input_shape[-1]
        self.register_parameter("weight", Parameter(_C.ones(self.channels)) if self.scale else None)
        self.register_parameter("bias", Parameter(_C.zeros(self.channels)) if self.center else None)
        self.built = True

    def forward(self, x):
        return F.layer_norm(x, (self.channels,), self.weight, self.bias, self.epsilon)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon, "center": self.center, "scale": self.scale}

