"""Learning-rate schedulers against torch.optim.lr_scheduler step by step (two param groups, several settings),
including momentum/beta cycling, the closed forms of step(epoch), state_dict round trips and argument errors."""
import math
import warnings

import numpy as np
import pytest

import ember
import ember.optim as eoptim
from ember.optim import lr_scheduler as esched

torch = pytest.importorskip("torch")
tsched = torch.optim.lr_scheduler


def optimizers(kind="sgd"):
    """The same two-group optimizer in ember and in torch."""
    pairs = []
    for lib, opt_mod in ((ember, eoptim), (torch, torch.optim)):
        a = lib.zeros((2, 2), requires_grad=True)
        b = lib.zeros((3,), requires_grad=True)
        groups = [{"params": [a]}, {"params": [b], "lr": 0.05}]
        if kind == "sgd":
            pairs.append(opt_mod.SGD(groups, lr=0.1, momentum=0.9))
        else:
            pairs.append(opt_mod.Adam(groups, lr=0.1, betas=(0.9, 0.99)))
    return pairs


def assert_same_schedule(ember_opt, torch_opt, ember_s, torch_s, steps=40, metrics=None, keys=("lr",)):
    for step in range(steps):
        for opt in (ember_opt, torch_opt):
            opt.step()
        if metrics is None:
            ember_s.step()
            torch_s.step()
        else:
            ember_s.step(metrics[step])
            torch_s.step(metrics[step])
        assert ember_s.get_last_lr() == pytest.approx(torch_s.get_last_lr(), rel=1e-12, abs=1e-15), f"step {step}"
        for eg, tg in zip(ember_opt.param_groups, torch_opt.param_groups):
            for key in keys:
                assert eg[key] == pytest.approx(tg[key], rel=1e-12, abs=1e-15), f"{key} at step {step}"
        assert ember_s.last_epoch == torch_s.last_epoch


SCHEDULES = [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("StepLR", dict(step_size=1)),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 11], gamma=0.3)),
    ("MultiStepLR", dict(milestones=[0, 7])),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=10)),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.001)),
    ("LinearLR", dict()),
    ("LinearLR", dict(start_factor=0.1, end_factor=0.7, total_iters=13)),
    ("LambdaLR", dict(lr_lambda=lambda epoch: 0.95 ** epoch)),
    ("LambdaLR", "per-group"),
    ("OneCycleLR", dict(max_lr=1.0, total_steps=40)),
    ("OneCycleLR", dict(max_lr=[0.5, 2.0], total_steps=41, anneal_strategy="linear", pct_start=0.25,
                        div_factor=10.0, final_div_factor=100.0)),
    ("OneCycleLR", dict(max_lr=1.0, epochs=4, steps_per_epoch=10, three_phase=True)),
    ("OneCycleLR", dict(max_lr=1.0, total_steps=40, cycle_momentum=False)),
]


def build(module, name, kwargs, opt):
    if kwargs == "per-group":
        return module.LambdaLR(opt, lr_lambda=[lambda e: 1.0 / (e + 1), lambda e: 0.5 + 0.1 * e])
    return getattr(module, name)(opt, **kwargs)


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("name,kwargs", SCHEDULES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SCHEDULES)])
def test_schedule_matches_torch(name, kwargs, kind):
    ember_opt, torch_opt = optimizers(kind)
    ember_s, torch_s = build(esched, name, kwargs, ember_opt), build(tsched, name, kwargs, torch_opt)
    assert ember_s.get_last_lr() == pytest.approx(torch_s.get_last_lr(), rel=1e-12)
    keys = ("lr",)
    if name == "OneCycleLR" and kwargs.get("cycle_momentum", True):
        keys = ("lr", "momentum") if kind == "sgd" else ("lr", "betas")
    steps = 40 if name == "OneCycleLR" else 30
    assert_same_schedule(ember_opt, torch_opt, ember_s, torch_s, steps=steps, keys=keys)


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(mode="max", factor=0.5, patience=2, threshold=0.1, threshold_mode="abs", cooldown=2),
    dict(factor=0.3, patience=0, min_lr=[0.01, 0.001], cooldown=1),
    dict(mode="min", factor=0.5, patience=1, threshold_mode="abs", threshold=0.0, eps=0.02),
])
def test_reduce_lr_on_plateau_matches_torch(kwargs):
    ember_opt, torch_opt = optimizers()
    ember_s = esched.ReduceLROnPlateau(ember_opt, **kwargs)
    torch_s = tsched.ReduceLROnPlateau(torch_opt, **kwargs)
    metrics = [1.0, 0.9, 0.95, 0.95, 0.95, 0.8, 0.85, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9,
               0.79, 0.79, 0.79, 0.79, 1.5, 1.6, 1.6, 1.6, 1.6, 1.6, 1.6, 1.6, 1.6, 1.6, 1.6, 1.6, 1.6]
    assert_same_schedule(ember_opt, torch_opt, ember_s, torch_s, steps=len(metrics), metrics=metrics)
    assert ember_s.num_bad_epochs == torch_s.num_bad_epochs and ember_s.best == torch_s.best


