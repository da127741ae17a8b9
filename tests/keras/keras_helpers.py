"""Learnable synthetic data for the ember.keras tests (no downloads): Gaussian blobs whose class is a linear
function of the features, and small channels-last images whose class is where a bright square sits."""
import numpy as np


def blobs(samples=1200, features=784, classes=10, seed=0):
    """(x float32 (N, features), y int64 (N,)): class centres far apart in a random low-dimensional subspace."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 1.0, (classes, features)).astype(np.float32)
    y = rng.integers(0, classes, samples)
    x = centres[y] + rng.normal(0.0, 1.0, (samples, features)).astype(np.float32)
    return x.astype(np.float32), y.astype(np.int64)


def square_images(samples=400, size=8, seed=0):
    """(x float32 (N, size, size, 1), y int64 (N,)): y = which quadrant holds a bright 3x3 square (4 classes)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 0.1, (samples, size, size, 1)).astype(np.float32)
    y = rng.integers(0, 4, samples)
    half = size // 2
    for i, label in enumerate(y):
        top = (label // 2) * half + rng.integers(0, half - 2)
        left = (label % 2) * half + rng.integers(0, half - 2)
        x[i, top:top + 3, left:left + 3, 0] += 1.0
    return x, y.astype(np.int64)
