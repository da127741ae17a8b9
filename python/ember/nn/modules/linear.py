"""Linear and Identity layers (PyTorch's parameter names, shapes and default initialisation)."""
import math

from ... import _C
from .. import functional as F
from .. import _init_helpers as init
from ..parameter import Parameter
from .container import EPILOGUE_FUSABLE
from .module import Module


class Identity(Module):
    """Returns its input unchanged; accepts and ignores any constructor arguments, as PyTorch."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Linear(Module):
    """y = x @ weight.T + bias, weight (out_features, in_features), bias (out_features)."""

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        if device is not None and str(device) != "cpu":
            raise ValueError(f"Linear: ember runs on the CPU only; got device={device!r}")
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"Linear: {name} must be a non-negative int, got {value!r}")
        self.in_features = in_features
        self.out_features = out_features
        dtype = dtype or _C.dtype.float32
        self.weight = Parameter(_C.empty(out_features, in_features, dtype=dtype))
        if bias:
            self.bias = Parameter(_C.empty(out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            init.bias_uniform_(self.bias, self.weight)

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def _forward_fused(self, input, activation):
        return F._linear(input, self.weight, self.bias, activation)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


EPILOGUE_FUSABLE[Linear] = ("relu", "gelu", "gelu_tanh")
