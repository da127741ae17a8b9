"""Timing shared by the standalone scripts elementwise.py, losses.py and norms.py: ember and torch in alternating
rounds."""
import statistics
import time

# torch's OpenMP workers spin ~10 ms after a parallel region and would take the second core from ember's next
# block (and ember's pool 0.4 ms, from torch's): each block waits until the other library's threads have parked.
PARK_SECONDS = 0.02


def timed(step, min_seconds=0.02):
    """Seconds per call of step() over >= 3 calls and >= min_seconds, after one warm-up call."""
    step()
    count, start = 0, time.perf_counter()
    while True:
        step()
        count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds and count >= 3:
            return elapsed / count


def interleaved(ember_step, torch_step, rounds):
    """(median ember s, median torch s, median per-round torch / ember); the order flips every round."""
    te, tt, ratios = [], [], []
    for r in range(rounds):
        pair = [(ember_step, te), (torch_step, tt)]
        for step, times in (pair if r % 2 == 0 else pair[::-1]):
            time.sleep(PARK_SECONDS)
            times.append(timed(step))
        ratios.append(tt[-1] / te[-1])
    return statistics.median(te), statistics.median(tt), statistics.median(ratios)
