"""ember.keras fit overhead and speed against PyTorch, interleaved in one process, reported as ratios of medians.

1. fit overhead: model.fit vs a hand-written loop over the SAME ember model, optimizer and batches (digits MLP and
   CNN); the target is <= 5% overhead.
2. the brief's example (Dense(64, relu) -> Dense(10, softmax), Adam, batch 32) under ember.keras.fit against
   PyTorch running the same model with a hand-written loop; the target is ember >= 3x faster.
Times are process CPU seconds (robust on a shared machine; --wall for wall-clock).
Usage: python bench/keras_fit.py [--threads 1] [--repeats 7] [--epochs 3] [--json out.json] [--wall]"""
import argparse
import json
import statistics
import time

import numpy as np

try:
    import torch            # torch before ember, as PyTorch users have it
except ImportError:
    torch = None

import ember
from ember import keras, train_models
from ember.nn import functional as F


# CPU time of the process: on a shared machine it leaves out the time this process waited for a core (with one
# thread that is the time measured); pass --wall for wall-clock time.
CLOCK = time.process_time


def _digits(as_image):
    x_train, y_train, _, _ = train_models.load_digits_split(as_image)
    return x_train, y_train


def _blobs(samples=1200, features=784, classes=10):
    rng = np.random.default_rng(0)
    centres = rng.normal(0.0, 1.0, (classes, features)).astype(np.float32)
    y = rng.integers(0, classes, samples)
    return (centres[y] + rng.normal(0.0, 1.0, (samples, features))).astype(np.float32), y.astype(np.int64)


def _brief_model():
    return keras.Sequential([keras.layers.Dense(64, activation="relu", input_shape=(784,)),
                             keras.layers.Dense(10, activation="softmax")])


def _compiled(build, metrics):
    ember.manual_seed(0)
    model = build()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=metrics)
    return model


def time_fit(build, x, y, epochs, metrics):
    model = _compiled(build, metrics)
    model.fit(x[:64], y[:64], epochs=1, batch_size=32, verbose=0)               # build + warm up
    start = CLOCK()
    history = model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return CLOCK() - start, history.history["loss"][-1]


def time_hand_loop(build, x, y, epochs):
    """The loop a user would write around the same model: shuffle, slice, forward, loss, backward, step."""
    model = _compiled(build, None)
    model.fit(x[:64], y[:64], epochs=1, batch_size=32, verbose=0)
    optimizer = model._build_optimizer("bench")
    start = CLOCK()
    for _ in range(epochs):
        order = ember.randperm(len(x)).numpy()
        xs, ys = x[order], y[order]
        total = 0.0
        for i in range(0, len(x), 32):
            xb, yb = ember.from_numpy(xs[i:i + 32]), ember.from_numpy(ys[i:i + 32])
            loss = F.cross_entropy(model.forward_logits(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(yb)
    return CLOCK() - start, total / len(x)


def time_torch_loop(x, y, epochs):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    start = CLOCK()
    for _ in range(epochs):
        order = torch.randperm(len(xt))
        xs, ys = xt[order], yt[order]
        total = 0.0
        for i in range(0, len(xt), 32):
            xb, yb = xs[i:i + 32], ys[i:i + 32]
            loss = loss_fn(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(yb)
    return CLOCK() - start, total / len(xt)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--json")
    parser.add_argument("--wall", action="store_true", help="wall-clock instead of process CPU time")
    args = parser.parse_args()
    global CLOCK
    if args.wall:
        CLOCK = time.perf_counter
    ember.set_num_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    digits_flat, digits_image, brief = _digits(False), _digits(True), _blobs()
    cases = {
        "digits MLP": (lambda: train_models.build_mlp(keras), digits_flat),
        "digits CNN": (lambda: train_models.build_cnn(keras), digits_image),
        "brief Dense(64)": (_brief_model, brief),
    }
    results = {}
    for name, (build, (x, y)) in cases.items():
        rows = {"hand loop": [], "fit": [], "fit + accuracy": []}
        steps = args.epochs * -(-len(x) // 32)
        for _ in range(args.repeats):                                         # interleaved
            rows["hand loop"].append(time_hand_loop(build, x, y, args.epochs)[0])
            rows["fit"].append(time_fit(build, x, y, args.epochs, None)[0])
            rows["fit + accuracy"].append(time_fit(build, x, y, args.epochs, ["accuracy"])[0])
        if name == "brief Dense(64)" and torch is not None:
            rows["torch hand loop"] = [time_torch_loop(x, y, args.epochs)[0] for _ in range(args.repeats)]
        medians = {k: statistics.median(v) for k, v in rows.items()}
        minima = {k: min(v) for k, v in rows.items()}          # the least disturbed run: robust on a busy machine
        print(f"{name}: {steps} steps, {args.repeats} interleaved runs, {args.threads} thread(s); "
              f"median and minimum")
        for key in rows:
            print(f"  {key:<16} {medians[key] / steps * 1e6:7.1f} us/step "
                  f"{(medians[key] / medians['hand loop'] - 1) * 100:+6.1f}%   "
                  f"{minima[key] / steps * 1e6:7.1f} us/step {(minima[key] / minima['hand loop'] - 1) * 100:+6.1f}%"
                  f"  vs hand loop")
        if "torch hand loop" in medians:
            print(f"  ember fit+accuracy is {medians['torch hand loop'] / medians['fit + accuracy']:.2f}x (median), "
                  f"{minima['torch hand loop'] / minima['fit + accuracy']:.2f}x (minimum) faster than PyTorch's "
                  f"hand-written loop")
        results[name] = {"median": {k: v / steps for k, v in medians.items()},
                         "minimum": {k: v / steps for k, v in minima.items()}}
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "seconds_per_step": results}, f, indent=2)


if __name__ == "__main__":
    main()
