"""Model.fit/evaluate/predict: Keras-style and wrapped PyTorch-style models, the stable fused softmax loss, History,
validation, every callback's semantics (EarlyStopping incl. restore_best_weights without an early stop,
ModelCheckpoint, ReduceLROnPlateau, CSVLogger, LambdaCallback), the progress bar, and Ctrl-C."""
import csv
import os
import signal

import numpy as np
import pytest

import ember
from ember import keras, nn, optim

from keras_helpers import blobs, square_images


def _mlp(features=20, classes=3, **compile_args):
    model = keras.Sequential([keras.layers.Dense(16, activation="relu", input_shape=(features,)),
                              keras.layers.Dense(classes, activation="softmax")])
    model.compile(**{"optimizer": "adam", "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"],
                     **compile_args})
    return model


def test_history_validation_split_and_return_values():
    x, y = blobs(300, 20, 3)
    model = _mlp()
    history = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.2, verbose=0)
    assert history is model.history
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 3 for v in history.history.values()) and history.epoch == [0, 1, 2]
    assert history.history["loss"][-1] < history.history["loss"][0]
    # the logged validation numbers are what evaluate gives on the held-out last 20%
    val_loss, val_accuracy = model.evaluate(x[240:], y[240:], verbose=0)
    assert val_loss == pytest.approx(history.history["val_loss"][-1], rel=1e-5)
    assert val_accuracy == pytest.approx(history.history["val_accuracy"][-1])
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "accuracy"}
    no_metrics = _mlp(metrics=None)
    no_metrics.fit(x, y, verbose=0)
    assert isinstance(no_metrics.evaluate(x, y, verbose=0), float)


def test_epoch_loss_is_the_sample_weighted_mean_and_accuracy_exact():
    x, y = blobs(50, 20, 3)
    model = _mlp(optimizer=keras.optimizers.SGD(learning_rate=0.0))        # weights never change
    history = model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    probabilities = model.predict(x)
    expected_loss = -np.log(probabilities[np.arange(50), y]).mean()
    assert history.history["loss"][0] == pytest.approx(expected_loss, rel=1e-5)
    assert history.history["accuracy"][0] == pytest.approx((probabilities.argmax(1) == y).mean())


def test_softmax_cross_entropy_is_fused_and_stable():
    """Huge logits: log(softmax) would give inf/nan; the fused path gives the exact finite loss."""
    model = keras.Sequential([keras.layers.Dense(2, activation="softmax", input_shape=(1,))])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.set_weights([np.array([[1000.0, -1000.0]], np.float32), np.zeros(2, np.float32)])
    x = np.ones((4, 1), np.float32)
    y = np.array([1, 1, 0, 0])
    loss = model.evaluate(x, y, verbose=0)
    assert loss == pytest.approx(1000.0, rel=1e-4)            # half the samples cost 2000 nats, half 0
    history = model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert np.all(np.isfinite(model.get_weights()[0]))
    # sigmoid + binary cross-entropy is fused too
    binary = keras.Sequential([keras.layers.Dense(1, activation="sigmoid", input_shape=(1,))])
    binary.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    binary.set_weights([np.array([[500.0]], np.float32), np.zeros(1, np.float32)])
    loss, accuracy = binary.evaluate(x, np.array([0.0, 0.0, 1.0, 1.0]), verbose=0)
    assert loss == pytest.approx(250.0, rel=1e-4) and accuracy == 0.5


