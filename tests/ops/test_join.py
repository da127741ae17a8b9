"""cat / stack / split / chunk / unbind against PyTorch: forward over dims, dtypes and layouts, backward,
float64 gradcheck, views sharing memory, and the bad-input errors."""
import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)


def pair(shape, dtype=np.float32):
    base = RNG.standard_normal(shape).astype(dtype)
    return ember.tensor(base), torch.tensor(base)


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
def test_cat_matches_torch(dim):
    shapes = [[2, 3, 4], [2, 3, 4], [2, 3, 4]]
    shapes[1][dim] += 2
    shapes[2][dim] = 0   # an empty piece along the dim
    pieces = [pair(tuple(s)) for s in shapes]
    got = ember.cat([p[0] for p in pieces], dim)
    expected = torch.cat([p[1] for p in pieces], dim)
    assert tuple(got.shape) == tuple(expected.shape)
    np.testing.assert_array_equal(got.numpy(), expected.numpy())


def test_cat_non_contiguous_promotion_and_legacy_empty():
    a, ta = pair((3, 4))
    b = ember.tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9], [0, 1, 2]]).t()   # int64, transposed
    tb = torch.tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9], [0, 1, 2]]).t()
    got = ember.cat((a.t(), b.t(), ember.zeros(0)), dim=0)
    expected = torch.cat((ta.t(), tb.t(), torch.zeros(0)), dim=0)
    assert got.dtype == ember.float32
    np.testing.assert_array_equal(got.numpy(), expected.numpy())
    assert ember.cat([ember.tensor([True]), ember.tensor([2])]).dtype == ember.int64
    assert ember.cat([ember.zeros(2), ember.zeros(2, dtype=ember.float64)]).dtype == ember.float64
    assert ember.concatenate([ember.ones(1), ember.ones(2)]).shape == (3,)
    assert ember.concat([ember.ones(1), ember.ones(2)]).shape == (3,)


def test_cat_backward_matches_torch():
    a, ta = pair((2, 3))
    b, tb = pair((2, 5))
    for x in (a, b, ta, tb):
        x.requires_grad_(True)
    w = RNG.standard_normal((2, 8)).astype(np.float32)
    (ember.cat([a, b], 1) * ember.tensor(w)).sum().backward()
    (torch.cat([ta, tb], 1) * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), ta.grad.numpy())
    np.testing.assert_array_equal(b.grad.numpy(), tb.grad.numpy())


def test_cat_stack_gradcheck_mixed_precision():
    a = ember.randn(2, 3, dtype=ember.float64, requires_grad=True)
    b = ember.randn(4, 3, dtype=ember.float64, requires_grad=True)
    assert ember.autograd.gradcheck(lambda x, y: ember.cat([x, y * y, x]), (a, b))
    assert ember.autograd.gradcheck(lambda x: ember.stack([x, x * 2, x.exp()], dim=1), (a,))
    c = ember.randn(2, 3, requires_grad=True)   # float32 input: its gradient comes back as float32
    out = ember.cat([a, c])
    assert out.dtype == ember.float64
    out.sum().backward()
    assert c.grad.dtype == ember.float32 and c.grad.tolist() == [[1.0] * 3] * 2


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_stack_matches_torch(dim):
    pieces = [pair((3, 4)) for _ in range(3)]
    got = ember.stack([p[0] for p in pieces], dim=dim)
    expected = torch.stack([p[1] for p in pieces], dim=dim)
    assert tuple(got.shape) == tuple(expected.shape)
    np.testing.assert_array_equal(got.numpy(), expected.numpy())


@pytest.mark.parametrize("size, split", [(7, 2), (6, 3), (5, 5), (4, 9), (0, 2), (0, 0), (6, [1, 0, 5]), (5, [5])])
@pytest.mark.parametrize("dim", [0, 1])
def test_split_matches_torch(size, split, dim):
    shape = (size, 3) if dim == 0 else (3, size)
    x, t = pair(shape)
    got, expected = ember.split(x, split, dim), torch.split(t, split, dim)
    assert isinstance(got, tuple) and len(got) == len(expected)
    for g, e in zip(got, expected):
        assert tuple(g.shape) == tuple(e.shape)
        np.testing.assert_array_equal(g.numpy(), e.numpy())
    assert len(x.split(split, dim)) == len(expected)


@pytest.mark.parametrize("size, chunks", [(7, 3), (6, 4), (5, 1), (3, 5), (0, 3), (10, 10)])
def test_chunk_matches_torch(size, chunks):
    x, t = pair((2, size))
    got, expected = ember.chunk(x, chunks, 1), torch.chunk(t, chunks, 1)
    assert [tuple(g.shape) for g in got] == [tuple(e.shape) for e in expected]
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g.numpy(), e.numpy())
    assert len(x.chunk(chunks, dim=-1)) == len(expected)


