"""Property tests of the ember.nn layers against their torch.nn twins (same weights copied across): Linear, Conv1d/2d,
pools, BatchNorm, LayerNorm, Embedding, Dropout, activations, Flatten/Unflatten, with drawn constructor arguments and
input shapes (batch 0 and 1, non-contiguous inputs); outputs and parameter/input gradients must match. Bad
constructor arguments and bad inputs raise a clear Python exception naming the layer or op."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import ember
from ember import nn
from props_helpers import torch, laid_out, assert_close, raises_naming

LAYOUTS = ["contiguous", "transposed", "stepped", "offset"]
SEEDS = st.integers(0, 2 ** 31)
TOL = dict(rtol=1e-4, atol=1e-5)


def copy_weights(ember_module, torch_module):
    """Loads torch_module's state into ember_module (same state_dict keys, values via NumPy)."""
    ember_module.load_state_dict({k: v.detach().numpy().copy() for k, v in torch_module.state_dict().items()})


def input_pair(rng, shape, layout):
    """(ember leaf, torch leaf) with the same float32 values; the ember leaf has the given memory layout."""
    e, t = laid_out(rng.standard_normal(shape).astype(np.float32), layout, rng)
    return e.requires_grad_(True), t.requires_grad_(True)


def compare_forward_backward(ember_module, torch_module, ex, tx, rng, tol=TOL, input_grad=True):
    """Runs both modules, compares outputs, backpropagates one random cotangent and compares all gradients."""
    got, expected = ember_module(ex), torch_module(tx)
    assert_close(got, expected, **tol)
    cotangent = rng.standard_normal(tuple(expected.shape)).astype(np.float32)
    expected.backward(torch.from_numpy(cotangent))
    got.backward(ember.from_numpy(cotangent.copy()))
    if input_grad:
        assert_close(ex.grad, tx.grad, **tol)
    torch_params = dict(torch_module.named_parameters())
    for name, param in ember_module.named_parameters():
        assert_close(param.grad, torch_params[name].grad, **tol)


@given(st.lists(st.integers(0, 3), max_size=2), st.sampled_from([0, 1, 2, 5]), st.integers(0, 6), st.booleans(),
       st.sampled_from(LAYOUTS), SEEDS)
def test_linear_matches_torch(lead, in_features, out_features, bias, layout, seed):
    rng = np.random.default_rng(seed)
    tm = torch.nn.Linear(in_features, out_features, bias=bias)
    em = nn.Linear(in_features, out_features, bias=bias)
    copy_weights(em, tm)
    ex, tx = input_pair(rng, tuple(lead) + (in_features,), layout)
    compare_forward_backward(em, tm, ex, tx, rng, tol=dict(rtol=1e-4, atol=1e-4))


@st.composite
def conv_setups(draw, spatial):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    in_ch, out_ch = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(spatial))
    stride = tuple(draw(st.integers(1, 2)) for _ in range(spatial))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(spatial))
    padding = tuple(draw(st.integers(0, 2)) for _ in range(spatial))
    reach = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    sides = tuple(max(r - 2 * p, 1) + draw(st.integers(0, 3)) for r, p in zip(reach, padding))
    if draw(st.integers(0, 4)) == 0:     # padding='same' (stride 1 only, as torch)
        padding, stride = "same", (1,) * spatial
    batch = draw(st.sampled_from([0, 1, 2]))
    return dict(groups=groups, in_ch=in_ch, out_ch=out_ch, kernel=kernel, stride=stride, dilation=dilation,
                padding=padding, shape=(batch, in_ch) + sides, bias=draw(st.booleans()))


@pytest.mark.parametrize("spatial", [1, 2])
@given(data=st.data(), layout=st.sampled_from(LAYOUTS), seed=SEEDS)
def test_conv_layers_match_torch(spatial, data, layout, seed):
    s = data.draw(conv_setups(spatial))
    rng = np.random.default_rng(seed)
    kwargs = dict(stride=s["stride"], padding=s["padding"], dilation=s["dilation"], groups=s["groups"], bias=s["bias"])
    tm = getattr(torch.nn, f"Conv{spatial}d")(s["in_ch"], s["out_ch"], s["kernel"], **kwargs)
    em = getattr(nn, f"Conv{spatial}d")(s["in_ch"], s["out_ch"], s["kernel"], **kwargs)
    copy_weights(em, tm)
    ex, tx = input_pair(rng, s["shape"], layout)
    compare_forward_backward(em, tm, ex, tx, rng, tol=dict(rtol=1e-4, atol=1e-4))


