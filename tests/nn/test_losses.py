"""Losses against torch.nn: forward and backward for every reduction and option, float64 gradchecks, and the
bad-input errors (out-of-range class targets, shape and dtype mismatches)."""
import numpy as np
import pytest

import ember
from ember import nn
from ember.nn import functional as F
from nn_helpers import torch, pair, assert_close, needs_gradcheck

tnn = torch.nn
TF = torch.nn.functional
REDUCTIONS = ["mean", "sum", "none"]


def check_loss(e_loss, t_loss, e_input, t_input, e_target, t_target, atol=1e-5):
    e_out, t_out = e_loss(e_input, e_target), t_loss(t_input, t_target)
    assert tuple(e_out.shape) == tuple(t_out.shape)
    assert_close(e_out, t_out, atol=atol)
    grad = np.random.default_rng(3).standard_normal(tuple(t_out.shape)).astype(np.float32) + 2.0
    e_out.backward(ember.tensor(grad))
    t_out.backward(torch.tensor(grad))
    assert_close(e_input.grad, t_input.grad, atol=atol)
    if t_target.requires_grad:
        assert_close(e_target.grad, t_target.grad, atol=atol)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["MSELoss", "L1Loss", "HuberLoss", "SmoothL1Loss"])
def test_regression_losses_match_torch(name, reduction):
    ex, tx = pair((4, 5), 0, scale=2.0)
    ey, ty = pair((4, 5), 1)
    check_loss(getattr(nn, name)(reduction=reduction), getattr(tnn, name)(reduction=reduction), ex, tx, ey, ty)


def test_huber_delta_matches_torch():
    ex, tx = pair((6, 3), 0, scale=3.0)
    ey, ty = pair((6, 3), 1)
    check_loss(nn.HuberLoss(delta=0.5), tnn.HuberLoss(delta=0.5), ex, tx, ey, ty)


def class_targets(shape, classes, seed=0, ignore=None):
    target = np.random.default_rng(seed).integers(0, classes, shape)
    if ignore is not None:
        target.reshape(-1)[::3] = ignore
    return ember.tensor(target), torch.tensor(target)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(6, 5), (3, 5, 4), (2, 5, 3, 2), (5,)])
@pytest.mark.parametrize("options", [{}, {"label_smoothing": 0.2}, {"ignore_index": 1}, {"weight": True},
                                     {"weight": True, "ignore_index": 0, "label_smoothing": 0.1}])
def test_cross_entropy_class_targets_match_torch(shape, reduction, options):
    options = dict(options)
    ex, tx = pair(shape, 0, scale=3.0)
    target_shape = () if len(shape) == 1 else (shape[0],) + shape[2:]
    et, tt = class_targets(target_shape, 5, seed=1)
    e_opts, t_opts = dict(options), dict(options)
    if options.get("weight"):
        w = np.random.default_rng(2).uniform(0.2, 2.0, 5).astype(np.float32)
        e_opts["weight"], t_opts["weight"] = ember.tensor(w), torch.tensor(w)
    check_loss(nn.CrossEntropyLoss(reduction=reduction, **e_opts), tnn.CrossEntropyLoss(reduction=reduction, **t_opts),
               ex, tx, et, tt)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing,weighted", [(0.0, False), (0.3, False), (0.1, True)])
def test_cross_entropy_probability_targets_match_torch(reduction, smoothing, weighted):
    ex, tx = pair((4, 6, 3), 0, scale=2.0)
    probs = np.random.default_rng(1).dirichlet(np.ones(6), (4, 3)).transpose(0, 2, 1).astype(np.float32)
    ey, ty = ember.tensor(probs, requires_grad=True), torch.tensor(probs, requires_grad=True)
    w = np.random.default_rng(2).uniform(0.2, 2.0, 6).astype(np.float32)
    e_kw = {"weight": ember.tensor(w)} if weighted else {}
    t_kw = {"weight": torch.tensor(w)} if weighted else {}
    check_loss(nn.CrossEntropyLoss(reduction=reduction, label_smoothing=smoothing, **e_kw),
               tnn.CrossEntropyLoss(reduction=reduction, label_smoothing=smoothing, **t_kw), ex, tx, ey, ty)


