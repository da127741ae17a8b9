"""Python-side parts of Tensor: construction from Python data, repr, conversions and the *_like factories.
Hot-path ops live in C++ (ember._C); nothing here runs per element."""
import builtins
import numbers

import numpy as np

from . import _C
from ._C import Tensor

_NUMPY_OF = {_C.dtype.float32: np.float32, _C.dtype.float64: np.float64, _C.dtype.int64: np.int64,
             _C.dtype.bool: np.bool_}


def _infer_numpy(data):
    """Converts Python data to a NumPy array with PyTorch's default dtypes (floats -> float32, ints -> int64)."""
    if isinstance(data, Tensor):
        return data.detach()._numpy_view()
    try:
        arr = np.asarray(data)
    except ValueError as exc:   # ragged nested sequences
        raise ValueError(f"tensor: expected a rectangular nested sequence of numbers ({exc})") from None
    if arr.dtype == object:
        raise TypeError(f"tensor: could not infer dtype of {type(data).__name__} (ragged or non-numeric data)")
    if arr.dtype.kind == "f":
        is_numpy = isinstance(data, (np.ndarray, np.generic))
        arr = arr.astype(np.float64 if (is_numpy and arr.dtype == np.float64) else np.float32, copy=False)
    elif arr.dtype.kind in "iu":
        arr = arr.astype(np.int64, copy=False)
    elif arr.dtype.kind == "b":
        pass
    else:
        raise TypeError(f"tensor: unsupported data of dtype {arr.dtype}")
    return arr


def tensor(data, dtype=None, requires_grad=False, device=None):
    """A new tensor holding a copy of `data` (nested lists, numbers, NumPy arrays or tensors)."""
    _check_device(device, "tensor")
    arr = _infer_numpy(data)
    if dtype is not None:
        arr = arr.astype(_NUMPY_OF[_C_dtype(dtype)])
    # Copied into ember's own storage (64-byte aligned, as every op's output), not NumPy's (16-byte aligned:
    # AVX-512 loads then straddle cache lines, ~30% slower on memory-bound ops).
    out = _C.from_numpy(arr if all(s >= 0 for s in arr.strides) else np.ascontiguousarray(arr)).clone()
    if requires_grad:
        out.requires_grad_(True)
    return out


def as_tensor(data, dtype=None):
    """Like `tensor`, but shares memory with NumPy arrays and tensors when no conversion is needed."""
    if isinstance(data, Tensor):
        return data if dtype is None else data.to(dtype)
    if isinstance(data, np.ndarray) and dtype is None and data.dtype in (np.float32, np.float64, np.int64, np.bool_):
        return _C.from_numpy(data if data.flags.c_contiguous or data.flags.f_contiguous else np.ascontiguousarray(data))
    return tensor(data, dtype=dtype)


def _C_dtype(d):
    if isinstance(d, _C.dtype):
        return d
    return _C.zeros(0, dtype=d).dtype


def _check_device(device, op):
    if device is not None and str(device) != "cpu":
        raise ValueError(f"{op}: ember runs on the CPU only; got device={device!r}")


def arange(start, end=None, step=1, *, dtype=None, requires_grad=False, device=None):
    """Values from start to end (exclusive) by step; int64 when all arguments are ints, else float32."""
    _check_device(device, "arange")
    if end is None:
        start, end = 0, start
    for v in (start, end, step):
        if isinstance(v, Tensor):
            raise TypeError("arange: expected numbers, got a Tensor; use .item()")
    if dtype is None:
        integral = all(isinstance(v, numbers.Integral) for v in (start, end, step))
        dtype = _C.dtype.int64 if integral else _C.dtype.float32
    out = _C._arange(float(start), float(end), float(step), _C_dtype(dtype))
    if requires_grad:
        out.requires_grad_(True)
    return out


def randint(low, high=None, size=None, *, dtype=None):
    """Uniform integers in [low, high)."""
    if size is None and isinstance(high, (tuple, list)):   # randint(high, size), as torch.randint
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint: missing required argument 'size'")
    return _C._randint(int(low), int(high), tuple(size) if not isinstance(size, int) else (size,),
                       _C_dtype(dtype) if dtype is not None else _C.dtype.int64)


