"""keras.utils: to_categorical (one-hot labels)."""
import numpy as np

__all__ = ["to_categorical"]


def to_categorical(y, num_classes=None, dtype="float32"):
    """Integer labels (N,) -> one-hot rows (N, num_classes), as keras.utils.to_categorical."""
    y = np.asarray(y)
    if not np.issubdtype(y.dtype, np.integer):
        if not np.array_equal(y, np.round(y)):
            raise ValueError("to_categorical: labels must be integers")
        y = y.astype(np.int64)
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y.reshape(y.shape[:-1])
    num_classes = int(y.max()) + 1 if num_classes is None else num_classes
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"to_categorical: labels must be in [0, {num_classes}), got {y.min()}..{y.max()}")
    return np.eye(num_classes, dtype=dtype)[y]
