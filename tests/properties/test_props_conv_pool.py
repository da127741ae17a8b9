"""Property tests of conv1d/conv2d (stride, padding incl. 'same', dilation, groups, bias, size-1 and non-contiguous
inputs) and max/avg/adaptive pooling against PyTorch with gradients; bad kernel sizes, strides, paddings, channel
counts and ranks raise errors that name the op."""
import numpy as np
from hypothesis import given, assume, strategies as st

import ember
from ember.nn import functional as F
from props_helpers import torch, values, laid_out, assert_close, raises_naming

TF = torch.nn.functional


def grad_check(e_out, t_out, e_leaves, t_leaves, dtype, tol):
    grad = np.random.default_rng(0).standard_normal(tuple(t_out.shape)).astype(t_out.detach().numpy().dtype)
    e_out.backward(ember.from_numpy(grad.copy()))
    t_out.backward(torch.from_numpy(grad))
    for e_leaf, t_leaf in zip(e_leaves, t_leaves):
        assert_close(e_leaf.grad, t_leaf.grad, dtype, **tol)


@st.composite
def conv_case(draw, dims):
    groups = draw(st.integers(1, 3))
    cin, cout = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(dims))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(dims))
    same = draw(st.booleans())
    stride = (1,) * dims if same else tuple(draw(st.integers(1, 3)) for _ in range(dims))
    padding = "same" if same else tuple(draw(st.integers(0, 2)) for _ in range(dims))
    spatial = tuple(draw(st.integers(1, 8)) for _ in range(dims))
    batch = draw(st.integers(0, 2))
    return dict(batch=batch, cin=cin, cout=cout, kernel=kernel, dilation=dilation, stride=stride, padding=padding,
                spatial=spatial, groups=groups, bias=draw(st.booleans()), dtype=draw(st.sampled_from(["float32",
                                                                                                     "float64"])),
                layout=draw(st.sampled_from(["contiguous", "transposed", "stepped"])),
                seed=draw(st.integers(0, 2 ** 31)))


