"""Kernels release the GIL: ops and training steps from several Python threads run concurrently with correct
results, Python runs in another thread while a matmul computes, and grad mode stays per thread."""
import threading

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
import ember.optim


@pytest.fixture(autouse=True)
def restore_threads():
    threads = ember.get_num_threads()
    yield
    ember.set_num_threads(threads)


def run_threads(target, count):
    errors, results = [], [None] * count

    def wrapped(i):
        try:
            results[i] = target(i)
        except BaseException as e:   # noqa: BLE001  (reported below)
            errors.append(e)
    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


@pytest.mark.parametrize("pool_threads", [1, 2])
def test_concurrent_matmuls_and_elementwise_are_correct(pool_threads):
    ember.set_num_threads(pool_threads)
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal((192, 160)).astype(np.float32) for _ in range(4)]
    weight = rng.standard_normal((160, 224)).astype(np.float32)

    def work(i):
        a, w = ember.tensor(inputs[i]), ember.tensor(weight)
        out = None
        for _ in range(20):
            out = ((a @ w).relu() * 0.5 + 1.0).exp().sum(1)
        return out.numpy()
    results = run_threads(work, 4)
    for i, got in enumerate(results):
        expected = np.exp(np.maximum(inputs[i].astype(np.float64) @ weight, 0) * 0.5 + 1.0).sum(1)
        np.testing.assert_allclose(got, expected, rtol=2e-4)


def train_mlp(seed, steps=8):
    ember.manual_seed(seed)   # the generator is global: seed first, then build without sharing draws
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10))
    rng = np.random.default_rng(seed)
    state = {k: rng.standard_normal(tuple(v.shape)).astype(np.float32) * 0.1 for k, v in model.state_dict().items()}
    model.load_state_dict({k: ember.tensor(v) for k, v in state.items()})
    x = ember.tensor(rng.standard_normal((128, 64)).astype(np.float32))
    y = ember.tensor(rng.integers(0, 10, 128))
    opt = ember.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("pool_threads", [1, 2])
def test_concurrent_training_steps_match_serial(pool_threads):
    ember.set_num_threads(pool_threads)
    serial = [train_mlp(seed) for seed in range(3)]
    concurrent = run_threads(train_mlp, 3)
    for a, b in zip(serial, concurrent):
        np.testing.assert_allclose(b, a, rtol=1e-6)
        assert b[-1] < b[0]


def test_python_runs_during_a_matmul():
    """While one thread is inside a large matmul, another thread runs Python: the kernel released the GIL.
    Counted, not timed (a held GIL allows no increments inside the call), so a loaded box cannot fail it."""
    ember.set_num_threads(1)
    a = ember.randn(768, 768)
    count, stop = [0], threading.Event()

    def spin():
        while not stop.is_set():
            count[0] += 1
    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        during = []
        for _ in range(3):
            before = count[0]
            a @ a @ a @ a   # ~50 ms: the spinner gets the GIL only if the kernels let it go
            during.append(count[0] - before)
    finally:
        stop.set()
        spinner.join()
    assert max(during) > 1000, f"the other thread advanced only {during} times during the matmuls"


def test_grad_mode_is_per_thread():
    x = ember.ones(3, requires_grad=True)
    inside = threading.Event()
    release = threading.Event()
    seen = {}

    def no_grad_thread():
        with ember.no_grad():
            inside.set()
            release.wait(5)
            seen["other"] = (x * 2).requires_grad
    t = threading.Thread(target=no_grad_thread)
    t.start()
    inside.wait(5)
    seen["main"] = (x * 2).requires_grad   # the other thread sits inside no_grad right now
    release.set()
    t.join()
    assert seen == {"main": True, "other": False}


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_pool_works_in_a_forked_child():
    import os
    ember.set_num_threads(2)
    a = ember.randn(512, 512)
    expected = (a @ a).sum(1).numpy()   # the parent's pool is running
    pid = os.fork()
    if pid == 0:   # child: one thread by default, and a fresh pool when asked for more
        code = 1
        try:
            ok = ember.get_num_threads() == 1
            ember.set_num_threads(2)
            ok = ok and np.allclose((a @ a).sum(1).numpy(), expected, rtol=1e-5) and float((a + 1).sum()) != 0
            code = 0 if ok else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
