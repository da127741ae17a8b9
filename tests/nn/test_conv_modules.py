"""Conv1d/Conv2d and pooling modules: PyTorch's parameter names, shapes, default init bounds and repr; weights
loaded from torch give the same forward and gradients; constructor and channel errors; a LeNet-5 step."""
import math

import numpy as np
import pytest

import ember
from ember.nn.conv import Conv1d, Conv2d
from ember.nn.pooling import (AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool1d, AvgPool2d, MaxPool1d, MaxPool2d)

torch = pytest.importorskip("torch")


def load_from_torch(module, torch_module):
    module.load_state_dict({k: v.detach().numpy() for k, v in torch_module.state_dict().items()})


@pytest.mark.parametrize("cls,tcls,args,kw,shape", [
    (Conv2d, torch.nn.Conv2d, (3, 8, 3), dict(padding=1), (2, 3, 9, 10)),
    (Conv2d, torch.nn.Conv2d, (4, 6, (3, 2)), dict(stride=2, groups=2, bias=False), (1, 4, 9, 8)),
    (Conv2d, torch.nn.Conv2d, (4, 4, 4), dict(padding="same", dilation=2, groups=4), (2, 4, 7, 7)),
    (Conv1d, torch.nn.Conv1d, (3, 5, 3), dict(padding=1, stride=2), (2, 3, 11)),
    (Conv1d, torch.nn.Conv1d, (2, 4, 4), dict(padding="same"), (3, 2, 9)),
], ids=str)
@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_conv_module_matches_torch(cls, tcls, args, kw, shape):
    module, tmodule = cls(*args, **kw), tcls(*args, **kw)
    assert repr(module) == repr(tmodule)
    assert list(module.state_dict()) == list(tmodule.state_dict())
    for (name, p), (_, tp) in zip(module.named_parameters(), tmodule.named_parameters()):
        assert tuple(p.shape) == tuple(tp.shape), name
    load_from_torch(module, tmodule)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    ex, tx = ember.from_numpy(x).requires_grad_(True), torch.tensor(x, requires_grad=True)
    y, ty = module(ex), tmodule(tx)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-4, atol=1e-5)
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(module.weight.grad.numpy(), tmodule.weight.grad.numpy(), rtol=1e-4, atol=1e-3)


def test_default_init_bounds():
    conv = Conv2d(6, 16, 5)
    bound = 1.0 / math.sqrt(6 * 25)   # kaiming_uniform_(a=sqrt(5)) and the bias rule share this bound
    w, b = conv.weight.detach().numpy(), conv.bias.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound and abs(w.mean()) < 0.1 * bound
    assert np.abs(b).max() <= bound and np.unique(b).size == 16


def test_constructor_and_input_errors():
    with pytest.raises(NotImplementedError, match="padding_mode='reflect'"):
        Conv2d(3, 4, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        Conv2d(3, 4, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="in_channels \\(3\\) must be divisible by groups \\(2\\)"):
        Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="not supported for strided"):
        Conv2d(3, 4, 3, padding="same", stride=2)
    with pytest.raises(ValueError, match="invalid padding string"):
        Conv1d(3, 4, 3, padding="full")
    conv = Conv2d(3, 6, 5)
    with pytest.raises(ValueError, match=r"Conv2d\(3, 6, kernel_size=\(5, 5\).*expected input with 3 channels.*"
                                         r"\(2, 4, 28, 28\)"):
        conv(ember.zeros((2, 4, 28, 28)))


@pytest.mark.parametrize("module,tmodule,shape", [
    (MaxPool2d(2), torch.nn.MaxPool2d(2), (2, 3, 8, 9)),
    (MaxPool2d(3, 2, 1, ceil_mode=True), torch.nn.MaxPool2d(3, 2, 1, ceil_mode=True), (2, 3, 8, 9)),
    (MaxPool1d(3, 2, dilation=2), torch.nn.MaxPool1d(3, 2, dilation=2), (2, 3, 11)),
    (AvgPool2d(3, 2, 1, count_include_pad=False), torch.nn.AvgPool2d(3, 2, 1, count_include_pad=False), (2, 3, 8, 9)),
    (AvgPool1d(2), torch.nn.AvgPool1d(2), (2, 3, 11)),
    (AdaptiveAvgPool2d((2, 3)), torch.nn.AdaptiveAvgPool2d((2, 3)), (2, 3, 8, 9)),
    (AdaptiveMaxPool2d(3), torch.nn.AdaptiveMaxPool2d(3), (2, 3, 8, 9)),
], ids=lambda m: repr(m) if not isinstance(m, tuple) else str(m))
def test_pool_modules_match_torch(module, tmodule, shape):
    assert repr(module) == repr(tmodule)
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(module(ember.from_numpy(x)).numpy(), tmodule(torch.from_numpy(x)).numpy(),
                               rtol=1e-6, atol=1e-6)


def test_max_pool_module_return_indices():
    x = np.random.default_rng(2).standard_normal((1, 2, 6, 6)).astype(np.float32)
    y, idx = MaxPool2d(2, return_indices=True)(ember.from_numpy(x))
    ty, tidx = torch.nn.MaxPool2d(2, return_indices=True)(torch.from_numpy(x))
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())


def lenet(nn):
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                         nn.Linear(84, 10))


class _EmberNN:
    """torch.nn-like namespace with ember's layers (until ember.nn re-exports the conv and pool modules)."""
    def __getattr__(self, name):
        import ember.nn.conv as conv
        import ember.nn.pooling as pooling
        for source in (conv, pooling, ember.nn):
            if hasattr(source, name):
                return getattr(source, name)
        raise AttributeError(name)


def test_lenet_training_steps_match_torch():
    model, tmodel = lenet(_EmberNN()), lenet(torch.nn)
    load_from_torch(model, tmodel)
    rng = np.random.default_rng(3)
    opt = ember.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    topt = torch.optim.SGD(tmodel.parameters(), lr=0.05, momentum=0.9)
    for _ in range(3):
        x = rng.standard_normal((8, 1, 28, 28)).astype(np.float32)
        y = rng.integers(0, 10, 8)
        loss = ember.nn.functional.cross_entropy(model(ember.from_numpy(x)), ember.from_numpy(y))
        tloss = torch.nn.functional.cross_entropy(tmodel(torch.from_numpy(x)), torch.from_numpy(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        topt.zero_grad()
        tloss.backward()
        topt.step()
        assert abs(loss.item() - tloss.item()) < 1e-4 * max(1.0, abs(tloss.item()))
    for (name, p), tp in zip(model.named_parameters(), tmodel.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=1e-3, atol=1e-4, err_msg=name)
