"""Threading: the global thread count, results independent of it, new Python threads, fork safety, config()."""
import multiprocessing
import threading

import numpy as np
import pytest

import ember


@pytest.fixture
def restore_threads():
    before = ember.get_num_threads()
    yield
    ember.set_num_threads(before)


def test_set_and_get_num_threads(restore_threads):
    ember.set_num_threads(1)
    assert ember.get_num_threads() == 1
    ember.set_num_threads(3)
    assert ember.get_num_threads() == 3
    with pytest.raises(ValueError):
        ember.set_num_threads(0)
    with pytest.raises(TypeError):
        ember.set_num_threads("2")


def compute(n_threads):
    ember.set_num_threads(n_threads)
    ember.manual_seed(0)
    x = ember.rand(1_000_003)
    y = ember.randn(1_000_003)
    big = ember.rand(3, 400_001, dtype=ember.float64)
    return {
        "sum": x.sum().item(),
        "sum64": big.sum().item(),
        "sum_dim": np.array((big.sum(1)).numpy()),
        "elementwise": np.array((x * y + x.exp() - y.tanh()).numpy()),
        "broadcast": np.array((big.t() + ember.ones(1, 3, dtype=ember.float64)).numpy()),
        "strided": np.array((x.view(1, -1).expand(2, -1).t() * 2).numpy()),
    }


def test_results_equal_at_one_and_two_threads(restore_threads):
    one, two = compute(1), compute(2)
    np.testing.assert_allclose(one["sum"], two["sum"], rtol=1e-5)
    np.testing.assert_allclose(one["sum64"], two["sum64"], rtol=1e-12)
    np.testing.assert_allclose(one["sum_dim"], two["sum_dim"], rtol=1e-12)
    for key in ["elementwise", "broadcast", "strided"]:
        np.testing.assert_array_equal(one[key], two[key])
    assert abs(one["sum"] - 500_000) < 2_000


def test_a_new_python_thread_sees_the_global_count(restore_threads):
    ember.set_num_threads(1)
    seen = []

    def worker():
        seen.append(ember.get_num_threads())
        seen.append(ember.config()["num_threads"])
        seen.append(float((ember.ones(100_000) * 2).sum().item()))

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == [1, 1, 200_000.0]


def _child_runs_a_parallel_op(queue):
    x = ember.ones(2_000_000)
    queue.put(((x * 3).sum().item(), ember.get_num_threads()))


def test_fork_after_parallel_work_does_not_hang(restore_threads):
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform")
    ember.set_num_threads(2)
    (ember.ones(2_000_000) * 2).sum()   # the parent's thread pool is now running
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_runs_a_parallel_op, args=(queue,))
    child.start()
    child.join(timeout=60)
    if child.is_alive():
        child.kill()
        child.join()
        pytest.fail("the forked child hung in a parallel region")
    assert child.exitcode == 0
    total, threads = queue.get(timeout=5)
    assert total == 6_000_000.0
    assert threads == 1   # the child drops to one thread (libgomp's pool does not survive fork)
    assert ember.get_num_threads() == 2   # the parent is unchanged


def test_config_keys():
    info = ember.config()
    for key in ["version", "compiler", "isa", "num_threads", "sanitize"]:
        assert key in info, key
    assert info["version"] == ember.__version__
    assert info["isa"] in ("ref", "avx2", "avx512")
    assert info["num_threads"] == ember.get_num_threads()
