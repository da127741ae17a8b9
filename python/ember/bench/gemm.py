"""GEMM workloads of `ember bench`: fp32 squares and the training shapes of the MLP and char-GPT layers in the three
layouts a training step uses (NN forward, TN weight gradient, NT input gradient), and the skinny products
of a 10-class head. ember's sgemm kernel, torch.mm and (in a separate worker process) numpy.matmul all write into
preallocated outputs; each is validated against a float64 product first."""
import numpy as np

from ._core import Prepared, ValidationError, Workload

SQUARES = [128, 256, 512, 1024, 2048, 3072]
QUICK_SQUARES = {128, 512}
# (name, M, K, N, layout): op(A) is (M, K), op(B) is (K, N); T = that operand is stored transposed.
TRAINING = [
    ("mlp_fc1_fwd", 128, 784, 512, "NN"), ("mlp_fc1_dw", 784, 128, 512, "TN"), ("mlp_fc1_dx", 128, 512, 784, "NT"),
    ("gpt_qkv_fwd", 2048, 256, 768, "NN"), ("gpt_qkv_dw", 256, 2048, 768, "TN"), ("gpt_qkv_dx", 2048, 768, 256, "NT"),
    ("gpt_down_fwd", 2048, 1024, 256, "NN"), ("gpt_down_dw", 1024, 2048, 256, "TN"),
    ("gpt_down_dx", 2048, 256, 1024, "NT"),
    ("head_fwd", 128, 512, 10, "NN"), ("head_dw", 512, 128, 10, "TN"), ("head_dx", 128, 10, 512, "NT"),   # skinny
]
QUICK_TRAINING = {"mlp_fc1_fwd", "mlp_fc1_dw", "mlp_fc1_dx"}
TOLERANCE = 1e-5   # scaled by |A| |B|: fp32 accumulation error for K <= 4096


def make_operands(M, K, N, layout, seed):
    """A and B as stored, and the (M, K), (K, N) views the product uses. Same seed, same data (numpy worker)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((K, M) if layout[0] == "T" else (M, K)).astype(np.float32)
    b = rng.standard_normal((N, K) if layout[1] == "T" else (K, N)).astype(np.float32)
    return a, b, (a.T if layout[0] == "T" else a), (b.T if layout[1] == "T" else b)


def reference(a_op, b_op):
    """The float64 product A B and the error scale |A| |B| + 1."""
    a64, b64 = a_op.astype(np.float64), b_op.astype(np.float64)
    return a64 @ b64, np.abs(a64) @ np.abs(b64) + 1.0


def scaled_error(c, ref):
    """max |C - A B| / (|A| |B| + 1), elementwise; ref from reference()."""
    product, scale = ref
    return float(np.max(np.abs(np.asarray(c, np.float64) - product) / scale))


def _prepare(M, K, N, layout, seed):
    def prepare(torch):
        from .. import _C
        a, b, a_op, b_op = make_operands(M, K, N, layout, seed)
        trans_a, trans_b = layout[0] == "T", layout[1] == "T"
        c_ember = np.empty((M, N), np.float32)
        runners = {"ember": lambda: _C._sgemm(a, b, c_ember, 1.0, 0.0, trans_a, trans_b)}
        results = {"ember": lambda: c_ember}
        if torch is not None:
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            ta_op, tb_op = (ta.t() if trans_a else ta), (tb.t() if trans_b else tb)
            c_torch = torch.empty((M, N))
            runners["torch"] = lambda: torch.mm(ta_op, tb_op, out=c_torch)
            results["torch"] = lambda: c_torch.numpy()
        worst, ref = 0.0, reference(a_op, b_op)
        for who, run in runners.items():
            run()
            err = scaled_error(results[who](), ref)
            if not err <= TOLERANCE:
                raise ValidationError(f"{who}: scaled error {err:.3g} > {TOLERANCE:g} against a float64 product")
            worst = max(worst, err)
        return Prepared(runners, {"status": "passed", "reference": "float64 product", "max_error": worst})
    return prepare


def workloads():
    out = []
    cases = [(f"gemm_sq{n}", n, n, n, "NN", n in QUICK_SQUARES) for n in SQUARES]
    cases += [(f"gemm_{name}", M, K, N, layout, name in QUICK_TRAINING) for name, M, K, N, layout in TRAINING]
    for seed, (name, M, K, N, layout, quick) in enumerate(cases):
        spec = {"M": M, "K": K, "N": N, "layout": layout, "seed": seed}
        out.append(Workload(name, "gemm", {"M": M, "K": K, "N": N, "layout": layout}, 2.0 * M * K * N,
                            _prepare(M, K, N, layout, seed), quick=quick, numpy_spec=spec))
    return out
