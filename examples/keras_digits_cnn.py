"""A Keras-style CNN on the bundled 8x8 digits (channels-last), with validation, EarlyStopping, a checkpoint of the
best epoch and a saved model that loads back: python examples/keras_digits_cnn.py"""
import tempfile
import os

import ember
from ember import keras
from ember.data import load_digits

ember.manual_seed(0)
x_train, y_train = load_digits("train")
x_test, y_test = load_digits("test")
x_train, x_test = x_train.reshape(-1, 8, 8, 1), x_test.reshape(-1, 8, 8, 1)

model = keras.Sequential([
    keras.Input(shape=(8, 8, 1)),
    keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
    keras.layers.MaxPooling2D(),
    keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
    keras.layers.MaxPooling2D(),
    keras.layers.Flatten(),
    keras.layers.Dropout(0.2),
    keras.layers.Dense(10, activation="softmax"),
])
model.compile(optimizer=keras.optimizers.Adam(learning_rate=3e-3), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
model.summary()
folder = tempfile.mkdtemp(prefix="ember-keras-")
callbacks = [keras.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True),
             keras.callbacks.ModelCheckpoint(os.path.join(folder, "best.safetensors"), save_best_only=True)]
history = model.fit(x_train, y_train, epochs=30, batch_size=32, validation_split=0.1, callbacks=callbacks, verbose=2)
loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"test accuracy {accuracy:.4f} after {len(history.epoch)} epochs")
model.save(os.path.join(folder, "model.safetensors"))
restored = keras.models.load_model(os.path.join(folder, "model.safetensors"))
print("reloaded model test accuracy", restored.evaluate(x_test, y_test, verbose=0)[1])
