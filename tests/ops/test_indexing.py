"""Tensor.__getitem__/__setitem__ and the index ops (index_select, masked_select, gather, scatter_add,
index_put_, nonzero) against PyTorch: a grid of index expressions, views, backward, gradcheck and bad input."""
import itertools
import random

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")

SHAPE = (4, 5, 6)


def to_torch(x):
    return torch.from_numpy(np.array(x.detach().numpy()))


def from_torch(t, requires_grad=False):
    return ember.tensor(t.detach().numpy(), requires_grad=requires_grad)


# An index item as (ember form, torch form); lists stay lists, tensors are built for each library.
def _items():
    rng = np.random.default_rng(0)
    mask5 = rng.random(5) > 0.4
    idx2d = np.array([[0, 3], [-1, 2]])
    return [
        ("0", 0, 0), ("-1", -1, -1), ("2", 2, 2), ("np3", np.int64(3), 3),
        (":", slice(None), slice(None)), ("1:3", slice(1, 3), slice(1, 3)), ("::2", slice(None, None, 2),
                                                                             slice(None, None, 2)),
        ("-3:", slice(-3, None), slice(-3, None)), ("4:1", slice(4, 1), slice(4, 1)),
        ("1:-1:3", slice(1, -1, 3), slice(1, -1, 3)), ("None", None, None), ("...", Ellipsis, Ellipsis),
        ("[0,2]", [0, 2], [0, 2]), ("[-1,0,1]", [-1, 0, 1], [-1, 0, 1]),
        ("t[1,3]", ember.tensor([1, 3]), torch.tensor([1, 3])),
        ("t2d", ember.tensor(idx2d), torch.tensor(idx2d)),
        ("t0d", ember.tensor(1), torch.tensor(1)),
        ("mask5", ember.tensor(mask5), torch.tensor(mask5)),
        ("np[2,0]", np.array([2, 0]), torch.tensor([2, 0])),
        ("[True,False,True,True]", [True, False, True, True], torch.tensor([True, False, True, True])),
    ]


ITEMS = _items()


def _expressions():
    exprs = [(item,) for item in ITEMS]
    rng = random.Random(1)
    pairs = list(itertools.product(ITEMS, repeat=2))
    triples = list(itertools.product(ITEMS, repeat=3))
    exprs += rng.sample(pairs, 250) + rng.sample(triples, 350)
    return exprs


EXPRESSIONS = _expressions()


def _expr_id(expr):
    return ",".join(item[0] for item in expr)


def _run_both(expr, fn_ember, fn_torch):
    e_index = tuple(item[1] for item in expr)
    t_index = tuple(item[2] for item in expr)
    if sum(item[1] is Ellipsis for item in expr) > 1:   # PyTorch tolerates this; ember raises as NumPy does
        with pytest.raises(IndexError, match="single ellipsis"):
            fn_ember(e_index)
        return None, None
    try:
        expected = fn_torch(t_index)
    except (IndexError, RuntimeError, ValueError, TypeError) as torch_error:
        with pytest.raises((IndexError, ValueError, TypeError)):
            fn_ember(e_index)
        return None, torch_error
    return (fn_ember(e_index), expected), None


@pytest.mark.parametrize("expr", EXPRESSIONS, ids=_expr_id)
def test_getitem_grid_matches_torch(expr):
    base = np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE)
    x, t = ember.tensor(base), torch.tensor(base)
    result, _ = _run_both(expr, lambda i: x[i], lambda i: t[i])
    if result is not None:
        got, expected = result
        assert tuple(got.shape) == tuple(expected.shape)
        np.testing.assert_array_equal(got.numpy(), expected.numpy())


