"""Property tests of views, joins and indexing: reshape/permute/transpose/flatten/squeeze/unsqueeze/expand/narrow,
cat/stack/split/chunk, basic and advanced indexing (ints, slices with steps, None, ..., int64 and bool index
tensors), index_select/gather/masked_select, writes through views; out-of-range indices and bad dims raise."""
import numpy as np
from hypothesis import given, assume, strategies as st

import ember
from props_helpers import torch, tensor_pairs, shapes, assert_close, raises_naming, DTYPES, CLEAR_ERRORS

ALL = list(DTYPES)


@given(tensor_pairs(dtypes=ALL), st.data())
def test_reshape_flatten_permute_transpose_match_torch(pair, data):
    e, t, dtype = pair
    n = e.ndim
    if n:
        order = data.draw(st.permutations(range(n)))
        assert_close(e.permute(*order), t.permute(*order), dtype)
        a, b = data.draw(st.integers(-n, n - 1)), data.draw(st.integers(-n, n - 1))
        assert_close(e.transpose(a, b), t.transpose(a, b), dtype)
        start = data.draw(st.integers(0, n - 1))
        end = data.draw(st.integers(start, n - 1))
        assert_close(e.flatten(start, end), t.flatten(start, end), dtype)
    numel = int(np.prod(tuple(t.shape)))
    target = (-1,) if numel == 0 else data.draw(st.sampled_from([(numel,), (-1,), (1, numel), (numel, 1, 1), (-1, 1)]))
    assert_close(e.reshape(*target), t.reshape(*target), dtype)
    pos = data.draw(st.integers(-n - 1, n))
    assert_close(e.unsqueeze(pos), t.unsqueeze(pos), dtype)
    assert_close(e.squeeze(), t.squeeze(), dtype)


@given(tensor_pairs(dtypes=ALL, min_dims=1), st.data())
def test_narrow_select_expand_match_torch(pair, data):
    e, t, dtype = pair
    dim = data.draw(st.integers(0, e.ndim - 1))
    size = e.shape[dim]
    start = data.draw(st.integers(0, size))
    length = data.draw(st.integers(0, size - start))
    assert_close(ember.narrow(e, dim, start, length), torch.narrow(t, dim, start, length), dtype)
    if size:
        index = data.draw(st.integers(-size, size - 1))
        assert_close(ember.select(e, dim, index), torch.select(t, dim, index), dtype)
    lead = data.draw(st.integers(0, 2))
    target = (lead,) + tuple(t.shape)
    assert_close(e.expand(*target), t.expand(*target), dtype)


@given(tensor_pairs(dtypes=ALL, min_dims=1), st.data())
def test_basic_indexing_with_slices_steps_none_and_ellipsis(pair, data):
    e, t, dtype = pair
    index = []
    for size in e.shape:
        kind = data.draw(st.sampled_from(["int", "slice", "all", "none"] if size else ["slice", "all", "none"]))
        if kind == "int":
            index.append(data.draw(st.integers(-size, size - 1)))
        elif kind == "slice":
            start = data.draw(st.one_of(st.none(), st.integers(-size - 2, size + 2)))
            stop = data.draw(st.one_of(st.none(), st.integers(-size - 2, size + 2)))
            index.append(slice(start, stop, data.draw(st.integers(1, 3))))
        elif kind == "none":
            index += [None, slice(None)]
        else:
            index.append(Ellipsis if Ellipsis not in index else slice(None))
    index = tuple(index)
    assert_close(e[index], t[index], dtype)


@given(tensor_pairs(dtypes=ALL, min_dims=1), st.data())
def test_advanced_indexing_and_gather_match_torch(pair, data):
    e, t, dtype = pair
    dim = data.draw(st.integers(0, e.ndim - 1))
    size = e.shape[dim]
    if size:
        idx = np.array(data.draw(st.lists(st.integers(-size, size - 1), max_size=5)), np.int64)
        positive = idx % size
        assert_close(ember.index_select(e, dim, ember.from_numpy(positive.copy())),
                     torch.index_select(t, dim, torch.from_numpy(positive.copy())), dtype)
        if dim == 0:
            assert_close(e[ember.from_numpy(idx.copy())], t[torch.from_numpy(idx.copy())], dtype)
        rng = np.random.default_rng(len(idx))
        gather_shape = tuple(t.shape[:dim]) + (len(idx),) + tuple(t.shape[dim + 1:])
        gidx = rng.integers(0, size, size=gather_shape).astype(np.int64)
        assert_close(ember.gather(e, dim, ember.from_numpy(gidx.copy())),
                     torch.gather(t, dim, torch.from_numpy(gidx.copy())), dtype)
    mask = np.random.default_rng(3).random(tuple(t.shape)) < 0.5
    assert_close(e[ember.from_numpy(mask.copy())], t[torch.from_numpy(mask.copy())], dtype)
    assert_close(ember.masked_select(e, ember.from_numpy(mask.copy())),
                 torch.masked_select(t, torch.from_numpy(mask.copy())), dtype)


