"""The loops behind Model.fit / evaluate / predict. The per-batch path is: forward (fused logits when the loss
absorbs the final softmax/sigmoid), loss, zero_grad, backward, one fused optimizer step, loss.item(); metrics and
progress-bar text are computed only when shown. Ctrl-C during fit stops after the current batch and returns."""
import signal
import sys
import threading

import numpy as np

from .. import _C
from ..autograd import no_grad
from . import callbacks as callbacks_module
from ._data import ArrayBatches, LoaderBatches, as_array, as_input_array, is_batch_iterable
from .metrics import MetricTracker
from .progbar import Progbar

__all__ = ["fit", "evaluate", "predict", "train_on_batch", "predict_on_batch"]


# ---------------------------------------------------------------------------------------------- data preparation

def _check_batch_size(batch_size, owner):
    if batch_size is None:
        return 32
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size <= 0:
        raise ValueError(f"{owner}: batch_size must be a positive int, got {batch_size!r}")
    return int(batch_size)


def _label_preparer(model, output_shape, owner):
    """A function turning a y array into what the compiled loss takes, checking it against the model's output."""
    kind = model.compiled_loss.kind
    classes = output_shape[-1] if output_shape and len(output_shape) > 1 else None

    def prepare(y):
        if kind == "sparse_categorical_crossentropy":
            if y.ndim == len(output_shape) and y.shape[-1] == 1:
                y = y.reshape(y.shape[:-1])
            if not np.issubdtype(y.dtype, np.integer):
                if not np.all(np.isfinite(y)) or not np.array_equal(y, np.round(y)):
                    raise ValueError(f"{owner}: sparse_categorical_crossentropy needs integer class labels, got "
                                     f"non-integer values in y (dtype {y.dtype})")
            y = np.ascontiguousarray(y, dtype=np.int64)
            if y.size and classes is not None and (y.min() < 0 or y.max() >= classes):
                raise ValueError(f"{owner}: labels must be in [0, {classes}) for a model with {classes} outputs, but "
                                 f"y holds labels from {y.min()} to {y.max()}")
            return y
        if kind is None and np.issubdtype(y.dtype, np.integer):
            return np.ascontiguousarray(y, dtype=np.int64)         # a callable loss gets integer labels as int64
        y = np.ascontiguousarray(y, dtype=np.float32)
        if output_shape is not None and y.ndim == len(output_shape) - 1 and output_shape[-1] == 1:
            y = y.reshape(y.shape + (1,))                           # (N,) targets for (N, 1) outputs
        if kind == "categorical_crossentropy" and classes is not None and y.shape[-1] != classes:
            raise ValueError(f"{owner}: categorical_crossentropy needs one-hot labels of shape (N, {classes}), got "
                             f"y of shape {y.shape} (use sparse_categorical_crossentropy for integer labels)")
        if kind == "binary_crossentropy" and y.size and (y.min() < 0 or y.max() > 1):
            raise ValueError(f"{owner}: binary_crossentropy needs targets in [0, 1], got values from {y.min()} to "
                             f"{y.max()}")
        return y

    return prepare


def _prepare(model, x, y, batch_size, owner, shuffle=False, need_y=True):
    """(batches, label preparer) for arrays/tensors or an iterable of (x, y) batches."""
    if is_batch_iterable(x):
        if y is not None:
            raise ValueError(f"{owner}: y must be None when x is an iterable of (x, y) batches")
        first_x, _ = next(iter(x))
        sample = as_input_array(first_x, owner)
        output_shape = model._check_input_shape(sample, owner)
        preparer = _label_preparer(model, output_shape, owner)
        return LoaderBatches(x, owner, preparer)
    if x is None:
        raise ValueError(f"{owner}: x is required")
    x = as_input_array(x, owner)
    if need_y and y is None:
        raise ValueError(f"{owner}: y is required when x is an array (targets for every sample of x)")
    if y is not None:
        y = as_array(y, owner, "y")
        if len(x) != len(y):
            raise ValueError(f"{owner}: x and y must have the same number of samples, got x with {len(x)} and y with "
                             f"{len(y)}")
    if len(x) == 0:
        raise ValueError(f"{owner}: x is empty")
    output_shape = model._check_input_shape(x, owner)
    if y is not None:
        y = _label_preparer(model, output_shape, owner)(y)
    return ArrayBatches(x, y, batch_size, shuffle)


def _split_validation(x, y, validation_split, owner):
    """Keras' validation_split: the LAST fraction of the samples (before any shuffling) is held out."""
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(f"{owner}: validation_split must be in [0, 1), got {validation_split}")
    if is_batch_iterable(x):
        raise ValueError(f"{owner}: validation_split needs arrays; give validation_data for a data iterable")
    x, y = as_array(x, owner, "x"), as_array(y, owner, "y")
    if len(x) != len(y):
        raise ValueError(f"{owner}: x and y must have the same number of samples, got x with {len(x)} and y with "
                         f"{len(y)}")
    split = int(len(x) * (1.0 - validation_split))
    if split == 0 or split == len(x):
        raise ValueError(f"{owner}: validation_split={validation_split} leaves no training or no validation "
                         f"samples out of {len(x)}")
    return (x[:split], y[:split]), (x[split:], y[split:])


