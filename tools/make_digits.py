"""Builds python/ember/data/digits.npz once from scikit-learn's bundled copy of the UCI 8x8 digits.
scikit-learn is needed only to run this script (pip install scikit-learn); it is not a dependency of ember.
Data: E. Alpaydin, C. Kaynak, "Optical Recognition of Handwritten Digits", UCI ML Repository, CC BY 4.0."""
import pathlib

import numpy as np
from sklearn.datasets import load_digits

TEST_FRACTION = 0.2
SPLIT_SEED = 20240607


def stratified_test_mask(labels, test_fraction, seed):
    """True for the test samples: round(test_fraction * count) of each class, chosen by a fixed permutation."""
    rng = np.random.default_rng(seed)
    is_test = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        chosen = rng.permutation(members)[:int(round(test_fraction * len(members)))]
        is_test[chosen] = True
    return is_test


def main():
    digits = load_digits()
    pixels = digits.data.astype(np.uint8)            # (1797, 64), values 0..16
    labels = digits.target.astype(np.uint8)          # (1797,), values 0..9
    assert pixels.shape == (1797, 64) and pixels.max() == 16 and np.array_equal(pixels, digits.data)
    is_test = stratified_test_mask(labels, TEST_FRACTION, SPLIT_SEED)
    out = pathlib.Path(__file__).resolve().parents[1] / "python" / "ember" / "data" / "digits.npz"
    # stored, not deflated: C++ programs read it with ember/data.h and need no zlib (about 120 kB)
    np.savez(out, pixels=pixels, labels=labels, is_test=is_test)
    print(f"wrote {out} ({out.stat().st_size} bytes): {len(labels)} samples, {is_test.sum()} test")


if __name__ == "__main__":
    main()
