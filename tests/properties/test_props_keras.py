"""Property tests of ember.keras: small Sequential models (Dense stacks with drawn widths/activations, a Conv2D
stack) over drawn tasks, optimizers, batch sizes and epochs: compile/fit/evaluate/predict return finite values of the
right shape, predict does not depend on batch_size and equals the model called directly; bad data and bad compile
arguments raise a clear error naming fit/evaluate/predict/compile."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import ember
from ember import keras
from props_helpers import raises_naming

TASKS = {  # name: (loss, output activation, metrics)
    "sparse": ("sparse_categorical_crossentropy", "softmax", ["accuracy"]),
    "categorical": ("categorical_crossentropy", "softmax", ["categorical_accuracy"]),
    "binary": ("binary_crossentropy", "sigmoid", ["binary_accuracy"]),
    "mse": ("mse", None, ["mae"]),
    "mae": ("mean_absolute_error", "linear", ["mse"]),
}
HIDDEN_ACTIVATIONS = [None, "relu", "tanh", "sigmoid", "gelu", "swish", "leaky_relu"]


def task_data(task, rng, n, features, outputs):
    x = rng.standard_normal((n, features)).astype(np.float32)
    if task == "sparse":
        return x, rng.integers(0, outputs, n).astype(np.int64)
    if task == "categorical":
        return x, np.eye(outputs, dtype=np.float32)[rng.integers(0, outputs, n)]
    if task == "binary":
        return x, (rng.random((n, outputs)) < 0.5).astype(np.float32)
    return x, rng.standard_normal((n, outputs)).astype(np.float32)


@st.composite
def dense_setups(draw):
    task = draw(st.sampled_from(sorted(TASKS)))
    return dict(task=task, features=draw(st.integers(1, 6)), outputs=draw(st.integers(2, 4)),
                hidden=draw(st.lists(st.tuples(st.integers(1, 8), st.sampled_from(HIDDEN_ACTIVATIONS)), max_size=2)),
                optimizer=draw(st.sampled_from(["adam", "sgd", "rmsprop", "adagrad", "adamw"])),
                n=draw(st.integers(1, 64)), batch_size=draw(st.sampled_from([None, 1, 3, 16, 64])),
                epochs=draw(st.integers(0, 3)), seed=draw(st.integers(0, 2 ** 31)))


def build_dense(s):
    _, activation, _ = TASKS[s["task"]]
    layers = [keras.Input(shape=(s["features"],))]
    layers += [keras.layers.Dense(units, activation=act) for units, act in s["hidden"]]
    layers.append(keras.layers.Dense(s["outputs"], activation=activation))
    return keras.Sequential(layers)


@given(dense_setups(), st.lists(st.integers(1, 70), min_size=2, max_size=3))
def test_dense_models_fit_evaluate_predict(s, predict_batches):
    ember.manual_seed(s["seed"])
    rng = np.random.default_rng(s["seed"])
    loss, activation, metrics = TASKS[s["task"]]
    model = build_dense(s)
    model.compile(optimizer=s["optimizer"], loss=loss, metrics=metrics)
    x, y = task_data(s["task"], rng, s["n"], s["features"], s["outputs"])
    history = model.fit(x, y, batch_size=s["batch_size"], epochs=s["epochs"], verbose=0)
    assert len(history.history.get("loss", [])) == s["epochs"]
    for values in history.history.values():
        assert len(values) == s["epochs"] and np.all(np.isfinite(values))
    result = model.evaluate(x, y, batch_size=s["batch_size"], verbose=0)
    assert len(result) == 2 and np.all(np.isfinite(result))
    predictions = [model.predict(x, batch_size=b) for b in predict_batches]
    first = predictions[0]
    assert first.shape == (s["n"], s["outputs"]) and first.dtype == np.float32 and np.all(np.isfinite(first))
    for other in predictions[1:]:
        np.testing.assert_allclose(other, first, rtol=1e-5, atol=1e-6)
    model.eval()
    with ember.no_grad():
        np.testing.assert_allclose(model(ember.from_numpy(x)).numpy(), first, rtol=1e-5, atol=1e-6)
    if activation == "softmax":
        np.testing.assert_allclose(first.sum(axis=1), 1.0, rtol=1e-5)
    if activation == "sigmoid":
        assert np.all((first >= 0) & (first <= 1))
    tensor_prediction = model.predict(ember.from_numpy(x.copy()), batch_size=predict_batches[0])
    np.testing.assert_array_equal(tensor_prediction, first)


@given(n=st.integers(1, 12), size=st.integers(4, 7), channels=st.integers(1, 3), filters=st.integers(1, 4),
       kernel=st.integers(1, 3), padding=st.sampled_from(["valid", "same"]), pool=st.sampled_from(
           ["MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D"]),
       batch_size=st.sampled_from([1, 4, 32]), seed=st.integers(0, 2 ** 31))
def test_conv2d_models_fit_and_predict_batch_invariant(n, size, channels, filters, kernel, padding, pool, batch_size,
                                                        seed):
    ember.manual_seed(seed)
    rng = np.random.default_rng(seed)
    layers = [keras.Input(shape=(size, size, channels)),
              keras.layers.Conv2D(filters, kernel, padding=padding, activation="relu"),
              getattr(keras.layers, pool)()]
    if not pool.startswith("Global"):
        layers.append(keras.layers.Flatten())
    model = keras.Sequential(layers + [keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = rng.standard_normal((n, size, size, channels)).astype(np.float32)
    y = rng.integers(0, 3, n)
    history = model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    full = model.predict(x, batch_size=n)
    assert full.shape == (n, 3) and np.all(np.isfinite(full))
    np.testing.assert_allclose(model.predict(x, batch_size=batch_size), full, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(full.sum(axis=1), 1.0, rtol=1e-5)


# ------------------------------------------------------------------------------------------------ invalid draws

@given(features=st.integers(1, 5), wrong_by=st.integers(1, 3), n=st.integers(1, 20), extra=st.integers(1, 5))
def test_bad_data_raises_naming_the_call(features, wrong_by, n, extra):
    model = keras.Sequential([keras.Input(shape=(features,)), keras.layers.Dense(3, activation="softmax")])
    x = np.zeros((n, features), np.float32)
    y = np.zeros(n, np.int64)
    with raises_naming("fit"):
        model.fit(x, y, verbose=0)          # before compile
    with raises_naming("evaluate"):
        model.evaluate(x, y, verbose=0)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with raises_naming("fit"):
        model.fit(x, np.zeros(n + extra, np.int64), verbose=0)
    with raises_naming("evaluate"):
        model.evaluate(np.zeros((n + extra, features), np.float32), y, verbose=0)
    with raises_naming("fit"):
        model.fit(np.zeros((n, features + wrong_by), np.float32), y, verbose=0)
    with raises_naming("predict"):
        model.predict(np.zeros((n, features + wrong_by), np.float32))
    with raises_naming("predict"):
        model.predict(np.zeros((0, features), np.float32))
    with raises_naming("fit"):
        model.fit(x, np.full(n, 3 + wrong_by, np.int64), verbose=0)   # labels outside [0, 3)
    with raises_naming("fit"):
        model.fit(x, y, batch_size=-wrong_by, verbose=0)
    with raises_naming("predict"):
        model.predict(x, batch_size=0)
    with raises_naming("fit"):
        model.fit(x, y, epochs=-wrong_by, verbose=0)
    with raises_naming("fit"):
        model.fit(x, verbose=0)
    with raises_naming("fit"):
        model.fit(np.array(["a"] * n), y, verbose=0)


@given(name=st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12))
def test_unknown_loss_optimizer_and_metric_names_raise_naming_compile(name):
    model = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(2)])
    if name.lower() not in keras.losses.NAMES:
        with raises_naming("compile"):
            model.compile(optimizer="adam", loss=name)
    if name.lower() not in keras.optimizers.NAMES:
        with raises_naming("compile"):
            model.compile(optimizer=name, loss="mse")
    if name.lower() not in keras.metrics.NAMES:
        with raises_naming("compile"):
            model.compile(optimizer="adam", loss="mse", metrics=[name])
    with raises_naming("compile"):
        model.compile(optimizer="adam")
    with raises_naming("compile"):
        model.compile(optimizer=3, loss="mse")
    with raises_naming("compile"):
        model.compile(optimizer="adam", loss="mse", metrics=[3])


@given(units=st.one_of(st.integers(-3, 0), st.just(2.5), st.just(True)))
def test_bad_layer_arguments_raise_naming_the_layer(units):
    with raises_naming("Dense"):
        keras.layers.Dense(units)
    with raises_naming("Conv2D"):
        keras.layers.Conv2D(units, 3)
    with pytest.raises((ValueError, TypeError)):
        keras.layers.Dropout(1.5 if units != 0 else -0.1)
