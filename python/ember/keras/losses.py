"""Keras losses: names and loss objects -> one function loss(y_true, y_pred) over ember tensors. Categorical and
binary cross-entropies have a logits form: when the model's last activation is softmax/sigmoid, Model.compile
asks for that form and feeds the pre-activation outputs (fused log_softmax + NLL), never log(probabilities)."""
from .. import _C
from ..nn import functional as F

__all__ = ["Loss", "SparseCategoricalCrossentropy", "CategoricalCrossentropy", "BinaryCrossentropy",
           "MeanSquaredError", "MeanAbsoluteError", "get", "NAMES"]

EPSILON = 1e-7     # Keras' backend epsilon: probabilities are clipped to [EPSILON, 1 - EPSILON] before a log


def _reduce_mean(loss):
    return loss.mean() if loss.ndim else loss


class Loss:
    """Base class: call as loss(y_true, y_pred) -> scalar tensor (the mean over the batch)."""
    name = "loss"
    # which output activation this loss can absorb (as Keras does): 'softmax', 'sigmoid' or None
    fusable_activation = None

    def __init__(self, from_logits=False, name=None):
        if not isinstance(from_logits, bool):
            raise TypeError(f"{type(self).__name__}: from_logits must be a bool, got {from_logits!r}")
        self.from_logits = from_logits
        if name is not None:
            self.name = name

    def __call__(self, y_true, y_pred):
        return self.call(y_true, y_pred, self.from_logits)

    def call(self, y_true, y_pred, from_logits):
        raise NotImplementedError

    def get_config(self):
        return {"from_logits": self.from_logits, "name": self.name}

    def __repr__(self):
        return f"{type(self).__name__}(from_logits={self.from_logits})"


class SparseCategoricalCrossentropy(Loss):
    """Integer class labels (N,) against class scores (N, C): probabilities, or logits with from_logits=True."""
    name = "sparse_categorical_crossentropy"
    fusable_activation = "softmax"

    def call(self, y_true, y_pred, from_logits):
        if y_true.ndim == y_pred.ndim:           # Keras accepts labels shaped (N, 1)
            y_true = y_true.reshape(tuple(y_true.shape[:-1]))
        if y_pred.ndim > 2:                      # classes on the last axis (Keras), e.g. (B, T, C) for sequences
            y_pred, y_true = y_pred.reshape(-1, y_pred.shape[-1]), y_true.reshape(-1)
        if from_logits:
            return F.cross_entropy(y_pred, y_true)
        log_probabilities = _C.log(_C.clamp(y_pred, EPSILON, 1.0 - EPSILON))
        return F.nll_loss(log_probabilities, y_true)


class CategoricalCrossentropy(Loss):
    """One-hot (or soft) labels (N, C) against class scores (N, C)."""
    name = "categorical_crossentropy"
    fusable_activation = "softmax"

    def __init__(self, from_logits=False, label_smoothing=0.0, name=None):
        super().__init__(from_logits, name)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CategoricalCrossentropy: label_smoothing must be in [0, 1], got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred, from_logits):
        if self.label_smoothing:
            y_true = y_true * (1.0 - self.label_smoothing) + self.label_smoothing / y_pred.shape[-1]
        if y_pred.ndim > 2:                      # classes on the last axis (Keras)
            y_pred, y_true = y_pred.reshape(-1, y_pred.shape[-1]), y_true.reshape(-1, y_true.shape[-1])
        if from_logits:
            return F.cross_entropy(y_pred, y_true)
        probabilities = y_pred / y_pred.sum(-1, keepdim=True)       # as Keras: renormalise, clip, then log
        log_probabilities = _C.log(_C.clamp(probabilities, EPSILON, 1.0 - EPSILON))
        return -(y_true * log_probabilities).sum(-1).mean()

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


class BinaryCrossentropy(Loss):
    """0/1 (or soft) targets against probabilities, or logits with from_logits=True; mean over all elements."""
    name = "binary_crossentropy"
    fusable_activation = "sigmoid"

    def call(self, y_true, y_pred, from_logits):
        if from_logits:
            return F.binary_cross_entropy_with_logits(y_pred, y_true)
        clipped = _C.clamp(y_pred, EPSILON, 1.0 - EPSILON)
        return -(y_true * _C.log(clipped) + (1.0 - y_true) * _C.log(1.0 - clipped)).mean()


class MeanSquaredError(Loss):
    name = "mean_squared_error"

    def __init__(self, name=None):
        super().__init__(False, name)

    def call(self, y_true, y_pred, from_logits):
        difference = y_pred - y_true
        return (difference * difference).mean()

    def get_config(self):
        return {"name": self.name}


class MeanAbsoluteError(Loss):
    name = "mean_absolute_error"

    def __init__(self, name=None):
        super().__init__(False, name)

    def call(self, y_true, y_pred, from_logits):
        return _C.abs(y_pred - y_true).mean()

    def get_config(self):
        return {"name": self.name}


_CLASSES = {"sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
            "categorical_crossentropy": CategoricalCrossentropy,
            "binary_crossentropy": BinaryCrossentropy,
            "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
            "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError}
NAMES = tuple(_CLASSES)
_BY_CLASS_NAME = {cls.__name__: cls for cls in _CLASSES.values()}


def get(loss, owner="compile"):
    """A Loss for a name or Loss object; (other callables are wrapped by the model, see Model.compile)."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str):
        cls = _CLASSES.get(loss.lower()) or _BY_CLASS_NAME.get(loss)
        if cls is None:
            raise ValueError(f"{owner}: unknown loss {loss!r}; valid names: {', '.join(NAMES)} (or pass a callable "
                             f"loss(y_true, y_pred), an ember.nn loss module or a keras.losses object)")
        return cls()
    raise TypeError(f"{owner}: loss must be a name, a keras.losses object or a callable, got {type(loss).__name__}")


def from_config(class_name, config):
    """The Loss saved by Model.save (class name + get_config())."""
    cls = _BY_CLASS_NAME.get(class_name)
    if cls is None:
        raise ValueError(f"load_model: unknown saved loss class {class_name!r}")
    return cls(**config)