def test_split_outputs_are_views():
    x = ember.zeros(6, 2)
    first, second = x.split([2, 4])
    second.fill_(3.0)
    first[0, 1] = 1.0
    assert x.tolist() == [[0.0, 1.0], [0.0, 0.0]] + [[3.0, 3.0]] * 4
    rows = ember.unbind(x)
    assert isinstance(rows, tuple) and len(rows) == 6
    rows[1].fill_(5.0)
    assert x[1].tolist() == [5.0, 5.0]
    assert [r.tolist() for r in x.unbind(1)] == [x[:, 0].tolist(), x[:, 1].tolist()]


def test_split_chunk_unbind_backward():
    a = ember.randn(5, 4, dtype=ember.float64, requires_grad=True)
    assert ember.autograd.gradcheck(lambda x: x.split([1, 3, 1])[1] * 2, (a,))
    assert ember.autograd.gradcheck(lambda x: tuple(p.exp() for p in x.chunk(3, 1)), (a,))
    assert ember.autograd.gradcheck(lambda x: ember.unbind(x, 1)[2], (a,))
    # only some outputs used: the others get zero gradient
    ta = torch.tensor(a.detach().numpy(), requires_grad=True)
    parts, tparts = ember.split(a, 2), torch.split(ta, 2)
    (parts[0].sum() + (parts[2] * 3).sum()).backward()
    (tparts[0].sum() + (tparts[2] * 3).sum()).backward()
    np.testing.assert_array_equal(a.grad.numpy(), ta.grad.numpy())
    assert parts[0].grad_fn is not None


def gradient_through_unbind(parts, dim):
    """The gradient that x receives through x.unbind(dim) when the parts receive `parts`."""
    shape = list(parts[0].shape)
    shape.insert(dim, len(parts))
    y = ember.randn(*shape, requires_grad=True) * 1.0
    seen = []
    y.register_hook(seen.append)
    ember.autograd.backward(list(y.unbind(dim)), list(parts))
    return seen[0]


@pytest.mark.parametrize("dim", [0, 1, 2])
def test_unbind_backward_joins_gradients_that_lie_side_by_side(dim):
    # Gradients that are the parts of one dense buffer (as attention's q, k, v gradients are) are joined as a view
    # of it, no copy; gapped, overlapping or out-of-order parts are stacked. The values are the stack either way.
    g = ember.randn(3, 4, 5)
    flat = ember.randn(40)
    cases = [("side by side", g.unbind(dim), True),
             ("gapped", ember.randn(3, 8, 5)[:, ::2].unbind(1), False),
             ("overlapping", [flat[5 * i:5 * i + 20].reshape(4, 5) for i in range(3)], False),
             ("reversed", g.unbind(dim)[::-1], False)]
    for name, parts, joined in cases:
        axis = dim if name == "side by side" else 1 if name == "gapped" else 0
        grad = gradient_through_unbind(parts, axis)
        np.testing.assert_array_equal(grad.numpy(), np.stack([p.numpy() for p in parts], axis), err_msg=name)
        assert (grad.data_ptr() == parts[0].data_ptr()) == joined, name


def test_join_errors():
    with pytest.raises(ValueError, match="non-empty"):
        ember.cat([])
    with pytest.raises(ValueError, match=r"except in dimension 0. Expected size 3 but got size 4 in dimension 1 for tensor number 1"):
        ember.cat([ember.zeros(2, 3), ember.zeros(2, 4)])
    with pytest.raises(ValueError, match="same number of dimensions"):
        ember.cat([ember.zeros(2, 3), ember.zeros(2, 3, 1)])
    with pytest.raises(ValueError, match="zero-dimensional"):
        ember.cat([ember.tensor(1.0), ember.tensor(2.0)])
    with pytest.raises(IndexError, match="dimension out of range"):
        ember.cat([ember.zeros(2, 3)], dim=2)
    with pytest.raises(TypeError, match="sequence of Tensors"):
        ember.cat([ember.zeros(2), 3])
    with pytest.raises(TypeError, match="single Tensor"):
        ember.cat(ember.zeros(2, 2))
    with pytest.raises(ValueError, match=r"equal size.*\(2,\) at entry 0 and \(3,\) at entry 1"):
        ember.stack([ember.zeros(2), ember.zeros(3)])
    with pytest.raises(ValueError, match="non-empty"):
        ember.stack([])
    with pytest.raises(IndexError, match="dimension out of range"):
        ember.stack([ember.zeros(2)], dim=2)
    with pytest.raises(ValueError, match="sum exactly to 5"):
        ember.split(ember.zeros(5), [2, 2])
    with pytest.raises(ValueError, match="non-negative"):
        ember.split(ember.zeros(5), -1)
    with pytest.raises(ValueError, match="non-negative"):
        ember.split(ember.zeros(5), [6, -1])
    with pytest.raises(ValueError, match="can only be 0"):
        ember.split(ember.zeros(5), 0)
    with pytest.raises(ValueError, match="greater than 0"):
        ember.chunk(ember.zeros(5), 0)
    with pytest.raises(ValueError, match="0-d"):
        ember.chunk(ember.tensor(1.0), 2)
    with pytest.raises(IndexError, match="dimension out of range"):
        ember.unbind(ember.zeros(2, 3), 2)
