"""Each fused optimizer kernel at each SIMD level against the scalar reference on sizes 1..67 (every tail), through
the private _C.*_step bindings' `level` argument; plus the argument checks of those bindings."""
import numpy as np
import pytest

import ember
from ember import _C

LEVELS = [level for level in ("avx2", "avx512") if _C.isa_available(level)]
SIZES = list(range(1, 68))


def tensors(rng, n, count, positive=()):
    """count random arrays; those listed in `positive` hold running averages of squares (>= 0.5), the others
    are of order one, or of order 0.1 for RMSprop's grad_avg, so that square_avg - grad_avg^2 stays positive."""
    out = []
    for i in range(count):
        values = rng.standard_normal(n).astype(np.float32)
        out.append(np.abs(values) + 0.5 if i in positive else values)
    return out


def run_twice(step_fn, level, arrays, **hyper):
    """Runs two steps of step_fn at `level` on copies of arrays; returns the final arrays."""
    param, grad, *state = [ember.tensor(a.copy()) for a in arrays]
    step = ember.zeros(())
    for _ in range(2):
        step_fn(param, grad, state, step, level, **hyper)
    return [t.numpy() for t in [param, *state]]


def sgd(param, grad, state, step, level, **hyper):
    group = _C._GroupTensors([param], [grad], [state[:1] or [None]])
    created = _C._sgd_step(group, level=level, **hyper)
    if not state and created is not None and created[0] is not None:
        state.append(created[0])


def adam(param, grad, state, step, level, amsgrad, **hyper):
    states = [[step], [state[0]], [state[1]]] + ([[state[2]]] if amsgrad else [])
    _C._adam_step(_C._GroupTensors([param], [grad], states), level=level, amsgrad=amsgrad, **hyper)


def adagrad(param, grad, state, step, level, **hyper):
    _C._adagrad_step(_C._GroupTensors([param], [grad], [[step], [state[0]]]), level=level, **hyper)


def rmsprop(param, grad, state, step, level, centered, momentum, **hyper):
    states = [[step], [state[0]]] + ([[state[2]]] if momentum else []) + ([[state[1]]] if centered else [])
    _C._rmsprop_step(_C._GroupTensors([param], [grad], states), level=level, centered=centered, momentum=momentum,
                     **hyper)


CASES = [
    ("sgd", sgd, 1, (), dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01, nesterov=False, maximize=True)),
    ("sgd-nesterov", sgd, 1, (), dict(lr=0.1, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=True,
                                       maximize=False)),
    ("sgd-plain", sgd, 0, (), dict(lr=0.1, momentum=0.0, dampening=0.0, weight_decay=0.1, nesterov=False,
                                    maximize=False)),
    ("adam", adam, 3, (1, 2), dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.1, amsgrad=True,
                                   maximize=False, decoupled_weight_decay=False)),
    ("adamw", adam, 3, (1, 2), dict(lr=0.01, beta1=0.3, beta2=0.9, eps=1e-3, weight_decay=0.1, amsgrad=False,
                                    maximize=True, decoupled_weight_decay=True)),
    ("adagrad", adagrad, 1, (0,), dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, eps=1e-10, maximize=False)),
    ("rmsprop", rmsprop, 3, (0,), dict(lr=0.01, alpha=0.9, eps=1e-8, weight_decay=0.1, momentum=0.5, centered=True,
                                       maximize=False)),
    ("rmsprop-plain", rmsprop, 3, (0,), dict(lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                                             centered=False, maximize=True)),
]


@pytest.mark.skipif(not LEVELS, reason="no SIMD level on this CPU")
@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("name,step_fn,n_state,positive,hyper", CASES, ids=[c[0] for c in CASES])
def test_simd_kernel_matches_reference(level, name, step_fn, n_state, positive, hyper):
    rng = np.random.default_rng(7)
    for n in SIZES:
        # state tensors: the listed ones (squares, sums) must be non-negative, as after real steps
        arrays = tensors(rng, n, 2) + tensors(rng, n, n_state, positive=positive)
        if name.startswith("rmsprop"):
            arrays[3] = arrays[3] * np.float32(0.1)
        if name.startswith("sgd") and n_state == 1:
            arrays = arrays[:2]   # the buffer is created on the first step (buf = grad)
        expected = run_twice(step_fn, "ref", arrays, **hyper)
        got = run_twice(step_fn, level, arrays, **hyper)
        for e, g in zip(expected, got):
            np.testing.assert_allclose(g, e, rtol=2e-6, atol=1e-7, err_msg=f"{name} {level} n={n}")


