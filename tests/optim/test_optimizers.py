"""Optimizer trajectories against torch.optim (same initial weights, same gradient function) for every option
combination, in float32 and float64; state_dict round trips; per-parameter step counts; no-autograd updates."""
import functools
import itertools

import numpy as np
import pytest

import ember
import ember.optim as eoptim

torch = pytest.importorskip("torch")

SHAPES = [(3, 5), (17,), (2, 3, 4), (1,)]
STEPS = 24
TOLERANCE = {np.float32: dict(rtol=1e-4, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}


@functools.lru_cache(maxsize=None)
def noise(step, index, shape):
    return np.random.default_rng(1000 * step + index).standard_normal(shape) + 0.3 * np.sin(step + index)


def gradient(step, index, weights):
    """A deterministic gradient of a noisy quadratic, computed in float64 from the framework's own weights."""
    return 0.7 * weights.astype(np.float64) + noise(step, index, weights.shape)


def make_pair(dtype, shapes=SHAPES, seed=0):
    rng = np.random.default_rng(seed)
    initial = [rng.standard_normal(shape).astype(dtype) for shape in shapes]
    ember_params = [ember.tensor(w.copy(), requires_grad=True) for w in initial]
    torch_params = [torch.tensor(w.copy(), requires_grad=True) for w in initial]
    return ember_params, torch_params


def set_gradients(step, ember_params, torch_params, skip=()):
    """Gives each parameter its gradient for this step; indices in `skip` get none (grad None)."""
    for i, (ep, tp) in enumerate(zip(ember_params, torch_params)):
        if i in skip:
            ep.grad = None
            tp.grad = None
            continue
        dtype = ep.detach().numpy().dtype
        ep.grad = ember.tensor(gradient(step, i, ep.detach().numpy()).astype(dtype))
        tp.grad = torch.tensor(gradient(step, i, tp.detach().numpy()).astype(dtype))


def assert_params_close(ember_params, torch_params, dtype, step=None):
    for i, (ep, tp) in enumerate(zip(ember_params, torch_params)):
        np.testing.assert_allclose(ep.detach().numpy(), tp.detach().numpy(), **TOLERANCE[dtype],
                                   err_msg=f"param {i} after step {step}")


def run_trajectory(ember_cls, torch_cls, kwargs, dtype, steps=STEPS, shapes=SHAPES, skip_schedule=None):
    ember_params, torch_params = make_pair(dtype, shapes)
    ember_opt = ember_cls(ember_params, **kwargs)
    torch_opt = torch_cls(torch_params, **kwargs)
    for step in range(steps):
        skip = skip_schedule(step) if skip_schedule else ()
        set_gradients(step, ember_params, torch_params, skip)
        ember_opt.step()
        torch_opt.step()
        if step % 8 == 0 or step == steps - 1:
            assert_params_close(ember_params, torch_params, dtype, step)
    return ember_opt, torch_opt, ember_params, torch_params


def product(paired=None, **options):
    """Every combination of `options`; the keys of `paired` (equal-length lists) vary together, cycling along the
    combinations, so each of their values meets half of the others."""
    keys = list(options)
    cases = [dict(zip(keys, values)) for values in itertools.product(*options.values())]
    for i, case in enumerate(cases):
        for key, values in (paired or {}).items():
            case[key] = values[(i + i // len(values)) % len(values)]
    return cases


SGD_CASES = [c for c in product(lr=[0.05], momentum=[0.0, 0.9], dampening=[0.0, 0.3], nesterov=[False, True],
                                weight_decay=[0.0, 0.1], maximize=[False, True])
             if not (c["nesterov"] and (c["momentum"] == 0 or c["dampening"] != 0))]
ADAM_CASES = product(lr=[0.01], weight_decay=[0.0, 0.05], amsgrad=[False, True], maximize=[False, True],
                     eps=[1e-8, 0.1], paired={"betas": [(0.9, 0.999), (0.5, 0.8)]})
ADAGRAD_CASES = product(lr=[0.1], lr_decay=[0.0, 0.05], weight_decay=[0.0, 0.1], initial_accumulator_value=[0.0, 0.5],
                        maximize=[False, True], paired={"eps": [1e-10, 0.1]})
RMSPROP_CASES = product(lr=[0.01], weight_decay=[0.0, 0.1], momentum=[0.0, 0.8], centered=[False, True],
                        maximize=[False, True], paired={"alpha": [0.99, 0.6], "eps": [1e-8, 0.1]})


def case_id(case):
    return ",".join(f"{k}={v}" for k, v in case.items() if k != "lr")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kwargs", SGD_CASES, ids=case_id)
def test_sgd_matches_torch(kwargs, dtype):
    run_trajectory(eoptim.SGD, torch.optim.SGD, kwargs, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kwargs", ADAM_CASES, ids=case_id)
def test_adam_matches_torch(kwargs, dtype):
    run_trajectory(eoptim.Adam, torch.optim.Adam, kwargs, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kwargs", ADAM_CASES, ids=case_id)
def test_adamw_matches_torch(kwargs, dtype):
    kwargs = dict(kwargs, weight_decay=kwargs["weight_decay"] or 0.01)
    run_trajectory(eoptim.AdamW, torch.optim.AdamW, kwargs, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kwargs", ADAGRAD_CASES, ids=case_id)
def test_adagrad_matches_torch(kwargs, dtype):
    run_trajectory(eoptim.Adagrad, torch.optim.Adagrad, kwargs, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kwargs", RMSPROP_CASES, ids=case_id)
def test_rmsprop_matches_torch(kwargs, dtype):
    run_trajectory(eoptim.RMSprop, torch.optim.RMSprop, kwargs, dtype)


ALL_OPTIMIZERS = [
    (eoptim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (eoptim.Adam, torch.optim.Adam, dict(lr=0.01, amsgrad=True, weight_decay=0.01)),
    (eoptim.AdamW, torch.optim.AdamW, dict(lr=0.01, amsgrad=True)),
    (eoptim.Adagrad, torch.optim.Adagrad, dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)),
    (eoptim.RMSprop, torch.optim.RMSprop, dict(lr=0.01, momentum=0.5, centered=True)),
]
OPTIMIZER_IDS = [e.__name__ for e, _, _ in ALL_OPTIMIZERS]


@pytest.mark.parametrize("ember_cls,torch_cls,kwargs", ALL_OPTIMIZERS, ids=OPTIMIZER_IDS)
def test_large_tensors_take_the_parallel_path(ember_cls, torch_cls, kwargs):
    ember.set_num_threads(2)
    run_trajectory(ember_cls, torch_cls, kwargs, np.float32, steps=3, shapes=[(70001,), (3, 5)])   # 3 chunks


@pytest.mark.parametrize("ember_cls,torch_cls,kwargs", ALL_OPTIMIZERS, ids=OPTIMIZER_IDS)
def test_parameters_without_grad_are_skipped(ember_cls, torch_cls, kwargs):
    # param 1 never has a gradient, param 2 only on even steps (its step count lags behind).
    ember_opt, torch_opt, _, _ = run_trajectory(ember_cls, torch_cls, kwargs, np.float32, steps=12,
                                                skip_schedule=lambda s: (1,) if s % 2 == 0 else (1, 2))
    assert len(ember_opt.state) == len(torch_opt.state)


@pytest.mark.parametrize("ember_cls,torch_cls,kwargs", ALL_OPTIMIZERS, ids=OPTIMIZER_IDS)
def test_state_dict_layout_matches_torch(ember_cls, torch_cls, kwargs):
    ember_opt, torch_opt, _, _ = run_trajectory(ember_cls, torch_cls, kwargs, np.float32, steps=3)
    ember_sd, torch_sd = ember_opt.state_dict(), torch_opt.state_dict()
    assert ember_sd["state"].keys() == torch_sd["state"].keys()
    for index, torch_state in torch_sd["state"].items():
        assert ember_sd["state"][index].keys() == torch_state.keys()
        for name, value in torch_state.items():
            np.testing.assert_allclose(np.asarray(ember_sd["state"][index][name].numpy()), value.numpy(),
                                       rtol=1e-4, atol=1e-6, err_msg=name)
    assert len(ember_sd["param_groups"]) == len(torch_sd["param_groups"])
    for ember_group, torch_group in zip(ember_sd["param_groups"], torch_sd["param_groups"]):
        assert ember_group["params"] == torch_group["params"]
        assert set(ember_group) == set(torch_group)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ember_cls,torch_cls,kwargs", ALL_OPTIMIZERS, ids=OPTIMIZER_IDS)
def test_state_dict_round_trip_continues_identically(ember_cls, torch_cls, kwargs, dtype):
    ember_params, torch_params = make_pair(dtype)
    first = ember_cls(ember_params, **kwargs)
    for step in range(8):
        set_gradients(step, ember_params, torch_params)
        first.step()
    saved = first.state_dict()
    resumed_params = [ember.tensor(p.detach().numpy().copy(), requires_grad=True) for p in ember_params]
    resumed = ember_cls(resumed_params, lr=123.0)   # hyperparameters come from the state dict
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["lr"] == kwargs["lr"]
    for step in range(8, 20):
        set_gradients(step, ember_params, torch_params)
        for r, p in zip(resumed_params, ember_params):
            r.grad = ember.tensor(p.grad.numpy().copy())
        first.step()
        resumed.step()
        for r, p in zip(resumed_params, ember_params):
            np.testing.assert_array_equal(r.detach().numpy(), p.detach().numpy())


def test_loads_a_torch_state_dict():
    ember_params, torch_params = make_pair(np.float32)
    torch_opt = torch.optim.Adam(torch_params, lr=0.01, amsgrad=True)
    for step in range(5):
        set_gradients(step, ember_params, torch_params)
        torch_opt.step()
    for ep, tp in zip(ember_params, torch_params):
        with ember.no_grad():
            ep.copy_(ember.tensor(tp.detach().numpy()))
    sd = torch_opt.state_dict()
    converted = {"state": {i: {k: v.numpy() for k, v in s.items()} for i, s in sd["state"].items()},
                 "param_groups": sd["param_groups"]}
    ember_opt = eoptim.Adam(ember_params)
    ember_opt.load_state_dict(converted)
    for step in range(5, 15):
        set_gradients(step, ember_params, torch_params)
        torch_opt.step()
        ember_opt.step()
    assert_params_close(ember_params, torch_params, np.float32)


def test_param_groups_with_their_own_hyperparameters():
    ember_params, torch_params = make_pair(np.float32)
    groups = lambda ps: [{"params": ps[:2], "lr": 0.1}, {"params": ps[2:], "momentum": 0.5}]   # noqa: E731
    ember_opt = eoptim.SGD(groups(ember_params), lr=0.01, momentum=0.9)
    torch_opt = torch.optim.SGD(groups(torch_params), lr=0.01, momentum=0.9)
    for step in range(10):
        set_gradients(step, ember_params, torch_params)
        ember_opt.step()
        torch_opt.step()
        if step == 4:   # hyperparameters changed between steps take effect
            for opt in (ember_opt, torch_opt):
                opt.param_groups[0]["lr"] = 0.03
                opt.param_groups[1]["momentum"] = 0.2
    assert_params_close(ember_params, torch_params, np.float32)


def test_add_param_group_mid_training():
    ember_params, torch_params = make_pair(np.float32)
    ember_opt = eoptim.Adam(ember_params[:2], lr=0.01)
    torch_opt = torch.optim.Adam(torch_params[:2], lr=0.01)
    for step in range(12):
        if step == 5:
            ember_opt.add_param_group({"params": ember_params[2:], "lr": 0.05})
            torch_opt.add_param_group({"params": torch_params[2:], "lr": 0.05})
        set_gradients(step, ember_params, torch_params)
        ember_opt.step()
        torch_opt.step()
    assert_params_close(ember_params, torch_params, np.float32)


def test_zero_grad():
    params, _ = make_pair(np.float32)
    opt = eoptim.SGD(params, lr=0.1)
    for p in params:
        p.grad = ember.ones(tuple(p.shape))
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in params)
    opt.zero_grad()
    assert all(p.grad is None for p in params)


def test_step_with_closure_reevaluates_with_grad_enabled():
    w = ember.tensor([1.0, -2.0, 3.0], requires_grad=True)
    opt = eoptim.SGD([w], lr=0.1)
    calls = []

    def closure():
        opt.zero_grad()
        calls.append(ember.is_grad_enabled())
        loss = (w * w).sum()
        loss.backward()
        return loss

    with ember.no_grad():
        loss = opt.step(closure)
    assert calls == [True]
    assert float(loss.item()) == pytest.approx(14.0)
    np.testing.assert_allclose(w.detach().numpy(), [0.8, -1.6, 2.4], rtol=1e-6)


def test_training_a_real_model_after_backward():
    x = ember.tensor(np.linspace(-1, 1, 12).reshape(4, 3).astype(np.float32))
    w = ember.tensor(np.ones((3,), np.float32), requires_grad=True)
    opt = eoptim.Adam([w], lr=0.1)
    version = w._version
    for _ in range(3):
        opt.zero_grad()
        ((x * w).sum() ** 2).backward()
        opt.step()
    assert w._version > version            # in-place updates bump the version counter like PyTorch's
    assert w.requires_grad and w.is_leaf and w.grad_fn is None


def test_saved_parameter_modified_by_step_is_detected_by_backward():
    w = ember.tensor([1.0, 2.0], requires_grad=True)
    opt = eoptim.SGD([w], lr=0.1)
    w.grad = ember.ones((2,))
    y = (w * w).sum()          # saves w for the backward
    opt.step()
    with pytest.raises(RuntimeError):
        y.backward()


def test_float64_and_float32_groups_mixed():
    p32 = ember.tensor(np.ones(5, np.float32), requires_grad=True)
    p64 = ember.tensor(np.ones(5, np.float64), requires_grad=True)
    opt = eoptim.Adam([p32, p64], lr=0.1)
    p32.grad = ember.tensor(np.full(5, 2.0, np.float32))
    p64.grad = ember.tensor(np.full(5, 2.0, np.float64))
    opt.step()
    np.testing.assert_allclose(p32.detach().numpy(), 0.9, rtol=1e-6)
    np.testing.assert_allclose(p64.detach().numpy(), 1 - 0.1 * 2 / (2 + 1e-8), rtol=1e-14)


def test_loaded_state_is_a_copy():
    params, _ = make_pair(np.float32)
    opt = eoptim.SGD(params, lr=0.1, momentum=0.9)
    for p in params:
        p.grad = ember.ones(tuple(p.shape))
    opt.step()
    saved = opt.state_dict()
    assert saved["state"][0]["momentum_buffer"].numpy().tolist() == np.ones((3, 5)).tolist()
    other = eoptim.SGD([ember.tensor(p.detach().numpy(), requires_grad=True) for p in params], lr=0.1)
    other.load_state_dict(saved)
    for p in other.param_groups[0]["params"]:
        p.grad = ember.ones(tuple(p.shape))
    other.step()
    assert saved["state"][0]["momentum_buffer"].numpy().tolist() == np.ones((3, 5)).tolist()
    np.testing.assert_allclose(other.state_dict()["state"][0]["momentum_buffer"].numpy(), 1.9, rtol=1e-6)
