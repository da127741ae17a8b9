"""Keras metrics, computed in NumPy from the model's outputs. The tracker keeps each batch's outputs (views, no copy)
and evaluates them only when a result is asked for (a progress-bar redraw, the end of an epoch), so metrics add
almost nothing to a training step. Model outputs may be probabilities or the logits of a fused softmax/sigmoid."""
import numpy as np

from .. import _C

__all__ = ["MetricTracker", "resolve", "NAMES"]

_ACCURACY_ALIASES = ("accuracy", "acc")
_FUNCTION_NAMES = {"sparse_categorical_accuracy": "sparse_categorical_accuracy",
                   "categorical_accuracy": "categorical_accuracy",
                   "binary_accuracy": "binary_accuracy",
                   "mae": "mae", "mean_absolute_error": "mae",
                   "mse": "mse", "mean_squared_error": "mse"}
NAMES = _ACCURACY_ALIASES + tuple(_FUNCTION_NAMES)


# Each metric returns (sum over samples, number of samples) so that an epoch's value is an exact mean.
# `scores` are the outputs; `logits_of` is None (probabilities) or 'softmax'/'sigmoid' (pre-activation outputs).

def _sparse_categorical_accuracy(y_true, scores, logits_of):
    labels = y_true.reshape(scores.shape[:-1])
    return float(np.count_nonzero(scores.argmax(-1) == labels)), labels.size


def _categorical_accuracy(y_true, scores, logits_of):
    correct = scores.argmax(-1) == y_true.argmax(-1)
    return float(np.count_nonzero(correct)), correct.size


def _binary_accuracy(y_true, scores, logits_of):
    predicted = scores > (0.0 if logits_of == "sigmoid" else 0.5)
    correct = predicted == (y_true.reshape(scores.shape) > 0.5)
    return float(np.count_nonzero(correct)), correct.size


def _probabilities(scores, logits_of):
    if logits_of == "softmax":
        shifted = np.exp(scores - scores.max(-1, keepdims=True))
        return shifted / shifted.sum(-1, keepdims=True)
    if logits_of == "sigmoid":
        return 1.0 / (1.0 + np.exp(-scores))
    return scores


def _mean_absolute_error(y_true, scores, logits_of):
    difference = _probabilities(scores, logits_of) - y_true.reshape(scores.shape)
    per_sample = np.abs(difference).reshape(len(scores), -1).mean(-1)
    return float(per_sample.sum()), len(per_sample)


def _mean_squared_error(y_true, scores, logits_of):
    difference = _probabilities(scores, logits_of) - y_true.reshape(scores.shape)
    per_sample = (difference * difference).reshape(len(scores), -1).mean(-1)
    return float(per_sample.sum()), len(per_sample)


_FUNCTIONS = {"sparse_categorical_accuracy": _sparse_categorical_accuracy,
              "categorical_accuracy": _categorical_accuracy,
              "binary_accuracy": _binary_accuracy,
              "mae": _mean_absolute_error, "mse": _mean_squared_error}


def _accuracy_for(loss_name, output_shape):
    """Which accuracy 'accuracy' means, as Keras decides: by the loss, else by the output shape."""
    if loss_name == "sparse_categorical_crossentropy":
        return "sparse_categorical_accuracy"
    if loss_name == "categorical_crossentropy":
        return "categorical_accuracy"
    if loss_name == "binary_crossentropy" or (output_shape is not None and output_shape[-1] == 1):
        return "binary_accuracy"
    return "sparse_categorical_accuracy"


def _callable_metric(function):
    """A user metric fn(y_true, y_pred) on ember tensors -> a (sum, count) metric over probabilities."""
    def metric(y_true, scores, logits_of):
        value = function(_C.from_numpy(np.ascontiguousarray(y_true)),
                         _C.from_numpy(np.ascontiguousarray(_probabilities(scores, logits_of))))
        value = np.asarray(value.detach().numpy() if isinstance(value, _C.Tensor) else value, dtype=np.float64)
        return float(value.mean()) * len(scores), len(scores)
    return metric


def resolve(metrics, loss_name, owner="compile"):
    """[(log name, metric function)] for compile's `metrics` list; `accuracy` is resolved later from the loss."""
    if metrics is None:
        return []
    if isinstance(metrics, (str,)) or callable(metrics):
        metrics = [metrics]
    if not isinstance(metrics, (list, tuple)):
        raise TypeError(f"{owner}: metrics must be a list of names or callables, got {type(metrics).__name__}")
    resolved = []
    for metric in metrics:
        if isinstance(metric, str):
            key = metric.lower()
            if key in _ACCURACY_ALIASES:
                resolved.append((metric, "accuracy"))
            elif key in _FUNCTION_NAMES:
                resolved.append((metric, _FUNCTION_NAMES[key]))
            else:
                raise ValueError(f"{owner}: unknown metric {metric!r}; valid names: {', '.join(NAMES)} "
                                 f"(or pass a callable metric(y_true, y_pred))")
        elif callable(metric):
            resolved.append((getattr(metric, "__name__", type(metric).__name__), _callable_metric(metric)))
        else:
            raise TypeError(f"{owner}: each metric must be a name or a callable, got {type(metric).__name__}")
    names = [name for name, _ in resolved]
    if len(set(names)) != len(names):
        raise ValueError(f"{owner}: metric names must be unique, got {names}")
    return resolved


class MetricTracker:
    """Running loss and metrics over one epoch (or one evaluate call)."""

    def __init__(self, metrics, loss_name, logits_of, prefix=""):
        self.logits_of = logits_of
        self.prefix = prefix
        self._loss_name = loss_name
        self._specs = metrics               # [(name, function name or function)], 'accuracy' still unresolved
        self._functions = None
        self.reset()

    def reset(self):
        self._loss_sum = 0.0
        self._count = 0
        self._pending = []                  # [(y_true array, outputs array)] not yet in the sums
        self._sums = {name: [0.0, 0] for name, _ in self._specs}

    @property
    def wants_outputs(self):
        return bool(self._specs)

    def update(self, loss_value, batch_size, y_true=None, outputs=None):
        self._loss_sum += loss_value * batch_size
        self._count += batch_size
        if self._specs:
            self._pending.append((y_true, outputs))

    def _bind(self, output_shape):
        functions = []
        for name, spec in self._specs:
            if spec == "accuracy":
                spec = _accuracy_for(self._loss_name, output_shape)
            functions.append((name, _FUNCTIONS[spec] if isinstance(spec, str) else spec))
        self._functions = functions

    def _flush(self):
        if not self._pending:
            return
        if len(self._pending) == 1:
            y_true, outputs = self._pending[0]
        else:
            y_true = np.concatenate([y for y, _ in self._pending])
            outputs = np.concatenate([o for _, o in self._pending])
        self._pending = []
        if self._functions is None:
            self._bind(outputs.shape)
        for name, function in self._functions:
            total, count = function(y_true, outputs, self.logits_of)
            self._sums[name][0] += total
            self._sums[name][1] += count

    def result(self):
        """{'loss': mean loss, metric name: value} (each name with the tracker's prefix, e.g. 'val_')."""
        self._flush()
        logs = {self.prefix + "loss": self._loss_sum / self._count if self._count else float("nan")}
        for name, (total, count) in self._sums.items():
            logs[self.prefix + name] = total / count if count else float("nan")
        return logs
