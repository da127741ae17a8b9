"""Datasets with the names of torch.utils.data: Dataset, TensorDataset, Subset, ConcatDataset, random_split.
Array-backed datasets also offer `_gather(indices)`, which DataLoader uses to build a whole batch with one
fancy-index per array instead of a Python loop over samples."""
import bisect
import math
import numbers

import numpy as np

from .. import _C
from ._random import check_seed, make_generator

_EMBER_NUMPY_DTYPES = (np.float32, np.float64, np.int64, np.bool_)


class Dataset:
    """A map-style dataset: subclasses define `__getitem__(index)` and `__len__()`."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other):
        return ConcatDataset([self, other])


def to_supported_array(data, owner, name):
    """A NumPy array with a dtype ember tensors have: tensors and arrays of ember dtypes are kept without a copy;
    other integer dtypes become int64, other floats float32."""
    if isinstance(data, _C.Tensor):
        return data.detach()._numpy_view()
    if not isinstance(data, np.ndarray):
        raise TypeError(f"{owner}: {name} must be an ember Tensor or a NumPy array, got {type(data).__name__}")
    if data.dtype.type in _EMBER_NUMPY_DTYPES:
        return data
    if data.dtype.kind in "iu":
        return data.astype(np.int64)
    if data.dtype.kind == "f":
        return data.astype(np.float32)
    raise TypeError(f"{owner}: {name} has dtype {data.dtype}; expected numbers or bools")


def as_index_array(indices, length, owner):
    """Validates indices (ints in [-length, length)) and returns them as a non-negative int64 array."""
    idx = np.asarray(indices)
    if idx.size == 0:
        return idx.astype(np.int64).reshape(-1)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{owner}: indices must be integers, got dtype {idx.dtype}")
    idx = idx.astype(np.int64).reshape(-1)
    if idx.min() < -length or idx.max() >= length:
        bad = idx[(idx < -length) | (idx >= length)][0]
        raise IndexError(f"{owner}: index {bad} is out of range for a dataset of length {length}")
    return np.where(idx < 0, idx + length, idx)


def _check_index(index, length, owner):
    if isinstance(index, bool) or not isinstance(index, (numbers.Integral, np.integer)):
        if isinstance(index, _C.Tensor) and index.numel() == 1 and index.dtype == _C.dtype.int64:
            index = int(index.item())
        else:
            raise TypeError(f"{owner}: index must be an int, got {type(index).__name__}")
    index = int(index)
    if not -length <= index < length:
        raise IndexError(f"{owner}: index {index} is out of range for a dataset of length {length}")
    return index + length if index < 0 else index


class TensorDataset(Dataset):
    """Samples are the index-th rows of each tensor (or NumPy array); all must have the same first dimension.
    Items come back as tuples of ember tensors; DataLoader gathers whole batches in one step."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor")
        arrays = [to_supported_array(t, "TensorDataset", f"argument {i}") for i, t in enumerate(tensors)]
        for i, arr in enumerate(arrays):
            if arr.ndim == 0:
                raise ValueError(f"TensorDataset: argument {i} is 0-d; every tensor needs a first (sample) dimension")
        lengths = [arr.shape[0] for arr in arrays]
        if any(n != lengths[0] for n in lengths):
            raise ValueError(f"TensorDataset: size mismatch between tensors: first dimensions are {lengths}")
        self.arrays = arrays
        self.tensors = tuple(t if isinstance(t, _C.Tensor) else _C.from_numpy(a) for t, a in zip(tensors, arrays))

    def __len__(self):
        return self.arrays[0].shape[0]

    def __getitem__(self, index):
        index = _check_index(index, len(self), "TensorDataset")
        return tuple(_C.from_numpy(np.array(arr[index])) for arr in self.arrays)

    def _gather(self, indices):
        """The batch at `indices` (int64 array) as one NumPy array per tensor."""
        return tuple(np.take(arr, indices, axis=0) for arr in self.arrays)


class Subset(Dataset):
    """The samples of `dataset` at `indices`, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = as_index_array(indices, len(dataset), "Subset")

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, index):
        return self.dataset[int(self.indices[_check_index(index, len(self), "Subset")])]


class ConcatDataset(Dataset):
    """The samples of several datasets one after another."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: expected at least one dataset")
        self.cumulative_sizes = list(np.cumsum([len(d) for d in self.datasets]))

    def __len__(self):
        return int(self.cumulative_sizes[-1])

    def __getitem__(self, index):
        index = _check_index(index, len(self), "ConcatDataset")
        which = bisect.bisect_right(self.cumulative_sizes, index)
        start = 0 if which == 0 else int(self.cumulative_sizes[which - 1])
        return self.datasets[which][index - start]


def _split_lengths(lengths, total):
    lengths = list(lengths)
    if not lengths:
        raise ValueError("random_split: lengths must not be empty")
    if all(isinstance(n, numbers.Integral) and not isinstance(n, bool) for n in lengths):
        if any(n < 0 for n in lengths):
            raise ValueError(f"random_split: lengths must be non-negative, got {lengths}")
        if sum(lengths) != total:
            raise ValueError(f"random_split: sum of lengths {sum(lengths)} does not equal the dataset length {total}")
        return [int(n) for n in lengths]
    if not all(isinstance(f, numbers.Real) and not isinstance(f, bool) for f in lengths):
        raise TypeError(f"random_split: lengths must be ints or fractions, got {lengths}")
    if any(f < 0 or f > 1 for f in lengths) or not math.isclose(sum(lengths), 1.0, abs_tol=1e-6):
        raise ValueError(f"random_split: fractions must lie in [0, 1] and sum to 1, got {lengths}")
    sizes = [int(math.floor(total * f)) for f in lengths]
    for i in range(total - sum(sizes)):          # hand out the remainder round-robin, as PyTorch does
        sizes[i % len(sizes)] += 1
    return sizes


def random_split(dataset, lengths, generator=None, *, seed=None):
    """Splits `dataset` into disjoint random Subsets of the given lengths (ints summing to len(dataset), or
    fractions summing to 1). Randomness: `seed` (or `generator`, an int seed or a numpy Generator), else
    ember's global RNG, so `ember.manual_seed` makes the split reproducible."""
    total = len(dataset)
    sizes = _split_lengths(lengths, total)
    if generator is not None and seed is not None:
        raise ValueError("random_split: pass either generator or seed, not both")
    if isinstance(generator, np.random.Generator):
        rng = generator
    else:
        rng = make_generator(check_seed(seed if seed is not None else generator, "random_split"))
    order = rng.permutation(total)
    bounds = np.cumsum([0] + sizes)
    return [Subset(dataset, order[bounds[i]:bounds[i + 1]]) for i in range(len(sizes))]
