"""Property tests of the binary elementwise ops with NumPy broadcasting: every dtype pair, size-0/size-1 dims,
non-contiguous operands, NaN/Inf values and Python scalars match PyTorch (values and dtype, gradients for float
inputs); shapes that do not broadcast raise a ValueError naming the op."""
import numpy as np
from hypothesis import given, strategies as st

import ember
from props_helpers import (torch, DTYPES, LAYOUTS, tensor_pairs, shapes, broadcastable_to, values, laid_out,
                           assert_close, raises_naming)

BINARY = ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge",
          "logical_and", "logical_or"]
DIFFERENTIABLE = {"add", "sub", "mul", "div", "pow", "maximum", "minimum"}
ALL_DTYPES = list(DTYPES)


def both_or_error(op, e_call, t_call):
    """The torch result, or None after checking that ember also refuses (with a clear error naming the op)."""
    try:
        return t_call()
    except (RuntimeError, TypeError, ValueError):
        with raises_naming(op):
            e_call()
        return None


@st.composite
def broadcast_operands(draw, dtypes=ALL_DTYPES, special=True):
    shape = draw(shapes(max_dims=4, max_side=4))
    other = broadcastable_to(shape, draw)
    if draw(st.booleans()):
        shape, other = other, shape
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    pairs = []
    for s in (shape, other):
        dtype = draw(st.sampled_from(dtypes))
        e, t = laid_out(values(rng, s, dtype, special=special and draw(st.booleans())), draw(st.sampled_from(LAYOUTS)),
                        rng)
        pairs.append((e, t, dtype))
    return pairs


@given(st.sampled_from(BINARY), broadcast_operands())
def test_binary_ops_match_torch_on_every_dtype_and_layout(op, operands):
    (ea, ta, da), (eb, tb, db) = operands
    expected = both_or_error(op, lambda: getattr(ember, op)(ea, eb), lambda: getattr(torch, op)(ta, tb))
    if expected is None:
        return
    got = getattr(ember, op)(ea, eb)
    widest = "float64" if "float64" in (da, db) else "float32"
    assert_close(got, expected, widest, rtol=1e-4 if widest == "float32" else 1e-9)


@given(st.sampled_from(sorted(DIFFERENTIABLE)), broadcast_operands(dtypes=["float32", "float64"], special=False))
def test_binary_gradients_match_torch_with_broadcasting(op, operands):
    (ea, ta, da), (eb, tb, db) = operands
    if op == "pow":                                     # keep the base positive so the result is finite
        ea, ta = ember.abs(ea) + 0.5, torch.abs(ta) + 0.5
    ea, ta = ea.detach().requires_grad_(True), ta.detach().clone().requires_grad_(True)
    eb, tb = eb.detach().requires_grad_(True), tb.detach().clone().requires_grad_(True)
    t_out = getattr(torch, op)(ta, tb)
    e_out = getattr(ember, op)(ea, eb)
    grad = np.random.default_rng(1).standard_normal(tuple(t_out.shape)).astype(t_out.numpy().dtype if False else
                                                                                   t_out.detach().numpy().dtype)
    t_out.backward(torch.from_numpy(grad))
    e_out.backward(ember.from_numpy(grad.copy()))
    widest = "float64" if "float64" in (da, db) else "float32"
    for e_leaf, t_leaf in ((ea, ta), (eb, tb)):
        assert e_leaf.grad is not None
        assert_close(e_leaf.grad, t_leaf.grad, widest, rtol=1e-3 if widest == "float32" else 1e-8, atol=1e-4)


OPERATORS = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
             "div": lambda a, b: a / b, "pow": lambda a, b: a ** b, "eq": lambda a, b: a == b,
             "lt": lambda a, b: a < b}


@given(st.sampled_from(sorted(OPERATORS)),
       tensor_pairs(dtypes=ALL_DTYPES, special=True),
       st.one_of(st.integers(-3, 3), st.floats(-3, 3, allow_nan=False), st.booleans(),
                 st.sampled_from([float("nan"), float("inf"), -float("inf")])),
       st.booleans())
def test_python_scalar_operands_match_torch(op, pair, scalar, scalar_first):
    e, t, dtype = pair
    apply = OPERATORS[op]
    if scalar_first:
        e_call, t_call = (lambda: apply(scalar, e)), (lambda: apply(scalar, t))
    else:
        e_call, t_call = (lambda: getattr(ember, op)(e, scalar)), (lambda: getattr(torch, op)(t, scalar))
    expected = both_or_error(op, e_call, t_call)
    if expected is not None:
        assert_close(e_call(), expected, dtype, rtol=1e-4 if dtype != "float64" else 1e-9)


@given(st.sampled_from(["add", "mul", "maximum", "eq", "logical_and"]), shapes(min_dims=1, max_side=4),
       st.integers(0, 3), st.integers(2, 5))
def test_shapes_that_do_not_broadcast_raise_naming_the_op(op, shape, axis, bad_side):
    axis %= len(shape)
    if shape[axis] in (1, bad_side):
        shape = shape[:axis] + (bad_side + 1,) + shape[axis + 1:]
    other = shape[:axis] + (bad_side,) + shape[axis + 1:]
    with raises_naming(op):
        getattr(ember, op)(ember.zeros(*shape), ember.zeros(*other))


@given(tensor_pairs(dtypes=["float32", "float64"], special=True, min_dims=1),
       st.sampled_from(["where", "masked_fill", "clamp"]), st.integers(0, 2 ** 31))
def test_where_masked_fill_clamp_match_torch(pair, op, seed):
    e, t, dtype = pair
    rng = np.random.default_rng(seed)
    mask = rng.random(tuple(t.shape)) < 0.5
    if op == "where":
        other = values(rng, tuple(t.shape), dtype)
        got = ember.where(ember.from_numpy(mask), e, ember.from_numpy(other))
        expected = torch.where(torch.from_numpy(mask), t, torch.from_numpy(other))
    elif op == "masked_fill":
        got, expected = ember.masked_fill(e, ember.from_numpy(mask), -7.5), torch.masked_fill(t, torch.from_numpy(mask),
                                                                                            -7.5)
    else:
        low, high = sorted(rng.standard_normal(2).tolist())
        got, expected = ember.clamp(e, low, high), torch.clamp(t, low, high)
    assert_close(got, expected, dtype)


@given(st.sampled_from(["where", "masked_fill"]), shapes(min_dims=1, max_side=3))
def test_where_and_masked_fill_refuse_bad_masks(op, shape):
    shape = shape[:-1] + (max(shape[-1], 2),)
    x = ember.zeros(*shape)
    bad_shape = shape[:-1] + (shape[-1] + 1,)
    with raises_naming(op):
        if op == "where":
            ember.where(ember.zeros(*bad_shape, dtype=ember.bool), x, x)
        else:
            ember.masked_fill(x, ember.zeros(*bad_shape, dtype=ember.bool), 1.0)
