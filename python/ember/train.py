"""`ember train`: trains a bundled model on a bundled dataset with ember.keras (progress bar, test accuracy), and
keeps a run folder ./ember-runs/<name>/ with model.safetensors (weights), checkpoint.safetensors (weights, optimizer,
LR scheduler, epoch, ember RNG state, history: `--resume` continues bit-identically) and curves.png (matplotlib)."""
import json
import os
import sys
import time

from . import _C
from . import io
from . import optim
from . import train_models

__all__ = ["run", "DEFAULTS"]

# per model: dataset, epochs, batch size, learning rate
DEFAULTS = {"mlp": ("digits", 20, 32, 2e-3), "cnn": ("digits", 12, 32, 3e-3), "gpt": ("text", 2, 32, 2e-3)}
DATASETS_OF = {"mlp": ("digits",), "cnn": ("digits",), "gpt": ("text",)}
CHECKPOINT_FILE = "checkpoint.safetensors"
WEIGHTS_FILE = "model.safetensors"
CURVES_FILE = "curves.png"
GPT_BLOCK = 32
GPT_WINDOWS = (8192, 512)     # training and test windows of GPT_BLOCK characters
DEFAULT_THREADS = 1           # these small models step fastest on one thread (no fork/join per op); --threads N


class UsageError(Exception):
    """A bad combination of arguments (the CLI prints it with the usage and exits with status 2)."""


def _settings(args):
    """The run's settings from the command line, filling in each model's defaults."""
    model = args.model or "cnn"
    dataset = args.dataset or DEFAULTS[model][0]
    if dataset not in DATASETS_OF[model]:
        raise UsageError(f"--model {model} trains on --dataset {' or '.join(DATASETS_OF[model])}, not {dataset}")
    _, epochs, batch_size, lr = DEFAULTS[model]
    return {"model": model, "dataset": dataset, "epochs": args.epochs if args.epochs is not None else epochs,
            "batch_size": args.batch_size or batch_size, "lr": args.lr if args.lr is not None else lr,
            "seed": args.seed if args.seed is not None else 0}


def _run_folder(args, settings, resumed_from):
    if resumed_from is not None and args.name is None and args.out is None:
        return resumed_from
    name = args.name or f"{settings['model']}-{settings['dataset']}-{time.strftime('%Y%m%d-%H%M%S')}"
    return os.path.join(args.out or "ember-runs", name)


def _checkpoint_path(path):
    path = os.fspath(path)
    return os.path.join(path, CHECKPOINT_FILE) if os.path.isdir(path) else path


def _build(settings):
    """(model, x_train, y_train, x_test, y_test, extras) for the settings; the model is compiled."""
    from . import keras
    _C.manual_seed(settings["seed"])
    extras = {}
    if settings["model"] == "gpt":
        x_train, y_train, x_test, y_test, vocab = train_models.load_text_split(GPT_BLOCK, *GPT_WINDOWS,
                                                                               settings["seed"])
        module = train_models.CharGPT(len(vocab), block_size=GPT_BLOCK)
        model = keras.Model(module, name="gpt")
        extras["vocab"] = vocab
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    else:
        x_train, y_train, x_test, y_test = train_models.load_digits_split(as_image=settings["model"] == "cnn")
        model = train_models.build_mlp(keras) if settings["model"] == "mlp" else train_models.build_cnn(keras)
        loss = "sparse_categorical_crossentropy"
    optimizer = optim.Adam(model.parameters(), lr=settings["lr"])
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    return model, x_train, y_train, x_test, y_test, extras


