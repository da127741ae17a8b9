"""Bundled datasets that need no network: the UCI 8x8 handwritten digits (shipped as digits.npz) and a character
corpus built from text that ships with Python itself, with a character vocabulary and next-character windows."""
import functools
import pathlib

import numpy as np

from .. import _C
from .dataset import Dataset, as_index_array

_DIGITS_FILE = pathlib.Path(__file__).with_name("digits.npz")


@functools.lru_cache(maxsize=1)
def _digits_arrays():
    with np.load(_DIGITS_FILE) as f:
        return f["pixels"], f["labels"], f["is_test"]


def load_digits(split=None, as_image=False, normalize=True):
    """The UCI "Optical Recognition of Handwritten Digits" 8x8 images: 1797 samples, 64 pixels of 0..16, 10 classes.

    split: 'train' (1438 samples), 'test' (359) or None (all 1797). The split is fixed (stored in the file): a
        stratified 80/20 split, about 20% of each class in 'test'.
    as_image: X is (N, 1, 8, 8) instead of (N, 64).
    normalize: pixels scaled to [0, 1] (divided by 16); otherwise 0..16.
    Returns (X float32, y int64).

    Source: E. Alpaydin and C. Kaynak, "Optical Recognition of Handwritten Digits", UCI Machine Learning Repository,
    1998, https://doi.org/10.24432/C50P49, licensed CC BY 4.0 (taken from scikit-learn's bundled copy by
    tools/make_digits.py).
    """
    if split not in (None, "train", "test"):
        raise ValueError(f"load_digits: split must be 'train', 'test' or None, got {split!r}")
    pixels, labels, is_test = _digits_arrays()
    if split is not None:
        keep = is_test if split == "test" else ~is_test
        pixels, labels = pixels[keep], labels[keep]
    X = pixels.astype(np.float32)
    if normalize:
        X /= np.float32(16.0)
    if as_image:
        X = X.reshape(-1, 1, 8, 8)
    return X, labels.astype(np.int64)


def load_text(name="python-docs"):
    """A character corpus that ships with Python: 'python-docs' is the text of the language reference topics that
    pydoc shows (pydoc_data.topics), joined in a fixed order; about 460k characters of English prose and code."""
    if name != "python-docs":
        raise ValueError(f"load_text: unknown corpus {name!r}; available: 'python-docs'")
    try:
        from pydoc_data.topics import topics
    except ImportError as exc:   # some minimal Python installs drop pydoc_data
        raise RuntimeError("load_text: this Python installation has no pydoc_data module") from exc
    return "\n\n".join(topics[key].strip() for key in sorted(topics))


class CharVocab:
    """Maps the distinct characters of a text to int64 ids 0..len-1 (in sorted order) and back."""

    def __init__(self, text):
        if not isinstance(text, str) or not text:
            raise ValueError("CharVocab: expected a non-empty str")
        self.chars = sorted(set(text))
        self.index = {ch: i for i, ch in enumerate(self.chars)}
        codepoints = np.array([ord(ch) for ch in self.chars], dtype=np.int64)
        self._lookup = np.full(codepoints.max() + 1, -1, dtype=np.int64)   # code point -> id, -1 when unknown
        self._lookup[codepoints] = np.arange(len(self.chars))
        self._codepoints = codepoints

    def __len__(self):
        return len(self.chars)

    def encode(self, text):
        """str -> int64 array of ids (vectorised through a code-point table)."""
        points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        ids = np.where(points < len(self._lookup), self._lookup[np.minimum(points, len(self._lookup) - 1)], -1)
        if ids.size and ids.min() < 0:
            unknown = text[int(np.argmax(ids < 0))]
            raise ValueError(f"CharVocab.encode: character {unknown!r} is not in the vocabulary")
        return ids

    def decode(self, ids):
        """ids (ints, NumPy array or ember tensor) -> str."""
        ids = np.asarray(ids).astype(np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            raise ValueError(f"CharVocab.decode: ids must lie in [0, {len(self)}), got {ids.min()}..{ids.max()}")
        return self._codepoints[ids].astype(np.uint32).tobytes().decode("utf-32-le")


class CharWindowDataset(Dataset):
    """Next-character windows over an id sequence: sample i is (ids[i:i+block_size], ids[i+1:i+block_size+1]).
    Windows are cut on demand (nothing is materialised), a whole batch at once in DataLoader."""

    def __init__(self, ids, block_size):
        self.ids = np.ascontiguousarray(ids, dtype=np.int64).reshape(-1)
        if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size <= 0:
            raise ValueError(f"char_dataset: block_size must be a positive int, got {block_size!r}")
        if len(self.ids) <= block_size:
            raise ValueError(f"char_dataset: the text ({len(self.ids)} characters) must be longer than "
                             f"block_size ({block_size})")
        self.block_size = block_size
        self._offsets = np.arange(block_size + 1, dtype=np.int64)

    def __len__(self):
        return len(self.ids) - self.block_size

    def __getitem__(self, index):
        x, y = self._gather(as_index_array([index], len(self), "CharWindowDataset"))
        return _C.from_numpy(x[0]), _C.from_numpy(y[0])

    def _gather(self, indices):
        """Windows starting at `indices` (int64 array): x and y, each (len(indices), block_size)."""
        windows = self.ids[indices[:, None] + self._offsets]
        return windows[:, :-1], windows[:, 1:]


def char_dataset(text, block_size, vocab=None):
    """(dataset, vocab): next-character windows of `block_size` over `text`, with ids from `vocab` (built from the
    text when None). Feed the dataset to a DataLoader for (x, y) int64 batches of shape (B, block_size)."""
    vocab = vocab if vocab is not None else CharVocab(text)
    return CharWindowDataset(vocab.encode(text), block_size), vocab