def test_cross_entropy_extreme_logits_are_finite():
    logits = ember.tensor([[1000.0, -1000.0, 0.0], [-1e4, 1e4, 3.0]], requires_grad=True)
    loss = F.cross_entropy(logits, ember.tensor([1, 0]))
    t_logits = torch.tensor([[1000.0, -1000.0, 0.0], [-1e4, 1e4, 3.0]], requires_grad=True)
    t_loss = TF.cross_entropy(t_logits, torch.tensor([1, 0]))
    assert_close(loss, t_loss)
    loss.backward()
    t_loss.backward()
    assert_close(logits.grad, t_logits.grad)


def test_cross_entropy_all_ignored_mean_is_nan_like_torch():
    loss = F.cross_entropy(ember.randn(3, 4), ember.tensor([-100, -100, -100]))
    assert np.isnan(loss.item())
    assert np.isnan(TF.cross_entropy(torch.randn(3, 4), torch.tensor([-100, -100, -100])).item())


def test_cross_entropy_bad_input():
    logits = ember.randn(4, 3)
    with pytest.raises(IndexError, match="target 3 is out of bounds for 3 classes"):
        F.cross_entropy(logits, ember.tensor([0, 1, 2, 3]))
    with pytest.raises(IndexError, match="target -1 is out of bounds"):
        F.cross_entropy(logits, ember.tensor([0, -1, 2, 1]))
    with pytest.raises(ValueError, match="expected a target of shape \\(4,\\)"):
        F.cross_entropy(logits, ember.tensor([0, 1]))
    with pytest.raises(TypeError, match="int64"):
        F.cross_entropy(logits, ember.tensor([True, False, True, True]))
    with pytest.raises(ValueError, match="probability targets must have the input's shape"):
        F.cross_entropy(logits, ember.rand(4, 2))
    with pytest.raises(ValueError, match="weight of shape \\(3,\\)"):
        F.cross_entropy(logits, ember.tensor([0, 1, 2, 1]), weight=ember.ones(4))
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(logits, ember.tensor([0, 1, 2, 1]), label_smoothing=1.5)
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(logits, ember.tensor([0, 1, 2, 1]), reduction="avg")
    with pytest.raises(TypeError):
        F.cross_entropy(ember.tensor([[1, 2]]), ember.tensor([0]))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss_matches_torch(reduction, weighted):
    ex, tx = pair((5, 4, 3), 0)
    et, tt = class_targets((5, 3), 4, seed=1, ignore=-100)
    w = np.random.default_rng(2).uniform(0.2, 2.0, 4).astype(np.float32)
    e_kw = {"weight": ember.tensor(w)} if weighted else {}
    t_kw = {"weight": torch.tensor(w)} if weighted else {}
    check_loss(nn.NLLLoss(reduction=reduction, **e_kw), tnn.NLLLoss(reduction=reduction, **t_kw), ex, tx, et, tt)
    with pytest.raises(IndexError, match="nll_loss: target 4 is out of bounds for 4 classes"):
        F.nll_loss(ember.randn(2, 4), ember.tensor([4, 0]))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_matches_torch(reduction, weighted):
    probs = np.random.default_rng(0).uniform(0.02, 0.98, (4, 3)).astype(np.float32)
    ex, tx = ember.tensor(probs, requires_grad=True), torch.tensor(probs, requires_grad=True)
    y = np.random.default_rng(1).uniform(0, 1, (4, 3)).astype(np.float32)
    ey, ty = ember.tensor(y, requires_grad=True), torch.tensor(y, requires_grad=True)
    w = np.random.default_rng(2).uniform(0.5, 2, (3,)).astype(np.float32)
    e_kw = {"weight": ember.tensor(w)} if weighted else {}
    t_kw = {"weight": torch.tensor(w)} if weighted else {}
    check_loss(nn.BCELoss(reduction=reduction, **e_kw), tnn.BCELoss(reduction=reduction, **t_kw), ex, tx, ey, ty,
               atol=1e-4)