def zeros_like(x, *, dtype=None, requires_grad=False):
    return _C.zeros(x.shape, dtype=dtype or x.dtype, requires_grad=requires_grad)


def ones_like(x, *, dtype=None, requires_grad=False):
    return _C.ones(x.shape, dtype=dtype or x.dtype, requires_grad=requires_grad)


def empty_like(x, *, dtype=None, requires_grad=False):
    return _C.empty(x.shape, dtype=dtype or x.dtype, requires_grad=requires_grad)


def full_like(x, fill_value, *, dtype=None, requires_grad=False):
    return _C.full(x.shape, fill_value, dtype=dtype or x.dtype, requires_grad=requires_grad)


def rand_like(x, *, dtype=None):
    return _C.rand(x.shape, dtype=dtype or x.dtype)


def randn_like(x, *, dtype=None):
    return _C.randn(x.shape, dtype=dtype or x.dtype)


def is_tensor(obj):
    return isinstance(obj, Tensor)


def numel(x):
    return x.numel()


# ---- Tensor methods that are Python-level (not on any hot path)

_PRECISION, _LINEWIDTH, _THRESHOLD, _EDGEITEMS = 4, 80, 1000, 3


class _Formatter:
    """Chooses one format for all elements as PyTorch's printer does: integer-valued floats as `1.`, others
    fixed with 4 decimals, scientific when the magnitudes span more than 1e3 (or exceed 1e8, or go below 1e-4);
    every element right-aligned to the widest."""

    def __init__(self, arr):
        self.floating = arr.dtype.kind == "f"
        self.int_mode, self.sci_mode, self.width = True, False, 1
        flat = arr.reshape(-1)
        if not self.floating:
            for v in flat.tolist():
                self.width = max(self.width, len(str(v)))
            return
        finite = flat[np.isfinite(flat) & (flat != 0)].astype(np.float64)
        if finite.size == 0:
            return
        magnitudes = np.abs(finite)
        low, high = magnitudes.min(), magnitudes.max()
        self.int_mode = bool(np.all(finite == np.ceil(finite)))
        if self.int_mode:
            self.sci_mode = high / low > 1000.0 or high > 1.0e8
        else:
            self.sci_mode = high / low > 1000.0 or high > 1.0e8 or low < 1.0e-4
        for v in finite.tolist():
            if self.sci_mode:
                self.width = max(self.width, len(f"{v:.{_PRECISION}e}"))
            elif self.int_mode:
                self.width = max(self.width, len(f"{v:.0f}") + 1)
            else:
                self.width = max(self.width, len(f"{v:.{_PRECISION}f}"))

    def format(self, v):
        if not self.floating:
            text = str(v)
        elif self.sci_mode:
            text = f"{v:{self.width}.{_PRECISION}e}"
        elif self.int_mode:
            text = f"{v:.0f}" + ("" if v != v or v in (float("inf"), float("-inf")) else ".")
        else:
            text = f"{v:.{_PRECISION}f}"
        return " " * (self.width - len(text)) + text


def _summarized(arr):
    """The elements the printer shows: the first and last _EDGEITEMS along every dim."""
    if arr.ndim == 0:
        return arr
    if arr.shape[0] > 2 * _EDGEITEMS:
        arr = np.concatenate([arr[:_EDGEITEMS], arr[-_EDGEITEMS:]])
    return np.stack([_summarized(a) for a in arr]) if arr.ndim > 1 and arr.shape[0] else arr