def test_losses_and_metrics_against_numpy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 5)).astype(np.float32)
    y = (x @ rng.normal(size=(5, 1))).astype(np.float32).ravel()
    model = keras.Sequential([keras.layers.Dense(1, input_shape=(5,))])
    model.compile(optimizer="adam", loss="mse", metrics=["mae", "mse"])
    loss, mae, mse = model.evaluate(x, y, verbose=0)
    prediction = model.predict(x).ravel()
    assert mse == pytest.approx(((prediction - y) ** 2).mean(), rel=1e-5)
    assert loss == pytest.approx(mse, rel=1e-5)
    assert mae == pytest.approx(np.abs(prediction - y).mean(), rel=1e-5)
    onehot = keras.utils.to_categorical(np.array([0, 2, 1, 2]), 3)
    categorical = keras.Sequential([keras.layers.Dense(3, activation="softmax", input_shape=(5,))])
    categorical.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    loss, accuracy = categorical.evaluate(x[:4], onehot, verbose=0)
    probabilities = categorical.predict(x[:4])
    assert loss == pytest.approx(-np.log((probabilities * onehot).sum(1)).mean(), rel=1e-5)
    assert accuracy == pytest.approx((probabilities.argmax(1) == onehot.argmax(1)).mean())


def test_wrapped_pytorch_style_module_with_logits_loss():
    x, y = blobs(400, 20, 3)
    module = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 3))
    model = keras.Model(module)
    model.compile(optimizer=optim.Adam(module.parameters(), lr=1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    history = model.fit(x, y, epochs=4, batch_size=32, verbose=0)
    assert history.history["accuracy"][-1] > 0.95
    assert isinstance(model, nn.Module) and len(list(model.parameters())) == 4
    assert set(model.state_dict()) == {"module.0.weight", "module.0.bias", "module.2.weight", "module.2.bias"}
    # an ember.nn loss module is called PyTorch-style, loss(outputs, targets)
    again = keras.Model(nn.Sequential(nn.Linear(20, 3)))
    again.compile(optimizer="sgd", loss=nn.CrossEntropyLoss(), metrics=["accuracy"])
    again.fit(x, y, epochs=2, verbose=0)
    assert again.evaluate(x, y, verbose=0)[1] > 0.8


def test_keras_subclass_model_with_call_and_data_loader():
    class TwoLayer(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = keras.layers.Dense(16, activation="relu")
            self.out = keras.layers.Dense(3)

        def call(self, x, training=None):
            return self.out(self.hidden(x))

    x, y = blobs(256, 20, 3)
    model = TwoLayer()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["sparse_categorical_accuracy"])
    loader = ember.data.DataLoader(ember.data.TensorDataset(ember.from_numpy(x), ember.from_numpy(y)),
                                   batch_size=32, shuffle=True)
    history = model.fit(loader, epochs=4, verbose=0)
    assert history.history["sparse_categorical_accuracy"][-1] > 0.9
    assert model.evaluate(loader, verbose=0)[1] > 0.9


def test_small_cnn_learns_on_channels_last_images():
    x, y = square_images(320)
    model = keras.Sequential([
        keras.layers.Conv2D(8, 3, padding="same", activation="relu", input_shape=(8, 8, 1)),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(4, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-2), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x[:256], y[:256], epochs=8, batch_size=32, verbose=0)
    assert model.evaluate(x[256:], y[256:], verbose=0)[1] >= 0.9


def test_fit_accepts_ember_tensors_and_initial_epoch():
    x, y = blobs(64, 20, 3)
    model = _mlp()
    history = model.fit(ember.from_numpy(x), ember.from_numpy(y), epochs=3, initial_epoch=1, verbose=0)
    assert history.epoch == [1, 2]


# -------------------------------------------------------------------------------------------------- callbacks

def _scripted_model(values):
    """A model whose fit logs a scripted 'val_loss' per epoch (via a callback that writes the logs)."""
    class Script(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = values[epoch]
    return Script()


def test_early_stopping_patience_and_restore_best_weights():
    x, y = blobs(64, 20, 3)
    model = _mlp()
    snapshots = []
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: snapshots.append(model.get_weights()))
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    history = model.fit(x, y, epochs=10, verbose=0,
                        callbacks=[_scripted_model([5.0, 3.0, 4.0, 3.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]), record,
                                   stop])
    assert len(history.epoch) == 4                           # best at epoch 1, no improvement for 2 epochs -> stop
    assert stop.stopped_epoch == 3 and stop.best == 3.0 and stop.best_epoch == 1
    for restored, best in zip(model.get_weights(), snapshots[1]):
        np.testing.assert_array_equal(restored, best)


def test_restore_best_weights_also_without_an_early_stop():
    """Keras 3: restore_best_weights restores at the end of training even when patience never ran out."""
    x, y = blobs(64, 20, 3)
    model = _mlp()
    snapshots = []
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: snapshots.append(model.get_weights()))
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True)
    model.fit(x, y, epochs=4, verbose=0, callbacks=[_scripted_model([3.0, 1.0, 2.0, 2.5]), record, stop])
    assert stop.stopped_epoch == 0
    for restored, best in zip(model.get_weights(), snapshots[1]):
        np.testing.assert_array_equal(restored, best)
    assert not np.array_equal(model.get_weights()[0], snapshots[-1][0])


def test_early_stopping_min_delta_and_mode():
    x, y = blobs(64, 20, 3)
    stop = keras.callbacks.EarlyStopping(monitor="val_accuracy", min_delta=0.1, patience=1)
    assert stop._monitor.mode == "max"                 # 'auto' mode: accuracy is maximised
    script = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: logs.update(val_accuracy=[0.5, 0.55, 0.58, 0.9, 0.9, 0.9][e]))
    history = _mlp().fit(x, y, epochs=6, verbose=0, callbacks=[script, stop])
    assert len(history.epoch) == 2                     # +0.05 is not an improvement with min_delta=0.1


