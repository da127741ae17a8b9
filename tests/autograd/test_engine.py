"""The autograd engine: deep graphs (no recursion in backward or teardown), retain_graph, accumulation,
autograd.grad, hooks, retain_grad, grad mode, in-place checks, detach, grad_fn structure."""
import gc

import numpy as np
import pytest

import ember


def values(t):
    return np.array(t.detach().numpy())


# ---------------------------------------------------------------- deep graphs

def test_backward_through_200k_ops_does_not_overflow_the_stack():
    x = ember.tensor([1.0], dtype=ember.float64, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
        y = y + 0.0
    y.sum().backward()
    np.testing.assert_allclose(values(x.grad), [1.0])


def test_dropping_a_200k_deep_graph_does_not_overflow_the_stack():
    x = ember.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(200_000):
        y = y.neg()
    assert y.grad_fn.name() == "NegBackward0"
    del y   # the whole chain of nodes dies here
    gc.collect()
    z = x * 2   # the process is alive and autograd still works
    z.sum().backward()
    np.testing.assert_allclose(values(x.grad), [2.0])


def test_deep_graph_with_branches_releases_correctly():
    x = ember.tensor([0.5], dtype=ember.float64, requires_grad=True)
    y = x
    for _ in range(50_000):
        y = y * 1.0 + y * 0.0   # two edges into the previous node at each step
    del y
    gc.collect()


# ---------------------------------------------------------------- retain_graph and accumulation

def test_second_backward_without_retain_graph_raises():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_retain_graph_allows_a_second_backward_and_grads_accumulate():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).exp().sum()
    y.backward(retain_graph=True)
    first = values(x.grad).copy()
    y.backward()
    np.testing.assert_allclose(values(x.grad), 2 * first, rtol=1e-6)
    expected = 2 * np.array([1.0, 2.0]) * np.exp([1.0, 4.0])
    np.testing.assert_allclose(first, expected, rtol=1e-6)


def test_gradients_accumulate_across_separate_graphs():
    x = ember.tensor([1.0, -2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(values(x.grad), [3 + 2, 3 - 4])
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_allclose(values(x.grad), [3, 3])


def test_grad_is_not_aliased_with_another_tensor():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    g = ember.tensor([5.0, 6.0])
    (x + 0).backward(g)
    x.grad.add_(1)   # mutating .grad must not write into g
    np.testing.assert_allclose(values(g), [5.0, 6.0])


def test_backward_of_non_scalar_needs_a_gradient():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="scalar"):
        y.backward()
    y.backward(ember.tensor([1.0, 10.0]))
    np.testing.assert_allclose(values(x.grad), [2.0, 20.0])
    with pytest.raises(RuntimeError, match="shape"):
        (x * 2).backward(ember.ones(3))


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        ember.ones(2).sum().backward()


def test_module_level_backward_with_several_roots():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    a, b = (x * 2).sum(), (x * x).sum()
    ember.autograd.backward([a, b])
    np.testing.assert_allclose(values(x.grad), [2 + 2, 2 + 4])


# ---------------------------------------------------------------- autograd.grad

def test_autograd_grad_returns_gradients_without_touching_dot_grad():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    w = ember.tensor([3.0, 4.0], requires_grad=True)
    y = (x * w).sum()
    gx, gw = ember.autograd.grad(y, [x, w])
    np.testing.assert_allclose(values(gx), [3, 4])
    np.testing.assert_allclose(values(gw), [1, 2])
    assert x.grad is None and w.grad is None


def test_autograd_grad_with_respect_to_an_intermediate_and_grad_outputs():
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = x * x
    y = h * 2
    (gh,) = ember.autograd.grad(y, h, grad_outputs=ember.tensor([1.0, 0.5, 0.0]))
    np.testing.assert_allclose(values(gh), [2.0, 1.0, 0.0])
    assert x.grad is None


def test_autograd_grad_allow_unused():
    x = ember.tensor([1.0], requires_grad=True)
    unused = ember.tensor([1.0], requires_grad=True)
    y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="allow_unused"):
        ember.autograd.grad(y, [x, unused], retain_graph=True)
    gx, gu = ember.autograd.grad(y, [x, unused], allow_unused=True)
    np.testing.assert_allclose(values(gx), [2.0])
    assert gu is None


def test_autograd_grad_input_must_require_grad():
    x = ember.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError):
        ember.autograd.grad((x * 2).sum(), ember.ones(1))


# ---------------------------------------------------------------- hooks and retain_grad

def test_hook_on_leaf_modifies_the_accumulated_gradient():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(values(g)) or g * 10)
    (x * 3).sum().backward()
    np.testing.assert_allclose(seen[0], [3, 3])
    np.testing.assert_allclose(values(x.grad), [30, 30])


def test_hook_on_non_leaf_modifies_the_flowing_gradient():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    h.register_hook(lambda g: g + 1)
    observed = []
    h.register_hook(lambda g: observed.append(values(g)))   # returning None keeps the gradient
    (h * h).sum().backward()
    np.testing.assert_allclose(observed[0], 2 * values(h) + 1)
    np.testing.assert_allclose(values(x.grad), 2 * (2 * values(h) + 1))


def test_hook_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError):
        ember.ones(2).register_hook(lambda g: g)


def test_hook_returning_wrong_shape_raises():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    h.register_hook(lambda g: ember.ones(3))
    with pytest.raises(RuntimeError, match="shape"):
        h.sum().backward()


def test_retain_grad_on_non_leaf():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    h.retain_grad()
    assert h.retains_grad
    y = (h * h).sum()
    y.backward()
    np.testing.assert_allclose(values(h.grad), 2 * values(h))
    (h * 3).sum().backward()   # a retained grad accumulates like a leaf's
    np.testing.assert_allclose(values(h.grad), 2 * values(h) + 3)
    m = x * 2
    assert m.grad is None   # not retained