@st.composite
def pool_setups(draw, spatial, dilated):
    kernel = draw(st.integers(1, 3))
    stride = draw(st.integers(1, 3))
    padding = draw(st.integers(0, kernel // 2))
    dilation = draw(st.integers(1, 2)) if dilated else 1
    sides = tuple(dilation * (kernel - 1) + 1 + draw(st.integers(0, 4)) for _ in range(spatial))
    shape = (draw(st.sampled_from([0, 1, 2])), draw(st.integers(1, 3))) + sides
    return kernel, stride, padding, dilation, draw(st.booleans()), shape


@pytest.mark.parametrize("name", ["MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d"])
@given(data=st.data(), layout=st.sampled_from(LAYOUTS), seed=SEEDS)
def test_pool_layers_match_torch(name, data, layout, seed):
    is_max = name.startswith("Max")
    kernel, stride, padding, dilation, ceil_mode, shape = data.draw(pool_setups(1 if name.endswith("1d") else 2,
                                                                                is_max))
    rng = np.random.default_rng(seed)
    kwargs = dict(stride=stride, padding=padding, ceil_mode=ceil_mode)
    if is_max:
        kwargs["dilation"] = dilation
    else:
        kwargs["count_include_pad"] = data.draw(st.booleans())
        if name == "AvgPool2d":
            kwargs["divisor_override"] = data.draw(st.sampled_from([None, 1, 3]))
    tm, em = getattr(torch.nn, name)(kernel, **kwargs), getattr(nn, name)(kernel, **kwargs)
    ex, tx = input_pair(rng, shape, layout)
    compare_forward_backward(em, tm, ex, tx, rng)
    if is_max:   # return_indices: the same flat indices as torch
        _, e_idx = getattr(nn, name)(kernel, return_indices=True, **kwargs)(ex)
        _, t_idx = getattr(torch.nn, name)(kernel, return_indices=True, **kwargs)(tx)
        np.testing.assert_array_equal(e_idx.numpy(), t_idx.numpy())


@pytest.mark.parametrize("name", ["AdaptiveAvgPool2d", "AdaptiveMaxPool2d"])
@given(batch=st.sampled_from([0, 1, 2]), channels=st.integers(1, 3), sides=st.tuples(st.integers(1, 7),
       st.integers(1, 7)), out=st.tuples(st.integers(1, 4), st.integers(1, 4)), layout=st.sampled_from(LAYOUTS),
       seed=SEEDS)
def test_adaptive_pools_match_torch(name, batch, channels, sides, out, layout, seed):
    rng = np.random.default_rng(seed)
    tm, em = getattr(torch.nn, name)(out), getattr(nn, name)(out)
    ex, tx = input_pair(rng, (batch, channels) + sides, layout)
    compare_forward_backward(em, tm, ex, tx, rng)


@pytest.mark.parametrize("name", ["BatchNorm1d", "BatchNorm2d"])
@given(data=st.data(), momentum=st.sampled_from([0.1, 0.5, None]), affine=st.booleans(),
       layout=st.sampled_from(LAYOUTS), seed=SEEDS)
def test_batchnorm_train_and_eval_match_torch(name, data, momentum, affine, layout, seed):
    channels = data.draw(st.integers(1, 4))
    batch = data.draw(st.integers(2, 4))
    tail = data.draw(st.sampled_from([(), (3,), (1,)])) if name == "BatchNorm1d" else \
        (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    rng = np.random.default_rng(seed)
    tm = getattr(torch.nn, name)(channels, momentum=momentum, affine=affine)
    em = getattr(nn, name)(channels, momentum=momentum, affine=affine)
    if affine:
        with torch.no_grad():
            tm.weight.uniform_(0.5, 1.5)
            tm.bias.uniform_(-0.5, 0.5)
    copy_weights(em, tm)
    for _ in range(2):   # two training steps move the running statistics
        ex, tx = input_pair(rng, (batch, channels) + tail, layout)
        compare_forward_backward(em, tm, ex, tx, rng, tol=dict(rtol=1e-3, atol=1e-4))
    assert_close(em.running_mean, tm.running_mean, **TOL)
    assert_close(em.running_var, tm.running_var, rtol=1e-4, atol=1e-4)
    assert int(em.num_batches_tracked.item()) == int(tm.num_batches_tracked.item()) == 2
    em.eval(), tm.eval()
    ex, tx = input_pair(rng, (data.draw(st.integers(0, 3)), channels) + tail, layout)
    compare_forward_backward(em, tm, ex, tx, rng, tol=dict(rtol=1e-3, atol=1e-4))


@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4), keep=st.integers(1, 2), affine=st.booleans(),
       bias=st.booleans(), layout=st.sampled_from(LAYOUTS), seed=SEEDS)
def test_layernorm_matches_torch(shape, keep, affine, bias, layout, seed):
    normalized = tuple(shape[-min(keep, len(shape)):])
    rng = np.random.default_rng(seed)
    tm = torch.nn.LayerNorm(normalized, elementwise_affine=affine, bias=bias)
    em = nn.LayerNorm(normalized, elementwise_affine=affine, bias=bias)
    if affine:
        with torch.no_grad():
            for p in tm.parameters():
                p.uniform_(0.5, 1.5)
    copy_weights(em, tm)
    ex, tx = input_pair(rng, tuple(shape), layout)
    compare_forward_backward(em, tm, ex, tx, rng, tol=dict(rtol=1e-3, atol=1e-4))


@given(num=st.integers(1, 8), dim=st.integers(0, 5), index_shape=st.lists(st.integers(0, 3), max_size=3),
       padding=st.booleans(), seed=SEEDS)
def test_embedding_matches_torch(num, dim, index_shape, padding, seed):
    rng = np.random.default_rng(seed)
    padding_idx = int(rng.integers(-num, num)) if padding else None
    tm = torch.nn.Embedding(num, dim, padding_idx=padding_idx)
    em = nn.Embedding(num, dim, padding_idx=padding_idx)
    copy_weights(em, tm)
    indices = rng.integers(0, num, size=tuple(index_shape)).astype(np.int64)
    got, expected = em(ember.from_numpy(indices.copy())), tm(torch.from_numpy(indices))
    assert_close(got, expected)
    cotangent = rng.standard_normal(tuple(expected.shape)).astype(np.float32)
    expected.backward(torch.from_numpy(cotangent))
    got.backward(ember.from_numpy(cotangent.copy()))
    assert_close(em.weight.grad, tm.weight.grad, **TOL)


@given(shape=st.lists(st.integers(0, 5), max_size=3), p=st.floats(0.0, 1.0), layout=st.sampled_from(LAYOUTS),
       seed=SEEDS)
def test_dropout_identity_zeros_and_scaling(shape, p, layout, seed):
    rng = np.random.default_rng(seed)
    ex, _ = input_pair(rng, tuple(shape), layout)
    x = ex.detach().numpy()
    layer = nn.Dropout(p)
    layer.eval()
    np.testing.assert_array_equal(layer(ex).detach().numpy(), x)
    layer.train()
    np.testing.assert_array_equal(nn.Dropout(0.0)(ex).detach().numpy(), x)
    np.testing.assert_array_equal(nn.Dropout(1.0)(ex).detach().numpy(), np.zeros_like(x))
    ember.manual_seed(seed)
    out = layer(ex)
    y = out.detach().numpy()
    assert y.shape == x.shape
    if p < 1.0:
        kept = y != 0
        np.testing.assert_allclose(y[kept], x[kept] / (1.0 - p), rtol=1e-5, atol=1e-6)
        out.sum().backward()
        grad = ex.grad.numpy()
        np.testing.assert_allclose(grad[kept], 1.0 / (1.0 - p), rtol=1e-5)
        assert np.all(grad[~kept & (x != 0)] == 0)


ACTIVATIONS = ["ReLU", "LeakyReLU", "GELU", "GELU_tanh", "SiLU", "Tanh", "Sigmoid", "Softmax", "LogSoftmax"]


@pytest.mark.parametrize("name", ACTIVATIONS)
@given(shape=st.lists(st.integers(0, 4), min_size=1, max_size=4), data=st.data(), layout=st.sampled_from(LAYOUTS),
       seed=SEEDS)
def test_activation_layers_match_torch(name, shape, data, layout, seed):
    rng = np.random.default_rng(seed)
    if name in ("Softmax", "LogSoftmax"):
        dim = data.draw(st.integers(-len(shape), len(shape) - 1))
        tm, em = getattr(torch.nn, name)(dim=dim), getattr(nn, name)(dim=dim)
    elif name == "GELU_tanh":
        tm, em = torch.nn.GELU(approximate="tanh"), nn.GELU(approximate="tanh")
    else:
        tm, em = getattr(torch.nn, name)(), getattr(nn, name)()
    ex, tx = input_pair(rng, tuple(shape), layout)
    compare_forward_backward(em, tm, ex, tx, rng)


@given(shape=st.lists(st.integers(0, 3), min_size=1, max_size=4), data=st.data(), layout=st.sampled_from(LAYOUTS),
       seed=SEEDS)
def test_flatten_unflatten_match_torch(shape, data, layout, seed):
    rng = np.random.default_rng(seed)
    ndim = len(shape)
    start = data.draw(st.integers(-ndim, ndim - 1))
    end = data.draw(st.integers(start % ndim, ndim - 1))
    ex, tx = input_pair(rng, tuple(shape), layout)
    flat_e, flat_t = nn.Flatten(start, end)(ex), torch.nn.Flatten(start, end)(tx)
    assert_close(flat_e, flat_t)
    dim = data.draw(st.integers(-ndim, ndim - 1))
    side = shape[dim]
    split = [1, side] if side == 0 or data.draw(st.booleans()) else [side, 1]
    if 0 not in shape and data.draw(st.booleans()):   # -1 is ambiguous for a size-0 input (torch raises too)
        split[0] = -1
    got, expected = nn.Unflatten(dim, tuple(split))(ex), torch.nn.Unflatten(dim, tuple(split))(tx)
    assert_close(got, expected)
    got.sum().backward()
    expected.sum().backward()
    assert_close(ex.grad, tx.grad)


# ------------------------------------------------------------------------------------------------ invalid draws

@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 3), st.integers(0, 2))
def test_linear_bad_inputs_and_arguments_raise_naming_it(in_features, out_features, wrong_by, batch):
    layer = nn.Linear(in_features, out_features)
    with raises_naming("linear"):
        layer(ember.zeros(batch, in_features + wrong_by))
    with raises_naming("linear"):
        layer(ember.tensor(1.0))
    with raises_naming("Linear"):
        nn.Linear(-in_features, out_features)
    with raises_naming("Linear"):
        nn.Linear(in_features, -out_features)
    with raises_naming("Linear"):
        nn.Linear(float(in_features), out_features)


