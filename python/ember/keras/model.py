"""keras.Model: compile / fit / evaluate / predict / summary / save on any ember.nn.Module. `Model(module)` wraps a
PyTorch-style module; subclasses may define `call(x)` as in Keras; Sequential (sequential.py) is a Model whose
last softmax/sigmoid is fused into the loss. The training loop lives in training.py; this file holds set-up."""
import inspect

import numpy as np

from .. import _C
from .. import optim
from ..autograd import no_grad
from ..nn import Module
from . import losses as losses_module
from . import metrics as metrics_module
from . import optimizers
from .layers.base import unique_name, _snake_case
from . import training

__all__ = ["Model"]


class _CompiledLoss:
    """The compiled loss: call(y_true, outputs) on ember tensors; `fused_activation` is the final activation whose
    pre-activation outputs (logits) the model feeds instead of its outputs; `logits_of` tells the metrics."""

    def __init__(self, loss, final_activation):
        self.fused_activation = None
        self.logits_of = None
        if isinstance(loss, Module):                     # a PyTorch-style loss module: loss(input, target)
            self.name = _snake_case(type(loss).__name__)
            self.function = lambda y_true, outputs: loss(outputs, y_true)
            self.loss = None
        elif isinstance(loss, (str, losses_module.Loss)):
            self.loss = losses_module.get(loss)
            self.name = self.loss.name
            fusable = self.loss.fusable_activation
            if self.loss.from_logits:
                self.logits_of = fusable
                self.function = self.loss
            elif fusable is not None and final_activation == fusable:
                self.fused_activation = self.logits_of = fusable
                loss_object = self.loss
                self.function = lambda y_true, logits: loss_object.call(y_true, logits, True)
            else:
                self.function = self.loss
        elif callable(loss):                             # Keras convention: loss(y_true, y_pred)
            self.loss = None
            self.name = getattr(loss, "__name__", "loss")

            def function(y_true, outputs):
                value = loss(y_true, outputs)
                return value.mean() if value.ndim else value
            self.function = function
        else:
            raise TypeError(f"compile: loss must be a name, a keras.losses object, an ember.nn loss module or a "
                            f"callable loss(y_true, y_pred), got {type(loss).__name__}")
        # the name that decides what 'accuracy' means and how labels are prepared
        self.kind = self.loss.name if self.loss is not None else None
        if isinstance(loss, Module) and type(loss).__name__ == "CrossEntropyLoss":
            self.kind, self.logits_of = "sparse_categorical_crossentropy", "softmax"


