"""keras.Sequential: a plain stack of layers, built from `input_shape` (or keras.Input) or from the first batch.
Its forward is a loop over the layers; forward_logits stops before the last layer's activation so that compile can
fuse a final softmax/sigmoid into the loss (log_softmax + NLL on the logits, as Keras does)."""
import numpy as np

from .. import _C
from ..autograd import no_grad
from ..nn import Module, ModuleList
from .layers.base import InputLayer, Layer
from .layers.core import Embedding
from .model import Model

__all__ = ["Sequential"]


class Sequential(Model):
    """Sequential([layer, ...]) or Sequential() then .add(layer). Layers may be Keras layers or any ember.nn.Module."""

    def __init__(self, layers=None, name=None, trainable=True):
        super().__init__(name=name)
        self.input_shape = None           # (None, ...) once known
        self.built = False
        self.layers = ModuleList()        # registered under 'layers': state_dict keys are layers.0.weight, ...
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self):
        return list(self._modules["layers"])

    @layers.setter
    def layers(self, module_list):
        self._modules["layers"] = module_list

    def add(self, layer):
        """Appends a layer (a keras.Input sets the input shape instead)."""
        if isinstance(layer, InputLayer):
            if len(self._modules["layers"]):
                raise ValueError(f"Sequential '{self.name}': keras.Input must come before the first layer")
            self.input_shape = (None,) + layer.declared_input_shape
            return
        if not isinstance(layer, Module):
            raise TypeError(f"Sequential.add: expected a keras layer or an ember.nn.Module, got "
                            f"{type(layer).__name__}")
        names = {getattr(existing, "name", None) for existing in self._modules["layers"]}
        if isinstance(layer, Layer) and layer.name in names:
            raise ValueError(f"Sequential '{self.name}': all layers must have unique names; '{layer.name}' is "
                             f"already in the model")
        if not len(self._modules["layers"]) and isinstance(layer, Layer) and layer.declared_input_shape:
            if self.input_shape is None:
                self.input_shape = (None,) + layer.declared_input_shape
        self._modules["layers"].append(layer)
        self.built = False
        self.output_shape = None
        self._checked_input_shape = None
        if self.input_shape is not None:
            self.build(self.input_shape)

    def pop(self):
        layers = self._modules["layers"]
        if not len(layers):
            raise ValueError(f"Sequential '{self.name}': there are no layers to pop")
        last = layers[len(layers) - 1]
        del layers[len(layers) - 1]
        self.built = False
        self.output_shape = None
        self._checked_input_shape = None
        return last

    def _expected_input_shape(self):
        return None if self.input_shape is None else self.input_shape[1:]

    def build(self, input_shape=None):
        """Creates every layer's parameters for inputs of `input_shape` (batch dim included, e.g. (None, 784)) by
        running one zero sample through the stack (eval mode, no gradients); records each layer's output shape."""
        input_shape = tuple(input_shape if input_shape is not None else self.input_shape or ())
        if len(input_shape) < 2:
            raise ValueError(f"Sequential '{self.name}': build needs an input shape with a batch dimension, e.g. "
                             f"(None, 784); got {input_shape or 'none'} (give input_shape to the first layer)")
        layers = self.layers
        integer_input = bool(layers) and isinstance(layers[0], Embedding)
        sample = np.zeros((1,) + tuple(1 if s is None else s for s in input_shape[1:]),
                          dtype=np.int64 if integer_input else np.float32)
        x = _C.from_numpy(sample)
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                for layer in layers:
                    x = layer(x)
                    if isinstance(layer, Layer):
                        layer.output_shape = (None,) + tuple(x.shape[1:])
        finally:
            self.train(was_training)
        self.input_shape = (None,) + tuple(input_shape[1:])
        self.output_shape = (None,) + tuple(x.shape[1:])
        self._checked_input_shape = tuple(input_shape[1:])
        self.built = True

    def _build_for(self, sample):
        try:
            self.build((None,) + tuple(sample.shape[1:]))
        except (ValueError, TypeError, IndexError, RuntimeError) as exc:
            raise type(exc)(f"model '{self.name}' cannot take inputs of shape (None, "
                            f"{', '.join(map(str, sample.shape[1:]))}): {exc}") from exc

    def forward(self, x):
        for layer in self._modules["layers"]:
            x = layer(x)
        return x

    def final_activation_name(self):
        layers = self._modules["layers"]
        return getattr(layers[len(layers) - 1], "activation_name", None) if len(layers) else None

    def forward_logits(self, x):
        last = None
        for layer in self._modules["layers"]._modules.values():
            if last is not None:
                x = last(x)
            last = layer
        if not last.built:
            last._build_from(x)
        return last.forward_pre_activation(x)

    def get_config(self):
        from .layers.base import Layer as KerasLayer
        configs = []
        for layer in self.layers:
            if not isinstance(layer, KerasLayer):
                raise ValueError(f"Sequential '{self.name}': layer {type(layer).__name__} is not a keras layer and "
                                 f"cannot be saved in a config; use save_weights and rebuild the model in code")
            configs.append({"class_name": type(layer).__name__, "config": layer.get_config()})
        return {"name": self.name, "input_shape": None if self.input_shape is None else list(self.input_shape[1:]),
                "layers": configs}
