"""sgemm benchmark, now part of `ember bench` (python/ember/bench/gemm.py): this script runs its GEMM family.
Usage: python bench/gemm.py [ember bench options, e.g. --threads 1 2 --quick --json out.json]
Force ember's kernel level with EMBER_ISA=ref|avx2|avx512."""
import sys

import torch  # noqa: F401  (torch first, as PyTorch users have it)

from ember.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "--only", "gemm", *sys.argv[1:]]))