@pytest.mark.parametrize("expr", EXPRESSIONS[::3], ids=_expr_id)
def test_setitem_grid_matches_torch(expr):
    base = np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE)
    x, t = ember.tensor(base), torch.tensor(base)
    result, _ = _run_both(expr, lambda i: x[i], lambda i: t[i])
    if result is None:   # the index is invalid: assigning through it must fail too, writing nothing
        with pytest.raises((IndexError, ValueError, TypeError)):
            x[tuple(item[1] for item in expr)] = 1.0
        np.testing.assert_array_equal(x.numpy(), base)
        return
    shape = result[1].shape
    value = torch.arange(float(shape[-1])) - 100 if len(shape) else torch.tensor(-7.0)
    t[tuple(item[2] for item in expr)] = value
    x[tuple(item[1] for item in expr)] = ember.tensor(value.numpy())
    np.testing.assert_array_equal(x.numpy(), t.numpy())


@pytest.mark.parametrize("expr", EXPRESSIONS[::7], ids=_expr_id)
def test_getitem_backward_matches_torch(expr):
    base = np.random.default_rng(2).standard_normal(SHAPE).astype(np.float32)
    x = ember.tensor(base, requires_grad=True)
    t = torch.tensor(base, requires_grad=True)
    result, _ = _run_both(expr, lambda i: x[i], lambda i: t[i])
    if result is None:
        return
    got, expected = result
    weights = np.random.default_rng(3).standard_normal(tuple(expected.shape)).astype(np.float32)
    (expected * torch.tensor(weights)).sum().backward()
    (got * ember.tensor(weights)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("expr", [(0,), (slice(1, 3),), (Ellipsis, 1), (slice(None), None, slice(None, None, 2)),
                                  (-1, slice(None, None, 3), 2), (None,), (Ellipsis,), ()])
def test_basic_indexing_returns_a_view(expr):
    base = np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE)
    x = ember.tensor(base)
    view = x[expr]
    view.fill_(-1.0)
    expected = base.copy()
    expected[expr] = -1.0
    np.testing.assert_array_equal(x.numpy(), expected)
    assert view._version == x._version


def test_views_of_non_contiguous_tensors():
    base = np.arange(60.0).reshape(3, 4, 5)
    x = ember.from_numpy(base).permute(2, 0, 1)
    expected = base.transpose(2, 0, 1)
    np.testing.assert_array_equal(x[1:4:2, -1].numpy(), expected[1:4:2, -1])
    np.testing.assert_array_equal(x[[0, 4], :, [1, 3]].numpy(), expected[[0, 4], :, [1, 3]])
    x[0, 1] = 99.0
    assert base[1, :, 0].tolist() == [99.0] * 4


def test_integer_and_zero_d_indices_give_views():
    x = ember.arange(12.0).reshape(3, 4)
    for index in (1, np.int64(1), ember.tensor(1)):
        row = x[index]
        assert row.shape == (4,) and row._version == x._version
        row[0] = -5.0
        assert x[1, 0].item() == -5.0
        x[1, 0] = 4.0


def test_mask_and_list_forms():
    base = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    x = ember.tensor(base)
    mask = base > 4
    np.testing.assert_array_equal(x[ember.tensor(mask)].numpy(), base[mask])
    np.testing.assert_array_equal(x[x > 4].numpy(), base[mask])
    np.testing.assert_array_equal(x[[True, False, True]].numpy(), base[[True, False, True]])
    np.testing.assert_array_equal(x[np.array([2, 0])].numpy(), base[[2, 0]])
    np.testing.assert_array_equal(x[:, ember.tensor([True, False, False, True])].numpy(), base[:, [0, 3]])
    assert x[[]].shape == (0, 4)
    assert x[True].shape == (1, 3, 4) and x[False].shape == (0, 3, 4)
    assert x[ember.tensor(True)].shape == (1, 3, 4)


def test_separated_advanced_indices_go_first():
    base = np.arange(120.0, dtype=np.float32).reshape(2, 3, 4, 5)
    x, t = ember.tensor(base), torch.tensor(base)
    i, j = [0, 1, 1], [2, 0, 4]
    for ex, tx in [((i, slice(None), slice(None), j), (i, slice(None), slice(None), j)),
                   ((slice(None), [0, 2], slice(None), [1, 3]), (slice(None), [0, 2], slice(None), [1, 3])),
                   ((slice(None), [[0], [2]], [1, 3]), (slice(None), [[0], [2]], [1, 3])),
                   ((Ellipsis, [0, 1], [2, 3]), (Ellipsis, [0, 1], [2, 3]))]:
        got, expected = x[ex], t[tx]
        assert tuple(got.shape) == tuple(expected.shape)
        np.testing.assert_array_equal(got.numpy(), expected.numpy())


