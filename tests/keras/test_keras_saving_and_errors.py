"""save / load_model round trips (architecture, weights, compile settings, optimizer state), save_weights /
load_weights, summary(), and the clear errors for bad input: unknown names, mismatched x/y, labels out of range,
fit before compile, wrong input shapes."""
import numpy as np
import pytest

import ember
from ember import keras, nn, optim

from keras_helpers import blobs, square_images


def _cnn():
    return keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
        keras.layers.BatchNormalization(),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.1),
        keras.layers.Dense(4, activation="softmax")])


def test_save_and_load_model_round_trip_continues_training_identically(tmp_path):
    x, y = square_images(96)
    model = _cnn()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    path = tmp_path / "model.safetensors"
    model.save(str(path))
    restored = keras.models.load_model(str(path))
    assert isinstance(restored, keras.Sequential)
    assert [type(l).__name__ for l in restored.layers] == [type(l).__name__ for l in model.layers]
    np.testing.assert_array_equal(restored.predict(x), model.predict(x))
    assert restored.optimizer.learning_rate == pytest.approx(3e-3)
    assert restored.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
    # identical continued training: same optimizer state, same RNG stream (shuffle, dropout)
    state = ember.get_rng_state()
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    ember.set_rng_state(state)
    restored.fit(x, y, epochs=1, batch_size=32, verbose=0)
    for a, b in zip(model.get_weights(), restored.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_save_weights_load_weights_and_wrapped_models(tmp_path):
    module = nn.Sequential(nn.Linear(4, 3))
    model = keras.Model(module)
    model.compile(optimizer="sgd", loss="mse")
    path = str(tmp_path / "wrapped.safetensors")
    model.save(path)
    with pytest.raises(ValueError, match="rebuild the model in code and call model.load_weights"):
        keras.models.load_model(path)
    other = keras.Model(nn.Sequential(nn.Linear(4, 3)))
    other.load_weights(path)                           # load_weights reads model.save files too
    np.testing.assert_array_equal(other.get_weights()[0], model.get_weights()[0])
    model.save_weights(str(tmp_path / "w.safetensors"))
    assert set(ember.load(str(tmp_path / "w.safetensors"))) == {"module.0.weight", "module.0.bias"}
    with pytest.raises(ValueError, match="was not written by keras model.save"):
        keras.models.load_model(str(tmp_path / "w.safetensors"))


def test_a_keras_model_is_an_nn_module():
    model = _cnn()
    assert isinstance(model, nn.Module) and isinstance(model.layers[0], nn.Module)
    keys = list(model.state_dict())
    assert keys[:2] == ["layers.0.weight", "layers.0.bias"] and "layers.1.running_mean" in keys
    opt = optim.SGD(model.parameters(), lr=0.1)
    out = model(ember.from_numpy(np.zeros((2, 8, 8, 1), np.float32)))
    out.sum().backward()
    opt.step()
    assert model.layers[0].weight.grad is not None


def test_summary_table(capsys):
    model = keras.Sequential([keras.layers.Dense(64, activation="relu", input_shape=(784,), name="hidden"),
                              keras.layers.Dense(10, activation="softmax", name="probabilities")])
    model.summary()
    out = capsys.readouterr().out
    assert 'Model: "sequential' in out
    assert "hidden (Dense)" in out and "(None, 64)" in out and "50,240" in out
    assert "probabilities (Dense)" in out and "(None, 10)" in out and "650" in out
    assert "Total params: 50,890" in out and "Trainable params: 50,890" in out and "Non-trainable params: 0" in out
    _cnn().summary()
    out = capsys.readouterr().out
    assert "(None, 8, 8, 4)" in out and "(None, 4, 4, 4)" in out and "(None, 64)" in out
    assert "Non-trainable params: 8" in out                # BatchNormalization's moving mean and variance
    lazy = keras.Sequential([keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="has not been built yet"):
        lazy.summary()
    wrapped = keras.Model(nn.Sequential(nn.Linear(5, 32), nn.ReLU(), nn.Linear(32, 3)))
    wrapped.compile(optimizer="adam", loss="mse")
    wrapped.predict(np.zeros((2, 5), np.float32))              # traces the output shapes
    wrapped.summary()
    out = capsys.readouterr().out
    assert "0 (Linear)" in out and "(None, 32)" in out and "2 (Linear)" in out and "(None, 3)" in out
    assert "Total params: 291" in out


# ------------------------------------------------------------------------------------------------ bad input

def _compiled():
    model = keras.Sequential([keras.layers.Dense(8, activation="relu", input_shape=(5,)),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_unknown_names_list_the_valid_ones():
    model = _compiled()
    with pytest.raises(ValueError, match="unknown optimizer 'adamm'; valid names: adam, sgd, rmsprop, adagrad, "
                                         "adamw"):
        model.compile(optimizer="adamm", loss="mse")
    with pytest.raises(ValueError, match="unknown loss 'crossentropy'; valid names: sparse_categorical_crossentropy"):
        model.compile(optimizer="adam", loss="crossentropy")
    with pytest.raises(ValueError, match="unknown metric 'precision'; valid names: accuracy"):
        model.compile(optimizer="adam", loss="mse", metrics=["precision"])
    with pytest.raises(TypeError, match="optimizer must be"):
        model.compile(optimizer=3, loss="mse")


def test_fit_before_compile():
    model = keras.Sequential([keras.layers.Dense(3, input_shape=(5,))])
    with pytest.raises(RuntimeError, match=r"you must call compile\(\) before fit\(\)"):
        model.fit(np.zeros((4, 5)), np.zeros(4))
    with pytest.raises(RuntimeError, match="compile"):
        model.evaluate(np.zeros((4, 5)), np.zeros(4))


def test_bad_data():
    model = _compiled()
    x = np.zeros((10, 5), np.float32)
    with pytest.raises(ValueError, match="x and y must have the same number of samples, got x with 10 and y with 9"):
        model.fit(x, np.zeros(9), verbose=0)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\) for a model with 3 outputs, but y holds "
                                         r"labels from 0 to 7"):
        model.fit(x, np.array([0, 1, 2, 7, 0, 1, 2, 0, 1, 2]), verbose=0)
    with pytest.raises(ValueError, match="labels from -1"):
        model.evaluate(x, -np.ones(10), verbose=0)
    with pytest.raises(ValueError, match="needs integer class labels"):
        model.fit(x, np.full(10, 0.5), verbose=0)
    with pytest.raises(ValueError, match=r"expects inputs of shape \(None, 5\), but x has shape \(10, 6\)"):
        model.fit(np.zeros((10, 6)), np.zeros(10), verbose=0)
    with pytest.raises(ValueError, match=r"expects inputs of shape \(None, 5\)"):
        model.predict(np.zeros((10, 5, 1)))
    with pytest.raises(TypeError, match="must be a NumPy array or an ember.Tensor"):
        model.fit({"a": 1}, np.zeros(10), verbose=0)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        model.fit(x, np.zeros(10), batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="validation_split must be in"):
        model.fit(x, np.zeros(10), validation_split=1.5, verbose=0)
    onehot = keras.Sequential([keras.layers.Dense(3, activation="softmax", input_shape=(5,))])
    onehot.compile(optimizer="adam", loss="categorical_crossentropy")
    with pytest.raises(ValueError, match=r"one-hot labels of shape \(N, 3\)"):
        onehot.fit(x, np.zeros(10), verbose=0)


def test_wrong_input_shape_for_a_lazily_built_first_layer():
    model = keras.Sequential([keras.layers.Conv2D(4, 3), keras.layers.Flatten(), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match=r"cannot take inputs of shape \(None, 10\).*channels-last images"):
        model.fit(np.zeros((4, 10)), np.zeros((4, 2)), verbose=0)
    small = keras.Sequential([keras.layers.Conv2D(4, 5), keras.layers.Flatten(), keras.layers.Dense(2)])
    small.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match="images of at least"):
        small.fit(np.zeros((4, 3, 3, 1)), np.zeros((4, 2)), verbose=0)
