"""What fit/evaluate/predict accept as data: NumPy arrays or ember tensors (x, y), or an iterable of (x, y) batches
such as an ember.data.DataLoader. Arrays are converted once; each epoch shuffles with ember's RNG (so
ember.manual_seed and ember.get_rng_state/set_rng_state cover it) by one gather, then batches are zero-copy views."""
import numpy as np

from .. import _C

__all__ = ["as_array", "ArrayBatches", "LoaderBatches", "is_batch_iterable"]


def as_array(data, owner, name):
    """A NumPy array for x or y (ember tensors are viewed, lists converted); rejects what cannot be a tensor."""
    if isinstance(data, _C.Tensor):
        return np.asarray(data)
    if isinstance(data, np.ndarray):
        array = data
    elif isinstance(data, (list, tuple)) or np.isscalar(data):
        try:
            array = np.asarray(data)
        except ValueError as exc:
            raise ValueError(f"{owner}: {name} is a ragged list and cannot be a tensor ({exc})") from None
    else:
        raise TypeError(f"{owner}: {name} must be a NumPy array or an ember.Tensor, got {type(data).__name__} "
                        f"(multiple inputs/outputs are not supported by ember.keras)")
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise TypeError(f"{owner}: {name} must hold numbers, got dtype {array.dtype}")
    if array.ndim == 0:
        raise ValueError(f"{owner}: {name} must have a batch dimension, got a scalar")
    return array


def as_input_array(x, owner):
    """x as float32 (or int64 for integer inputs, e.g. token ids), C-contiguous."""
    x = as_array(x, owner, "x")
    dtype = np.int64 if np.issubdtype(x.dtype, np.integer) else np.float32
    return np.ascontiguousarray(x, dtype=dtype)


def is_batch_iterable(x):
    return (not isinstance(x, (np.ndarray, _C.Tensor, list, tuple, dict, str)) and hasattr(x, "__iter__")
            and hasattr(x, "__len__"))


def _to_tensor(array):
    return _C.from_numpy(array)


class ArrayBatches:
    """Batches of (x tensor, y tensor, y array) from in-memory arrays."""

    def __init__(self, x, y, batch_size, shuffle=False):
        self.x, self.y, self.batch_size, self.shuffle = x, y, batch_size, shuffle
        self.size = len(x)

    def __len__(self):
        return -(-self.size // self.batch_size)

    def __iter__(self):
        x, y = self.x, self.y
        if self.shuffle:
            order = np.asarray(_C.randperm(self.size))
            x = x[order]
            y = y[order] if y is not None else None
        size, step = self.size, self.batch_size
        for start in range(0, size, step):
            stop = start + step
            y_batch = y[start:stop] if y is not None else None
            yield _to_tensor(x[start:stop]), (_to_tensor(y_batch) if y_batch is not None else None), y_batch


class LoaderBatches:
    """Batches from an iterable of (x, y) pairs (ember.data.DataLoader or any re-iterable with len)."""

    def __init__(self, loader, owner, prepare_y):
        self.loader, self.owner, self.prepare_y = loader, owner, prepare_y

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            if not isinstance(batch, (tuple, list)) or len(batch) != 2:
                raise ValueError(f"{self.owner}: each batch of the data iterable must be an (x, y) pair")
            x, y = batch
            x = x if isinstance(x, _C.Tensor) else _to_tensor(as_input_array(x, self.owner))
            y_array = self.prepare_y(as_array(y, self.owner, "y"))
            yield x, _to_tensor(y_array), y_array
