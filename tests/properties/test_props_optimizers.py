"""Property tests of the optimizers: random hyperparameters, parameter shapes (incl. size-0), dtypes and gradients
(incl. NaN) follow torch.optim step for step; bad hyperparameters raise ValueError (with PyTorch's messages)."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import ember
from props_helpers import torch, assert_close

OPTIMIZERS = {
    "SGD": lambda d: dict(lr=d.draw(st.floats(1e-3, 0.5)), momentum=d.draw(st.sampled_from([0.0, 0.9])),
                          weight_decay=d.draw(st.sampled_from([0.0, 0.01])), nesterov=False),
    "Adam": lambda d: dict(lr=d.draw(st.floats(1e-4, 0.1)), amsgrad=d.draw(st.booleans()),
                           weight_decay=d.draw(st.sampled_from([0.0, 0.01]))),
    "AdamW": lambda d: dict(lr=d.draw(st.floats(1e-4, 0.1)), weight_decay=d.draw(st.sampled_from([0.0, 0.05]))),
    "RMSprop": lambda d: dict(lr=d.draw(st.floats(1e-4, 0.05)), momentum=d.draw(st.sampled_from([0.0, 0.5])),
                              centered=d.draw(st.booleans())),
    "Adagrad": lambda d: dict(lr=d.draw(st.floats(1e-3, 0.5))),
}


@given(st.sampled_from(sorted(OPTIMIZERS)), st.data())
def test_optimizer_steps_follow_torch(name, data):
    kwargs = OPTIMIZERS[name](data)
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    shapes = data.draw(st.lists(st.lists(st.integers(0, 4), max_size=2).map(tuple), min_size=1, max_size=3))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 31)))
    starts = [rng.standard_normal(s).astype(dtype) for s in shapes]
    e_params = [ember.from_numpy(np.array(a, order="C")).requires_grad_(True) for a in starts]
    t_params = [torch.from_numpy(np.array(a, order="C")).requires_grad_(True) for a in starts]
    e_opt, t_opt = getattr(ember.optim, name)(e_params, **kwargs), getattr(torch.optim, name)(t_params, **kwargs)
    for _ in range(3):
        for e_p, t_p in zip(e_params, t_params):
            g = np.asarray(rng.standard_normal(e_p.shape), dtype)
            e_p.grad, t_p.grad = ember.from_numpy(g.copy()), torch.from_numpy(g.copy())
        e_opt.step()
        t_opt.step()
    for e_p, t_p in zip(e_params, t_params):
        assert_close(e_p, t_p, "float32" if dtype == np.float32 else "float64", rtol=1e-4, atol=1e-5)


@given(st.sampled_from(sorted(OPTIMIZERS)))
def test_nan_gradients_propagate_like_torch(name):
    e_p, t_p = ember.ones(3).requires_grad_(True), torch.ones(3, requires_grad=True)
    e_opt, t_opt = getattr(ember.optim, name)([e_p], lr=0.1), getattr(torch.optim, name)([t_p], lr=0.1)
    g = np.array([np.nan, 1.0, np.inf], np.float32)
    e_p.grad, t_p.grad = ember.from_numpy(g.copy()), torch.from_numpy(g.copy())
    e_opt.step()
    t_opt.step()
    assert_close(e_p, t_p)


@given(st.sampled_from(sorted(OPTIMIZERS)), st.sampled_from(["lr", "eps", "momentum", "betas", "weight_decay",
                                                             "params"]), st.floats(-5, -1e-3))
def test_bad_hyperparameters_raise_naming_the_optimizer(name, what, negative):
    p = ember.ones(2).requires_grad_(True)
    kwargs = {"lr": 0.1}
    if what == "params":
        args = ([],)
    else:
        args = ([p],)
        if what == "betas":
            if not name.startswith("Adam"):
                return
            kwargs["betas"] = (1.5, 0.9)
        elif what == "eps" and name == "SGD" or what == "momentum" and name not in ("SGD", "RMSprop"):
            return
        else:
            kwargs[what] = negative
    # the messages are PyTorch's ("Invalid learning rate: -1.0", "optimizer got an empty parameter list")
    with pytest.raises((ValueError, TypeError), match=r"(?i)invalid|optimizer|must|beta"):
        getattr(ember.optim, name)(*args, **kwargs)
