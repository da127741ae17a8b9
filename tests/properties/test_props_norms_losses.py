"""Property tests of layer_norm, batch_norm and every loss (reductions, class weights, ignore_index,
label_smoothing, probability targets, size-0 batches, NaN inputs) against PyTorch with gradients; out-of-range
class targets, shape and dtype mismatches and bad reductions raise errors that name the op."""
import numpy as np
from hypothesis import given, strategies as st

import ember
from ember.nn import functional as F
from props_helpers import torch, values, laid_out, assert_close, raises_naming

TF = torch.nn.functional
REDUCTIONS = ["mean", "sum", "none"]


def backward_both(e_out, t_out, e_leaves, t_leaves, dtype, rtol=1e-4, atol=1e-5):
    if not t_out.requires_grad:
        return
    grad = np.random.default_rng(9).standard_normal(tuple(t_out.shape)).astype(t_out.detach().numpy().dtype)
    t_out.backward(torch.from_numpy(grad))
    e_out.backward(ember.from_numpy(grad.copy()))
    for e_leaf, t_leaf in zip(e_leaves, t_leaves):
        assert_close(e_leaf.grad, t_leaf.grad, dtype, rtol=rtol, atol=atol)


@given(st.data())
def test_layer_norm_matches_torch(data):
    lead = tuple(data.draw(st.lists(st.integers(0, 3), max_size=2)))
    normalized = tuple(data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=2)))
    dtype = data.draw(st.sampled_from(["float32", "float64"]))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 31)))
    x = values(rng, lead + normalized, dtype, special=data.draw(st.booleans()))
    affine = data.draw(st.booleans())
    ex, _ = laid_out(x, data.draw(st.sampled_from(["contiguous", "transposed", "stepped"])), rng)
    ex, tx = ex.detach().requires_grad_(True), torch.from_numpy(x.copy()).requires_grad_(True)
    w, b = values(rng, normalized, dtype), values(rng, normalized, dtype)
    ew, tw = (ember.from_numpy(w.copy()).requires_grad_(True), torch.from_numpy(w.copy()).requires_grad_(True)) \
        if affine else (None, None)
    eb, tb = (ember.from_numpy(b.copy()).requires_grad_(True), torch.from_numpy(b.copy()).requires_grad_(True)) \
        if affine else (None, None)
    got, expected = F.layer_norm(ex, normalized, ew, eb), TF.layer_norm(tx, normalized, tw, tb)
    assert_close(got, expected, dtype, rtol=1e-4, atol=1e-4)
    if np.isfinite(x).all() and expected.numel():
        backward_both(got, expected, [ex] + ([ew, eb] if affine else []), [tx] + ([tw, tb] if affine else []),
                      dtype, rtol=1e-3, atol=1e-3)


@given(st.integers(1, 6), st.integers(1, 4), st.sampled_from([(), (3,), (2, 2)]), st.booleans(),
       st.integers(0, 2 ** 31))
def test_batch_norm_training_and_eval_match_torch(batch, channels, spatial, training, seed):
    if training and batch * int(np.prod(spatial)) == 1:
        return                                  # torch refuses one value per channel in training; checked below
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, channels) + spatial)
    mean, var = rng.standard_normal(channels), rng.random(channels) + 0.5
    e_rm, e_rv = ember.from_numpy(mean.copy()), ember.from_numpy(var.copy())
    t_rm, t_rv = torch.from_numpy(mean.copy()), torch.from_numpy(var.copy())
    ex, tx = ember.from_numpy(x.copy()).requires_grad_(True), torch.from_numpy(x.copy()).requires_grad_(True)
    got = F.batch_norm(ex, e_rm, e_rv, training=training, momentum=0.3)
    expected = TF.batch_norm(tx, t_rm, t_rv, training=training, momentum=0.3)
    assert_close(got, expected, "float64", rtol=1e-8, atol=1e-9)
    assert_close(e_rm, t_rm, "float64")
    assert_close(e_rv, t_rv, "float64")
    backward_both(got, expected, [ex], [tx], "float64", rtol=1e-7, atol=1e-8)


def test_batch_norm_training_with_one_value_per_channel_raises():
    with raises_naming("batch_norm"):
        F.batch_norm(ember.zeros(1, 3), ember.zeros(3), ember.ones(3), training=True)


@given(st.sampled_from(["mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "binary_cross_entropy",
                        "binary_cross_entropy_with_logits"]), st.sampled_from(REDUCTIONS), st.data())