@given(st.sampled_from([1, 2]).flatmap(lambda d: st.tuples(st.just(d), conv_case(d))))
def test_conv_matches_torch_with_gradients(case):
    dims, c = case
    rng = np.random.default_rng(c["seed"])
    x = values(rng, (c["batch"], c["cin"]) + c["spatial"], c["dtype"])
    w = values(rng, (c["cout"], c["cin"] // c["groups"]) + c["kernel"], c["dtype"])
    b = values(rng, (c["cout"],), c["dtype"]) if c["bias"] else None
    kw = dict(stride=c["stride"], padding=c["padding"], dilation=c["dilation"], groups=c["groups"])
    t_fn, e_fn = (TF.conv1d, F.conv1d) if dims == 1 else (TF.conv2d, F.conv2d)
    tx, tw = torch.from_numpy(x.copy()).requires_grad_(True), torch.from_numpy(w.copy()).requires_grad_(True)
    tb = torch.from_numpy(b.copy()).requires_grad_(True) if c["bias"] else None
    try:
        expected = t_fn(tx, tw, tb, **kw)
    except RuntimeError:            # e.g. the dilated kernel is larger than the padded input
        with raises_naming(f"conv{dims}d"):
            e_fn(ember.from_numpy(x.copy()), ember.from_numpy(w.copy()), None if b is None else ember.from_numpy(b),
                 **kw)
        return
    ex, _ = laid_out(x, c["layout"], rng)
    ex = ex.detach().requires_grad_(True)
    ew = ember.from_numpy(w.copy()).requires_grad_(True)
    eb = ember.from_numpy(b.copy()).requires_grad_(True) if c["bias"] else None
    got = e_fn(ex, ew, eb, **kw)
    tol = dict(rtol=1e-4, atol=1e-4) if c["dtype"] == "float32" else dict(rtol=1e-9, atol=1e-9)
    assert_close(got, expected, c["dtype"], **tol)
    if expected.numel():
        grad_check(got, expected, [ex, ew] + ([eb] if c["bias"] else []), [tx, tw] + ([tb] if c["bias"] else []),
                   c["dtype"], dict(rtol=1e-3, atol=1e-3) if c["dtype"] == "float32" else tol)


@given(st.sampled_from(["max_pool1d", "avg_pool1d", "max_pool2d", "avg_pool2d"]), st.data())
def test_pooling_matches_torch_with_gradients(op, data):
    dims = int(op[-2])
    kernel = tuple(data.draw(st.integers(1, 4)) for _ in range(dims))
    stride = tuple(data.draw(st.integers(1, 3)) for _ in range(dims))
    padding = tuple(data.draw(st.integers(0, k // 2)) for k in kernel)
    ceil_mode = data.draw(st.booleans())
    spatial = tuple(data.draw(st.integers(1, 7)) for _ in range(dims))
    dtype = data.draw(st.sampled_from(["float32", "float64"]))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 31)))
    x = values(rng, (data.draw(st.integers(0, 2)), data.draw(st.integers(1, 3))) + spatial, dtype,
               special=data.draw(st.booleans()))
    kw = dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    try:
        expected = getattr(TF, op)(tx, **kw)
    except RuntimeError:
        with raises_naming(op.replace("_", "")[:3]):
            getattr(F, op)(ember.from_numpy(x.copy()), **kw)
        return
    ex, _ = laid_out(x, data.draw(st.sampled_from(["contiguous", "transposed", "stepped"])), rng)
    ex = ex.detach().requires_grad_(True)
    got = getattr(F, op)(ex, **kw)
    assert_close(got, expected, dtype)
    if expected.numel() and np.isfinite(x).all():
        grad_check(got, expected, [ex], [tx], dtype, dict(rtol=1e-4, atol=1e-5))


@given(st.integers(1, 9), st.integers(1, 9), st.integers(1, 5), st.integers(1, 5), st.integers(0, 2 ** 31))
def test_adaptive_avg_pool_matches_torch(h, w, out_h, out_w, seed):
    x = np.random.default_rng(seed).standard_normal((2, 3, h, w)).astype(np.float32)
    ex, tx = ember.from_numpy(x.copy()).requires_grad_(True), torch.from_numpy(x.copy()).requires_grad_(True)
    got, expected = F.adaptive_avg_pool2d(ex, (out_h, out_w)), TF.adaptive_avg_pool2d(tx, (out_h, out_w))
    assert_close(got, expected)
    grad_check(got, expected, [ex], [tx], "float32", dict(rtol=1e-4, atol=1e-5))


@given(st.sampled_from(["conv1d", "conv2d"]), st.sampled_from(["kernel", "stride", "padding", "dilation", "groups",
                                                               "channels", "rank", "dtype"]), st.integers(-2, 0))
def test_bad_conv_arguments_raise_naming_the_op(op, problem, bad):
    dims = int(op[-2])
    x = ember.zeros(*((1, 4) + (6,) * dims))
    w = ember.zeros(*((2, 4) + (3,) * dims))
    kw = dict(stride=1, padding=0, dilation=1, groups=1)
    if problem == "kernel":
        w = ember.zeros(*((2, 4) + (9,) * dims))                # larger than the input
    elif problem in ("stride", "dilation"):
        kw[problem] = bad
    elif problem == "padding":
        kw["padding"] = bad - 1
    elif problem == "groups":
        kw["groups"] = 3 if bad == 0 else bad
    elif problem == "channels":
        w = ember.zeros(*((2, 5) + (3,) * dims))
    elif problem == "rank":
        x = ember.zeros(*((4,) + (6,) * (dims + 2)))
    else:
        x = ember.zeros(*((1, 4) + (6,) * dims), dtype=ember.int64)
    with raises_naming(op):
        getattr(F, op)(x, w, **kw)


@given(st.sampled_from(["max_pool2d", "avg_pool2d", "max_pool1d", "avg_pool1d"]),
       st.sampled_from(["kernel", "stride", "padding", "rank"]), st.integers(-2, 0))
def test_bad_pool_arguments_raise_naming_the_op(op, problem, bad):
    dims = int(op[-2])
    x = ember.zeros(*((1, 2) + (5,) * dims))
    kw = dict(kernel_size=2, stride=None, padding=0)
    if problem == "kernel":
        kw["kernel_size"] = bad
    elif problem == "stride":
        kw["stride"] = bad
    elif problem == "padding":
        kw["padding"] = 2 if bad == 0 else bad           # more than half the kernel, or negative
    else:
        x = ember.zeros(*((1, 1, 1, 1) + (5,) * dims))
    with raises_naming(op.split("_")[0]):
        getattr(F, op)(x, **kw)