def test_bce_clamps_log_at_saturation_like_torch():
    x = np.array([0.0, 1.0, 0.0, 1.0, 0.5], dtype=np.float32)
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0], dtype=np.float32)
    ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    e_loss = F.binary_cross_entropy(ex, ember.tensor(y), reduction="none")
    t_loss = TF.binary_cross_entropy(tx, torch.tensor(y), reduction="none")
    np.testing.assert_allclose(e_loss.detach().numpy(), t_loss.detach().numpy())   # 100 where the log is clamped
    e_loss.sum().backward()
    t_loss.sum().backward()
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-5)
    assert np.all(np.isfinite(ex.grad.numpy()))
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.binary_cross_entropy(ember.tensor([1.5]), ember.tensor([1.0]))
    with pytest.raises(ValueError, match="target size"):
        F.binary_cross_entropy(ember.tensor([0.5, 0.5]), ember.tensor([1.0]))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", [{}, {"pos_weight": True}, {"weight": True}, {"weight": True, "pos_weight": True}])
def test_bce_with_logits_matches_torch(reduction, options):
    ex, tx = pair((5, 3), 0, scale=4.0)
    y = np.random.default_rng(1).uniform(0, 1, (5, 3)).astype(np.float32)
    ey, ty = ember.tensor(y, requires_grad=True), torch.tensor(y, requires_grad=True)
    e_kw, t_kw = {}, {}
    for name in options:
        v = np.random.default_rng(len(name)).uniform(0.5, 3, (3,)).astype(np.float32)
        e_kw[name], t_kw[name] = ember.tensor(v), torch.tensor(v)
    check_loss(nn.BCEWithLogitsLoss(reduction=reduction, **e_kw), tnn.BCEWithLogitsLoss(reduction=reduction, **t_kw),
               ex, tx, ey, ty, atol=1e-4)


def test_bce_with_logits_is_stable_and_exact_at_zero():
    x = np.array([-200.0, 0.0, 200.0, 30.0], dtype=np.float32)
    y = np.array([1.0, 1.0, 0.0, 1.0], dtype=np.float32)
    ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    e_loss = F.binary_cross_entropy_with_logits(ex, ember.tensor(y), reduction="none")
    t_loss = TF.binary_cross_entropy_with_logits(tx, torch.tensor(y), reduction="none")
    np.testing.assert_allclose(e_loss.detach().numpy(), t_loss.detach().numpy(), rtol=1e-6)
    e_loss.sum().backward()
    t_loss.sum().backward()
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-6, atol=1e-7)
    assert ex.grad.numpy()[1] == pytest.approx(-0.5)   # sigmoid(0) - 1


def f64(shape, seed, scale=1.0):
    data = np.random.default_rng(seed).standard_normal(shape) * scale
    return ember.tensor(data, dtype=ember.float64, requires_grad=True)


