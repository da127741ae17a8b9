"""Whole training steps, now part of `ember bench` (python/ember/bench/train.py and overhead.py): this script runs
the MLP/Adam, LeNet-5/SGD and char-GPT/AdamW steps and the tiny Linear(8, 8) SGD step.
Usage: python bench/train_step.py [ember bench options, e.g. --threads 1 2 --json out.json]"""
import sys

import torch  # noqa: F401  (torch first, as PyTorch users have it)

from ember.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "--only", "train", "tiny_sgd_step", *sys.argv[1:]]))
