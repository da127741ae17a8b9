"""keras.layers: the Keras layer classes, as ember.nn Modules working on channels-last data."""
from .base import Layer, InputLayer, Input
from .core import (Dense, Activation, Dropout, Flatten, Reshape, Embedding, BatchNormalization,
                   LayerNormalization)
from .convolutional import (Conv2D, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D)

Convolution2D = Conv2D
MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D

__all__ = ["Layer", "InputLayer", "Input", "Dense", "Activation", "Dropout", "Flatten", "Reshape", "Embedding",
           "BatchNormalization", "LayerNormalization", "Conv2D", "MaxPooling2D", "AveragePooling2D",
           "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Convolution2D", "MaxPool2D", "AvgPool2D",
           "GlobalAvgPool2D", "GlobalMaxPool2D"]

LAYER_CLASSES = {name: globals()[name] for name in __all__ if isinstance(globals()[name], type)}
