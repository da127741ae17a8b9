"""Layers and activations against torch.nn with weights copied across: forward, backward (input and parameter
gradients), default initialisation, Dropout/BatchNorm train-eval behaviour, Embedding, LayerNorm gradchecks."""
import math

import numpy as np
import pytest

import ember
from ember import nn
from ember.nn import functional as F
from nn_helpers import torch, pair, copy_torch_to_ember, assert_close, needs_gradcheck

tnn = torch.nn


def check_module(e_module, t_module, shape, seed=0, atol=1e-5, scale=1.0):
    """Forward and backward of a module pair on the same input, with weights copied torch -> ember."""
    copy_torch_to_ember(t_module, e_module)
    ex, tx = pair(shape, seed, scale=scale)
    e_out, t_out = e_module(ex), t_module(tx)
    assert_close(e_out, t_out, atol=atol)
    grad = np.random.default_rng(seed + 1).standard_normal(tuple(t_out.shape)).astype(np.float32)
    e_out.backward(ember.tensor(grad))
    t_out.backward(torch.tensor(grad))
    assert_close(ex.grad, tx.grad, atol=atol)
    for (name, ep), (_, tp) in zip(e_module.named_parameters(), t_module.named_parameters()):
        assert_close(ep.grad, tp.grad, atol=atol)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(5, 7), (2, 3, 7), (7,)])
def test_linear_matches_torch(bias, shape):
    check_module(nn.Linear(7, 4, bias=bias), tnn.Linear(7, 4, bias=bias), shape)


def test_linear_shapes_and_errors():
    layer = nn.Linear(3, 2)
    assert tuple(layer.weight.shape) == (2, 3) and tuple(layer.bias.shape) == (2,)
    assert nn.Linear(3, 2, bias=False).bias is None
    with pytest.raises(ValueError, match="linear"):
        layer(ember.randn(4, 5))
    with pytest.raises(ValueError):
        nn.Linear(-1, 2)


def test_linear_default_init_bounds_and_spread():
    ember.manual_seed(0)
    layer = nn.Linear(400, 300)
    bound = 1.0 / math.sqrt(400)   # kaiming_uniform_(a=sqrt(5)) and the bias rule both give 1/sqrt(fan_in)
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.99 * bound   # fills the whole range
    assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound   # std of U(-b, b)
    assert abs(w.mean()) < 0.01 * bound
    torch_w = tnn.Linear(400, 300).weight.detach().numpy()
    assert abs(w.std() - torch_w.std()) < 0.02 * bound


def test_layer_default_inits():
    emb = nn.Embedding(1000, 50, padding_idx=3)
    w = emb.weight.detach().numpy()
    assert abs(w.std() - 1.0) < 0.03 and np.all(w[3] == 0)
    norm = nn.LayerNorm(4)
    assert np.all(norm.weight.detach().numpy() == 1) and np.all(norm.bias.detach().numpy() == 0)
    bn = nn.BatchNorm2d(3)
    assert np.all(bn.running_var.numpy() == 1) and np.all(bn.running_mean.numpy() == 0)
    assert bn.num_batches_tracked.item() == 0 and bn.num_batches_tracked.dtype == ember.int64


@pytest.mark.parametrize("e_act,t_act", [
    (nn.ReLU(), tnn.ReLU()), (nn.LeakyReLU(0.2), tnn.LeakyReLU(0.2)), (nn.GELU(), tnn.GELU()),
    (nn.GELU("tanh"), tnn.GELU("tanh")), (nn.SiLU(), tnn.SiLU()), (nn.Sigmoid(), tnn.Sigmoid()),
    (nn.Tanh(), tnn.Tanh()), (nn.Identity(), tnn.Identity())])
def test_activations_match_torch(e_act, t_act):
    check_module(e_act, t_act, (4, 6), scale=2.0)


@pytest.mark.parametrize("e_act,t_act", [(nn.Softmax(dim=1), tnn.Softmax(dim=1)),
                                         (nn.LogSoftmax(dim=-1), tnn.LogSoftmax(dim=-1))])
def test_softmax_layers_match_torch(e_act, t_act):
    if not hasattr(ember._C, "softmax"):
        pytest.skip("ember._C.softmax comes with the reductions branch")
    check_module(e_act, t_act, (3, 5, 2), scale=3.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_gradient_of_inf_and_nan_matches_torch(dtype):
    torch = pytest.importorskip("torch")
    x = np.array([[-1.0, 0.0, np.nan, 2.0, -np.inf, np.inf]], dtype)
    g = np.array([[np.inf, np.nan, 1.0, np.nan, -np.inf, 4.0]], dtype)
    ex = ember.tensor(x, requires_grad=True)
    ember.nn.functional.relu(ex).backward(ember.tensor(g))
    tx = torch.tensor(x, requires_grad=True)
    torch.relu(tx).backward(torch.tensor(g))
    np.testing.assert_array_equal(ex.grad.numpy(), tx.grad.numpy())


def test_relu_inplace_and_relu_at_zero():
    x = ember.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    h = x * 1.0
    out = F.relu(h, inplace=True)
    assert out is h
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 1.0])   # relu'(0) = 0, as PyTorch


