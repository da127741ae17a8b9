"""parameters_to_vector / vector_to_parameters: flatten parameters into one 1-D tensor and copy one back."""
from ... import _C
from ...autograd import no_grad


def parameters_to_vector(parameters):
    """One 1-D tensor holding every parameter's values, in order (a copy)."""
    if isinstance(parameters, _C.Tensor):
        parameters = [parameters]
    flat = [p.reshape(-1) for p in parameters]
    if not flat:
        raise ValueError("parameters_to_vector: got no parameters")
    cat = getattr(_C, "cat", None)
    if cat is not None:
        return cat(flat)
    import numpy as np
    return _C.from_numpy(np.concatenate([f.detach()._numpy_view() for f in flat]))


def vector_to_parameters(vec, parameters):
    """Copies consecutive slices of the 1-D tensor `vec` into the parameters, in order, in place."""
    if not isinstance(vec, _C.Tensor):
        raise TypeError(f"expected ember.Tensor, but got: {type(vec).__name__}")
    if vec.ndim != 1:
        raise ValueError(f"vector_to_parameters: expected a 1-D vector, got shape {tuple(vec.shape)}")
    if isinstance(parameters, _C.Tensor):
        parameters = [parameters]
    parameters = list(parameters)
    total = sum(p.numel() for p in parameters)
    if total != vec.numel():
        raise ValueError(f"vector_to_parameters: the parameters hold {total} values but the vector has "
                         f"{vec.numel()}")
    pointer = 0
    with no_grad():
        for p in parameters:
            count = p.numel()
            p.copy_(_C.narrow(vec, 0, pointer, count).reshape(tuple(p.shape)))
            pointer += count
