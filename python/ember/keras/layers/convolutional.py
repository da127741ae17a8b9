"""Keras convolution and pooling layers on channels-last images (N, H, W, C). Each layer views its input as
(N, C, H, W) for ember's conv/pool ops and returns a channels-last view of the result: consecutive conv and pool
layers pass views, never copies (a permute of a permute is the original contiguous tensor). Keras' 'same' padding
(extra row/column at the bottom/right when the total is odd, any stride) is computed per input size."""
import math

from ... import _C
from ...nn import Parameter
from .. import initializers
from .base import Layer, as_pair
from .core import _ActivatedLayer

__all__ = ["Conv2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D"]


def _check_padding(padding, owner):
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"{owner}: padding must be 'valid' or 'same', got {padding!r}")
    return padding.lower()


def _same_padding(size, window, stride):
    """(before, after) padding so that the output has ceil(size / stride) positions, as TensorFlow pads."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


def _pads_for(x_nchw, window, strides, padding):
    """(top, bottom, left, right) for 'same' padding of an (N, C, H, W) input; zeros for 'valid'."""
    if padding == "valid":
        return (0, 0, 0, 0)
    top, bottom = _same_padding(x_nchw.shape[2], window[0], strides[0])
    left, right = _same_padding(x_nchw.shape[3], window[1], strides[1])
    return top, bottom, left, right


def _check_image(layer, x, channels=None):
    if x.ndim != 4:
        raise layer._incompatible(x, "a 4-D channels-last input (batch, height, width, channels)")
    if channels is not None and x.shape[3] != channels:
        raise layer._incompatible(x, f"axis -1 of the input to have value {channels} (channels last)")


class Conv2D(_ActivatedLayer):
    """2-D convolution: (N, H, W, C_in) -> (N, H', W', filters); weight is (filters, C_in, kh, kw)."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", activation=None, use_bias=True,
                 dilation_rate=1, kernel_initializer="glorot_uniform", bias_initializer="zeros", input_shape=None,
                 data_format=None, **kwargs):
        super().__init__(input_shape=input_shape, **kwargs)
        if data_format not in (None, "channels_last"):
            raise NotImplementedError(f"Conv2D: only data_format='channels_last' is supported, got {data_format!r}")
        if not isinstance(filters, int) or isinstance(filters, bool) or filters <= 0:
            raise ValueError(f"Conv2D: filters must be a positive int, got {filters!r}")
        self.filters = filters
        self.kernel_size = as_pair(kernel_size, "Conv2D", "kernel_size")
        self.strides = as_pair(strides, "Conv2D", "strides")
        self.dilation_rate = as_pair(dilation_rate, "Conv2D", "dilation_rate")
        self.padding = _check_padding(padding, "Conv2D")
        self.use_bias = bool(use_bias)
        self._set_activation(activation)
        self._fused_activation = "relu" if self.activation_name == "relu" else None
        self.kernel_initializer = initializers.check(kernel_initializer, "Conv2D")
        self.bias_initializer = initializers.check(bias_initializer, "Conv2D")
        self.in_channels = None

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(f"Conv2D '{self.name}': expects channels-last images (batch, height, width, channels) "
                             f"with known channels, got input shape {input_shape}")
        self.in_channels = input_shape[-1]
        self.weight = Parameter(_C.empty(self.filters, self.in_channels, *self.kernel_size))
        initializers.initialize(self.weight, self.kernel_initializer)
        if self.use_bias:
            self.bias = Parameter(_C.empty(self.filters))
            initializers.initialize(self.bias, self.bias_initializer)
        else:
            self.register_parameter("bias", None)
        self.built = True

    def _effective_window(self):
        return tuple((k - 1) * d + 1 for k, d in zip(self.kernel_size, self.dilation_rate))

    def _convolve(self, x, activation=None):
        _check_image(self, x, self.in_channels)
        x = x.permute(0, 3, 1, 2)
        window = self._effective_window()
        top, bottom, left, right = _pads_for(x, window, self.strides, self.padding)
        if top == bottom and left == right:
            padding = (top, left)
        else:
            x = _C.constant_pad(x, [left, right, top, bottom], 0.0)
            padding = (0, 0)
        if x.shape[2] + 2 * padding[0] < window[0] or x.shape[3] + 2 * padding[1] < window[1]:
            raise self._incompatible(x.permute(0, 2, 3, 1), f"images of at least {window} pixels for a "
                                     f"{self.kernel_size} kernel with padding='valid'")
        return _C.conv2d(x, self.weight, self.bias, self.strides, padding, self.dilation_rate, 1, activation)

    def forward(self, x):
        if self._fused_activation is not None:
            return self._convolve(x, self._fused_activation).permute(0, 2, 3, 1)
        return self.activation(self._convolve(x)).permute(0, 2, 3, 1)

    def forward_pre_activation(self, x):
        return self._convolve(x).permute(0, 2, 3, 1)

    def _to_keras_layout(self, name, array):
        return array.transpose(2, 3, 1, 0).copy() if name == "weight" else array     # (kh, kw, C_in, filters)

    def _from_keras_layout(self, name, array):
        return array.transpose(3, 2, 0, 1) if name == "weight" else array

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding, "dilation_rate": list(self.dilation_rate),
                "activation": self._activation_config(), "use_bias": self.use_bias}

    def extra_repr(self):
        return (f"name={self.name!r}, filters={self.filters}, kernel_size={self.kernel_size}, "
                f"strides={self.strides}, padding={self.padding!r}, activation={self.activation_name!r}")


