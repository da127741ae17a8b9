"""Saving Keras models with ember.save (safetensors, no pickle): model.save writes the architecture (a JSON config
of a Sequential), the weights, the compile settings and the optimizer state; load_model rebuilds all of it.
save_weights/load_weights hold the state_dict alone (load_weights also reads files written by model.save)."""
import os

from .. import _C
from .. import io
from .. import optim
from . import losses as losses_module
from . import optimizers as optimizers_module

__all__ = ["save_model", "load_model", "save_weights", "load_weights"]

FORMAT = "ember.keras"
FORMAT_VERSION = 1


def _compile_config(model):
    if model.compiled_loss is None:
        return None
    config = model._compile_config
    optimizer, loss, metrics = config["optimizer"], config["loss"], config["metrics"]
    if isinstance(optimizer, optimizers_module.Optimizer):
        optimizer_config = {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}
    else:
        defaults = {k: v for k, v in optimizer.defaults.items() if isinstance(v, (int, float, bool, tuple, list))}
        optimizer_config = {"class_name": type(optimizer).__name__, "ember_optim": True, "config": defaults}
    if isinstance(loss, str):
        loss_config = loss
    elif isinstance(loss, losses_module.Loss):
        loss_config = {"class_name": type(loss).__name__, "config": loss.get_config()}
    else:
        loss_config = None                 # a callable: cannot be stored; load_model leaves the model uncompiled
    if metrics is not None and not all(isinstance(m, str) for m in ([metrics] if isinstance(metrics, str)
                                                                     else metrics)):
        metrics = None
    return {"optimizer": optimizer_config, "loss": loss_config, "metrics": metrics}


def save_model(model, filepath, include_optimizer=True):
    from .sequential import Sequential
    filepath = os.fspath(filepath)
    header = {"format": FORMAT, "version": FORMAT_VERSION, "class_name": type(model).__name__,
              "config": model.get_config() if isinstance(model, Sequential) else None,
              "compile": _compile_config(model)}
    optimizer = getattr(model, "_step_optimizer", None)
    payload = {"keras": header, "weights": model.state_dict(),
               "optimizer": optimizer.state_dict() if include_optimizer and optimizer is not None else None}
    io.save(payload, filepath)


def _read(filepath, owner):
    data = io.load(os.fspath(filepath))
    if isinstance(data, dict) and isinstance(data.get("keras"), dict) and data["keras"].get("format") == FORMAT:
        return data
    return None


def load_model(filepath, compile=True):
    """The model saved by model.save(filepath): a Sequential rebuilt from its config, with its weights, compiled
    as it was (with its optimizer state) when compile=True."""
    from .layers import LAYER_CLASSES
    from .sequential import Sequential
    data = _read(filepath, "load_model")
    if data is None:
        raise ValueError(f"load_model: {filepath!r} was not written by keras model.save (for a state_dict use "
                         f"model.load_weights or ember.load)")
    header = data["keras"]
    if header.get("version", 0) > FORMAT_VERSION:
        raise ValueError(f"load_model: {filepath!r} has format version {header['version']}, newer than this ember "
                         f"reads ({FORMAT_VERSION})")
    if header["config"] is None:
        raise ValueError(f"load_model: {filepath!r} holds a {header['class_name']} wrapping a custom module, whose "
                         f"architecture cannot be stored; rebuild the model in code and call "
                         f"model.load_weights({filepath!r})")
    config = header["config"]
    layers = []
    for entry in config["layers"]:
        cls = LAYER_CLASSES.get(entry["class_name"])
        if cls is None:
            raise ValueError(f"load_model: unknown layer class {entry['class_name']!r} in {filepath!r}")
        layers.append(cls.from_config(dict(entry["config"])))
    model = Sequential(layers, name=config["name"])
    if config["input_shape"] is not None and not model.built:
        model.build((None,) + tuple(config["input_shape"]))
    model.load_state_dict(data["weights"])
    compile_config = header.get("compile")
    if compile and compile_config is not None and compile_config["loss"] is not None:
        _compile_from(model, compile_config, data.get("optimizer"))
    return model


def _compile_from(model, config, optimizer_state):
    optimizer_config = config["optimizer"]
    if optimizer_config.get("ember_optim"):
        cls = getattr(optim, optimizer_config["class_name"])
        settings = {k: tuple(v) if isinstance(v, list) else v for k, v in optimizer_config["config"].items()}
        optimizer = cls([p for p in model.parameters() if p.requires_grad], **settings)
    else:
        optimizer = optimizers_module.from_config(optimizer_config["class_name"], optimizer_config["config"])
    loss = config["loss"]
    if isinstance(loss, dict):
        loss = losses_module.from_config(loss["class_name"], loss["config"])
    model.compile(optimizer=optimizer, loss=loss, metrics=config["metrics"])
    if optimizer_state is not None:
        model._build_optimizer("load_model").load_state_dict(optimizer_state)


def save_weights(model, filepath):
    io.save(model.state_dict(), os.fspath(filepath))


def load_weights(model, filepath):
    data = _read(filepath, "load_weights")
    state = data["weights"] if data is not None else io.load(os.fspath(filepath))
    if not isinstance(state, dict) or not all(isinstance(v, _C.Tensor) for v in state.values()):
        raise ValueError(f"load_weights: {filepath!r} does not hold a flat state_dict of tensors")
    model.load_state_dict(state)
