"""DataLoader and default_collate with torch.utils.data's names. Array-backed datasets (TensorDataset, NumPy
arrays, tensors, Subsets of them, char windows) are batched with one fancy-index per array, never a Python loop
over samples; other datasets go through __getitem__ and a collate function."""
import collections.abc
import math
import numbers

import numpy as np

from .. import _C
from ._random import check_seed
from .dataset import Subset, to_supported_array


def _to_tensor(arr):
    """An ember tensor owning (or sharing) a C-contiguous copy of a NumPy array of any numeric dtype."""
    arr = to_supported_array(np.asarray(arr), "DataLoader", "batch")
    return _C.from_numpy(arr if arr.flags.c_contiguous else np.array(arr, order="C"))


def _stack(arrays, what):
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ValueError(f"default_collate: {what} in a batch must all have the same shape, got {sorted(shapes)}")
    return _to_tensor(np.stack(arrays))


def default_collate(batch):
    """Merges a list of samples into a batch as PyTorch does: tensors and arrays are stacked, Python ints become an
    int64 tensor, floats a float64 tensor, bools a bool tensor; strings stay a list; dicts and sequences are
    collated field by field (a sequence of fields comes back as a list)."""
    if not isinstance(batch, (list, tuple)) or not batch:
        raise ValueError("default_collate: expected a non-empty list of samples")
    elem = batch[0]
    if isinstance(elem, _C.Tensor):
        return _stack([t.detach()._numpy_view() for t in batch], "tensors")
    if isinstance(elem, (np.ndarray, np.generic)) and not isinstance(elem, (np.str_, np.bytes_)):
        return _stack([np.asarray(a) for a in batch], "arrays")
    if isinstance(elem, (bool, np.bool_)):
        return _C.from_numpy(np.array(batch, dtype=np.bool_))
    if isinstance(elem, numbers.Integral):
        return _C.from_numpy(np.array(batch, dtype=np.int64))
    if isinstance(elem, numbers.Real):
        return _C.from_numpy(np.array(batch, dtype=np.float64))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        return {key: default_collate([sample[key] for sample in batch]) for key in elem}
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(sample) != size for sample in batch):
            raise ValueError("default_collate: each sample in a batch must have the same number of fields")
        fields = [default_collate(list(samples)) for samples in zip(*batch)]
        return type(elem)(*fields) if hasattr(elem, "_fields") else fields
    raise TypeError(f"default_collate: samples must be tensors, NumPy arrays, numbers, strings, dicts or "
                    f"sequences; got {type(elem).__name__}")


def _defining_class(cls, name):
    return next((klass for klass in cls.__mro__ if name in klass.__dict__), None)


def array_gatherer(dataset):
    """A function indices -> batch of NumPy arrays for array-backed datasets, else None. A subclass that overrides
    __getitem__ without overriding _gather is not array-backed: its __getitem__ must run."""
    if isinstance(dataset, Subset) and type(dataset).__getitem__ is Subset.__getitem__:
        inner = array_gatherer(dataset.dataset)
        return None if inner is None else (lambda indices: inner(dataset.indices[indices]))
    if isinstance(dataset, (np.ndarray, _C.Tensor)):
        arr = to_supported_array(dataset, "DataLoader", "dataset")
        if arr.ndim == 0:
            raise ValueError("DataLoader: a 0-d array is not a dataset")
        return lambda indices: np.take(arr, indices, axis=0)
    cls = type(dataset)
    gather_class, getitem_class = _defining_class(cls, "_gather"), _defining_class(cls, "__getitem__")
    if gather_class is None or getitem_class is None or not issubclass(gather_class, getitem_class):
        return None
    return dataset._gather


def _tensors_of(batch):
    """NumPy arrays (possibly inside a tuple, list or dict) -> the same structure of ember tensors."""
    if isinstance(batch, np.ndarray):
        return _to_tensor(batch)
    if isinstance(batch, dict):
        return {key: _tensors_of(value) for key, value in batch.items()}
    if isinstance(batch, (tuple, list)):
        return [_tensors_of(value) for value in batch]
    return batch


def _apply_to_input(transform, batch):
    """Applies `transform` to the input of a batch: the batch itself, or its first field."""
    if isinstance(batch, (np.ndarray, _C.Tensor)):
        return transform(batch)
    if isinstance(batch, (tuple, list)) and batch:
        return type(batch)([transform(batch[0])] + list(batch[1:]))
    raise TypeError("DataLoader: transform= needs batches that are a tensor or an (input, target, ...) sequence, "
                    f"got {type(batch).__name__}")


class DataLoader:
    """Iterates over `dataset` in batches of `batch_size`. shuffle=True draws a new permutation every epoch from
    `seed` (a fixed sequence of epochs) or, when seed is None, from ember's global RNG (ember.manual_seed makes it
    reproducible). `transform` (e.g. ember.data.transforms.Compose) is applied to the input of every batch.
    The permutations are ember's own (C++ randperm_seeded(n, seed, epoch) / randperm), so ember::data::DataLoader
    in C++ shuffles in exactly the same order."""

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, collate_fn=None, seed=None,
                 transform=None, num_workers=0):
        is_array = isinstance(dataset, (np.ndarray, _C.Tensor))
        if not is_array and (not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__")):
            raise TypeError(f"DataLoader: dataset must define __len__ and __getitem__, got {type(dataset).__name__}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size <= 0:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError("DataLoader: collate_fn must be callable")
        if transform is not None and not callable(transform):
            raise TypeError("DataLoader: transform must be callable")
        if num_workers != 0:
            raise NotImplementedError("DataLoader: num_workers > 0 is not supported; batches of array-backed "
                                      "datasets are already gathered in one vectorised step")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn
        self.transform = transform
        self._seed = check_seed(seed, "DataLoader")
        self._epoch = 0   # permutations drawn so far from a fixed seed: the stream of the next one
        self._gather = array_gatherer(dataset) if collate_fn is None else None

    @property
    def seed(self):
        return self._seed

    def _dataset_length(self):
        return self.dataset.shape[0] if isinstance(self.dataset, _C.Tensor) else len(self.dataset)

    def __len__(self):
        n = self._dataset_length()
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        n = self._dataset_length()
        order = self._shuffled_order(n) if self.shuffle else np.arange(n, dtype=np.int64)
        stop = (n // self.batch_size) * self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            yield self._fetch(order[start:start + self.batch_size])

    def _shuffled_order(self, n):
        """The next epoch's permutation: stream `epoch` of the seed, or ember's global RNG when unseeded."""
        if self._seed is None:
            return _C.randperm(n).numpy()
        order = _C._randperm_seeded(n, self._seed % 2 ** 64, self._epoch).numpy()
        self._epoch += 1
        return order

    def _fetch(self, indices):
        if self._gather is not None:
            batch = self._gather(indices)
            if self.transform is not None:
                batch = _apply_to_input(self.transform, batch)
            return _tensors_of(batch)
        samples = [self.dataset[int(i)] for i in indices]
        batch = (self.collate_fn or default_collate)(samples)
        if self.transform is not None:
            batch = _apply_to_input(self.transform, batch)
        return batch