@pytest.mark.parametrize("spatial", [1, 2])
@given(channels=st.integers(1, 4), wrong_by=st.integers(1, 3), kernel=st.integers(2, 5), padding=st.integers(0, 2),
       batch=st.integers(0, 2))
def test_conv_bad_inputs_and_arguments_raise_naming_it(spatial, channels, wrong_by, kernel, padding, batch):
    name = f"Conv{spatial}d"
    cls = getattr(nn, name)
    layer = cls(channels, 2, kernel, padding=padding)
    side = kernel + 2 * padding
    with raises_naming("conv"):
        layer(ember.zeros(batch, channels + wrong_by, *(side,) * spatial))
    too_small = kernel - 2 * padding - 1   # the padded input is one shorter than the kernel
    if too_small >= 0:
        with raises_naming("conv"):
            layer(ember.zeros(batch, channels, *(too_small,) * spatial))
    with raises_naming("conv"):
        layer(ember.zeros(*(side,) * (spatial + 3)))
    with raises_naming("conv"):
        layer(ember.zeros(side))
    with raises_naming(name):
        cls(channels, 2, kernel, groups=0)
    with raises_naming(name):
        cls(-channels, 2, kernel)
    with raises_naming(name):
        cls(channels, 2, -kernel)
    with raises_naming(name):
        cls(channels, 2, kernel, stride=0)
    with raises_naming(name):
        cls(channels, 2, kernel, padding=-1)
    with raises_naming(name):
        cls(channels + 1, 2, kernel, groups=channels + 2)


