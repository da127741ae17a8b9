"""Default-initialisation helpers used by the layers' reset_parameters (PyTorch's rules: kaiming_uniform_ with
a = sqrt(5) for Linear weights, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for biases, N(0, 1) for Embedding).
Kept local to nn.modules so layers do not depend on ember.nn.init; all writes run under no_grad."""
import math

from .. import _C
from ..autograd import no_grad


def fan_in_and_fan_out(tensor):
    if tensor.ndim < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive_field = 1
    for size in tensor.shape[2:]:
        receptive_field *= size
    return tensor.shape[1] * receptive_field, tensor.shape[0] * receptive_field


def uniform_(tensor, low, high):
    with no_grad():
        sample = _C.rand(*tensor.shape, dtype=tensor.dtype) * (high - low) + low
        tensor.copy_(sample)
    return tensor


def normal_(tensor, mean=0.0, std=1.0):
    with no_grad():
        tensor.copy_(_C.randn(*tensor.shape, dtype=tensor.dtype) * std + mean)
    return tensor


def fill_(tensor, value):
    with no_grad():
        tensor.fill_(value)
    return tensor


def kaiming_uniform_(tensor, a=0.0):
    """U(-bound, bound) with bound = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + a^2)) (leaky_relu gain)."""
    fan_in, _ = fan_in_and_fan_out(tensor)
    gain = math.sqrt(2.0 / (1.0 + a * a))
    bound = gain * math.sqrt(3.0 / fan_in) if fan_in > 0 else 0.0
    return uniform_(tensor, -bound, bound)


def bias_uniform_(bias, weight):
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with weight's fan_in (0 bound when fan_in is 0)."""
    fan_in, _ = fan_in_and_fan_out(weight)
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return uniform_(bias, -bound, bound)