def test_setitem_forms():
    x = ember.zeros(3, 4)
    x[0] = 1.0
    x[1, 1:3] = ember.tensor([2.0, 3.0])
    x[:, -1] = ember.tensor([7.0, 8.0, 9.0])
    x[x == 0] = -1.0
    x[[2, 2], [0, 1]] = ember.tensor([5.0, 6.0])
    x[2, ...] += 0   # getitem + iadd + setitem round trip
    expected = np.array([[1, 1, 1, 7], [-1, 2, 3, 8], [5, 6, -1, 9]], dtype=np.float32)
    np.testing.assert_array_equal(x.numpy(), expected)
    y = ember.zeros(2, 3, dtype=ember.int64)
    y[0] = 2.7      # converted to the tensor's dtype, as PyTorch
    y[1] = [1, 2, 3]
    assert y.tolist() == [[2, 2, 2], [1, 2, 3]]
    z = ember.arange(6.0)
    z[1:] = z[:-1]  # overlapping source and destination
    assert z.tolist() == [0.0, 0.0, 1.0, 2.0, 3.0, 4.0]


def test_setitem_autograd_on_non_leaf_matches_torch():
    base = np.random.default_rng(4).standard_normal((4, 5))
    vals = np.random.default_rng(5).standard_normal((2, 5))
    results = []
    for lib, make in ((ember, lambda a: ember.tensor(a, requires_grad=True)),
                      (torch, lambda a: torch.tensor(a, requires_grad=True))):
        a, v = make(base), make(vals)
        y = a * 2
        y[1:3] = v * 3
        y[0, [1, 3]] = 0.5
        y[y > 100] = 1.0
        ((y * y).sum()).backward()
        results.append((y.detach().numpy().copy(), a.grad.numpy().copy(), v.grad.numpy().copy()))
    for got, expected in zip(results[0], results[1]):
        np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_setitem_value_requiring_grad_into_plain_buffer():
    w = ember.tensor([1.0, 2.0], requires_grad=True)
    buf = ember.zeros(3)
    buf[1:] = w * w
    assert not buf.is_leaf
    buf.sum().backward()
    assert w.grad.tolist() == [2.0, 4.0]


def test_setitem_refusals():
    leaf = ember.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        leaf[0] = 1.0
    with ember.no_grad():
        leaf[0] = 1.0
    assert leaf.tolist() == [1.0, 0.0, 0.0]
    view = (leaf * 1).reshape(3)
    with pytest.raises(NotImplementedError, match="view"):
        view[0] = 2.0
    with pytest.raises(RuntimeError, match="leaf Variable"):
        leaf.index_put_((ember.tensor([0]),), ember.tensor([1.0]))


@pytest.mark.parametrize("index, error, match", [
    (5, IndexError, "out of bounds for dimension 0 with size 3"),
    (-4, IndexError, "out of bounds for dimension 0 with size 3"),
    ((0, 9), IndexError, "out of bounds for dimension 1 with size 4"),
    ((0, 0, 0), IndexError, "too many indices"),
    (slice(None, None, -1), ValueError, "step must be greater than zero"),
    (slice(None, None, 0), ValueError, "cannot be zero"),
    ((Ellipsis, Ellipsis), IndexError, "single ellipsis"),
    (1.5, IndexError, "valid indices"),
    ("a", IndexError, "valid indices"),
    ([0.5], IndexError, "long"),
    ([0, 3], IndexError, "index 3 is out of bounds for dimension 0 with size 3"),
    ((slice(None), [0, 4]), IndexError, "index 4 is out of bounds for dimension 1 with size 4"),
    (([0, 1], [0, 1, 2]), IndexError, "shape mismatch"),
    ("float_tensor", IndexError, "long"),
    ("bad_mask", IndexError, "shape of the mask"),
    (2 ** 70, IndexError, "too large"),
])
def test_getitem_errors(index, error, match):
    x = ember.zeros(3, 4)
    if index == "float_tensor":
        index = ember.tensor([0.0, 1.0])
    elif index == "bad_mask":
        index = ember.tensor([True, False])
    with pytest.raises(error, match=match):
        x[index]
    with pytest.raises(error, match=match):
        x[index] = 1.0
    assert x.sum().item() == 0.0


