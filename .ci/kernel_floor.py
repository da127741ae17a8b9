"""CI tripwire for the SIMD GEMM micro-kernels: at every SIMD level this CPU has, a GEMM whose operands stay in cache
(144x256 @ 256x256 on 1 thread, the best of ~0.5 s of calls) must reach half of the FMA peak measured at that level
in the same process. Not a performance target (those live in bench/): it catches code generation gone wrong, which
no result shows (an AVX2 tile epilogue left out of line ran that kernel at 30% of peak for a week)."""
import os
import subprocess
import sys
import time

FLOOR = 0.5


def measure():
    """Prints this process's level, GEMM GFLOP/s and FMA peak; exits 1 under the floor."""
    import numpy as np
    from ember import _C

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal(shape, dtype=np.float32) for shape in ((144, 256), (256, 256)))
    c = np.zeros((144, 256), np.float32)
    isa = _C.isa()
    best, stop = float("inf"), time.perf_counter() + 0.5
    while time.perf_counter() < stop:
        start = time.perf_counter()
        _C._sgemm(a, b, c, isa=isa, threads=1)
        best = min(best, time.perf_counter() - start)
    gflops = 2 * 144 * 256 * 256 / best / 1e9
    peak = max(_C._fma_peak_gflops(1) for _ in range(3))
    verdict = "ok" if gflops >= FLOOR * peak else f"UNDER THE FLOOR ({FLOOR:.0%} of peak)"
    print(f"{isa}: in-cache sgemm {gflops:.1f} GFLOP/s, FMA peak {peak:.1f} ({gflops / peak:.0%}): {verdict}")
    sys.exit(0 if gflops >= FLOOR * peak else 1)


def main():
    from ember import _C

    levels = [level for level in ("avx2", "avx512") if _C.isa_available(level)]
    failed = [level for level in levels
              if subprocess.run([sys.executable, __file__, "--measure"], env={**os.environ, "EMBER_ISA": level}).returncode]
    if not levels:
        print("no SIMD level on this CPU: nothing to check")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    measure() if sys.argv[1:] == ["--measure"] else main()
