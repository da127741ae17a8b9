"""Convolution workloads of `ember bench`: LeNet's two layers, a 3x3 ResNet layer, a 1x1 layer and a depthwise
3x3, and LeNet's two 2x2 max pools, forward and forward+backward (gradients of weight, bias and, except for a first layer, the input), through
the public functional API of each library. Validated against PyTorch, or without it against a float64 NumPy
convolution (forward) and finite gradients (backward)."""
import numpy as np

from ._core import Prepared, ValidationError, check_close, to_numpy, Workload

# (name, N, C_in, C_out, H, W, K, padding, groups, input needs grad, in --quick)
SHAPES = [
    ("lenet1", 64, 1, 6, 28, 28, 5, 2, 1, False, True),
    ("lenet2", 64, 6, 16, 14, 14, 5, 0, 1, True, True),
    ("3x3", 32, 64, 64, 32, 32, 3, 1, 1, True, False),
    ("1x1", 32, 128, 256, 16, 16, 1, 0, 1, True, False),
    ("dw3x3", 32, 64, 64, 32, 32, 3, 1, 64, True, False),
]
TOLERANCE = 1e-4
# LeNet's 2x2 stride-2 max pools: (name, N, C, H, W)
POOLS = [("lenet1", 64, 6, 28, 28), ("lenet2", 64, 16, 10, 10)]


def conv_flops(n, c_in, c_out, h, w, k, padding, groups):
    oh, ow = h + 2 * padding - k + 1, w + 2 * padding - k + 1
    return 2.0 * n * c_out * oh * ow * (c_in // groups) * k * k


def numpy_conv2d(x, w, b, padding, groups):
    """float64 reference: stride 1, square kernel."""
    x = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    n, c_in = x.shape[:2]
    c_out, k = w.shape[0], w.shape[-1]
    windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))   # N, C, OH, OW, K, K
    out = []
    per_in, per_out = c_in // groups, c_out // groups
    for g in range(groups):
        xs = windows[:, g * per_in:(g + 1) * per_in]
        ws = w[g * per_out:(g + 1) * per_out].astype(np.float64)
        out.append(np.einsum("ncyxij,ocij->noyx", xs, ws))
    return np.concatenate(out, axis=1) + b.astype(np.float64)[None, :, None, None]


def _prepare(shape, backward, seed):
    _, n, c_in, c_out, h, w, k, padding, groups, input_grad, _ = shape

    def prepare(torch):
        import ember
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n, c_in, h, w)).astype(np.float32)
        wt = (rng.standard_normal((c_out, c_in // groups, k, k)) * 0.1).astype(np.float32)
        b = rng.standard_normal(c_out).astype(np.float32)
        oh, ow = h + 2 * padding - k + 1, w + 2 * padding - k + 1
        g = rng.standard_normal((n, c_out, oh, ow)).astype(np.float32)
        libs = {"ember": ember} if torch is None else {"ember": ember, "torch": torch}
        runners = {}
        for who, lib in libs.items():
            tx, tw, tb, tg = (lib.from_numpy(a.copy()) for a in (x, wt, b, g))
            inputs = [tw, tb] + ([tx] if input_grad else [])
            if backward:
                for t in inputs:
                    t.requires_grad_(True)
            conv = lib.nn.functional.conv2d

            def run(conv=conv, lib=lib, tx=tx, tw=tw, tb=tb, tg=tg, inputs=inputs):
                y = conv(tx, tw, tb, padding=padding, groups=groups)
                return (y,) + tuple(lib.autograd.grad([y], inputs, [tg])) if backward else (y,)
            runners[who] = run
        got = [to_numpy(t) for t in runners["ember"]()]
        if torch is not None:
            want = [to_numpy(t) for t in runners["torch"]()]
            return Prepared(runners, check_close(zip(got, want), TOLERANCE, "torch"))
        validation = check_close([(got[0], numpy_conv2d(x, wt, b, padding, groups))], TOLERANCE,
                                 "float64 numpy forward" + (", finite gradients" if backward else ""))
        if not all(np.all(np.isfinite(a)) for a in got[1:]):
            raise ValidationError("non-finite gradients")
        return Prepared(runners, validation)
    return prepare


def numpy_max_pool_2x2(x):
    n, c, h, w = x.shape
    return x[:, :, :h // 2 * 2, :w // 2 * 2].reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def _prepare_pool(shape, backward, seed):
    _, n, c, h, w = shape

    def prepare(torch):
        import ember
        rng = np.random.default_rng(100 + seed)
        x = rng.standard_normal((n, c, h, w)).astype(np.float32)
        g = rng.standard_normal((n, c, h // 2, w // 2)).astype(np.float32)
        libs = {"ember": ember} if torch is None else {"ember": ember, "torch": torch}
        runners = {}
        for who, lib in libs.items():
            tx, tg = lib.from_numpy(x.copy()), lib.from_numpy(g.copy())
            tx.requires_grad_(backward)
            pool = lib.nn.functional.max_pool2d

            def run(pool=pool, lib=lib, tx=tx, tg=tg):
                y = pool(tx, 2)
                return (y,) + tuple(lib.autograd.grad([y], [tx], [tg])) if backward else (y,)
            runners[who] = run
        got = [to_numpy(t) for t in runners["ember"]()]
        if torch is not None:
            want = [to_numpy(t) for t in runners["torch"]()]
            return Prepared(runners, check_close(zip(got, want), TOLERANCE, "torch"))
        return Prepared(runners, check_close([(got[0], numpy_max_pool_2x2(x))], TOLERANCE, "numpy max pool"))
    return prepare


def workloads():
    out = []
    for seed, shape in enumerate(SHAPES):
        name, n, c_in, c_out, h, w, k, padding, groups, input_grad, quick = shape
        params = {"N": n, "C_in": c_in, "C_out": c_out, "H": h, "W": w, "kernel": k, "padding": padding,
                  "groups": groups}
        flops = conv_flops(n, c_in, c_out, h, w, k, padding, groups)
        out.append(Workload(f"conv_{name}_fwd", "conv", dict(params, mode="fwd"), flops,
                            _prepare(shape, False, seed), quick=quick))
        # backward: dW and (if needed) dX cost one forward each
        out.append(Workload(f"conv_{name}_fwdbwd", "conv", dict(params, mode="fwd+bwd", input_grad=input_grad),
                            flops * (3 if input_grad else 2), _prepare(shape, True, seed), quick=quick))
    for seed, shape in enumerate(POOLS):
        name, n, c, h, w = shape
        params = {"N": n, "C": c, "H": h, "W": w, "kernel": 2, "stride": 2}
        compares = 3.0 * n * c * (h // 2) * (w // 2)   # 3 comparisons a window (reported as "FLOP")
        out.append(Workload(f"pool_{name}_fwd", "conv", dict(params, mode="fwd"), compares,
                            _prepare_pool(shape, False, seed), quick=seed == 0))
        out.append(Workload(f"pool_{name}_fwdbwd", "conv", dict(params, mode="fwd+bwd"), compares,
                            _prepare_pool(shape, True, seed), quick=seed == 0))
    return out