def test_flatten_unflatten():
    check_module(nn.Flatten(), tnn.Flatten(), (2, 3, 4))
    check_module(nn.Flatten(0, 1), tnn.Flatten(0, 1), (2, 3, 4))
    check_module(nn.Unflatten(1, (3, 4)), tnn.Unflatten(1, (3, 4)), (2, 12, 5))
    check_module(nn.Unflatten(-1, (2, -1)), tnn.Unflatten(-1, (2, -1)), (2, 12))


def test_dropout_train_eval_and_scaling():
    ember.manual_seed(1)
    layer = nn.Dropout(0.25)
    x = ember.ones(200, 100, requires_grad=True)
    out = layer(x)
    values = out.detach().numpy()
    kept = values != 0
    assert np.allclose(values[kept], 1.0 / 0.75)
    assert abs(kept.mean() - 0.75) < 0.02
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), kept / 0.75, rtol=1e-6)   # gradient uses the same mask
    layer.eval()
    assert layer(x) is x
    assert np.all(F.dropout(x, 1.0).detach().numpy() == 0)
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="between 0 and 1"):
            nn.Dropout(bad)
        with pytest.raises(ValueError):
            F.dropout(x, bad)


def test_dropout_is_seeded():
    ember.manual_seed(7)
    a = F.dropout(ember.ones(50), 0.5).numpy().copy()
    ember.manual_seed(7)
    b = F.dropout(ember.ones(50), 0.5).numpy()
    np.testing.assert_array_equal(a, b)


def test_embedding_matches_torch_with_padding_and_repeats():
    t_emb = tnn.Embedding(7, 4, padding_idx=2)
    e_emb = nn.Embedding(7, 4, padding_idx=2)
    copy_torch_to_ember(t_emb, e_emb)
    idx = np.array([[0, 2, 5], [5, 5, 6]], dtype=np.int64)
    e_out, t_out = e_emb(ember.tensor(idx)), t_emb(torch.tensor(idx))
    assert tuple(e_out.shape) == (2, 3, 4)
    assert_close(e_out, t_out)
    grad = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    e_out.backward(ember.tensor(grad))
    t_out.backward(torch.tensor(grad))
    assert_close(e_emb.weight.grad, t_emb.weight.grad)
    assert np.all(e_emb.weight.grad.numpy()[2] == 0)


def test_embedding_errors_and_negative_padding():
    emb = nn.Embedding(5, 2, padding_idx=-1)
    assert emb.padding_idx == 4
    with pytest.raises(IndexError, match="index 5 is out of range for 5 embeddings"):
        emb(ember.tensor([1, 5]))
    with pytest.raises(IndexError):
        emb(ember.tensor([-1]))
    with pytest.raises(TypeError, match="int64"):
        emb(ember.tensor([1.0]))
    pre = nn.Embedding.from_pretrained(ember.eye(3))
    assert not pre.weight.requires_grad


@needs_gradcheck
def test_embedding_gradcheck():
    weight = ember.randn(5, 3, dtype=ember.float64, requires_grad=True)
    idx = ember.tensor([[0, 4], [4, 1]])
    # (no padding_idx here: its rows get no gradient by design, which finite differences would contradict)
    assert ember.autograd.gradcheck(lambda w: F.embedding(idx, w), (weight,))


@pytest.mark.parametrize("shape,normalized", [((4, 6), 6), ((2, 3, 4, 5), (4, 5)), ((3, 8), (8,))])
@pytest.mark.parametrize("affine,bias", [(True, True), (True, False), (False, False)])
def test_layer_norm_matches_torch(shape, normalized, affine, bias):
    t_norm = tnn.LayerNorm(normalized, elementwise_affine=affine, bias=bias)
    e_norm = nn.LayerNorm(normalized, elementwise_affine=affine, bias=bias)
    with torch.no_grad():
        for p in t_norm.parameters():
            p.uniform_(0.5, 1.5)
    check_module(e_norm, t_norm, shape, scale=3.0, atol=1e-4)