class _Pooling2D(Layer):
    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        if data_format not in (None, "channels_last"):
            raise NotImplementedError(f"{owner}: only data_format='channels_last' is supported")
        self.pool_size = as_pair(pool_size, owner, "pool_size")
        self.strides = self.pool_size if strides is None else as_pair(strides, owner, "strides")
        self.padding = _check_padding(padding, owner)

    def forward(self, x):
        _check_image(self, x)
        x = x.permute(0, 3, 1, 2)
        pads = _pads_for(x, self.pool_size, self.strides, self.padding)
        if x.shape[2] + pads[0] + pads[1] < self.pool_size[0] or x.shape[3] + pads[2] + pads[3] < self.pool_size[1]:
            raise self._incompatible(x.permute(0, 2, 3, 1), f"images of at least {self.pool_size} pixels")
        return self._pool(x, pads).permute(0, 2, 3, 1)

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "strides": list(self.strides),
                "padding": self.padding}


class MaxPooling2D(_Pooling2D):
    """Maximum over pool_size windows (N, H, W, C) -> (N, H', W', C); 'same' pads with -inf."""

    def _pool(self, x, pads):
        top, bottom, left, right = pads
        if any(pads):
            x = _C.constant_pad(x, [left, right, top, bottom], float("-inf"))
        return _C.max_pool2d(x, self.pool_size, self.strides)


class AveragePooling2D(_Pooling2D):
    """Mean over pool_size windows; with 'same' padding the mean is over the window's real pixels only (as Keras)."""

    def _pool(self, x, pads):
        if not any(pads):
            return _C.avg_pool2d(x, self.pool_size, self.strides)
        top, bottom, left, right = pads
        padded = _C.constant_pad(x, [left, right, top, bottom], 0.0)
        ones = _C.constant_pad(_C.ones(1, 1, x.shape[2], x.shape[3]), [left, right, top, bottom], 0.0)
        coverage = _C.avg_pool2d(ones, self.pool_size, self.strides)     # the share of real pixels per window
        return _C.avg_pool2d(padded, self.pool_size, self.strides) / coverage


class GlobalAveragePooling2D(Layer):
    """(N, H, W, C) -> (N, C): the mean over each channel's pixels (keepdims=True keeps (N, 1, 1, C))."""

    def __init__(self, keepdims=False, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise NotImplementedError("GlobalAveragePooling2D: only data_format='channels_last' is supported")
        self.keepdims = bool(keepdims)

    def forward(self, x):
        _check_image(self, x)
        return x.mean(dim=(1, 2), keepdim=self.keepdims)

    def get_config(self):
        return {**super().get_config(), "keepdims": self.keepdims}


class GlobalMaxPooling2D(GlobalAveragePooling2D):
    """(N, H, W, C) -> (N, C): the maximum over each channel's pixels."""

    def forward(self, x):
        _check_image(self, x)
        return x.amax(dim=(1, 2), keepdim=self.keepdims)
