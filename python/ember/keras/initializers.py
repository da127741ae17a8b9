"""Keras weight initializers by name, applied in place to ember Parameters with ember.nn.init (so ember.manual_seed
makes them reproducible). Fans are computed as Keras does; ember's (out, in, kh, kw) layout gives the same values."""
import math

from ..nn import init

__all__ = ["initialize", "NAMES"]

_TRUNCATED_NORMAL_STD_CORRECTION = 0.87962566103423978   # std of a unit normal truncated to [-2, 2]


def _fans(tensor):
    if tensor.ndim < 2:
        return tensor.shape[0], tensor.shape[0]
    receptive = 1
    for size in tensor.shape[2:]:
        receptive *= size
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _variance_scaling(tensor, scale, mode, distribution):
    fan_in, fan_out = _fans(tensor)
    fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[mode]
    variance = scale / max(1.0, fan)
    if distribution == "uniform":
        limit = math.sqrt(3.0 * variance)
        init.uniform_(tensor, -limit, limit)
    else:
        std = math.sqrt(variance) / _TRUNCATED_NORMAL_STD_CORRECTION
        init.trunc_normal_(tensor, 0.0, std, -2.0 * std, 2.0 * std)


_INITIALIZERS = {
    "glorot_uniform": lambda t: _variance_scaling(t, 1.0, "fan_avg", "uniform"),
    "glorot_normal": lambda t: _variance_scaling(t, 1.0, "fan_avg", "normal"),
    "he_uniform": lambda t: _variance_scaling(t, 2.0, "fan_in", "uniform"),
    "he_normal": lambda t: _variance_scaling(t, 2.0, "fan_in", "normal"),
    "lecun_uniform": lambda t: _variance_scaling(t, 1.0, "fan_in", "uniform"),
    "lecun_normal": lambda t: _variance_scaling(t, 1.0, "fan_in", "normal"),
    "random_uniform": lambda t: init.uniform_(t, -0.05, 0.05),
    "uniform": lambda t: init.uniform_(t, -0.05, 0.05),
    "random_normal": lambda t: init.normal_(t, 0.0, 0.05),
    "zeros": init.zeros_,
    "ones": init.ones_,
}
NAMES = tuple(_INITIALIZERS)


def check(name, owner):
    """Validates an initializer name (or callable) when a layer is created, long before it is used."""
    if callable(name):
        return name
    if not isinstance(name, str) or name.lower() not in _INITIALIZERS:
        raise ValueError(f"{owner}: unknown initializer {name!r}; valid names: {', '.join(NAMES)}")
    return name.lower()


def initialize(tensor, name):
    """Fills `tensor` in place with the named initializer (or calls a callable initializer(tensor))."""
    if callable(name):
        name(tensor)
    else:
        _INITIALIZERS[name](tensor)
