"""The brief's tf.keras example under ember.keras, on generated MNIST-shaped data (784 features, 10 classes) so it
runs anywhere without downloads: python examples/keras_quickstart.py"""
import numpy as np

from ember import keras

rng = np.random.default_rng(0)
centres = rng.normal(0.0, 0.15, (10, 784)).astype(np.float32)        # one noisy prototype per class
labels = rng.integers(0, 10, 12000)
images = (centres[labels] + rng.normal(0.0, 1.0, (12000, 784))).astype(np.float32)
x_train, y_train, x_test, y_test = images[:10000], labels[:10000], images[10000:], labels[10000:]

model = keras.Sequential([
    keras.layers.Dense(64, activation='relu', input_shape=(784,)),
    keras.layers.Dense(10, activation='softmax')
])
model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
model.fit(x_train, y_train, epochs=5, batch_size=32)
model.evaluate(x_test, y_test)
model.summary()