@needs_gradcheck
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradcheck_every_loss(reduction):
    gradcheck = ember.autograd.gradcheck
    x, y = f64((3, 4), 0), f64((3, 4), 1)
    for fn in (F.mse_loss, F.l1_loss, F.huber_loss, F.smooth_l1_loss):
        assert gradcheck(lambda a, b: fn(a, b, reduction=reduction), (x, y))
    weight = ember.tensor([0.5, 1.0, 2.0, 1.5], dtype=ember.float64)
    target = ember.tensor([0, 3, 1])
    assert gradcheck(lambda a: F.cross_entropy(a, target, weight=weight, reduction=reduction, label_smoothing=0.1),
                     (x,))
    logits3 = f64((2, 4, 3), 2)
    target3 = ember.tensor([[0, 3, -100], [2, 2, 1]])
    assert gradcheck(lambda a: F.cross_entropy(a, target3, reduction=reduction), (logits3,))
    probs = ember.tensor(np.random.default_rng(3).dirichlet(np.ones(4), 3), dtype=ember.float64, requires_grad=True)
    assert gradcheck(lambda a, p: F.cross_entropy(a, p, reduction=reduction, label_smoothing=0.2), (x, probs))
    assert gradcheck(lambda a: F.nll_loss(a, target, weight=weight, reduction=reduction), (x,))
    p = ember.tensor(np.random.default_rng(4).uniform(0.1, 0.9, (3, 4)), dtype=ember.float64, requires_grad=True)
    q = ember.tensor(np.random.default_rng(5).uniform(0, 1, (3, 4)), dtype=ember.float64, requires_grad=True)
    assert gradcheck(lambda a, b: F.binary_cross_entropy(a, b, weight=weight, reduction=reduction), (p, q))
    assert gradcheck(lambda a, b: F.binary_cross_entropy_with_logits(a, b, pos_weight=weight, reduction=reduction),
                     (x, q))


FUSED_REGRESSION = [("mse_loss", {}, "MseLossBackward0"), ("huber_loss", {"delta": 0.7}, "HuberLossBackward0"),
                    ("smooth_l1_loss", {"beta": 1.3}, "SmoothL1LossBackward0")]


@pytest.mark.parametrize("name,kwargs,node", FUSED_REGRESSION)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_fused_regression_long_input_matches_torch_and_ignores_thread_count(name, kwargs, node, reduction):
    # 200003 elements: several fixed blocks and a SIMD tail; gradients for input and target; differences exactly
    # at delta / beta (both sides of the kink meet there)
    ex, tx = pair((200003,), 0)
    ey, ty = pair((200003,), 1)
    edge = kwargs.get("delta", kwargs.get("beta", 0.0))
    for e, t, values in ((ex, tx, [edge, 0.0]), (ey, ty, [0.0, edge])):   # x - y = +-edge
        e.detach()._numpy_view()[:2] = values
        t.detach().numpy()[:2] = values
    previous, results = ember.get_num_threads(), []
    try:
        for threads in (1, 2):
            ember.set_num_threads(threads)
            ex.grad = ey.grad = None
            loss = getattr(F, name)(ex, ey, reduction=reduction, **kwargs)
            loss.backward(ember.tensor(1.5))
            results.append((loss.item(), ex.grad.numpy().copy(), ey.grad.numpy().copy()))
    finally:
        ember.set_num_threads(previous)
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])
    t_loss = getattr(TF, name)(tx, ty, reduction=reduction, **kwargs)
    t_loss.backward(torch.tensor(1.5))
    assert_close(loss, t_loss, rtol=1e-5)
    assert_close(ex.grad, tx.grad)
    assert_close(ey.grad, ty.grad)
    assert loss.grad_fn.name() == node


def test_mse_of_empty_input_is_nan_for_mean_and_zero_for_sum():
    x, y = ember.zeros(0, 3, requires_grad=True), ember.zeros(0, 3)
    assert np.isnan(F.mse_loss(x, y).item())
    loss = F.mse_loss(x, y, reduction="sum")
    assert loss.item() == 0.0
    loss.backward()
    assert tuple(x.grad.shape) == (0, 3)


def test_legacy_size_average_and_reduce():
    ex, tx = pair((3, 4), 0)
    ey, ty = pair((3, 4), 1)
    assert_close(F.mse_loss(ex, ey, size_average=False), TF.mse_loss(tx, ty, reduction="sum"))
    assert tuple(F.l1_loss(ex, ey, reduce=False).shape) == (3, 4)