def test_unknown_level_is_rejected():
    group = _C._GroupTensors([ember.zeros((3,))], [ember.ones((3,))], [])
    with pytest.raises(ValueError, match="kernel level 'sse9'"):
        _C._sgd_step(group, lr=0.1, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False,
                     level="sse9")


def sgd_call(params, grads, buffers=None):
    group = _C._GroupTensors(params, grads, [buffers if buffers is not None else [None] * len(params)])
    return _C._sgd_step(group, lr=0.1, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=False,
                        maximize=False)


ADAM = dict(lr=0.1, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False,
            decoupled_weight_decay=False)


def test_bad_tensors_are_rejected_before_any_update():
    p, q = ember.ones((4,)), ember.ones((4,))
    with pytest.raises(ValueError, match=r"sgd_step: grads\[1\] has shape"):
        sgd_call([p, q], [ember.ones((4,)), ember.ones((3,))])
    assert p.numpy().tolist() == [1.0] * 4   # nothing was written
    with pytest.raises(TypeError, match=r"grads\[0\] has dtype float64"):
        sgd_call([p], [ember.ones((4,), dtype=ember.float64)])
    with pytest.raises(ValueError, match="not contiguous"):
        sgd_call([ember.ones((4, 4)).t()], [ember.ones((4, 4))])
    with pytest.raises(ValueError, match=r"grads\[0\] is not contiguous"):
        sgd_call([ember.ones((4, 4))], [ember.ones((4, 4)).t()])
    with pytest.raises(ValueError, match="appears more than once"):
        sgd_call([p, p], [ember.ones((4,)), ember.ones((4,))])
    with pytest.raises(TypeError, match="only float32 and float64"):
        sgd_call([ember.zeros((2,), dtype=ember.int64)], [ember.zeros((2,), dtype=ember.int64)])
    with pytest.raises(ValueError, match="2 params but 1 grads"):
        sgd_call([p, q], [ember.ones((4,))])
    with pytest.raises(ValueError, match="2 params but 1 momentum_buffers"):
        sgd_call([p, q], [ember.ones((4,)), ember.ones((4,))], [None])
    with pytest.raises(TypeError, match=r"params\[0\] is None"):
        _C._GroupTensors([None], None, [])
    with pytest.raises(ValueError, match=r"exp_avgs\[0\] is missing"):
        _C._adam_step(_C._GroupTensors([p], [ember.ones((4,))], [[ember.zeros(())], [None], [ember.zeros((4,))]]),
                      **ADAM)
    with pytest.raises(TypeError, match="one-element float tensor"):
        _C._adam_step(_C._GroupTensors([p], [ember.ones((4,))], [[ember.zeros((2,))], [ember.zeros((4,))],
                                                                 [ember.zeros((4,))]]), **ADAM)
    with pytest.raises(ValueError, match="the exp_avg_sqs list .number 2. is missing"):
        _C._adam_step(_C._GroupTensors([p], [ember.ones((4,))], [[ember.zeros(())], [ember.zeros((4,))]]), **ADAM)
    with pytest.raises(ValueError, match=r"exp_avgs\[0\] shares memory with params\[0\]"):
        _C._adam_step(_C._GroupTensors([p], [ember.ones((4,))], [[ember.zeros(())], [p], [ember.zeros((4,))]]),
                      **ADAM)
    assert p.numpy().tolist() == [1.0] * 4


def test_sgd_creates_momentum_buffers_on_first_step():
    p = ember.zeros((5,))
    group = _C._GroupTensors([p], [ember.full((5,), 2.0)], [[None]])
    buffers = _C._sgd_step(group, lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.0, nesterov=False,
                           maximize=False)
    assert buffers[0].numpy().tolist() == [2.0] * 5     # buf = grad, no dampening on the first step
    np.testing.assert_allclose(p.numpy(), -0.2)
    assert group.state(0)[0] is not None                # the group keeps the new buffer ...
    assert _C._sgd_step(group, lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.0, nesterov=False,
                        maximize=False) is None       # ... and reuses it
    np.testing.assert_allclose(buffers[0].numpy(), 0.9 * 2 + 0.5 * 2)


def test_gradients_read_from_params_at_step_time():
    p = ember.zeros((3,), requires_grad=True)
    group = _C._GroupTensors([p], None, [])
    hyper = dict(lr=1.0, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False)
    _C._sgd_step(group, **hyper)                       # no grad yet: skipped
    p.grad = ember.ones((3,))
    _C._sgd_step(group, **hyper)
    assert p.detach().numpy().tolist() == [-1.0] * 3


def test_empty_tensors_and_missing_grads_are_fine():
    p, e = ember.ones((3,)), ember.zeros((0,))
    out = sgd_call([p, e], [None, ember.zeros((0,))])
    assert out[0] is None and p.numpy().tolist() == [1.0] * 3