def test_model_checkpoint_formats_epoch_and_save_best_only(tmp_path):
    x, y = blobs(64, 20, 3)
    model = _mlp()
    every = keras.callbacks.ModelCheckpoint(str(tmp_path / "every-{epoch:02d}.safetensors"), save_weights_only=True)
    best = keras.callbacks.ModelCheckpoint(str(tmp_path / "best.safetensors"), monitor="val_loss",
                                           save_best_only=True)
    snapshots = []
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: snapshots.append(model.get_weights()))
    model.fit(x, y, epochs=3, verbose=0, callbacks=[_scripted_model([2.0, 1.0, 3.0]), every, best, record])
    assert sorted(os.listdir(tmp_path)) == ["best.safetensors", "every-01.safetensors", "every-02.safetensors",
                                            "every-03.safetensors"]
    assert best.best == 1.0
    weights = ember.load(str(tmp_path / "every-03.safetensors"))
    np.testing.assert_array_equal(weights["layers.0.weight"].numpy(), model.state_dict()["layers.0.weight"].numpy())
    restored = keras.models.load_model(str(tmp_path / "best.safetensors"))      # saved after epoch 2, not 3
    for got, expected in zip(restored.get_weights(), snapshots[1]):
        np.testing.assert_array_equal(got, expected)


def test_reduce_lr_on_plateau_and_learning_rate_scheduler():
    x, y = blobs(64, 20, 3)
    model = _mlp(optimizer=keras.optimizers.Adam(learning_rate=0.01))
    reduce = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, min_lr=0.002)
    history = model.fit(x, y, epochs=7, verbose=0,
                        callbacks=[_scripted_model([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]), reduce])
    # no improvement from epoch 1 on: halve after epochs 2 and 4, then clamp at min_lr after epoch 6
    assert history.history["learning_rate"] == pytest.approx([0.01, 0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025])
    assert model.optimizer.learning_rate == pytest.approx(0.002)
    schedule = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[schedule])
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.1 / 3])