def test_zero_d_tensor_indexing():
    s = ember.tensor(3.0)
    with pytest.raises(IndexError, match="0-dim"):
        s[0]
    assert s[...].item() == 3.0 and s[None].shape == (1,) and s[()].shape == ()
    s[...] = 4.0
    assert s.item() == 4.0


def test_setitem_errors_write_nothing():
    x = ember.zeros(3, 4)
    with pytest.raises(ValueError, match="shape mismatch"):
        x[0] = ember.ones(3)
    with pytest.raises(ValueError, match="shape mismatch"):
        x[[0, 1]] = ember.ones(3)
    with pytest.raises(IndexError, match="out of bounds"):
        x[[0, 1, 7]] = 1.0   # the valid rows must not have been written either
    with pytest.raises(IndexError, match="out of bounds"):
        x.index_put_((ember.tensor([0, 2]), ember.tensor([1, 9])), ember.tensor(1.0))
    assert x.sum().item() == 0.0


def test_index_put_accumulate_matches_torch():
    idx = np.array([0, 2, 0, 0, 1])
    vals = np.arange(5 * 3, dtype=np.float64).reshape(5, 3)
    x = ember.zeros(4, 3, dtype=ember.float64)
    t = torch.zeros(4, 3, dtype=torch.float64)
    x.index_put_((ember.tensor(idx),), ember.tensor(vals), accumulate=True)
    t.index_put_((torch.tensor(idx),), torch.tensor(vals), accumulate=True)
    np.testing.assert_array_equal(x.numpy(), t.numpy())
    out = x.index_put((None, ember.tensor([1])), ember.tensor(-1.0))
    assert out[:, 1].tolist() == [-1.0] * 4 and x[0, 1].item() != -1.0


def test_index_gradient_accumulates_duplicates_and_gradcheck():
    a = ember.randn(5, 4, dtype=ember.float64, requires_grad=True)
    idx = ember.tensor([[0, 3, 3], [1, 0, 3]])
    assert ember.autograd.gradcheck(lambda x: x[idx, 1:], (a,))
    assert ember.autograd.gradcheck(lambda x: x[:, [2, 2, 0]] * x[[4, 4]].sum(), (a,))
    assert ember.autograd.gradcheck(lambda x: x[x > 0], (a,))
    v = ember.randn(2, 4, dtype=ember.float64, requires_grad=True)

    def put(x, v):
        y = x * 1
        y[[1, 3]] = v
        return y

    assert ember.autograd.gradcheck(put, (a, v))

    def put_accumulate(x, v):
        y = x * 1
        y.index_put_((ember.tensor([1, 1]),), v, accumulate=True)
        return y

    assert ember.autograd.gradcheck(put_accumulate, (a, v))


def test_index_select_matches_torch_and_gradcheck():
    base = np.random.default_rng(6).standard_normal((3, 4, 5))
    idx = [3, 0, 0, 2]
    for dim in (0, 1, 2, -1):
        n = base.shape[dim]
        index = [i % n for i in idx]
        got = ember.index_select(ember.tensor(base), dim, ember.tensor(index))
        expected = torch.index_select(torch.tensor(base), dim, torch.tensor(index))
        np.testing.assert_array_equal(got.numpy(), expected.numpy())
    assert ember.tensor(base).index_select(1, ember.tensor(2)).shape == (3, 1, 5)
    a = ember.tensor(base, requires_grad=True)
    assert ember.autograd.gradcheck(lambda x: x.index_select(1, ember.tensor([3, 3, 1])), (a,))
    with pytest.raises(TypeError, match="int64"):
        ember.index_select(a, 0, ember.tensor([0.0]))
    with pytest.raises(IndexError, match="out of bounds"):
        ember.index_select(a, 0, ember.tensor([3]))
    with pytest.raises(IndexError, match="dimension out of range"):
        ember.index_select(a, 3, ember.tensor([0]))


