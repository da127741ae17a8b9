"""keras.models: Sequential, Model and load_model, under the names Keras uses."""
from .model import Model
from .saving import load_model
from .sequential import Sequential

__all__ = ["Model", "Sequential", "load_model"]
