"""The `ember` command: `ember info` (build and runtime configuration)."""
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
    print(f"  openmp      {cfg['openmp']}")
    extras = [name for name in ("torch", "matplotlib", "safetensors", "mpi4py", "onnx")
              if importlib.util.find_spec(name) is not None]
    print(f"  extras      {', '.join(extras) if extras else 'none found'}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="ember", description="ember: CPU-first deep learning")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("info", help="show build and runtime configuration").set_defaults(func=_info)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
