"""The brief's example, verbatim apart from the import (tf.keras -> ember.keras), on learnable generated data."""
import numpy as np

from keras_helpers import blobs


def test_the_brief_example_runs_unchanged_and_learns(capsys):
    from ember import keras

    x, y = blobs(samples=1500, features=784, classes=10)
    x_train, y_train, x_test, y_test = x[:1200], y[:1200], x[1200:], y[1200:]

    model = keras.Sequential([
        keras.layers.Dense(64, activation='relu', input_shape=(784,)),
        keras.layers.Dense(10, activation='softmax')
    ])
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    model.fit(x_train, y_train, epochs=5, batch_size=32)
    result = model.evaluate(x_test, y_test)

    loss, accuracy = result
    assert accuracy >= 0.95, result
    assert loss < 0.3, result
    out = capsys.readouterr().out
    assert "Epoch 1/5" in out and "Epoch 5/5" in out
    assert "38/38 [==============================]" in out          # 1200 / 32 -> 38 steps
    assert " - loss: " in out and " - accuracy: " in out
    probabilities = model.predict(x_test[:7])
    assert probabilities.shape == (7, 10)
    np.testing.assert_allclose(probabilities.sum(1), 1.0, rtol=1e-5)


def test_import_style_ember_keras_as_keras():
    import ember.keras as keras
    model = keras.Sequential([keras.layers.Dense(4, activation="relu", input_shape=(3,)), keras.layers.Dense(2)])
    assert model.output_shape == (None, 2)