def _checkpoint_callback(keras, folder, settings, scheduler, previous_history):
    """Steps the LR scheduler at each epoch's end, then writes the training checkpoint and the weights."""

    class Checkpoint(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            scheduler.step()
            history = {key: list(values) for key, values in previous_history.items()}
            for key, value in (logs or {}).items():
                history.setdefault(key, []).append(float(value))
            previous_history.clear()
            previous_history.update(history)
            state = {"format": "ember.train", "version": 1, "settings": settings, "epoch": epoch + 1,
                     "model": self.model.state_dict(), "optimizer": self.model.optimizer.state_dict(),
                     "scheduler": scheduler.state_dict(), "rng": _C.get_rng_state(), "history": history}
            io.save(state, os.path.join(folder, CHECKPOINT_FILE))
            io.save(self.model.state_dict(), os.path.join(folder, WEIGHTS_FILE))
    return Checkpoint()


def _load_checkpoint(path):
    path = _checkpoint_path(path)
    if not os.path.exists(path):
        raise UsageError(f"--resume: no checkpoint at {path!r} (give a run folder or its {CHECKPOINT_FILE})")
    state = io.load(path)
    if not isinstance(state, dict) or state.get("format") != "ember.train":
        raise UsageError(f"--resume: {path!r} is not an `ember train` checkpoint")
    return state


def run(args):
    """Runs `ember train` for parsed arguments; returns the exit status."""
    threads = _C.get_num_threads()
    _C.set_num_threads(args.threads or DEFAULT_THREADS)
    try:
        return _run(args)
    finally:
        _C.set_num_threads(threads)


def _run(args):
    from . import keras
    resumed = None
    if args.resume is not None:
        resumed = _load_checkpoint(args.resume)
        settings = dict(resumed["settings"])
        for key in ("model", "dataset", "batch_size", "lr", "seed"):
            given = getattr(args, key)
            if given is not None and given != settings[key]:
                raise UsageError(f"--resume: the checkpoint was trained with --{key.replace('_', '-')} "
                                 f"{settings[key]}; resuming with a different value would not continue that run")
        if args.epochs is not None:
            settings["epochs"] = args.epochs
    else:
        settings = _settings(args)
    resumed_folder = os.path.dirname(_checkpoint_path(args.resume)) if resumed is not None else None
    folder = _run_folder(args, settings, resumed_folder)
    os.makedirs(folder, exist_ok=True)

    model, x_train, y_train, x_test, y_test, extras = _build(settings)
    optimizer = model.optimizer
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(settings["epochs"], 1),
                                                     eta_min=settings["lr"] * 0.05)
    history = {}
    initial_epoch = 0
    if resumed is not None:
        model.load_state_dict(resumed["model"])
        optimizer.load_state_dict(resumed["optimizer"])
        scheduler.load_state_dict(resumed["scheduler"])
        _C.set_rng_state(resumed["rng"])
        initial_epoch = int(resumed["epoch"])
        history = {key: list(values) for key, values in resumed["history"].items()}
        print(f"Resuming {folder} after epoch {initial_epoch}/{settings['epochs']}")
    print(f"ember train: {settings['model']} on {settings['dataset']} ({len(x_train)} training samples, "
          f"{model.count_params():,} parameters, {_C.get_num_threads()} threads) -> {folder}")
    callback = _checkpoint_callback(keras, folder, settings, scheduler, history)
    started = time.perf_counter()
    model.fit(x_train, y_train, batch_size=settings["batch_size"], epochs=settings["epochs"],
              initial_epoch=initial_epoch, validation_data=(x_test, y_test), callbacks=[callback],
              verbose=args.verbose)
    elapsed = time.perf_counter() - started
    completed = len(history.get("loss", []))
    checkpoint = os.path.join(folder, CHECKPOINT_FILE)
    if completed < settings["epochs"]:
        if os.path.exists(checkpoint):
            print(f"Stopped after epoch {completed}/{settings['epochs']}; resume with: ember train --resume {folder}")
        else:
            print("Stopped before the first epoch ended: no checkpoint to resume from")
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    what = "next-character accuracy" if settings["model"] == "gpt" else "test accuracy"
    print(f"{what}: {accuracy * 100:.2f}%  (test loss {loss:.4f}, {elapsed:.1f}s of training)")
    if settings["model"] == "gpt":
        print("sample:", repr(model.module.sample(extras["vocab"], "The ", 120, seed=settings["seed"])))
    _write_curves(history, folder)
    with open(os.path.join(folder, "settings.json"), "w") as f:
        json.dump({**settings, "completed_epochs": completed, "test_accuracy": accuracy, "test_loss": loss}, f,
                  indent=2)
    if os.path.exists(checkpoint):
        print(f"saved {os.path.join(folder, WEIGHTS_FILE)} and {checkpoint} (after epoch {completed})")
    return 0


def _write_curves(history, folder):
    from .keras.callbacks import History
    if not history.get("loss"):
        return
    curves = History()
    curves.history = {key: values for key, values in history.items() if key != "learning_rate"}
    curves.epoch = list(range(len(history["loss"])))
    try:
        path = curves.plot(os.path.join(folder, CURVES_FILE))
        print(f"saved training curves to {path}")
    except ImportError:
        print("training curves not plotted: matplotlib is not installed (pip install 'ember[plot]')",
              file=sys.stderr)
