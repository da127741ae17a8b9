"""ember: a CPU-first deep-learning framework with PyTorch's API, a fast C++ core and Keras convenience."""
from . import _C
from ._C import (Tensor, dtype, from_numpy, empty, zeros, ones, full, linspace, eye, manual_seed, initial_seed,
                 get_rng_state, set_rng_state, rand, randn, randperm, multinomial, set_num_threads, get_num_threads, is_grad_enabled,
                 add, sub, mul, div, pow, maximum, minimum, eq, ne, lt, le, gt, ge, logical_and, logical_or, logical_not,
                 multiply, subtract, divide, true_divide, neg, exp, log, sqrt, rsqrt, abs, tanh, sigmoid, relu, silu, sign,
                 clamp, clip, where, masked_fill, tril, triu, clone, reshape, permute, transpose, swapaxes, t, broadcast_to, squeeze,
                 unsqueeze, flatten, as_strided, select, narrow, sum, mean)
from ._C import matmul, bmm
from ._C import use_deterministic_algorithms, are_deterministic_algorithms_enabled
from ._tensor import (tensor, as_tensor, arange, randint, zeros_like, ones_like, empty_like, full_like, rand_like,
                      randn_like, is_tensor, numel)
from ._float_checks import isnan, isinf, isposinf, isneginf, isfinite, isclose, allclose, nan_to_num
from ._C import (cat, concatenate, concat, stack, split, chunk, unbind, index_select, masked_select, gather, scatter_add,
                 nonzero)
from ._C import (max, min, amax, amin, argmax, argmin, topk, sort, argsort, cumsum, var, std, softmax, log_softmax, logsumexp, all, any)
from .autograd import no_grad, enable_grad, set_grad_enabled, inference_mode
from . import autograd
from ._C import from_dlpack
from .io import save, load
from . import data
from . import nn, optim
from ._cpp import get_include, get_library_dir, get_cmake_dir

__version__ = _C.build_info()["version"]

bool = dtype.bool
int64 = long = dtype.int64
float32 = float = dtype.float32
float64 = double = dtype.float64


def config():
    """Build and runtime configuration: version, compiler, the SIMD level in use, threads."""
    info = dict(_C.build_info())
    info["num_threads"] = _C.get_num_threads()
    return info