class Model(Module):
    """A Keras model. `Model(module)` gives any ember.nn.Module compile/fit/evaluate/predict; subclasses may instead
    assign layers in __init__ and define `call(self, x)` (or `forward`)."""

    def __init__(self, module=None, name=None, **kwargs):
        if "inputs" in kwargs or "outputs" in kwargs:
            raise NotImplementedError("keras.Model(inputs, outputs): the functional API is not supported by "
                                      "ember.keras; use Sequential([...]) or Model(module)")
        if kwargs:
            raise TypeError(f"Model: unexpected arguments {sorted(kwargs)}")
        super().__init__()
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"Model: expected an ember.nn.Module to wrap, got {type(module).__name__}")
        if module is not None:
            self.module = module
        self.name = name or unique_name(_snake_case(type(self).__name__))
        self.stop_training = False
        self.history = None
        self.optimizer = None
        self.compiled_loss = None
        self.compiled_metrics = None
        self.output_shape = None
        self._checked_input_shape = None
        self._call_takes_training = None

    # ---- forward
    def __call__(self, x, *args, **kwargs):
        if isinstance(x, np.ndarray):
            from ._data import as_input_array
            x = _C.from_numpy(as_input_array(x, self.name))
        return super().__call__(x, *args, **kwargs)

    def forward(self, x, *args, **kwargs):
        if "module" in self._modules:
            return self._modules["module"](x, *args, **kwargs)
        if type(self).call is not Model.call:
            if self._call_takes_training is None:
                self._call_takes_training = "training" in inspect.signature(self.call).parameters
            if self._call_takes_training and "training" not in kwargs:
                kwargs["training"] = self.training
            return self.call(x, *args, **kwargs)
        raise NotImplementedError(f"Model '{self.name}': give a module to wrap (Model(module)), or define "
                                  f"call(self, x) in a subclass")

    def call(self, x):
        """Override in a subclass (Keras style); forward() calls it."""
        raise NotImplementedError

    def forward_logits(self, x):
        """The outputs before the final activation that the loss fuses (Sequential overrides this)."""
        raise NotImplementedError(f"Model '{self.name}' has no fusable final activation")

    def final_activation_name(self):
        return None

    @property
    def layers(self):
        modules = self._modules
        if "module" in modules:
            return list(modules["module"].children())
        return list(self.children())

    # ---- compile
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, weighted_metrics=None,
                run_eagerly=None, jit_compile=None, steps_per_execution=1):
        """optimizer: a name (adam, sgd, rmsprop, adagrad, adamw), a keras.optimizers object or an ember.optim
        optimizer. loss: a name, keras.losses object, callable loss(y_true, y_pred) or ember.nn loss module
        (called as loss(outputs, targets)). metrics: names (accuracy, mae, mse, ...) or callables."""
        if loss_weights is not None or weighted_metrics is not None:
            raise NotImplementedError("compile: loss_weights and weighted_metrics are not supported by ember.keras")
        if loss is None:
            raise ValueError(f"compile: loss is required; valid names: {', '.join(losses_module.NAMES)} (or a "
                             f"callable)")
        optimizer = optimizers.get(optimizer)
        compiled_loss = _CompiledLoss(loss, self.final_activation_name())
        self.compiled_metrics = metrics_module.resolve(metrics, compiled_loss.kind)
        self.compiled_loss = compiled_loss
        self.optimizer = optimizer
        self._compile_config = {"optimizer": optimizer, "loss": loss, "metrics": metrics}
        self._step_optimizer = optimizer if isinstance(optimizer, optim.Optimizer) else None

    def _require_compiled(self, owner):
        if self.compiled_loss is None:
            raise RuntimeError(f"{owner}: you must call compile() before {owner}() (e.g. model.compile("
                               f"optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy']))")

    def _build_optimizer(self, owner):
        if self._step_optimizer is not None:
            return self._step_optimizer
        parameters = [p for p in self.parameters() if p.requires_grad]
        if not parameters:
            raise ValueError(f"{owner}: model '{self.name}' has no trainable parameters")
        self._step_optimizer = self.optimizer.build(parameters)
        return self._step_optimizer

    # ---- shape checks and building
    def _expected_input_shape(self):
        return None

    def _check_input_shape(self, x, owner):
        """Runs one sample through the model (eval mode, no grad) the first time a shape is seen, so layers build
        and a wrong input shape fails here with a clear message; returns the output shape (None, ...)."""
        shape = tuple(x.shape[1:])
        if self._checked_input_shape == shape and self.output_shape is not None:
            return self.output_shape
        expected = self._expected_input_shape()
        if expected is not None and (len(expected) != len(shape) or
                                     any(e is not None and e != s for e, s in zip(expected, shape))):
            raise ValueError(f"{owner}: model '{self.name}' expects inputs of shape (None, "
                             f"{', '.join(map(str, expected))}), but x has shape {tuple(x.shape)}")
        self._build_for(x[:1])
        self._checked_input_shape = shape
        return self.output_shape

    def _build_for(self, sample):
        """Runs `sample` through the model (building lazy layers) and records the output shapes for summary()."""
        was_training = self.training
        self.eval()
        root = self._modules.get("module", self)
        self._child_output_shapes = {}

        def recorder(name):
            def record(module, args, output):
                if isinstance(output, _C.Tensor):
                    self._child_output_shapes[name] = (None,) + tuple(output.shape[1:])
            return record
        handles = [child.register_forward_hook(recorder(name)) for name, child in root.named_children()]
        try:
            with no_grad():
                output = self(_C.from_numpy(np.ascontiguousarray(sample)))
        except (ValueError, TypeError, IndexError, RuntimeError) as exc:
            raise type(exc)(f"model '{self.name}' cannot take inputs of shape (None, "
                            f"{', '.join(map(str, sample.shape[1:]))}): {exc}") from exc
        finally:
            for handle in handles:
                handle.remove()
            self.train(was_training)
        if not isinstance(output, _C.Tensor):
            raise TypeError(f"model '{self.name}': forward must return one ember.Tensor, got {type(output).__name__}")
        self.output_shape = (None,) + tuple(output.shape[1:])

    # ---- weights
    def get_state_snapshot(self):
        """A copy of every weight and buffer (what EarlyStopping keeps of the best epoch)."""
        return {name: tensor.detach().numpy().copy() for name, tensor in self.state_dict().items()}

    def set_state_snapshot(self, snapshot):
        self.load_state_dict(snapshot)

    def get_weights(self):
        from .layers.base import Layer
        if self.layers and all(isinstance(layer, Layer) for layer in self.layers):
            return [array for layer in self.layers for array in layer.get_weights()]
        return [tensor.detach().numpy().copy() for tensor in self.state_dict().values()]

    def set_weights(self, weights):
        from .layers.base import Layer
        weights = list(weights)
        if self.layers and all(isinstance(layer, Layer) for layer in self.layers):
            for layer in self.layers:
                count = len(layer._weight_items())
                layer.set_weights(weights[:count])
                weights = weights[count:]
            return
        self.load_state_dict(dict(zip(self.state_dict().keys(), weights)))

    def count_params(self):
        return sum(p.numel() for p in self.parameters())

    # ---- training API (training.py)
    fit = training.fit
    evaluate = training.evaluate
    predict = training.predict
    train_on_batch = training.train_on_batch
    predict_on_batch = training.predict_on_batch

    # ---- summary and saving
    def summary(self, line_length=None, print_fn=None):
        from .summary import summary
        summary(self, line_length=line_length, print_fn=print_fn)

    def save(self, filepath, include_optimizer=True):
        from .saving import save_model
        save_model(self, filepath, include_optimizer=include_optimizer)

    def save_weights(self, filepath):
        from .saving import save_weights
        save_weights(self, filepath)

    def load_weights(self, filepath):
        from .saving import load_weights
        load_weights(self, filepath)

    def extra_repr(self):
        return f"name={self.name!r}"