# ---------------------------------------------------------------- grad mode

def test_no_grad_enable_grad_set_grad_enabled_as_context_managers():
    x = ember.ones(2, requires_grad=True)
    with ember.no_grad():
        assert not ember.is_grad_enabled()
        y = x * 2
        with ember.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad
    with ember.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert ember.is_grad_enabled()
    ember.set_grad_enabled(False)
    try:
        assert not (x * 2).requires_grad
    finally:
        ember.set_grad_enabled(True)
    assert (x * 2).requires_grad


def test_grad_mode_restored_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with ember.no_grad():
            1 / 0
    assert ember.is_grad_enabled()


def test_no_grad_and_enable_grad_as_decorators():
    x = ember.ones(2, requires_grad=True)

    @ember.no_grad()
    def f(v):
        return v * 2

    @ember.enable_grad()
    def g(v):
        return v * 2

    assert not f(x).requires_grad
    with ember.no_grad():
        assert g(x).requires_grad
    assert ember.is_grad_enabled()
    assert f.__name__ == "f"


def test_grad_mode_is_per_thread():
    import threading
    results = []
    with ember.no_grad():
        t = threading.Thread(target=lambda: results.append(ember.is_grad_enabled()))
        t.start()
        t.join()
    assert results == [True]


# ---------------------------------------------------------------- in-place and saved tensors

def test_inplace_on_leaf_that_requires_grad_raises():
    x = ember.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        x.add_(1)


def test_modifying_a_saved_tensor_is_detected_at_backward():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    y = (h * h).sum()    # saves h
    h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_modifying_a_saved_tensor_through_detach_is_detected():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()          # saves its output
    y.detach().zero_()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_inplace_on_non_leaf_keeps_gradients_correct():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    h.mul_(x)            # h = 2 x^2
    h.add_(1)
    h.sum().backward()
    np.testing.assert_allclose(values(x.grad), 4 * values(x))
    assert h.grad_fn.name() == "AddBackward0"


def test_requires_grad_on_integer_tensor_raises():
    with pytest.raises(RuntimeError, match="floating point"):
        ember.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError):
        ember.zeros(2, dtype=ember.int64, requires_grad=True)
    t = ember.tensor([1, 2])
    with pytest.raises(RuntimeError):
        t.requires_grad = True


def test_requires_grad_false_on_non_leaf_raises():
    y = ember.ones(2, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)


# ---------------------------------------------------------------- detach and graph structure

def test_detach_shares_memory_and_has_no_history():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    assert d.data_ptr() == y.data_ptr()
    d.fill_(7.0)
    np.testing.assert_allclose(values(y), [7.0, 7.0])


def test_grad_fn_names_and_next_functions():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    w = ember.tensor([3.0, 4.0], requires_grad=True)
    c = ember.tensor([1.0, 1.0])
    y = (x * w + c).exp()
    assert y.grad_fn.name() == "ExpBackward0"
    (add_fn, nr), = y.grad_fn.next_functions
    assert add_fn.name() == "AddBackward0" and nr == 0
    (mul_fn, _), (none_fn, _) = add_fn.next_functions
    assert mul_fn.name() == "MulBackward0" and none_fn is None
    (acc_x, _), (acc_w, _) = mul_fn.next_functions
    assert acc_x.name() == "AccumulateGrad" and acc_w.name() == "AccumulateGrad"
    assert "ExpBackward0" in repr(y.grad_fn)
    assert x.grad_fn is None and x.is_leaf and not y.is_leaf
    names = {
        "SubBackward0": x - w, "DivBackward0": x / w, "NegBackward0": -x, "TanhBackward0": x.tanh(),
        "SigmoidBackward0": x.sigmoid(), "ReluBackward0": x.relu(), "PermuteBackward0": x.unsqueeze(0).t(),
        "ViewBackward0": x.reshape(2, 1), "ExpandBackward0": x.expand(3, 2), "CloneBackward0": x.clone(),
        "ToCopyBackward0": x.double(), "ClampBackward1": x.clamp(0, 1), "WhereBackward0": ember.where(x > 1, x, w),
        "MaximumBackward0": ember.maximum(x, w), "MinimumBackward0": ember.minimum(x, w),
    }
    for name, t in names.items():
        assert t.grad_fn.name() == name


def test_shared_leaf_in_two_branches_gets_both_contributions():
    x = ember.tensor([2.0], requires_grad=True)
    a = x * 3
    b = x * x
    (a + b).sum().backward()
    np.testing.assert_allclose(values(x.grad), [3 + 4])


def test_gradient_dtype_follows_the_leaf():
    x = ember.tensor([1.0, 2.0], dtype=ember.float32, requires_grad=True)
    y = (x * ember.tensor(2.0, dtype=ember.float64)).sum()   # 0-d float64 does not promote float32
    assert y.dtype == ember.float32
    z = (x.double() * 3).sum()
    z.backward()
    assert x.grad.dtype == ember.float32
    np.testing.assert_allclose(values(x.grad), [3, 3])


def test_backward_releases_the_gil_for_hooks():
    """A Python hook running inside backward (which releases the GIL) re-acquires it correctly."""
    import threading
    x = ember.ones(1000, requires_grad=True)
    counter = []
    x.register_hook(lambda g: counter.append(threading.get_ident()) or g)
    (x * 2).sum().backward()
    assert counter == [threading.get_ident()]


def test_second_backward_through_ops_with_python_numbers_needs_no_retain_graph():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3 + 1
    h.sum().backward()
    h.sum().backward()   # nothing but numbers was saved, as in PyTorch
    np.testing.assert_allclose(values(x.grad), [6.0, 6.0])