@needs_gradcheck
def test_layer_norm_gradcheck():
    x = ember.randn(3, 4, dtype=ember.float64, requires_grad=True)
    w = ember.randn(4, dtype=ember.float64, requires_grad=True)
    b = ember.randn(4, dtype=ember.float64, requires_grad=True)
    assert ember.autograd.gradcheck(lambda x, w, b: F.layer_norm(x, (4,), w, b, 1e-5), (x, w, b))


def test_layer_norm_errors():
    with pytest.raises(ValueError, match="layer_norm: normalized_shape"):
        F.layer_norm(ember.randn(3, 4), (5,))
    with pytest.raises(ValueError, match="weight"):
        F.layer_norm(ember.randn(3, 4), (4,), ember.ones(3))


def test_layer_norm_non_contiguous_input():
    ex, tx = pair((4, 6), 3)
    assert_close(F.layer_norm(ex.t(), (4,)), torch.nn.functional.layer_norm(tx.t(), (4,)), atol=1e-5)


@pytest.mark.parametrize("cls,tcls,shape", [(nn.BatchNorm1d, tnn.BatchNorm1d, (8, 3)),
                                            (nn.BatchNorm1d, tnn.BatchNorm1d, (4, 3, 5)),
                                            (nn.BatchNorm2d, tnn.BatchNorm2d, (4, 3, 2, 5))])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_batch_norm_training_steps_running_stats_and_eval(cls, tcls, shape, momentum):
    t_bn, e_bn = tcls(3, momentum=momentum), cls(3, momentum=momentum)
    with torch.no_grad():
        t_bn.weight.uniform_(0.5, 1.5)
        t_bn.bias.uniform_(-0.5, 0.5)
    copy_torch_to_ember(t_bn, e_bn)
    for step in range(3):
        ex, tx = pair(shape, 10 + step, scale=2.0)
        e_out, t_out = e_bn(ex + 1.0), t_bn(tx + 1.0)
        assert_close(e_out, t_out, atol=1e-4)
        grad = np.random.default_rng(step).standard_normal(tuple(t_out.shape)).astype(np.float32)
        e_out.backward(ember.tensor(grad))
        t_out.backward(torch.tensor(grad))
        assert_close(ex.grad, tx.grad, atol=1e-4)
        assert_close(e_bn.weight.grad, t_bn.weight.grad, atol=1e-4)
        assert_close(e_bn.bias.grad, t_bn.bias.grad, atol=1e-4)
        e_bn.zero_grad(), t_bn.zero_grad()
    assert_close(e_bn.running_mean, t_bn.running_mean, atol=1e-5)
    assert_close(e_bn.running_var, t_bn.running_var, atol=1e-5)
    assert e_bn.num_batches_tracked.item() == t_bn.num_batches_tracked.item() == 3
    e_bn.eval(), t_bn.eval()
    ex, tx = pair(shape, 99)
    e_out, t_out = e_bn(ex), t_bn(tx)
    assert_close(e_out, t_out, atol=1e-5)
    e_out.sum().backward()
    t_out.sum().backward()
    assert_close(ex.grad, tx.grad, atol=1e-5)
    assert_close(e_bn.weight.grad, t_bn.weight.grad, atol=1e-4)


@pytest.mark.parametrize("threads", [1, 2])
def test_batch_norm_1d_wide_features_match_torch(threads):
    # (N, C) input: the rows-outer path; 2 threads split its 20000 channels into ranges that start past 0
    previous = ember.get_num_threads()
    ember.set_num_threads(threads)
    try:
        t_bn, e_bn = tnn.BatchNorm1d(20000), nn.BatchNorm1d(20000)
        with torch.no_grad():
            t_bn.weight.uniform_(0.5, 1.5)
            t_bn.bias.uniform_(-0.5, 0.5)
        copy_torch_to_ember(t_bn, e_bn)
        ex, tx = pair((4, 20000), 3, scale=2.0)
        e_out, t_out = e_bn(ex * 3.0 + 1.0), t_bn(tx * 3.0 + 1.0)
        assert_close(e_out, t_out, atol=1e-4)
        grad = np.random.default_rng(4).standard_normal((4, 20000)).astype(np.float32)
        e_out.backward(ember.tensor(grad))
        t_out.backward(torch.tensor(grad))
        for e, t in ((ex.grad, tx.grad), (e_bn.weight.grad, t_bn.weight.grad), (e_bn.bias.grad, t_bn.bias.grad),
                     (e_bn.running_mean, t_bn.running_mean), (e_bn.running_var, t_bn.running_var)):
            assert_close(e, t, atol=1e-4)
        e_bn.eval(), t_bn.eval()
        ex, tx = pair((4, 20000), 5)
        e_out, t_out = e_bn(ex), t_bn(tx)
        assert_close(e_out, t_out, atol=1e-5)
        e_out.backward(ember.tensor(grad))
        t_out.backward(torch.tensor(grad))
        assert_close(ex.grad, tx.grad, atol=1e-5)
    finally:
        ember.set_num_threads(previous)


