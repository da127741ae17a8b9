"""Float64 finite-difference gradient check, as torch.autograd.gradcheck."""
import numpy as np

from .. import _C


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Compares the analytical Jacobian of fn at `inputs` (float64 tensors) with central differences."""
    inputs = _as_tuple(inputs)
    diff = [x for x in inputs if isinstance(x, _C.Tensor) and x.requires_grad]
    if not diff:
        raise ValueError("gradcheck: expected at least one input tensor with requires_grad=True")
    for x in diff:
        if x.dtype != _C.dtype.float64:
            raise TypeError(f"gradcheck: inputs must be float64 for a meaningful check, got {x.dtype!r}")

    def evaluate():
        with _no_grad():
            outs = _as_tuple(fn(*inputs))
        return [o.detach().numpy().astype(np.float64).copy() for o in outs]

    outs = _as_tuple(fn(*inputs))
    for o_index, out in enumerate(outs):
        n_out = out.numel()
        analytical = [np.zeros((n_out, x.numel())) for x in diff]
        for j in range(n_out):
            g = _C.zeros(out.shape, dtype=out.dtype)
            g._numpy_view().reshape(-1)[j] = 1.0   # contiguous, so the reshape is a view
            grads = _C._grad(out, diff, g, True, False, True)
            for k, gk in enumerate(grads):
                if gk is not None:
                    analytical[k][j] = gk.detach().numpy().reshape(-1)
        for k, x in enumerate(diff):
            # perturb through a NumPy view of x's memory (C order, as the analytical columns); such writes do
            # not bump x's version, so the graph built above stays valid
            values = x.detach()._numpy_view()
            numerical = np.zeros((n_out, x.numel()))
            for i, index in enumerate(np.ndindex(values.shape)):
                orig = values[index].item()
                values[index] = orig + eps
                plus = evaluate()[o_index].reshape(-1)
                values[index] = orig - eps
                minus = evaluate()[o_index].reshape(-1)
                values[index] = orig
                numerical[:, i] = (plus - minus) / (2 * eps)
            if not np.allclose(analytical[k], numerical, atol=atol, rtol=rtol):
                if raise_exception:
                    worst = np.abs(analytical[k] - numerical).max()
                    raise RuntimeError(f"gradcheck: Jacobian mismatch for output {o_index} with respect to input {k}: "
                                       f"max abs difference {worst:.3g}\nanalytical:\n{analytical[k]}\n"
                                       f"numerical:\n{numerical}")
                return False
    return True


class _no_grad:
    def __enter__(self):
        self.prev = _C.is_grad_enabled()
        _C._set_grad_enabled(False)

    def __exit__(self, *exc):
        _C._set_grad_enabled(self.prev)

