"""Fused losses forward and forward+backward vs torch.nn.functional: softmax cross-entropy, MSE, BCE with logits.

Cross-entropy: class-index targets on (N, C) float32 logits, from the char-GPT head (2048 x 96) to a GPT-2-sized
vocabulary (256 x 50257), plus label smoothing on the middle shape. MSE: mean over 4M float32 values. Binary
cross-entropy with logits: a 4096 x 64 multi-label batch. Interleaved in one process (the order flips every round)
after the losses and gradients were checked against torch; the table gives median times and the median of the
per-round ratios torch time / ember time (> 1: ember is faster).

    python bench/losses.py                 # every shape, 1 and 2 threads
    python bench/losses.py --threads 1 --rounds 15
"""
import argparse

import torch   # first, as PyTorch users have it
import numpy as np

import ember
from _interleave import interleaved

SHAPES = [(2048, 96, 0.0), (512, 8192, 0.0), (512, 8192, 0.1), (256, 50257, 0.0), (512, 8192, "mse"),
          (4096, 64, "bce")]


def make(n, c, smoothing, seed=0):
    """smoothing: the cross-entropy's label smoothing, "mse" (against a random target) or "bce" (0/1 targets)."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, c)) * 2).astype(np.float32)
    y = {"mse": lambda: rng.standard_normal((n, c)).astype(np.float32),
         "bce": lambda: (rng.random((n, c)) < 0.3).astype(np.float32)}.get(smoothing, lambda: rng.integers(0, c, n))()
    ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ey, ty = ember.tensor(y), torch.tensor(y)
    losses = {"mse": (ember.nn.functional.mse_loss, torch.nn.functional.mse_loss),
              "bce": (ember.nn.functional.binary_cross_entropy_with_logits,
                      torch.nn.functional.binary_cross_entropy_with_logits)}
    e_loss, t_loss = losses.get(smoothing, (
        lambda a, b: ember.nn.functional.cross_entropy(a, b, label_smoothing=smoothing),
        lambda a, b: torch.nn.functional.cross_entropy(a, b, label_smoothing=smoothing)))
    return stepper(e_loss, ex, ey), stepper(t_loss, tx, ty), ex, tx


def stepper(loss_fn, logits, target):
    """step(backward): the loss, and with backward=True also a fresh logits.grad."""
    def step(backward):
        loss = loss_fn(logits, target)
        if backward:
            logits.grad = None
            loss.backward()
        return loss
    return step


def validate(ember_step, torch_step, ex, tx, what):
    e, t = ember_step(True), torch_step(True)
    np.testing.assert_allclose(float(e.item()), float(t.item()), rtol=1e-5, err_msg=what)
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-8, err_msg=what)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, ember {ember.__version__}; times are medians, ratio = torch / ember")
    for threads in args.threads:
        ember.set_num_threads(threads)
        torch.set_num_threads(threads)
        for n, c, smoothing in SHAPES:
            ember_step, torch_step, ex, tx = make(n, c, smoothing)
            what = f"{smoothing} {n}x{c}" if isinstance(smoothing, str) else \
                f"cross-entropy {n}x{c} smoothing {smoothing}"
            validate(ember_step, torch_step, ex, tx, what)
            for backward in (False, True):
                te, tt, ratio = interleaved(lambda: ember_step(backward), lambda: torch_step(backward), args.rounds)
                print(f"{threads}t {what:38s} {'fwd+bwd' if backward else 'fwd    '}  ember {te * 1e3:8.3f} ms  "
                      f"torch {tt * 1e3:8.3f} ms  x torch {ratio:5.2f}")


if __name__ == "__main__":
    main()