def test_batch_norm_without_affine_or_running_stats():
    for kwargs in ({"affine": False}, {"track_running_stats": False}):
        t_bn, e_bn = tnn.BatchNorm1d(3, **kwargs), nn.BatchNorm1d(3, **kwargs)
        assert list(e_bn.state_dict()) == list(t_bn.state_dict())
        check_module(e_bn, t_bn, (6, 3), scale=2.0, atol=1e-4)
        e_bn.eval(), t_bn.eval()
        ex, tx = pair((6, 3), 5)
        assert_close(e_bn(ex), t_bn(tx), atol=1e-5)


def test_batch_norm_errors():
    with pytest.raises(ValueError, match="expected 4D input"):
        nn.BatchNorm2d(3)(ember.randn(2, 3))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(ember.randn(1, 3))
    with pytest.raises(ValueError, match="running_mean"):
        F.batch_norm(ember.randn(4, 3), ember.zeros(2), ember.ones(2), training=True)
    with pytest.raises(ValueError, match="required when training=False"):
        F.batch_norm(ember.randn(4, 3), None, None, training=False)


@needs_gradcheck
def test_batch_norm_gradcheck():
    x = ember.randn(4, 2, 3, dtype=ember.float64, requires_grad=True)
    w = ember.randn(2, dtype=ember.float64, requires_grad=True)
    b = ember.randn(2, dtype=ember.float64, requires_grad=True)
    assert ember.autograd.gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), (x, w, b))
    rm, rv = ember.randn(2, dtype=ember.float64), ember.rand(2, dtype=ember.float64) + 0.5
    assert ember.autograd.gradcheck(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=False), (x, w, b))
    x2 = ember.randn(5, 2, dtype=ember.float64, requires_grad=True)   # (N, C): the rows-outer path
    assert ember.autograd.gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), (x2, w, b))
    assert ember.autograd.gradcheck(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=False), (x2, w, b))


def test_pad_constant_matches_torch():
    ex, tx = pair((2, 3, 4), 0)
    for pads, value in [((1, 2), 0.0), ((1, 0, 2, 1), 1.5), ((-1, 2, 0, 0, 1, 1), 0.0)]:
        e_out = F.pad(ex, pads, value=value)
        t_out = torch.nn.functional.pad(tx, pads, value=value)
        assert_close(e_out, t_out)
        grad = np.random.default_rng(1).standard_normal(tuple(t_out.shape)).astype(np.float32)
        ex.grad = None
        tx.grad = None
        e_out.backward(ember.tensor(grad))
        t_out.backward(torch.tensor(grad))
        assert_close(ex.grad, tx.grad)
    with pytest.raises(NotImplementedError, match="reflect"):
        F.pad(ex, (1, 1), mode="reflect")
    with pytest.raises(ValueError):
        F.pad(ex, (1,))


def test_one_hot_matches_torch():
    idx = np.array([[0, 3], [2, 1]], dtype=np.int64)
    np.testing.assert_array_equal(F.one_hot(ember.tensor(idx)).numpy(),
                                  torch.nn.functional.one_hot(torch.tensor(idx)).numpy())
    np.testing.assert_array_equal(F.one_hot(ember.tensor(idx), 6).numpy(),
                                  torch.nn.functional.one_hot(torch.tensor(idx), 6).numpy())
    with pytest.raises(ValueError):
        F.one_hot(ember.tensor([4]), 3)
    with pytest.raises(TypeError):
        F.one_hot(ember.tensor([1.0]))


def test_fused_norms_and_loss_do_not_depend_on_thread_count():
    previous = ember.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            ember.set_num_threads(threads)
            ember.manual_seed(0)
            x = ember.randn(300, 128, requires_grad=True)
            w = ember.randn(128, requires_grad=True)
            F.layer_norm(x, (128,), w, None).sum().backward()
            bn_x = ember.randn(64, 8, 40, requires_grad=True)
            F.batch_norm(bn_x, None, None, training=True).pow(2).sum().backward()
            ce_x = ember.randn(300, 50, requires_grad=True)
            F.cross_entropy(ce_x, ember.randint(0, 50, (300,)), reduction="sum").backward()
            results.append([t.numpy().copy() for t in (x.grad, w.grad, bn_x.grad, ce_x.grad)])
    finally:
        ember.set_num_threads(previous)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