@given(kernel=st.integers(2, 4), side=st.integers(0, 1), channels=st.integers(1, 3))
def test_pools_with_kernel_larger_than_input_or_bad_args_raise_naming_them(kernel, side, channels):
    x1, x2 = ember.zeros(1, channels, side), ember.zeros(1, channels, side, side)
    for layer, x, op in ((nn.MaxPool1d(kernel), x1, "max_pool1d"), (nn.MaxPool2d(kernel), x2, "max_pool2d"),
                         (nn.AvgPool1d(kernel), x1, "avg_pool1d"), (nn.AvgPool2d(kernel), x2, "avg_pool2d")):
        with raises_naming(op):
            layer(x)
    with raises_naming("max_pool2d"):
        nn.MaxPool2d(kernel, padding=kernel)(ember.zeros(1, channels, 8, 8))
    with raises_naming("max_pool2d"):
        nn.MaxPool2d(kernel, stride=0)(ember.zeros(1, channels, 8, 8))
    with raises_naming("avg_pool2d"):
        nn.AvgPool2d(kernel)(ember.zeros(8, 8))
    with raises_naming("adaptive_avg_pool2d"):
        nn.AdaptiveAvgPool2d(-kernel)(ember.zeros(1, channels, 4, 4))
    with raises_naming("adaptive_max_pool2d"):
        nn.AdaptiveMaxPool2d((kernel, 0))(ember.zeros(1, channels, 4, 4))