def test_regression_and_binary_losses_match_torch(op, reduction, data):
    shape = tuple(data.draw(st.lists(st.integers(0, 4), max_size=3)))
    dtype = data.draw(st.sampled_from(["float32", "float64"]))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 31)))
    x, y = values(rng, shape, dtype), values(rng, shape, dtype)
    if op == "binary_cross_entropy":
        x, y = np.asarray(1 / (1 + np.exp(-x)), x.dtype), np.asarray(y > 0, x.dtype)
    ex, _ = laid_out(x, data.draw(st.sampled_from(["contiguous", "transposed", "stepped"])), rng)
    ex, tx = ex.detach().requires_grad_(True), torch.from_numpy(x.copy()).requires_grad_(True)
    got = getattr(F, op)(ex, ember.from_numpy(y.copy()), reduction=reduction)
    expected = getattr(TF, op)(tx, torch.from_numpy(y.copy()), reduction=reduction)
    assert_close(got, expected, dtype, rtol=1e-4, atol=1e-5)
    if expected.numel() and np.isfinite(expected.detach().numpy()).all():
        backward_both(got, expected, [ex], [tx], dtype, rtol=1e-3, atol=1e-5)


@given(st.sampled_from(["cross_entropy", "nll_loss"]), st.sampled_from(REDUCTIONS), st.data())
def test_classification_losses_match_torch(op, reduction, data):
    batch, classes = data.draw(st.integers(0, 5)), data.draw(st.integers(1, 5))
    spatial = tuple(data.draw(st.lists(st.integers(1, 3), max_size=1)))
    dtype = data.draw(st.sampled_from(["float32", "float64"]))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 31)))
    x = values(rng, (batch, classes) + spatial, dtype)
    probabilities = op == "cross_entropy" and data.draw(st.booleans())
    if probabilities:
        y = rng.random((batch, classes) + spatial).astype(x.dtype)
        y /= np.maximum(y.sum(1, keepdims=True), 1e-6)
    else:
        y = rng.integers(0, classes, (batch,) + spatial).astype(np.int64)
    kw = {"reduction": reduction}
    if data.draw(st.booleans()):
        w = rng.random(classes).astype(x.dtype) + 0.1
        kw_e, kw_t = dict(kw, weight=ember.from_numpy(w.copy())), dict(kw, weight=torch.from_numpy(w.copy()))
    else:
        kw_e, kw_t = dict(kw), dict(kw)
    if not probabilities and data.draw(st.booleans()):
        kw_e["ignore_index"] = kw_t["ignore_index"] = int(y.reshape(-1)[0]) if y.size else 0
    if op == "cross_entropy" and data.draw(st.booleans()):
        kw_e["label_smoothing"] = kw_t["label_smoothing"] = data.draw(st.floats(0.0, 0.9))
    ex, tx = ember.from_numpy(x.copy()).requires_grad_(True), torch.from_numpy(x.copy()).requires_grad_(True)
    got = getattr(F, op)(ex, ember.from_numpy(y.copy()), **kw_e)
    expected = getattr(TF, op)(tx, torch.from_numpy(y.copy()), **kw_t)
    assert_close(got, expected, dtype, rtol=1e-4, atol=1e-5)
    if np.isfinite(expected.detach().numpy()).all():
        backward_both(got, expected, [ex], [tx], dtype, rtol=1e-3, atol=1e-5)


@given(st.sampled_from(["cross_entropy", "nll_loss"]), st.integers(1, 4), st.integers(1, 4),
       st.sampled_from(["high", "negative", "float_target", "shape", "weight", "reduction"]))
def test_classification_loss_bad_inputs_raise_naming_the_op(op, batch, classes, problem):
    x = ember.zeros(batch, classes)
    y = ember.zeros(batch, dtype=ember.int64)
    kw = {}
    if problem == "high":
        y = ember.full((batch,), classes, dtype=ember.int64)
    elif problem == "negative":
        y = ember.full((batch,), -2, dtype=ember.int64)
    elif problem == "float_target":
        y = ember.zeros(batch, classes + 1)
    elif problem == "shape":
        y = ember.zeros(batch + 1, dtype=ember.int64)
    elif problem == "weight":
        kw["weight"] = ember.ones(classes + 1)
    else:
        kw["reduction"] = "average"
    with raises_naming(op.split("_")[0]):
        getattr(F, op)(x, y, **kw)


@given(st.sampled_from(["mse_loss", "l1_loss", "huber_loss", "binary_cross_entropy",
                        "binary_cross_entropy_with_logits"]), st.integers(1, 4),
       st.sampled_from(["shape", "reduction"]))
def test_elementwise_loss_bad_inputs_raise_naming_the_op(op, n, problem):
    x, y, kw = ember.full((n, 2), 0.5), ember.full((n, 2), 0.5), {}
    if problem == "shape":
        y = ember.full((n + 1, 3), 0.5)
    else:
        kw["reduction"] = "avg"
    name = {"binary_cross_entropy": "binary_cross_entropy", "binary_cross_entropy_with_logits": "binary_cross_entropy"}
    with raises_naming(name.get(op, op.replace("_loss", ""))):
        getattr(F, op)(x, y, **kw)
