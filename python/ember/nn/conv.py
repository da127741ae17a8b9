"""Conv1d and Conv2d layers with torch.nn's constructor, parameter names and shapes (weight (out, in/groups,
*kernel), bias (out)), default initialisation (kaiming_uniform_(a=sqrt(5)), bias U(+-1/sqrt(fan_in))) and repr.
Only padding_mode='zeros' is implemented; forward is one call into functional_conv."""
import math

from .. import _C
from . import _init_helpers as init
from . import functional_conv as F
from .modules.container import EPILOGUE_FUSABLE
from .modules.module import Module
from .parameter import Parameter

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _tuple(value, n, name, layer):
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, (tuple, list)) and
                                                                  all(isinstance(v, int) for v in value))):
        raise TypeError(f"{layer}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    if isinstance(value, int):
        return (value,) * n
    value = tuple(value)
    if len(value) != n:
        raise ValueError(f"{layer}: {name} must have {n} entries, got {value!r}")
    return value


class _ConvNd(Module):
    _spatial = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", device=None, dtype=None):
        super().__init__()
        layer, n = type(self).__name__, self._spatial
        if device is not None and str(device) != "cpu":
            raise ValueError(f"{layer}: ember runs on the CPU only; got device={device!r}")
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{layer}: {name} must be a positive int, got {value!r}")
        if not isinstance(groups, int) or groups <= 0:
            raise ValueError(f"{layer}: groups must be a positive integer, got {groups!r}")
        if in_channels % groups:
            raise ValueError(f"{layer}: in_channels ({in_channels}) must be divisible by groups ({groups})")
        if out_channels % groups:
            raise ValueError(f"{layer}: out_channels ({out_channels}) must be divisible by groups ({groups})")
        self.kernel_size = _tuple(kernel_size, n, "kernel_size", layer)
        self.stride = _tuple(stride, n, "stride", layer)
        self.dilation = _tuple(dilation, n, "dilation", layer)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{layer}: invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{layer}: padding='same' is not supported for strided convolutions")
            self.padding = padding
        else:
            self.padding = _tuple(padding, n, "padding", layer)
        if any(k <= 0 for k in self.kernel_size) or any(s <= 0 for s in self.stride) or \
                any(d <= 0 for d in self.dilation):
            raise ValueError(f"{layer}: kernel_size, stride and dilation must be positive, got kernel_size="
                             f"{self.kernel_size}, stride={self.stride}, dilation={self.dilation}")
        if not isinstance(self.padding, str) and any(p < 0 for p in self.padding):
            raise ValueError(f"{layer}: padding must be non-negative, got {self.padding}")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{layer}: padding_mode must be one of {_PADDING_MODES}, got {padding_mode!r}")
        if padding_mode != "zeros":
            raise NotImplementedError(f"{layer}: padding_mode={padding_mode!r} is not supported (only 'zeros')")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.padding_mode = padding_mode
        self.transposed = False
        self.output_padding = (0,) * n
        dtype = dtype or _C.dtype.float32
        self.weight = Parameter(_C.empty(out_channels, in_channels // groups, *self.kernel_size, dtype=dtype))
        if bias:
            self.bias = Parameter(_C.empty(out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            init.bias_uniform_(self.bias, self.weight)

    def _check_channels(self, input):
        rank = self._spatial + 2
        if input.ndim in (rank - 1, rank) and input.shape[-self._spatial - 1] != self.in_channels:
            raise ValueError(f"{self!r}: expected input with {self.in_channels} channels (dim "
                             f"{input.ndim - self._spatial - 1}), got input of shape {tuple(input.shape)}")

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self._spatial:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._spatial:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv1d(_ConvNd):
    """1-D convolution over (N, C_in, L) or (C_in, L) input."""
    _spatial = 1

    def forward(self, input):
        self._check_channels(input)
        return F.conv1d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Conv2d(_ConvNd):
    """2-D convolution over (N, C_in, H, W) or (C_in, H, W) input."""
    _spatial = 2

    def forward(self, input):
        self._check_channels(input)
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def _forward_fused(self, input, activation):
        self._check_channels(input)
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups,
                        activation=activation)


EPILOGUE_FUSABLE[Conv2d] = ("relu",)