@given(channels=st.integers(1, 4), wrong_by=st.integers(1, 2), rank=st.sampled_from([1, 3, 5]))
def test_norm_layers_bad_inputs_and_arguments_raise(channels, wrong_by, rank):
    with raises_naming("batch_norm"):
        nn.BatchNorm1d(channels)(ember.zeros(3, channels + wrong_by))
    with raises_naming("BatchNorm2d"):
        nn.BatchNorm2d(channels)(ember.zeros(*(2,) * rank))
    with raises_naming("BatchNorm1d"):
        nn.BatchNorm1d(-channels)
    with raises_naming("BatchNorm2d"):
        nn.BatchNorm2d(0)
    with raises_naming("layer_norm"):
        nn.LayerNorm(channels)(ember.zeros(2, channels + wrong_by))
    with raises_naming("LayerNorm"):
        nn.LayerNorm(-channels)


@given(num=st.integers(1, 6), dim=st.integers(1, 4), past=st.integers(0, 3), p=st.one_of(
    st.floats(-5, -1e-3), st.floats(1.001, 5)))
def test_embedding_dropout_and_activation_bad_arguments_raise(num, dim, past, p):
    layer = nn.Embedding(num, dim)
    with raises_naming("embedding"):
        layer(ember.tensor([num + past], dtype=ember.int64))
    with raises_naming("embedding"):
        layer(ember.tensor([-1 - past], dtype=ember.int64))
    with raises_naming("embedding"):
        layer(ember.zeros(2))
    with raises_naming("Embedding"):
        nn.Embedding(num, dim, padding_idx=num + past)
    with raises_naming("Embedding"):
        nn.Embedding(-num, dim)
    with raises_naming("Embedding"):
        nn.Embedding(num, -dim)
    with raises_naming("dropout"):
        nn.Dropout(p)
    with raises_naming("GELU"):
        nn.GELU(approximate="fast")
    with raises_naming("softmax"):
        nn.Softmax(dim=2 + past)(ember.zeros(2, 2))
    with raises_naming("log_softmax"):
        nn.LogSoftmax(dim=-3 - past)(ember.zeros(2, 2))
    with raises_naming("Unflatten"):
        nn.Unflatten(2 + past, (1, 2))(ember.zeros(2, 2))
    with raises_naming("Unflatten", (ValueError, RuntimeError)):
        nn.Unflatten(1, (3, 5 + past))(ember.zeros(2, 2))
    with raises_naming("flatten"):
        nn.Flatten(3 + past)(ember.zeros(2, 2))
