"""ember.nn.functional: the functional forms of the layers, activations and losses, with PyTorch's signatures.
Each function validates its arguments and makes one call into a C++ op where a fused one exists (layer_norm,
batch_norm, cross_entropy, nll_loss, embedding, pad, binary cross-entropy); the rest compose existing ops."""
import warnings

from .. import _C
from .._C import Tensor

__all__ = ["linear", "relu", "leaky_relu", "gelu", "silu", "sigmoid", "tanh", "softmax", "log_softmax", "dropout",
           "embedding", "layer_norm", "batch_norm", "one_hot", "pad", "mse_loss", "l1_loss", "huber_loss",
           "smooth_l1_loss", "cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits"]


def _check_tensor(value, op, name="input"):
    if not isinstance(value, Tensor):
        raise TypeError(f"{op}: {name} must be an ember.Tensor, got {type(value).__name__}")


def _maybe_inplace(input, result, inplace):
    """inplace=True writes the result into `input` (autograd-aware, via copy_) and returns it, as PyTorch."""
    if not inplace:
        return result
    input.copy_(result)
    return input


# ---- linear

def linear(input, weight, bias=None):
    """y = input @ weight.T + bias; weight is (out_features, in_features). Shapes and dtypes are checked in C++."""
    return _linear(input, weight, bias, "none")


def _linear(input, weight, bias, activation):
    """activation(linear(input, weight, bias)) with the activation ("none", "relu", "gelu", "gelu_tanh") in the
    GEMM's epilogue (nn.Sequential's Linear + ReLU / GELU)."""
    _check_tensor(input, "linear")
    _check_tensor(weight, "linear", "weight")
    if bias is not None:
        _check_tensor(bias, "linear", "bias")
    return _C.linear(input, weight, bias, activation)


# ---- activations

