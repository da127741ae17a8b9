"""LayerNorm: normalises over the trailing `normalized_shape` dims (fused C++ forward and backward)."""
from ... import _C
from .. import functional as F
from .. import _init_helpers as init
from ..parameter import Parameter
from .module import Module


class LayerNorm(Module):
    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        if any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in self.normalized_shape):
            raise ValueError(f"LayerNorm: normalized_shape must be non-negative ints, got {normalized_shape!r}")
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        dtype = dtype or _C.dtype.float32
        if elementwise_affine:
            self.weight = Parameter(_C.empty(self.normalized_shape, dtype=dtype))
            if bias:
                self.bias = Parameter(_C.empty(self.normalized_shape, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        if self.weight is not None:
            init.fill_(self.weight, 1.0)
        if self.bias is not None:
            init.fill_(self.bias, 0.0)

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")
