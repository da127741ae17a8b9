"""Floating-point checks with PyTorch's semantics, as functions and Tensor methods: isnan, isinf, isposinf, isneginf,
isfinite, isclose, allclose and nan_to_num. None of them is differentiable except nan_to_num (gradient 1 where the
value is kept)."""
import numpy as np

from ._C import Tensor, abs, dtype, logical_and, logical_or, where
from ._tensor import zeros_like, ones_like, full_like

_INF = float("inf")


def _check(input, name):
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}(): argument 'input' must be a Tensor, not {type(input).__name__}")


def isnan(input):
    _check(input, "isnan")
    return input != input   # integers and bools are never NaN


def isinf(input):
    _check(input, "isinf")
    if not input.is_floating_point():
        return zeros_like(input, dtype=dtype.bool)
    return abs(input) == _INF


def isposinf(input):
    _check(input, "isposinf")
    if not input.is_floating_point():
        return zeros_like(input, dtype=dtype.bool)
    return input == _INF


def isneginf(input):
    _check(input, "isneginf")
    if not input.is_floating_point():
        return zeros_like(input, dtype=dtype.bool)
    return input == -_INF


def isfinite(input):
    _check(input, "isfinite")
    if not input.is_floating_point():
        return ones_like(input, dtype=dtype.bool)
    return abs(input) < _INF   # False for inf and NaN


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """|input - other| <= atol + rtol * |other| elementwise, with equal values (infinities included) always close
    and NaN close to NaN only when equal_nan."""
    _check(input, "isclose")
    _check(other, "isclose")
    if input.dtype != other.dtype:
        raise TypeError(f"isclose(): input ({input.dtype}) and other ({other.dtype}) must have the same dtype")
    if rtol < 0 or atol < 0:
        raise ValueError(f"isclose(): rtol and atol must be non-negative, got rtol={rtol}, atol={atol}")
    close = input == other
    if input.is_floating_point():
        finite = logical_and(isfinite(input), isfinite(other))
        close = logical_or(close, logical_and(finite, abs(input - other) <= atol + rtol * abs(other)))
        if equal_nan:
            close = logical_or(close, logical_and(isnan(input), isnan(other)))
    elif rtol or atol:
        close = abs(input - other) <= atol + rtol * abs(other)
    return close


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """True when every element of input is close to other's (isclose, broadcast); a Python bool."""
    return bool(isclose(input, other, rtol, atol, equal_nan).all())


def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    """NaN -> nan, +inf -> posinf (default: the dtype's largest finite value), -inf -> neginf (default: its
    lowest)."""
    _check(input, "nan_to_num")
    if not input.is_floating_point():
        return input.clone()
    info = np.finfo(np.float32 if input.dtype == dtype.float32 else np.float64)
    posinf = float(info.max) if posinf is None else posinf
    neginf = float(info.min) if neginf is None else neginf
    out = where(isnan(input), full_like(input, nan), input)
    out = where(isposinf(input), full_like(input, posinf), out)
    return where(isneginf(input), full_like(input, neginf), out)


for _f in (isnan, isinf, isposinf, isneginf, isfinite, isclose, allclose, nan_to_num):
    setattr(Tensor, _f.__name__, _f)