def relu(input, inplace=False):
    return _maybe_inplace(input, _C.relu(input), inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return _maybe_inplace(input, _C.leaky_relu(input, float(negative_slope)), inplace)


def gelu(input, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _C.gelu(input, approximate)


def silu(input, inplace=False):
    return _maybe_inplace(input, _C.silu(input), inplace)


def sigmoid(input):
    return _C.sigmoid(input)


def tanh(input):
    return _C.tanh(input)


def _softmax_dim(input, dim, op):
    if dim is not None:
        return dim
    warnings.warn(f"Implicit dimension choice for {op} has been deprecated. Change the call to include dim=X "
                  f"as an argument.", stacklevel=3)
    return 0 if input.ndim in (0, 1, 3) else 1


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    return _C.softmax(input, _softmax_dim(input, dim, "softmax"), dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    return _C.log_softmax(input, _softmax_dim(input, dim, "log_softmax"), dtype)


# ---- dropout, embedding, normalisation, padding, one_hot

def dropout(input, p=0.5, training=True, inplace=False):
    """Zeroes each element with probability p (mask from ember.rand) and scales the rest by 1 / (1 - p)."""
    _check_tensor(input, "dropout")
    if not isinstance(p, (int, float)) or isinstance(p, bool) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return _maybe_inplace(input, input * 0.0, inplace)
    keep = _C.rand(*input.shape, dtype=input.dtype) >= p
    scaled_mask = keep.to(input.dtype) * (1.0 / (1.0 - p))
    return _maybe_inplace(input, input * scaled_mask, inplace)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    """Rows of weight (num_embeddings, embedding_dim) at the int64 indices `input`."""
    if max_norm is not None:
        raise NotImplementedError("embedding: max_norm is not supported by ember")
    if scale_grad_by_freq:
        raise NotImplementedError("embedding: scale_grad_by_freq=True is not supported by ember")
    if sparse:
        raise NotImplementedError("embedding: sparse gradients are not supported by ember")
    _check_tensor(input, "embedding")
    _check_tensor(weight, "embedding", "weight")
    if padding_idx is not None:
        n = weight.shape[0]
        if not -n <= padding_idx < n:
            raise IndexError(f"embedding: padding_idx {padding_idx} must be within num_embeddings ({n})")
        padding_idx = padding_idx + n if padding_idx < 0 else padding_idx
    return _C.embedding(weight, input, padding_idx)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    return _C.layer_norm(input, tuple(normalized_shape), weight, bias, float(eps))


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Normalises each channel of an (N, C, *) input; training updates the running stats in place."""
    return _C.batch_norm(input, running_mean, running_var, weight, bias, bool(training),
                         0.0 if momentum is None else float(momentum), float(eps))


def pad(input, pad, mode="constant", value=None):
    """Pads the last len(pad) // 2 dims: pad = (left_last, right_last, left_second_last, ...). Constant mode."""
    if mode != "constant":
        raise NotImplementedError(f"pad: mode={mode!r} is not supported by ember (only 'constant')")
    return _C.constant_pad(input, [int(v) for v in pad], 0.0 if value is None else float(value))


def one_hot(tensor, num_classes=-1):
    """int64 one-hot encoding with a trailing dim of num_classes (inferred as max + 1 when -1)."""
    _check_tensor(tensor, "one_hot", "tensor")
    if tensor.dtype != _C.dtype.int64:
        raise TypeError(f"one_hot: expected an int64 tensor, got {tensor.dtype}")
    values = tensor.detach()._numpy_view()
    if values.size and values.min() < 0:
        raise ValueError("one_hot: class values must be non-negative")
    if num_classes == -1:
        if values.size == 0:
            raise ValueError("one_hot: can not infer total number of classes from empty tensor")
        num_classes = int(values.max()) + 1
    elif values.size and values.max() >= num_classes:
        raise ValueError(f"one_hot: class values must be smaller than num_classes ({num_classes}), "
                         f"got {int(values.max())}")
    classes = _C._arange(0.0, float(num_classes), 1.0, _C.dtype.int64)
    return (tensor.unsqueeze(-1) == classes).long()


# ---- losses

def _reduction(size_average, reduce, reduction, op="loss"):
    """The legacy size_average/reduce arguments folded into a reduction string, as PyTorch."""
    if size_average is None and reduce is None:
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"{op}: {reduction} is not a valid value for reduction (expected 'mean', 'sum' or "
                             f"'none')")
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _check_broadcast(a, b, op):
    for x, y in zip(reversed(a), reversed(b)):
        if x != y and 1 not in (x, y):
            raise ValueError(f"{op}: the target size {b} does not broadcast with the input size {a}")


def _pair(input, target, op):
    _check_tensor(input, op)
    _check_tensor(target, op, "target")
    if tuple(input.shape) != tuple(target.shape):
        _check_broadcast(tuple(input.shape), tuple(target.shape), op)
        warnings.warn(f"{op}: using a target size ({tuple(target.shape)}) that is different to the input size "
                      f"({tuple(input.shape)}). This will likely lead to incorrect results due to broadcasting. "
                      f"Please ensure they have the same size.", stacklevel=3)


def _fusable(input, target, weight, reduction):
    """Whether a regression loss can run as ember's fused op: reduced, unweighted, same shape and dtype."""
    return weight is None and reduction != "none" and tuple(input.shape) == tuple(target.shape) \
        and input.dtype == target.dtype and input.is_floating_point()


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    _pair(input, target, "mse_loss")
    reduction = _reduction(size_average, reduce, reduction, "mse_loss")
    if _fusable(input, target, weight, reduction):
        return _C.mse_loss(input, target, reduction)   # one fused pass each way
    loss = (input - target) ** 2
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    _pair(input, target, "l1_loss")
    loss = (input - target).abs()
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, _reduction(size_average, reduce, reduction, "l1_loss"))


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta), with d = input - target."""
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    _pair(input, target, "huber_loss")
    reduction = _reduction(None, None, reduction, "huber_loss")
    if _fusable(input, target, weight, reduction):
        return _C.huber_loss(input, target, reduction, float(delta))   # one fused pass each way
    diff = (input - target).abs()
    loss = _C.where(diff < delta, diff * diff * 0.5, (diff - 0.5 * delta) * delta)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (beta = 0 gives the L1 loss)."""
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    _pair(input, target, "smooth_l1_loss")
    reduction = _reduction(size_average, reduce, reduction, "smooth_l1_loss")
    if beta > 0 and _fusable(input, target, None, reduction):
        return _C.huber_loss(input, target, reduction, float(beta), True)   # one fused pass each way
    diff = (input - target).abs()
    if beta == 0:
        loss = diff
    else:
        loss = _C.where(diff < beta, diff * diff * (0.5 / beta), diff - 0.5 * beta)
    return _reduce(loss, reduction)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                  label_smoothing=0.0):
    """Fused log_softmax + NLL. target: int64 class indices (N, d1, ...) or probabilities shaped like input."""
    return _C.cross_entropy(input, target, weight, _reduction(size_average, reduce, reduction, "cross_entropy"),
                            int(ignore_index), float(label_smoothing))


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    return _C.nll_loss(input, target, weight, _reduction(size_average, reduce, reduction, "nll_loss"),
                       int(ignore_index))


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """-w (y log x + (1 - y) log(1 - x)) with each log clamped to >= -100, as PyTorch."""
    loss = _C.binary_cross_entropy(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, _reduction(size_average, reduce, reduction, "binary_cross_entropy"))


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None, reduction="mean",
                                     pos_weight=None):
    """Sigmoid + BCE in one numerically stable formula; pos_weight broadcasts along the last (class) dim."""
    _check_tensor(input, "binary_cross_entropy_with_logits")
    if pos_weight is not None:
        _check_tensor(pos_weight, "binary_cross_entropy_with_logits", "pos_weight")
        try:
            pos_weight = _C.broadcast_to(pos_weight, input.shape)
        except (ValueError, RuntimeError) as exc:
            raise ValueError(f"binary_cross_entropy_with_logits: pos_weight of shape {tuple(pos_weight.shape)} does "
                             f"not broadcast to the input shape {tuple(input.shape)}") from exc
    loss = _C.binary_cross_entropy_with_logits(input, target, pos_weight)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, _reduction(size_average, reduce, reduction, "binary_cross_entropy_with_logits"))

from .functional_conv import (conv1d, conv2d, max_pool1d, max_pool2d, avg_pool1d, avg_pool2d,  # noqa: E402
                              adaptive_avg_pool2d, adaptive_max_pool2d)
from .functional_attention import scaled_dot_product_attention, multi_head_attention_forward  # noqa: E402