def _body(arr, indent, summarize, fmt):
    if arr.ndim == 0:
        return fmt.format(arr.item())
    n = arr.shape[0]
    cut = summarize and n > 2 * _EDGEITEMS
    if arr.ndim == 1:
        items = arr.tolist()
        data = ([fmt.format(v) for v in items[:_EDGEITEMS]] + [" ..."] + [fmt.format(v) for v in items[-_EDGEITEMS:]]
                if cut else [fmt.format(v) for v in items])
        per_line = max(1, (_LINEWIDTH - indent) // (fmt.width + 2))
        lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    rows = range(n) if not cut else list(range(_EDGEITEMS)) + [None] + list(range(n - _EDGEITEMS, n))
    parts = ["..." if i is None else _body(arr[i], indent + 1, summarize, fmt) for i in rows]
    return "[" + ("," + "\n" * (arr.ndim - 1) + " " * (indent + 1)).join(parts) + "]"


def _repr(self):
    arr = self.detach()._numpy_view()
    prefix = "tensor("
    suffixes = []
    if arr.size == 0:
        body = "[]"
        if arr.ndim != 1:
            suffixes.append(f"size={tuple(arr.shape)}")
        if self.dtype != _C.dtype.float32:
            suffixes.append(f"dtype={self.dtype!r}")
    else:
        summarize = arr.size > _THRESHOLD
        body = _body(arr, len(prefix), summarize, _Formatter(_summarized(arr) if summarize else arr))
        if self.dtype not in (_C.dtype.float32, _C.dtype.int64, _C.dtype.bool):
            suffixes.append(f"dtype={self.dtype!r}")
    if self.grad_fn is not None:
        suffixes.append(f"grad_fn=<{self.grad_fn.name()}>")
    elif self.requires_grad:
        suffixes.append("requires_grad=True")
    text = prefix + body
    last_line = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:   # a suffix that would pass the line width goes on its own line
        if last_line + len(suffix) + 2 > _LINEWIDTH:
            text += ",\n" + " " * len(prefix) + suffix
            last_line = len(prefix) + len(suffix)
        else:
            text += ", " + suffix
            last_line += len(suffix) + 2
    return text + ")"


def _tolist(self):
    return self.detach()._numpy_view().tolist()


def _array(self, dtype=None, copy=None):
    arr = self.detach()._numpy_view()
    return arr.astype(dtype) if dtype is not None else arr


def _iter(self):
    if self.ndim == 0:
        raise TypeError("iteration over a 0-d tensor")
    return (self[i] for i in range(self.shape[0]))


def _bool(self):
    if self.numel() != 1:
        raise RuntimeError(f"Boolean value of Tensor with {self.numel()} elements is ambiguous")
    return builtins.bool(self.item())


def _scalar(kind):
    def convert(self):
        if self.numel() != 1:
            raise TypeError(f"only one element tensors can be converted to Python scalars (got {self.numel()})")
        return kind(self.item())
    return convert


def _index(self):
    if self.numel() != 1 or self.dtype != _C.dtype.int64:
        raise TypeError("only integer tensors of a single element can be converted to an index")
    return int(self.item())


def _new_tensor(self, data, dtype=None, requires_grad=False):
    return tensor(data, dtype=dtype or self.dtype, requires_grad=requires_grad)


def _new_zeros(self, *size, dtype=None, requires_grad=False):
    return _C.zeros(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)


def _new_ones(self, *size, dtype=None, requires_grad=False):
    return _C.ones(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)


def _new_full(self, size, fill_value, dtype=None, requires_grad=False):
    return _C.full(size, fill_value, dtype=dtype or self.dtype, requires_grad=requires_grad)


def _new_empty(self, *size, dtype=None, requires_grad=False):
    return _C.empty(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)


_C.dtype.__repr__ = _C.dtype.__str__ = lambda self: "ember." + self.name   # (a C++ .def would only overload)
Tensor.__repr__ = _repr
Tensor.__str__ = _repr
Tensor.tolist = _tolist
Tensor.__array__ = _array
Tensor.__iter__ = _iter
Tensor.__bool__ = _bool
Tensor.__float__ = _scalar(float)
Tensor.__int__ = _scalar(int)
Tensor.__index__ = _index
Tensor.new_tensor = _new_tensor
Tensor.new_zeros = _new_zeros
Tensor.new_ones = _new_ones
Tensor.new_full = _new_full
Tensor.new_empty = _new_empty
Tensor.__array_priority__ = 1000   # numpy defers to Tensor's reflected operators
