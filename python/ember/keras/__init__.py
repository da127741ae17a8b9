"""ember.keras: the Keras style on ember — Sequential / Model(module), compile, fit, evaluate, predict, summary,
save / load_model, callbacks — so the classic tf.keras example runs unchanged with `from ember import keras`.
Images are channels-last (N, H, W, C) as in Keras. Every model is an ember.nn.Module."""
from . import activations, callbacks, initializers, layers, losses, metrics, models, optimizers, utils
from .layers import Input
from .model import Model
from .saving import load_model
from .sequential import Sequential

__all__ = ["Sequential", "Model", "Input", "layers", "losses", "metrics", "optimizers", "callbacks", "models",
           "activations", "initializers", "utils", "load_model"]
