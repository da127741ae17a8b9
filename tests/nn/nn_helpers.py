"""Shared helpers of the nn tests: tensors across ember/torch/NumPy and weight copying both ways."""
import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


def to_torch(t, requires_grad=False):
    out = torch.from_numpy(np.array(t.detach().numpy(), copy=True))
    return out.requires_grad_(requires_grad)


def to_ember(t, requires_grad=False):
    return ember.tensor(t.detach().numpy(), requires_grad=requires_grad)


def pair(shape, seed=0, dtype=np.float32, scale=1.0):
    """The same random data as an ember tensor and a torch tensor, both requiring grad."""
    data = (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)
    return ember.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)


def copy_torch_to_ember(torch_module, ember_module):
    ember_module.load_state_dict({k: v.numpy() for k, v in torch_module.state_dict().items()})


def assert_close(ember_value, torch_value, atol=1e-5, rtol=1e-4):
    assert ember_value is not None and torch_value is not None
    np.testing.assert_allclose(ember_value.detach().numpy(), torch_value.detach().numpy(), atol=atol, rtol=rtol)


# ember.autograd.gradcheck perturbs inputs with item assignment, which arrives with the indexing branch.
needs_gradcheck = pytest.mark.skipif(not hasattr(ember.Tensor, "__setitem__"),
                                     reason="ember.autograd.gradcheck needs Tensor.__setitem__ (indexing branch)")