# ---------------------------------------------------------------------------------------------------- Ctrl-C

class _StopOnInterrupt:
    """While active, the first Ctrl-C only sets `requested` (fit stops after the current batch); a second one
    raises KeyboardInterrupt at once. Only in the main thread, where Python delivers signals."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if previous is not None:
                self._previous = previous
                signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        return False


# ---------------------------------------------------------------------------------------------------- steps

def _train_step(model, optimizer, x, y):
    loss_fn = model.compiled_loss
    outputs = model.forward_logits(x) if loss_fn.fused_activation else model(x)
    loss = loss_fn.function(y, outputs)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item(), outputs


def _tracker(model, prefix=""):
    return MetricTracker(model.compiled_metrics, model.compiled_loss.kind, model.compiled_loss.logits_of, prefix)


def _outputs_array(outputs):
    return np.array(outputs)            # a small copy: the output tensor (and its buffer) is released at once


def _resolve_verbose(verbose):
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    return verbose


def _run_test(model, batches, tracker, verbose):
    """Loss and metrics over `batches` in eval mode, without gradients."""
    was_training = model.training
    model.eval()
    loss_fn = model.compiled_loss
    bar = Progbar(len(batches), verbose) if verbose else None
    step = 0
    try:
        with no_grad():
            for x, y, y_array in batches:
                outputs = model.forward_logits(x) if loss_fn.fused_activation else model(x)
                loss = loss_fn.function(y, outputs)
                tracker.update(loss.item(), len(y_array), y_array,
                               _outputs_array(outputs) if tracker.wants_outputs else None)
                step += 1
                if bar is not None and bar.wants_update():
                    bar.update(step, tracker.result())
        logs = tracker.result()
        if bar is not None:
            bar.finish(step, logs)
        return logs
    finally:
        if bar is not None:
            bar.end_line()
        model.train(was_training)


# ---------------------------------------------------------------------------------------------------- fit

def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
        validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
        steps_per_epoch=None, validation_batch_size=None):
    """Trains for `epochs` epochs (counting from initial_epoch) and returns the History. x, y: NumPy arrays or ember
    tensors (or x an iterable of (x, y) batches, e.g. an ember.data.DataLoader). verbose: 1 = progress bar
    (redrawn in place on a terminal), 2 = one line per epoch, 0 = silent. Ctrl-C stops after the current batch:
    the unfinished epoch is not recorded, on_train_end callbacks run, and fit returns the History."""
    self._require_compiled("fit")
    if class_weight is not None or sample_weight is not None or steps_per_epoch is not None:
        raise NotImplementedError("fit: class_weight, sample_weight and steps_per_epoch are not supported by "
                                  "ember.keras")
    for name, value in (("epochs", epochs), ("initial_epoch", initial_epoch)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
            raise ValueError(f"fit: {name} must be a non-negative int, got {value!r}")
    verbose = _resolve_verbose(verbose)
    batch_size = _check_batch_size(batch_size, "fit")
    if validation_split and validation_data is not None:
        validation_split = 0.0                  # as Keras: validation_data wins
    if validation_split:
        (x, y), validation_data = _split_validation(x, y, validation_split, "fit")
    train_batches = _prepare(self, x, y, batch_size, "fit", shuffle=bool(shuffle))
    validation_batches = None
    if validation_data is not None:
        if is_batch_iterable(validation_data):
            validation_batches = _prepare(self, validation_data, None, batch_size, "fit (validation_data)")
        else:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("fit: validation_data must be a tuple (x_val, y_val)")
            validation_batches = _prepare(self, validation_data[0], validation_data[1],
                                          _check_batch_size(validation_batch_size or batch_size, "fit"),
                                          "fit (validation_data)")
    optimizer = self._build_optimizer("fit")

    history = callbacks_module.History()
    callback_list = list(callbacks or []) + [history]      # History last, as Keras: it sees what others log
    for callback in callback_list:
        if not isinstance(callback, callbacks_module.Callback):
            raise TypeError(f"fit: callbacks must be keras.callbacks.Callback objects, got {type(callback).__name__}")
        callback.set_model(self)
        callback.set_params({"epochs": epochs, "steps": len(train_batches), "verbose": verbose})
    batch_begin = [c for c in callback_list if callbacks_module.overrides(c, "on_train_batch_begin")]
    batch_end = [c for c in callback_list if callbacks_module.overrides(c, "on_train_batch_end")]

    self.stop_training = False
    self.history = history
    tracker = _tracker(self)
    steps = len(train_batches)
    logs = {}
    for callback in callback_list:
        callback.on_train_begin(logs)
    bar = None
    with _StopOnInterrupt() as interrupt:
        try:
            for epoch in range(initial_epoch, epochs):
                for callback in callback_list:
                    callback.on_epoch_begin(epoch, {})
                self.train()
                tracker.reset()
                if verbose:
                    print(f"Epoch {epoch + 1}/{epochs}", flush=True)
                    bar = Progbar(steps, verbose)
                step = 0
                for x_batch, y_batch, y_array in train_batches:
                    for callback in batch_begin:
                        callback.on_train_batch_begin(step, {})
                    loss_value, outputs = _train_step(self, optimizer, x_batch, y_batch)
                    tracker.update(loss_value, len(y_array), y_array,
                                   _outputs_array(outputs) if tracker.wants_outputs else None)
                    step += 1
                    if batch_end:
                        batch_logs = tracker.result()
                        for callback in batch_end:
                            callback.on_train_batch_end(step - 1, batch_logs)
                    if bar is not None and bar.dynamic and bar.wants_update():
                        bar.update(step, tracker.result())
                    if interrupt.requested or self.stop_training:
                        break
                if interrupt.requested:
                    if bar is not None:
                        bar.end_line()
                    print(f"fit: interrupted (Ctrl-C) in epoch {epoch + 1}, after batch {step}/{steps}; stopped "
                          f"training (the unfinished epoch is not in the history)", file=sys.stderr, flush=True)
                    self.stop_training = True
                    break
                logs = tracker.result()
                if validation_batches is not None:
                    logs.update(_run_test(self, validation_batches, _tracker(self, "val_"), 0))
                for callback in callback_list:
                    callback.on_epoch_end(epoch, logs)
                if bar is not None:
                    bar.finish(step, logs)
                if self.stop_training:
                    break
        finally:
            if bar is not None:
                bar.end_line()
    for callback in callback_list:
        callback.on_train_end(logs)
    return history


# ---------------------------------------------------------------------------------------------------- evaluate

def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", return_dict=False):
    """The loss (and metrics) over x, y in eval mode: a float, or [loss, metric, ...] when metrics were compiled
    (a dict with return_dict=True)."""
    self._require_compiled("evaluate")
    batches = _prepare(self, x, y, _check_batch_size(batch_size, "evaluate"), "evaluate")
    self._build_optimizer("evaluate")
    logs = _run_test(self, batches, _tracker(self), _resolve_verbose(verbose))
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


# ---------------------------------------------------------------------------------------------------- predict

def predict(self, x, batch_size=None, verbose=0):
    """The model's outputs for x as a NumPy array, computed in batches in eval mode without gradients."""
    batch_size = _check_batch_size(batch_size, "predict")
    if is_batch_iterable(x):
        inputs = (batch[0] if isinstance(batch, (tuple, list)) else batch for batch in x)
        total = len(x)
    else:
        x = as_input_array(x, "predict")
        if len(x) == 0:
            raise ValueError("predict: x is empty")
        self._check_input_shape(x, "predict")
        inputs = (x[start:start + batch_size] for start in range(0, len(x), batch_size))
        total = -(-len(x) // batch_size)
    verbose = _resolve_verbose(verbose)
    bar = Progbar(total, verbose) if verbose else None
    was_training = self.training
    self.eval()
    outputs = []
    try:
        with no_grad():
            for step, batch in enumerate(inputs, 1):
                batch = batch if isinstance(batch, _C.Tensor) else _C.from_numpy(as_input_array(batch, "predict"))
                outputs.append(np.asarray(self(batch)))
                if bar is not None and bar.wants_update():
                    bar.update(step, {})
        if bar is not None:
            bar.finish(len(outputs), {})
    finally:
        if bar is not None:
            bar.end_line()
        self.train(was_training)
    return np.concatenate(outputs) if len(outputs) > 1 else outputs[0].copy()


def predict_on_batch(self, x):
    return predict(self, x, batch_size=max(len(x), 1))


def train_on_batch(self, x, y):
    """One optimizer step on (x, y); returns the loss (or [loss, metrics...])."""
    self._require_compiled("train_on_batch")
    batches = _prepare(self, x, y, len(x), "train_on_batch")
    optimizer = self._build_optimizer("train_on_batch")
    tracker = _tracker(self)
    self.train()
    for x_batch, y_batch, y_array in batches:
        loss_value, outputs = _train_step(self, optimizer, x_batch, y_batch)
        tracker.update(loss_value, len(y_array), y_array, _outputs_array(outputs) if tracker.wants_outputs else None)
    values = list(tracker.result().values())
    return values[0] if len(values) == 1 else values
