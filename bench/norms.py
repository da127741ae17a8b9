"""Normalisation layers in training mode, forward+backward: ember vs PyTorch, interleaved in one process.

BatchNorm1d on (N, C) activations (an MLP's), BatchNorm2d on a LeNet/ResNet-sized feature map and LayerNorm on a
transformer's (tokens, d) rows. Outputs and gradients are checked against torch first; the table gives median
times and the median of the per-round ratios torch time / ember time (> 1: ember is faster).

    python bench/norms.py                  # 1 and 2 threads
    python bench/norms.py --threads 1 --rounds 15
"""
import argparse

import torch   # first, as PyTorch users have it
import numpy as np

import ember
from _interleave import interleaved

CASES = [("BatchNorm1d", (256, 512)), ("BatchNorm1d", (1024, 128)), ("BatchNorm2d", (64, 32, 28, 28)),
         ("LayerNorm", (2048, 256))]


def make(kind, shape, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    width = shape[-1] if kind == "LayerNorm" else shape[1]
    e_layer, t_layer = getattr(ember.nn, kind)(width), getattr(torch.nn, kind)(width)
    ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    eg, tg = ember.tensor(g), torch.tensor(g)

    def ember_step():
        ex.grad = None
        out = e_layer(ex)
        out.backward(eg)
        return out

    def torch_step():
        tx.grad = None
        out = t_layer(tx)
        out.backward(tg)
        return out

    return ember_step, torch_step, ex, tx


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, ember {ember.__version__}; fwd+bwd, medians, ratio = torch / ember")
    for threads in args.threads:
        ember.set_num_threads(threads)
        torch.set_num_threads(threads)
        for kind, shape in CASES:
            ember_step, torch_step, ex, tx = make(kind, shape)
            what = f"{kind} {'x'.join(map(str, shape))}"
            np.testing.assert_allclose(ember_step().detach().numpy(), torch_step().detach().numpy(), rtol=1e-4,
                                       atol=1e-4, err_msg=what)
            np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-3, atol=1e-4, err_msg=what)
            te, tt, ratio = interleaved(ember_step, torch_step, args.rounds)
            print(f"{threads}t {what:28s} ember {te * 1e3:8.3f} ms  torch {tt * 1e3:8.3f} ms  x torch {ratio:5.2f}")


if __name__ == "__main__":
    main()
