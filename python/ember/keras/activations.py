"""Keras activation names -> ember functions. `resolve` turns a name (or callable, or None) into (name, function);
names that ember.linear can fuse into its GEMM epilogue are listed in FUSABLE_IN_LINEAR."""
from .. import _C

__all__ = ["resolve", "get", "NAMES"]


def _identity(x):
    return x


def _softmax(x):
    return _C.softmax(x, -1, None)


def _log_softmax(x):
    return _C.log_softmax(x, -1, None)


def _leaky_relu(x):
    return _C.leaky_relu(x, 0.2)          # Keras' default negative slope


def _gelu(x):
    return _C.gelu(x, "none")


_FUNCTIONS = {
    "linear": _identity,
    "relu": _C.relu,
    "sigmoid": _C.sigmoid,
    "tanh": _C.tanh,
    "softmax": _softmax,
    "log_softmax": _log_softmax,
    "gelu": _gelu,
    "silu": _C.silu,
    "swish": _C.silu,
    "leaky_relu": _leaky_relu,
}
NAMES = tuple(sorted(_FUNCTIONS))
FUSABLE_IN_LINEAR = {"relu": "relu", "gelu": "gelu"}   # activation name -> the name ember._C.linear takes


def resolve(activation, owner="activation"):
    """(name, function) for a Keras activation: a name, None ('linear'), or any callable (name None)."""
    if activation is None:
        return "linear", _identity
    if isinstance(activation, str):
        function = _FUNCTIONS.get(activation.lower())
        if function is None:
            raise ValueError(f"{owner}: unknown activation {activation!r}; valid names: {', '.join(NAMES)}")
        return activation.lower(), function
    if callable(activation):
        return None, activation
    raise TypeError(f"{owner}: activation must be a name, a callable or None, got {type(activation).__name__}")


def get(activation):
    """The function of a Keras activation name (as keras.activations.get)."""
    return resolve(activation, "keras.activations.get")[1]