def test_csv_logger_and_lambda_callback_hooks(tmp_path):
    x, y = blobs(64, 20, 3)
    model = _mlp()
    events = []
    hooks = keras.callbacks.LambdaCallback(
        on_train_begin=lambda logs: events.append("train_begin"),
        on_epoch_begin=lambda e, logs: events.append(f"epoch_begin {e}"),
        on_train_batch_end=lambda b, logs: events.append(f"batch {b} {sorted(logs)}"),
        on_epoch_end=lambda e, logs: events.append(f"epoch_end {e}"),
        on_train_end=lambda logs: events.append("train_end"))
    path = tmp_path / "log.csv"
    model.fit(x, y, epochs=2, batch_size=32, validation_split=0.25, verbose=0,
              callbacks=[keras.callbacks.CSVLogger(str(path)), hooks])
    assert events == ["train_begin", "epoch_begin 0", "batch 0 ['accuracy', 'loss']", "batch 1 ['accuracy', 'loss']",
                      "epoch_end 0", "epoch_begin 1", "batch 0 ['accuracy', 'loss']",
                      "batch 1 ['accuracy', 'loss']", "epoch_end 1", "train_end"]
    rows = list(csv.reader(open(path)))
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [r[0] for r in rows[1:]] == ["0", "1"]
    assert float(rows[2][2]) == pytest.approx(model.history.history["loss"][1])
    model.fit(x, y, epochs=1, verbose=0, callbacks=[keras.callbacks.CSVLogger(str(path), append=True)])
    assert len(list(csv.reader(open(path)))) == 4       # appended one row, no second header


def test_stop_training_from_a_callback():
    x, y = blobs(64, 20, 3)
    model = _mlp()

    class StopAfterTwo(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.model.stop_training = True
    assert len(model.fit(x, y, epochs=5, verbose=0, callbacks=[StopAfterTwo()]).epoch) == 2


# -------------------------------------------------------------------------------------------------- progress

def test_progress_bar_lines_when_not_a_terminal(capsys):
    x, y = blobs(100, 20, 3)
    model = _mlp()
    model.fit(x, y, epochs=2, batch_size=50, validation_data=(x[:20], y[:20]), verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    assert lines[1].startswith("2/2 [==============================] - ")
    assert "/step - loss: " in lines[1] and " - accuracy: " in lines[1] and " - val_loss: " in lines[1]
    assert "\r" not in lines[1]
    model.fit(x, y, epochs=1, batch_size=50, verbose=2)
    assert len(capsys.readouterr().out.splitlines()) == 2
    model.fit(x, y, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""


def test_progress_bar_redraws_in_place_on_a_terminal():
    import io
    from ember.keras.progbar import Progbar

    class Terminal(io.StringIO):
        def isatty(self):
            return True
    stream = Terminal()
    bar = Progbar(4, verbose=1, stream=stream)
    assert bar.dynamic
    bar.update(1, {"loss": 0.5})
    assert not bar.wants_update()                      # redraws at most every 0.1 s
    bar.finish(4, {"loss": 0.25})
    text = stream.getvalue()
    assert text.startswith("\r1/4 [======>.......................] - ETA: ")
    assert text.endswith("- loss: 0.2500\n") and "\r4/4 [==============================] - " in text
    cut = Progbar(10, verbose=1, stream=Terminal())
    cut.update(3, {})
    cut.end_line()
    assert cut.stream.getvalue().endswith("\n")


def test_ctrl_c_stops_after_the_current_batch_and_returns_history(capsys):
    x, y = blobs(320, 20, 3)
    model = _mlp()
    seen = []

    def interrupt(batch, logs):
        seen.append(batch)
        if len(seen) == 13:                            # during epoch 2 (10 batches per epoch)
            os.kill(os.getpid(), signal.SIGINT)
    history = model.fit(x, y, epochs=5, batch_size=32, verbose=1,
                        callbacks=[keras.callbacks.LambdaCallback(on_train_batch_end=interrupt)])
    assert len(seen) == 13                             # no batch ran after the one that got the signal
    assert history.epoch == [0] and model.stop_training
    captured = capsys.readouterr()
    assert "interrupted (Ctrl-C) in epoch 2, after batch 3/10" in captured.err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler    # handler restored


def test_history_plot(tmp_path):
    x, y = blobs(64, 20, 3)
    history = _mlp().fit(x, y, epochs=2, validation_split=0.25, verbose=0)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install matplotlib"):
            history.plot(str(tmp_path / "curves.png"))
        return
    history.plot(str(tmp_path / "curves.png"))
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
