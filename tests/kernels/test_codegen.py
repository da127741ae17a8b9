"""Code-generation guards for the GEMM micro-kernels: the tile epilogue must be inlined into the k loop. An
out-of-line store_tile takes the accumulator array by address, and GCC then writes every accumulator to the stack
each k step (the AVX2 kernel ran at a third of peak that way without any result changing)."""
import pathlib
import shutil
import subprocess

import pytest

import ember


def test_tile_epilogue_is_inlined():
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("nm (binutils) not installed")
    library = next(pathlib.Path(ember.get_library_dir()).glob("libember.*"))
    listing = subprocess.run([nm, "-C", str(library)], capture_output=True, text=True)
    if "no symbols" in listing.stderr:
        pytest.skip("libember is stripped (pyproject.toml keeps its symbols: install.strip = false)")
    symbols = listing.stdout
    assert "tile_kernel" in symbols, "the micro-kernels' symbols are not visible to nm; this guard checks nothing"
    assert [line for line in symbols.splitlines() if "store_tile" in line] == []
