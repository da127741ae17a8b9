"""The `ember` command: `ember info` (build and runtime configuration), `ember train` (train a bundled model on
a bundled dataset with a progress bar, a checkpoint and exact resume; see ember/train.py) and `ember bench`
(ember vs PyTorch and NumPy on this machine; see ember/bench/)."""
import argparse
import importlib.util
import platform
import sys


def _info(args):
    import ember
    cfg = ember.config()
    print(f"ember {cfg['version']}")
    print(f"  python      {platform.python_version()} ({sys.executable})")
    print(f"  compiler    {cfg['compiler']}")
    print(f"  simd        {cfg['isa']}")
    print(f"  threads     {cfg['num_threads']}")
    extras = [name for name in ("torch", "matplotlib", "safetensors", "mpi4py", "onnx")
              if importlib.util.find_spec(name) is not None]
    print(f"  extras      {', '.join(extras) if extras else 'none found'}")
    return 0


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def _add_train_parser(sub):
    train = sub.add_parser(
        "train", help="train a bundled model on a bundled dataset",
        description="Train a small model on bundled data (no downloads): a CNN on the 8x8 digits by default. "
                    "Each run keeps model.safetensors, a resumable checkpoint.safetensors and (with matplotlib) "
                    "curves.png in ./ember-runs/<name>/.")
    train.add_argument("--model", choices=("mlp", "cnn", "gpt"), help="model to train (default: cnn)")
    train.add_argument("--dataset", choices=("digits", "text"),
                       help="dataset (default: digits for mlp/cnn, text for gpt)")
    train.add_argument("--epochs", type=_non_negative_int, help="total number of epochs (default per model)")
    train.add_argument("--batch-size", type=_positive_int, help="samples per step (default 32)")
    train.add_argument("--lr", type=_positive_float, help="Adam learning rate (default per model)")
    train.add_argument("--threads", type=_positive_int,
                       help="threads (default 1: these small models step fastest on one thread)")
    train.add_argument("--out", help="folder that holds the runs (default ./ember-runs)")
    train.add_argument("--name", help="run name (default <model>-<dataset>-<timestamp>)")
    train.add_argument("--resume", metavar="PATH", help="continue a run from its folder or checkpoint file")
    train.add_argument("--seed", type=_non_negative_int, help="random seed (default 0)")
    train.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                       help="1: progress bar, 2: one line per epoch, 0: quiet (default 1)")
    train.set_defaults(func=_train, parser=train)
    return train


def _train(args):
    from . import train
    try:
        return train.run(args)
    except train.UsageError as exc:
        args.parser.error(str(exc))       # prints the usage and exits with status 2


def main(argv=None):
    parser = argparse.ArgumentParser(prog="ember", description="ember: CPU-first deep learning")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("info", help="show build and runtime configuration").set_defaults(func=_info)
    _add_train_parser(sub)
    from .bench import add_parser as _add_bench_parser
    _add_bench_parser(sub)
    args = parser.parse_args(argv)
    args.from_command_line = argv is None
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