@given(tensor_pairs(dtypes=ALL, min_dims=1), st.data())
def test_out_of_range_indices_raise_index_error(pair, data):
    e, t, dtype = pair
    dim = data.draw(st.integers(0, e.ndim - 1))
    size = e.shape[dim]
    bad = data.draw(st.one_of(st.integers(size, size + 5), st.integers(-size - 5, -size - 1)))
    with raises_naming("index_select", IndexError):
        ember.index_select(e, dim, ember.tensor([bad % (size + 7) if bad >= 0 else size + 1]))
    with raises_naming("select", IndexError):
        ember.select(e, dim, bad)
    gather_shape = tuple(e.shape[:dim]) + (1,) + tuple(e.shape[dim + 1:])
    if 0 not in gather_shape:
        with raises_naming("gather", IndexError):
            ember.gather(e, dim, ember.full(gather_shape, size + 3, dtype=ember.int64))
    if dim == 0:
        with raises_naming("index", IndexError):
            e[bad]
        with raises_naming("index", IndexError):
            e[ember.tensor([bad])]
    with raises_naming("narrow", (IndexError, ValueError)):
        ember.narrow(e, dim, size, 1)


@given(st.lists(tensor_pairs(shape=None, dtypes=["float32"], min_dims=2, max_dims=2, max_side=3), min_size=1,
                max_size=4), st.sampled_from(["cat", "stack"]), st.integers(0, 1))
def test_cat_and_stack_match_torch_or_both_refuse(pairs, op, dim):
    es, ts = [p[0] for p in pairs], [p[1] for p in pairs]
    try:
        expected = getattr(torch, op)(ts, dim)
    except RuntimeError:
        with raises_naming(op, (ValueError, RuntimeError)):
            getattr(ember, op)(es, dim)
        return
    assert_close(getattr(ember, op)(es, dim), expected)


@given(tensor_pairs(dtypes=ALL, min_dims=1), st.data())
def test_split_chunk_unbind_match_torch(pair, data):
    e, t, dtype = pair
    dim = data.draw(st.integers(-e.ndim, e.ndim - 1))
    size = e.shape[dim]
    split_size = data.draw(st.integers(1 if size else 0, max(size, 1) + 1))
    for got, expected in zip(ember.split(e, split_size, dim), torch.split(t, split_size, dim), strict=True):
        assert_close(got, expected, dtype)
    chunks = data.draw(st.integers(1, 5))
    assert len(ember.chunk(e, chunks, dim)) == len(torch.chunk(t, chunks, dim))
    for got, expected in zip(ember.chunk(e, chunks, dim), torch.chunk(t, chunks, dim)):
        assert_close(got, expected, dtype)
    for got, expected in zip(ember.unbind(e, dim), torch.unbind(t, dim), strict=True):
        assert_close(got, expected, dtype)


@given(tensor_pairs(dtypes=["float32", "float64"], min_dims=1, layouts=["contiguous", "transposed", "stepped",
                                                                        "offset"]), st.data())
def test_writes_through_views_reach_the_base(pair, data):
    e, t, dtype = pair
    dim = data.draw(st.integers(0, e.ndim - 1))
    size = e.shape[dim]
    if not size:
        return
    index = data.draw(st.integers(0, size - 1))
    ember.select(e, dim, index).fill_(3.5)
    torch.select(t, dim, index).fill_(3.5)
    assert_close(e, t, dtype)
    e.mul_(2.0)
    t.mul_(2.0)
    assert_close(e, t, dtype)


@given(tensor_pairs(min_dims=1, layouts=["contiguous", "transposed", "stepped"]), st.data())
def test_view_and_index_gradients_match_torch(pair, data):
    e, t, dtype = pair
    e, t = e.detach().requires_grad_(True), t.detach().clone().requires_grad_(True)
    dim = data.draw(st.integers(0, e.ndim - 1))
    size = e.shape[dim]
    step = data.draw(st.integers(1, 3))
    idx = np.arange(size)[::-1].copy() if size else np.zeros(0, np.int64)
    e_out = (ember.index_select(e, dim, ember.from_numpy(idx.copy())) * 2).transpose(0, -1).flatten() \
        .reshape(-1)[::step]
    t_out = (torch.index_select(t, dim, torch.from_numpy(idx.copy())) * 2).transpose(0, -1).flatten() \
        .reshape(-1)[::step]
    grad = np.random.default_rng(1).standard_normal(tuple(t_out.shape)).astype(t.detach().numpy().dtype)
    e_out.backward(ember.from_numpy(grad.copy()))
    t_out.backward(torch.from_numpy(grad))
    assert_close(e.grad, t.grad, dtype)


@given(shapes(min_dims=1, max_side=3), st.data())
def test_bad_view_arguments_raise_naming_the_op(shape, data):
    x = ember.zeros(*shape)
    n = len(shape)
    with raises_naming("permute"):
        x.permute(*([0] * (n + 1)))
    with raises_naming("reshape"):
        x.reshape(-1, -1)
    with raises_naming("unsqueeze"):
        x.unsqueeze(n + 1 + data.draw(st.integers(0, 3)))
    with raises_naming("expand"):
        x.expand(*([-2] + list(shape[1:])))
    with raises_naming("chunk"):
        ember.chunk(x, data.draw(st.integers(-3, 0)), 0)
    with raises_naming("as_strided"):
        ember.as_strided(x, (int(np.prod(shape)) + 1,), (1,))
