"""ember.nn.init: PyTorch's parameter initialisers. Each fills a tensor in place under no_grad with values drawn
from ember's RNG (ember.rand / ember.randn, so ember.manual_seed makes them reproducible) and returns it."""
import math
import warnings

import numpy as np

from .. import _C
from ..autograd import no_grad

__all__ = ["calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_",
           "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_"]

_LINEAR_FAMILY = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for a nonlinearity: 1 (linear, conv, sigmoid), 5/3 (tanh), sqrt(2) (relu),
    sqrt(2 / (1 + slope^2)) (leaky_relu, slope = param or 0.01), 3/4 (selu)."""
    if nonlinearity in _LINEAR_FAMILY or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            negative_slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _check_floating(tensor, name):
    if not isinstance(tensor, _C.Tensor):
        raise TypeError(f"{name}: expected an ember.Tensor, got {type(tensor).__name__}")
    if tensor.dtype not in (_C.dtype.float32, _C.dtype.float64):
        raise TypeError(f"{name}: expected a float32 or float64 tensor, got {tensor.dtype}")


def _fill_from(tensor, values):
    """Copies `values` (a tensor of the same shape) into `tensor` in place, without autograd."""
    with no_grad():
        tensor.copy_(values)
    return tensor


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fills with values drawn uniformly from [a, b)."""
    _check_floating(tensor, "uniform_")
    _no_generator(generator, "uniform_")
    if tensor.numel() == 0:
        return tensor
    with no_grad():
        return _fill_from(tensor, _C.rand(tuple(tensor.shape), dtype=tensor.dtype) * (b - a) + a)


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fills with values drawn from N(mean, std^2)."""
    _check_floating(tensor, "normal_")
    _no_generator(generator, "normal_")
    if std < 0:
        raise ValueError(f"normal_: expected std >= 0, got {std}")
    if tensor.numel() == 0:
        return tensor
    with no_grad():
        return _fill_from(tensor, _C.randn(tuple(tensor.shape), dtype=tensor.dtype) * std + mean)


def _normal_cdf(x):
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _normal_ppf(p):
    """The standard normal quantile function, vectorised (Acklam's rational approximation, relative error
    below 1.2e-9), for p in (0, 1)."""
    a = (-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02,
         -3.066479806614716e+01, 2.506628277459239e+00)
    b = (-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01,
         -1.328068155288572e+01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00,
         4.374664141464968e+00, 2.938163982698783e+00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00)
    p = np.clip(p, 1e-300, 1 - 1e-16)
    out = np.empty_like(p)
    low, high = p < 0.02425, p > 1 - 0.02425
    mid = ~(low | high)
    q = p[mid] - 0.5
    r = q * q
    out[mid] = ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
                (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1))
    for mask, sign, tail in ((low, 1.0, p[low]), (high, -1.0, 1 - p[high])):
        q = np.sqrt(-2 * np.log(tail))
        out[mask] = sign * ((((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
                            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1))
    return out


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """Fills with values from N(mean, std^2) truncated to [a, b] (inverse-CDF sampling of uniforms from ember's
    RNG, then clamped to [a, b])."""
    _check_floating(tensor, "trunc_normal_")
    _no_generator(generator, "trunc_normal_")
    if not a < b:
        raise ValueError(f"trunc_normal_: expected a < b, got a={a}, b={b}")
    if std <= 0:
        raise ValueError(f"trunc_normal_: expected std > 0, got {std}")
    if (mean < a - 2 * std) or (mean > b + 2 * std):
        warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
                      "The distribution of values may be incorrect.", stacklevel=2)
    if tensor.numel() == 0:
        return tensor
    low, high = (a - mean) / std, (b - mean) / std
    flip = low > 0   # sample the mirrored interval so that both bounds sit in the accurate lower tail
    if flip:
        low, high = -high, -low
    cdf_low, cdf_high = _normal_cdf(low), _normal_cdf(high)
    uniforms = _C.rand(tuple(tensor.shape), dtype=_C.dtype.float64).numpy()
    standard = _normal_ppf(cdf_low + uniforms * (cdf_high - cdf_low))
    if flip:
        standard = -standard
    values = np.clip(mean + std * standard, a, b)
    return _fill_from(tensor, _C.from_numpy(np.ascontiguousarray(values, dtype=_numpy_dtype(tensor))))


def constant_(tensor, val):
    """Fills with the value val."""
    _check_floating(tensor, "constant_")
    with no_grad():
        tensor.fill_(val)
    return tensor


def ones_(tensor):
    return constant_(tensor, 1.0)


def zeros_(tensor):
    return constant_(tensor, 0.0)


def eye_(tensor):
    """Fills a 2-D tensor with the identity (ones on the main diagonal, zeros elsewhere)."""
    _check_floating(tensor, "eye_")
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    rows, cols = tensor.shape
    return _fill_from(tensor, _C.eye(rows, cols, dtype=tensor.dtype))


def _calculate_fan_in_and_fan_out(tensor):
    """(fan_in, fan_out) of a weight: (size(1), size(0)) times the receptive field (the product of dims 2:)."""
    if tensor.dim() < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive_field = 1
    for size in tuple(tensor.shape)[2:]:
        receptive_field *= size
    return tensor.shape[1] * receptive_field, tensor.shape[0] * receptive_field


def _calculate_correct_fan(tensor, mode):
    mode = mode.lower()
    valid_modes = ["fan_in", "fan_out"]
    if mode not in valid_modes:
        raise ValueError(f"Mode {mode} not supported, please use one of {valid_modes}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """Glorot uniform: U(-bound, bound) with bound = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """Glorot normal: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def _kaiming_std(tensor, a, mode, nonlinearity, name):
    if 0 in tuple(tensor.shape):
        warnings.warn(f"Initializing zero-element tensors is a no-op ({name})", stacklevel=3)
        return None
    fan = _calculate_correct_fan(tensor, mode)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He uniform: U(-bound, bound) with bound = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a)."""
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_uniform_")
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He normal: N(0, std^2) with std = gain / sqrt(fan)."""
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_normal_")
    if std is None:
        return tensor
    return normal_(tensor, 0.0, std, generator)


def _no_generator(generator, name):
    if generator is not None:
        raise NotImplementedError(f"{name}: a generator argument is not supported; ember uses one global RNG "
                                  "(seed it with ember.manual_seed)")


def _numpy_dtype(tensor):
    return np.float64 if tensor.dtype == _C.dtype.float64 else np.float32
