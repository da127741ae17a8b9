"""Where the installed C++ library lives: headers, libember.so and the CMake package, for building C++ programs
(or extensions) against the same core that ember._C uses. Paths point into the installed package (the wheel, or
the CMake install tree of an editable install); they are found next to ember._C."""
import os

from . import _C


def _package_root():
    return os.path.dirname(os.path.abspath(_C.__file__))


def _existing(path, what):
    if not os.path.isdir(path):
        raise RuntimeError(f"ember.{what}: {path} does not exist; this ember build was installed without its "
                           "C++ headers and CMake package (reinstall with `pip install .`)")
    return path


def get_include():
    """The directory to add to the include path for `#include <ember/ember.h>` (the public C++ headers)."""
    return _existing(os.path.join(_package_root(), "include"), "get_include()")


def get_library_dir():
    """The directory that holds libember.so, the shared C++ core that ember._C links."""
    return _existing(os.path.join(_package_root(), "lib"), "get_library_dir()")


def get_cmake_dir():
    """The directory of emberConfig.cmake: pass it as `-Dember_DIR=...` or in CMAKE_PREFIX_PATH, then
    `find_package(ember CONFIG REQUIRED)` and `target_link_libraries(app PRIVATE ember::ember)`."""
    return _existing(os.path.join(_package_root(), "lib", "cmake", "ember"), "get_cmake_dir()")