def test_masked_select_matches_torch_and_gradcheck():
    rng = np.random.default_rng(7)
    base = rng.standard_normal((3, 4))
    mask = rng.random(4) > 0.5   # broadcast along rows
    got = ember.masked_select(ember.tensor(base), ember.tensor(mask))
    expected = torch.masked_select(torch.tensor(base), torch.tensor(mask))
    np.testing.assert_array_equal(got.numpy(), expected.numpy())
    a = ember.tensor(base, requires_grad=True)
    assert ember.autograd.gradcheck(lambda x: x.masked_select(ember.tensor(mask)), (a,))
    with pytest.raises(TypeError, match="bool"):
        ember.masked_select(a, ember.tensor([1.0, 0.0, 1.0, 0.0]))
    with pytest.raises(ValueError):
        ember.masked_select(a, ember.tensor([True, False]))


@pytest.mark.parametrize("fill", ["random", "none", "all"])
def test_full_shape_mask_select_matches_torch(fill):
    # x[mask] with mask.shape == x.shape runs as one compaction pass: values, gradient, dtypes, a transposed x
    rng = np.random.default_rng(11)
    base = rng.standard_normal((37, 53)).astype(np.float32)
    mask = {"random": rng.random((37, 53)) > 0.4, "none": np.zeros((37, 53), bool), "all": np.ones((37, 53), bool)}[fill]
    for transpose in (False, True):
        e, t = ember.tensor(base, requires_grad=True), torch.tensor(base, requires_grad=True)
        view_mask = mask.T.copy() if transpose else mask
        em, tm = ember.tensor(view_mask), torch.tensor(view_mask)
        got, expected = (e.t()[em], t.t()[tm]) if transpose else (e[em], t[tm])
        np.testing.assert_array_equal(got.detach().numpy(), expected.detach().numpy())
        g = rng.standard_normal(tuple(expected.shape)).astype(np.float32)
        got.backward(ember.tensor(g))
        expected.backward(torch.tensor(g))
        np.testing.assert_array_equal(e.grad.numpy(), t.grad.numpy())
    ints = np.arange(37 * 53).reshape(37, 53)
    np.testing.assert_array_equal(ember.tensor(ints)[ember.tensor(mask)].numpy(), ints[mask])
    np.testing.assert_array_equal(ember.nonzero(ember.tensor(mask)).numpy(), np.argwhere(mask))


def test_gather_and_scatter_add_match_torch():
    rng = np.random.default_rng(8)
    base = rng.standard_normal((3, 4))
    for dim, index in ((0, [[0, 2, 1, 0], [2, 2, 0, 1]]), (1, [[3, 0], [1, 1], [0, 2]]), (1, [[1], [2]])):
        got = ember.gather(ember.tensor(base), dim, ember.tensor(index))
        expected = torch.gather(torch.tensor(base), dim, torch.tensor(index))
        np.testing.assert_array_equal(got.numpy(), expected.numpy())
        src = rng.standard_normal(np.array(index).shape)
        got = ember.scatter_add(ember.tensor(base), dim, ember.tensor(index), ember.tensor(src))
        expected = torch.scatter_add(torch.tensor(base), dim, torch.tensor(index), torch.tensor(src))
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-12)
    a = ember.tensor(base, requires_grad=True)
    idx = ember.tensor([[3, 0, 3], [1, 1, 1], [0, 2, 2]])
    assert ember.autograd.gradcheck(lambda x: x.gather(1, idx), (a,))
    src = ember.tensor(rng.standard_normal((3, 3)), requires_grad=True)
    assert ember.autograd.gradcheck(lambda x, s: ember.scatter_add(x, 1, idx, s), (a, src))
    small = ember.tensor(rng.standard_normal((3, 5)), requires_grad=True)
    assert ember.autograd.gradcheck(lambda x, s: ember.scatter_add(x, 1, idx, s), (a, small))


