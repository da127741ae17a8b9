"""The C++ library as installed: ember.get_include/get_library_dir/get_cmake_dir point at the headers, libember.so
(the same one ember._C runs on) and the CMake package, and tests/cpp (the C++ API test binary) configures with
find_package(ember CONFIG), builds and passes against it. Skipped where cmake or a C++ compiler is missing."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import ember

SOURCE_DIR = Path(__file__).resolve().parent / "cpp"
REPO_HEADERS = Path(__file__).resolve().parents[1] / "include" / "ember"


def test_get_include_holds_every_public_header():
    installed = Path(ember.get_include()) / "ember"
    assert (installed / "ember.h").is_file()
    assert {"tensor.h", "ops.h", "autograd.h", "node.h", "conv.h", "fused_optim.h", "error.h"} <= \
        {p.name for p in installed.glob("*.h")}
    if REPO_HEADERS.is_dir():   # running from a checkout: the installed headers are the tree's, every one
        assert sorted(p.name for p in installed.glob("*.h")) == sorted(p.name for p in REPO_HEADERS.glob("*.h"))
    umbrella = (installed / "ember.h").read_text()
    for header in installed.glob("*.h"):
        if header.name != "ember.h":
            assert f'"ember/{header.name}"' in umbrella, f"ember/ember.h does not include {header.name}"


def test_get_cmake_dir_holds_the_package():
    cmake_dir = Path(ember.get_cmake_dir())
    for name in ("emberConfig.cmake", "emberConfigVersion.cmake", "emberTargets.cmake"):
        assert (cmake_dir / name).is_file(), name
    assert ember.__version__ in (cmake_dir / "emberConfigVersion.cmake").read_text()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_extension_runs_on_the_installed_libember():
    library = Path(ember.get_library_dir()) / "libember.so"
    assert library.is_file()
    ember.ones(2).sum()   # the library is mapped by now in any case
    mapped = {line.split()[-1] for line in Path("/proc/self/maps").read_text().splitlines()
              if line.rstrip().endswith("libember.so")}
    assert mapped == {str(library.resolve())}


def _cxx_compiler():
    return os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")


@pytest.fixture(scope="module")
def test_binary(tmp_path_factory):
    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.skip("cmake is not installed: the C++ API test needs it to build tests/cpp")
    if _cxx_compiler() is None:
        pytest.skip("no C++ compiler (c++, g++, clang++ or $CXX) to build tests/cpp")
    build = tmp_path_factory.mktemp("cpp_api_build")
    configure = [cmake, "-S", str(SOURCE_DIR), "-B", str(build), f"-DCMAKE_PREFIX_PATH={ember.get_cmake_dir()}",
                 f"-DEMBER_EXPECTED_VERSION={ember.__version__}"]
    if shutil.which("ninja"):
        configure += ["-G", "Ninja"]
    for step in (configure, [cmake, "--build", str(build)]):
        done = subprocess.run(step, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{' '.join(step)} failed:\n{done.stdout}\n{done.stderr}"
    return build / "ember_test_api"


def test_cpp_api_binary_passes(test_binary):
    done = subprocess.run([str(test_binary)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"C++ API tests failed:\n{done.stdout}\n{done.stderr}"
    assert " 0 failures" in done.stdout
    for name in ("tensors", "ops", "autograd", "fused_optimizers", "threads", "errors"):
        assert f"{name:<18} ok" in done.stdout.splitlines()


def test_cpp_api_binary_reports_failures_in_its_exit_code(test_binary):
    done = subprocess.run([str(test_binary), "--fail-on-purpose"], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "FAIL" in done.stderr and "1 failures" in done.stdout
