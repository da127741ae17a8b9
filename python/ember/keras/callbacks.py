"""Keras callbacks with Keras 3 semantics: History, EarlyStopping (restore_best_weights restores the best epoch's
weights at the end of training, whether or not it stopped early), ModelCheckpoint, ReduceLROnPlateau, CSVLogger,
LearningRateScheduler and LambdaCallback. Model.fit calls batch hooks only on callbacks that override them."""
import csv
import math
import os
import sys

import numpy as np

from . import optimizers

__all__ = ["Callback", "History", "EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau", "CSVLogger",
           "LearningRateScheduler", "LambdaCallback"]


class Callback:
    """Base class: override any of the on_* hooks; `self.model` and `self.params` are set by fit."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_train_batch_begin(self, batch, logs=None): pass
    def on_train_batch_end(self, batch, logs=None): pass
    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass


def overrides(callback, hook):
    """Whether `callback` does something in `hook` (so fit can skip calling no-op batch hooks)."""
    if isinstance(callback, LambdaCallback):
        return callback.hooks.get(hook) is not None
    return getattr(type(callback), hook) is not getattr(Callback, hook)


class History(Callback):
    """Records each epoch's logs: history.history = {'loss': [...], 'accuracy': [...], 'val_loss': [...], ...}."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(value)

    def plot(self, path, metrics=None):
        """Writes a PNG of the training curves (one panel per metric, with its val_ curve) to `path`."""
        try:
            import matplotlib
            matplotlib.use("Agg", force=False)
            import matplotlib.pyplot as plt
            from matplotlib.ticker import MaxNLocator
        except ImportError:
            raise ImportError("History.plot needs matplotlib, which is not installed: pip install matplotlib (or "
                              "pip install 'ember[plot]')") from None
        names = metrics or [name for name in self.history if not name.startswith("val_")]
        if not names:
            raise ValueError("History.plot: there is nothing to plot (no epochs recorded)")
        figure, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
        epochs = [e + 1 for e in self.epoch]
        for axis, name in zip(axes[0], names):
            axis.plot(epochs, self.history[name], marker="o", label=name)
            if "val_" + name in self.history:
                axis.plot(epochs, self.history["val_" + name], marker="o", label="val_" + name)
            axis.set_xlabel("epoch")
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))
            axis.set_title(name)
            axis.grid(alpha=0.3)
            axis.legend()
        figure.tight_layout()
        figure.savefig(path, dpi=100)
        plt.close(figure)
        return path


class _Monitor:
    """Shared 'is this value better?' logic of EarlyStopping, ModelCheckpoint and ReduceLROnPlateau."""

    def __init__(self, monitor, mode, min_delta, owner):
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"{owner}: mode must be 'auto', 'min' or 'max', got {mode!r}")
        if mode == "auto":
            mode = "max" if ("acc" in monitor or monitor.startswith("fmeasure") or "auc" in monitor) else "min"
        self.monitor, self.mode, self.min_delta, self.owner = monitor, mode, abs(min_delta), owner
        self.best = math.inf if mode == "min" else -math.inf

    def is_improvement(self, value, reference):
        if self.mode == "min":
            return value < reference - self.min_delta
        return value > reference + self.min_delta

    def value(self, logs):
        value = (logs or {}).get(self.monitor)
        if value is None:
            available = ", ".join(sorted(logs or {})) or "none"
            print(f"{self.owner}: the monitored metric '{self.monitor}' is not available (available: {available}); "
                  f"skipping", file=sys.stderr)
        return value


class EarlyStopping(Callback):
    """Stops training when `monitor` has not improved by more than min_delta for `patience` epochs."""

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self._monitor = _Monitor(monitor, mode, min_delta, "EarlyStopping")
        self.monitor, self.patience, self.verbose = monitor, patience, verbose
        self.baseline, self.restore_best_weights, self.start_from_epoch = baseline, restore_best_weights, \
            start_from_epoch

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = self._monitor.best
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        current = self._monitor.value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_state_snapshot()      # the first epoch is the best one so far
            self.best_epoch = epoch
        self.wait += 1
        if self._monitor.is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_state_snapshot()
            if self.baseline is None or self._monitor.is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_state_snapshot(self.best_weights)


