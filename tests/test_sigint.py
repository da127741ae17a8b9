"""Ctrl-C (SIGINT) during a long kernel raises KeyboardInterrupt promptly (the kernel stops between blocks), a
stale Ctrl-C does not abort a later op, and keras fit stops on Ctrl-C."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import ember

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

CHILD = textwrap.dedent("""
    import sys, time
    import ember
    ember.set_num_threads(int(sys.argv[1]))
    a = ember.randn(6144, 6144)
    b = ember.randn(6144, 6144)
    try:
        print("start", flush=True)
        c = a @ b   # ~460 GFLOP: many seconds on a laptop core
        print("finished", flush=True)
    except KeyboardInterrupt:
        print("interrupted", time.monotonic(), flush=True)
""")


def interrupt_child(script, args, delay=0.4):
    proc = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "start"
        time.sleep(delay)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        line = proc.stdout.readline().split()
        proc.wait(30)
    finally:
        proc.kill()
    return line, sent


@pytest.mark.parametrize("threads", ["1", "2"])
def test_sigint_stops_a_long_matmul(threads):
    line, sent = interrupt_child(CHILD, [threads])
    assert line and line[0] == "interrupted", line
    assert float(line[1]) - sent < 1.5   # CLOCK_MONOTONIC is system-wide


def test_stale_sigint_does_not_abort_later_ops():
    ember.set_num_threads(2)
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)
    a = ember.randn(512, 512)
    assert (a @ a).shape == (512, 512)


FIT_CHILD = textwrap.dedent("""
    import time
    import numpy as np
    import ember
    from ember import keras
    model = keras.Sequential([keras.layers.Dense(512, activation="relu"), keras.layers.Dense(10)])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).standard_normal((4096, 256)).astype(np.float32)
    y = np.random.default_rng(1).integers(0, 10, 4096)
    print("start", flush=True)
    history = model.fit(x, y, batch_size=64, epochs=1000, verbose=0)
    print("stopped", time.monotonic(), len(history.epoch), flush=True)
""")


def test_sigint_stops_keras_fit():
    line, sent = interrupt_child(FIT_CHILD, [], delay=1.0)
    assert line and line[0] == "stopped", line   # fit stops after the current batch and returns
    assert float(line[1]) - sent < 1.5
    assert int(line[2]) < 1000
