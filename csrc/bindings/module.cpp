// The ember._C module: error translation, runtime configuration, and the per-area bind_* calls.
#include <climits>
#include <vector>

#include "bindings/common.h"
#include "ember/threads.h"
#include "kernels/kernels.h"

#ifndef EMBER_VERSION
#define EMBER_VERSION "0.0.0"
#endif


PYBIND11_MODULE(_C, m) {
  using namespace ember;
  m.doc() = "ember's C++ core (private; use the ember package)";

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ember::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const ember::IndexError& e) {
      PyErr_SetString(PyExc_IndexError, e.what());
    } catch (const ember::NotImplementedError& e) {
      PyErr_SetString(PyExc_NotImplementedError, e.what());
    } catch (const ember::ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ember::Interrupted&) {
      // Python's handler has been tripped by the same SIGINT: run it (raises KeyboardInterrupt by default).
      if (PyErr_CheckSignals() == 0) PyErr_SetNone(PyExc_KeyboardInterrupt);
    }
  });

  install_fork_handler();
  keep_interrupt_handler();
  m.def("use_deterministic_algorithms", [](bool on) { set_deterministic_algorithms(on); }, py::arg("mode"));
  m.def("are_deterministic_algorithms_enabled", &deterministic_algorithms);
  m.def("set_num_threads", [](int n) {
    EMBER_CHECK(n >= 1, ValueError, "set_num_threads: expected a positive number of threads, got ", n);
    set_num_threads(n);
  }, py::arg("n"));
  m.def("get_num_threads", &get_num_threads);
  m.def("empty_cache", &empty_storage_cache, "Returns cached large tensor blocks to the system.");
  m.def("isa", [] { return std::string(kernels::table().isa); });
  m.def("isa_available", [](const std::string& level) { return kernels::table_for(level.c_str()) != nullptr; });
  m.def("build_info", [] {
    py::dict d;
    d["version"] = EMBER_VERSION;
#if defined(__clang__)
    d["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
    d["compiler"] = std::string("gcc ") + __VERSION__;
#else
    d["compiler"] = "unknown";
#endif
    d["isa"] = kernels::table().isa;
    d["num_threads"] = get_num_threads();
#ifdef EMBER_SANITIZE
    d["sanitize"] = true;
#else
    d["sanitize"] = false;
#endif
    return d;
  });
#ifdef EMBER_SANITIZE
  // Sanitizer builds only: deliberate bugs that prove AddressSanitizer/UBSan are live (.ci/sanitize.sh).
  m.def("_planted_bug", [](const std::string& kind) {
    if (kind == "heap-buffer-overflow") {   // else "signed-integer-overflow"
      std::vector<float> v(7);
      volatile float* p = v.data();
      p[v.size()] = 1.f;
      return 0;
    }
    volatile int big = INT_MAX;
    return big + 1;
  });
#endif

  bind_tensor(m);
  bind_ops(m);
  bind_autograd(m);
  bind_indexing(m);
  bind_interop(m);
  bind_reductions(m);
  bind_linalg(m);
  bind_nn(m);
  bind_optim(m);
  bind_kernel_hooks(m);
  bind_conv(m);
  bind_attention(m);
}