@pytest.mark.parametrize("name,kwargs", [s for s in SCHEDULES if s[0] in
                                         ("StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR")])
def test_closed_form_with_explicit_epoch(name, kwargs):
    ember_opt, torch_opt = optimizers()
    ember_s, torch_s = build(esched, name, kwargs, ember_opt), build(tsched, name, kwargs, torch_opt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch in [3, 7, 1, 12, 5, 30]:
            ember_s.step(epoch)
            torch_s.step(epoch)
            assert ember_s.get_last_lr() == pytest.approx(torch_s.get_last_lr(), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("name,kwargs", SCHEDULES[:11:2] + SCHEDULES[11:12])
def test_state_dict_round_trip(name, kwargs):
    ember_opt, _ = optimizers()
    sched = build(esched, name, kwargs, ember_opt)
    for _ in range(6):
        ember_opt.step()
        sched.step()
    saved = sched.state_dict()
    assert "optimizer" not in saved and saved["last_epoch"] == 6
    other_opt, _ = optimizers()   # resume as in a script: build both, then load the optimizer, then the scheduler
    other = build(esched, name, kwargs, other_opt)
    other_opt.load_state_dict(ember_opt.state_dict())
    other.load_state_dict(saved)
    for _ in range(6):
        for opt, s in ((ember_opt, sched), (other_opt, other)):
            opt.step()
            s.step()
        assert other.get_last_lr() == sched.get_last_lr()


def test_warns_when_scheduler_steps_before_optimizer():
    ember_opt, _ = optimizers()
    sched = esched.StepLR(ember_opt, step_size=2)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()


def test_resuming_requires_initial_lr():
    ember_opt, _ = optimizers()
    with pytest.raises(KeyError, match="initial_lr"):
        esched.StepLR(ember_opt, step_size=2, last_epoch=3)


@pytest.mark.parametrize("make,error,message", [
    (lambda o: esched.LinearLR(o, start_factor=0.0), ValueError, "Starting multiplicative factor"),
    (lambda o: esched.LinearLR(o, end_factor=1.5), ValueError, "Ending multiplicative factor"),
    (lambda o: esched.LambdaLR(o, [lambda e: 1.0]), ValueError, "Expected 2 lr_lambdas, but got 1"),
    (lambda o: esched.OneCycleLR(o, max_lr=1.0), ValueError, "You must define either total_steps"),
    (lambda o: esched.OneCycleLR(o, max_lr=1.0, total_steps=0), ValueError, "positive integer total_steps"),
    (lambda o: esched.OneCycleLR(o, max_lr=1.0, total_steps=5, pct_start=1.5), ValueError, "pct_start"),
    (lambda o: esched.OneCycleLR(o, max_lr=1.0, total_steps=5, anneal_strategy="exp"), ValueError, "anneal_strategy"),
    (lambda o: esched.OneCycleLR(o, max_lr=[1.0], total_steps=5), ValueError, "same length"),
    (lambda o: esched.ReduceLROnPlateau(o, factor=1.0), ValueError, "Factor should be < 1.0"),
    (lambda o: esched.ReduceLROnPlateau(o, mode="avg"), ValueError, "mode avg is unknown"),
    (lambda o: esched.ReduceLROnPlateau(o, threshold_mode="x"), ValueError, "threshold mode x is unknown"),
    (lambda o: esched.ReduceLROnPlateau(o, min_lr=[0.1]), ValueError, "expected 2 min_lrs, got 1"),
    (lambda o: esched.StepLR(object(), step_size=1), TypeError, "object is not an Optimizer"),
])
def test_bad_arguments(make, error, message):
    ember_opt, _ = optimizers()
    with pytest.raises(error, match=message):
        make(ember_opt)


def test_one_cycle_refuses_to_step_past_total_steps():
    ember_opt, _ = optimizers()
    sched = esched.OneCycleLR(ember_opt, max_lr=1.0, total_steps=3)
    for _ in range(3):
        ember_opt.step()
        sched.step()
    with pytest.raises(ValueError, match="Tried to step 4 times"):
        sched.step()


def test_cosine_reaches_eta_min_at_t_max():
    ember_opt, _ = optimizers()
    sched = esched.CosineAnnealingLR(ember_opt, T_max=8, eta_min=0.01)
    for _ in range(8):
        ember_opt.step()
        sched.step()
    assert sched.get_last_lr() == pytest.approx([0.01, 0.01], abs=1e-12)
    assert math.isclose(sched.base_lrs[1], 0.05)
    np.testing.assert_allclose(sched.base_lrs, [0.1, 0.05])