class ModelCheckpoint(Callback):
    """Saves the model (or its weights) after each epoch to filepath.format(epoch=epoch + 1, **logs)."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__()
        if save_freq != "epoch":
            raise NotImplementedError("ModelCheckpoint: only save_freq='epoch' is supported by ember.keras")
        self.filepath = os.fspath(filepath)
        self._monitor = _Monitor(monitor, mode, 0.0, "ModelCheckpoint")
        if initial_value_threshold is not None:
            self._monitor.best = initial_value_threshold
        self.monitor, self.verbose = monitor, verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only

    @property
    def best(self):
        return self._monitor.best

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        try:
            path = self.filepath.format(epoch=epoch + 1, **logs)
        except KeyError as exc:
            raise KeyError(f"ModelCheckpoint: filepath {self.filepath!r} names {exc}, which is not in the logs "
                           f"(available: epoch, {', '.join(sorted(logs))})") from None
        if self.save_best_only:
            current = self._monitor.value(logs)
            if current is None or not self._monitor.is_improvement(current, self._monitor.best):
                return
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {self._monitor.best:.5f} to "
                      f"{current:.5f}, saving model to {path}")
            self._monitor.best = current
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


class ReduceLROnPlateau(Callback):
    """Multiplies the learning rate by `factor` when `monitor` has not improved for `patience` epochs."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        super().__init__()
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be < 1.0, got {factor}")
        self._monitor = _Monitor(monitor, mode, min_delta, "ReduceLROnPlateau")
        self.monitor, self.factor, self.patience, self.verbose = monitor, factor, patience, verbose
        self.cooldown, self.min_lr = cooldown, min_lr

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.cooldown_counter = 0
        self.best = self._monitor.best

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        learning_rate = optimizers.learning_rate_of(self.model.optimizer)
        logs["learning_rate"] = learning_rate
        current = self._monitor.value(logs)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._monitor.is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience and learning_rate > self.min_lr:
                new_rate = max(learning_rate * self.factor, self.min_lr)
                optimizers.set_learning_rate(self.model.optimizer, new_rate)
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_rate}.")
                self.cooldown_counter = self.cooldown
                self.wait = 0


class LearningRateScheduler(Callback):
    """Sets the learning rate at each epoch's start to schedule(epoch, lr)."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        rate = float(self.schedule(epoch, optimizers.learning_rate_of(self.model.optimizer)))
        optimizers.set_learning_rate(self.model.optimizer, rate)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {rate}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = optimizers.learning_rate_of(self.model.optimizer)


class CSVLogger(Callback):
    """Appends one CSV row per epoch (epoch, then the logs' keys in sorted order) to `filename`."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.separator, self.append = os.fspath(filename), separator, append
        self._file = None
        self._writer = None
        self._keys = None

    def on_train_begin(self, logs=None):
        has_rows = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._keys = None
        self._append_header = not has_rows

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._keys is None:
            self._keys = sorted(logs)
            self._writer = csv.writer(self._file, delimiter=self.separator)
            if self._append_header:
                self._writer.writerow(["epoch"] + self._keys)
        self._writer.writerow([epoch] + [_csv_value(logs.get(key, "NA")) for key in self._keys])
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None


def _csv_value(value):
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return value


class LambdaCallback(Callback):
    """A callback from plain functions: on_epoch_begin(epoch, logs), on_epoch_end(epoch, logs),
    on_train_begin(logs), on_train_end(logs), on_train_batch_begin/_end(batch, logs) (also on_batch_begin/_end)."""

    _HOOKS = ("on_epoch_begin", "on_epoch_end", "on_train_begin", "on_train_end", "on_train_batch_begin",
              "on_train_batch_end")

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, on_batch_begin=None, on_batch_end=None):
        super().__init__()
        self.hooks = {"on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end,
                      "on_train_begin": on_train_begin, "on_train_end": on_train_end,
                      "on_train_batch_begin": on_train_batch_begin or on_batch_begin,
                      "on_train_batch_end": on_train_batch_end or on_batch_end}

    def on_epoch_begin(self, epoch, logs=None):
        if self.hooks["on_epoch_begin"]:
            self.hooks["on_epoch_begin"](epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.hooks["on_epoch_end"]:
            self.hooks["on_epoch_end"](epoch, logs)

    def on_train_begin(self, logs=None):
        if self.hooks["on_train_begin"]:
            self.hooks["on_train_begin"](logs)

    def on_train_end(self, logs=None):
        if self.hooks["on_train_end"]:
            self.hooks["on_train_end"](logs)

    def on_train_batch_begin(self, batch, logs=None):
        if self.hooks["on_train_batch_begin"]:
            self.hooks["on_train_batch_begin"](batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        if self.hooks["on_train_batch_end"]:
            self.hooks["on_train_batch_end"](batch, logs)