def test_gather_errors():
    x = ember.zeros(2, 3)
    with pytest.raises(IndexError, match="index 3 is out of bounds for dimension 1 with size 3"):
        ember.gather(x, 1, ember.tensor([[0, 3]]))
    with pytest.raises(IndexError, match="out of bounds"):
        ember.gather(x, 1, ember.tensor([[-1]]))
    with pytest.raises(TypeError, match="int64"):
        ember.gather(x, 1, ember.tensor([[0.0]]))
    with pytest.raises(ValueError, match="same number of dimensions"):
        ember.gather(x, 1, ember.tensor([0]))
    with pytest.raises(ValueError, match="exceeds the size of input"):
        ember.gather(x, 1, ember.tensor([[0], [0], [0]]))
    with pytest.raises(TypeError, match="dtype"):
        ember.scatter_add(x, 1, ember.tensor([[0]]), ember.tensor([[1.0]], dtype=ember.float64))


def test_nonzero_matches_torch():
    rng = np.random.default_rng(9)
    for shape in ((7,), (3, 4), (2, 3, 4), (0, 3)):
        base = (rng.random(shape) > 0.5).astype(np.float32) * rng.standard_normal(shape).astype(np.float32)
        got = ember.tensor(base).nonzero()
        expected = torch.tensor(base).nonzero()
        assert got.dtype == ember.int64 and tuple(got.shape) == tuple(expected.shape)
        np.testing.assert_array_equal(got.numpy(), expected.numpy())
        for g, e in zip(ember.nonzero(ember.tensor(base), as_tuple=True), torch.nonzero(torch.tensor(base),
                                                                                        as_tuple=True)):
            np.testing.assert_array_equal(g.numpy(), e.numpy())
    assert ember.tensor(2.0).nonzero().shape == (1, 0)
    assert ember.tensor([True, False, True]).nonzero().tolist() == [[0], [2]]


def test_gradcheck_helper_uses_indexing():
    # gradcheck writes single elements through t.reshape(-1)[j] = 1.0 and reads them with flat[i].item()
    a = ember.tensor([[0.5, -1.0], [2.0, 3.0]], dtype=ember.float64, requires_grad=True)
    assert ember.autograd.gradcheck(lambda x: (x * x).sum(1), (a,))
    assert not ember.autograd.gradcheck(lambda x: x * x.detach(), (a,), raise_exception=False)
    flat = ember.zeros(4).reshape(-1)
    flat[2] = 1.0
    assert flat[2].item() == 1.0 and flat.tolist() == [0.0, 0.0, 1.0, 0.0]


def test_int_and_bool_tensors_index_and_are_indexed():
    y = ember.tensor([[1, 2, 3], [4, 5, 6]])
    assert y[1, ::2].tolist() == [4, 6]
    assert y[y > 2].tolist() == [3, 4, 5, 6]
    b = ember.tensor([True, False, True])
    assert b[[2, 1]].tolist() == [True, False]
    b[1] = True
    assert b.tolist() == [True, True, True]


def test_large_gather_rows_multithreaded():
    rng = np.random.default_rng(10)
    table = rng.standard_normal((1000, 64)).astype(np.float32)
    idx = rng.integers(-1000, 1000, size=(50, 40))
    got = ember.tensor(table)[ember.tensor(idx)]
    np.testing.assert_array_equal(got.numpy(), table[idx])
    grad = ember.zeros(1000, 64)
    grad.index_put_((ember.tensor(idx),), ember.ones(50, 40, 64), accumulate=True)
    counts = np.zeros(1000)
    np.add.at(counts, idx % 1000, 1)
    np.testing.assert_array_equal(grad.numpy()[:, 0], counts)
