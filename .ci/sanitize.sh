#!/usr/bin/env bash
# Builds ember with AddressSanitizer + UndefinedBehaviorSanitizer into a scratch folder, proves the setup catches a
# planted heap overflow and a planted signed overflow, then runs the fast test subset under it (halt on any error).
# Run from the repository root inside an environment that has ember's test dependencies (.ci/run does this).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${EMBER_ASAN_DIR:-$(mktemp -d)/ember-asan}"
python -m pip install -q --no-deps --upgrade --target "$target" -Cbuild-dir=build/asan -Ccmake.define.EMBER_SANITIZE=ON \
    -Cinstall.strip=false .

export PYTHONPATH="$target${PYTHONPATH:+:$PYTHONPATH}"
# libasan first (python itself is not instrumented); libstdc++ too, so ASan can intercept C++ throws.
export LD_PRELOAD="$(g++ -print-file-name=libasan.so) $(g++ -print-file-name=libstdc++.so)"
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:allocator_may_return_null=1"   # huge requests: MemoryError
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
python - "$target" <<'PY'
import sys, ember
assert ember.__file__.startswith(sys.argv[1]) and ember._C.build_info()["sanitize"], (
    f"imported {ember.__file__}, not the sanitizer build: run this where ember is not installed in editable mode")
print("sanitizer build:", ember.__file__)
PY

# The planted bugs must be caught: non-zero exit and the sanitizer's report.
for bug in "heap-buffer-overflow:AddressSanitizer: heap-buffer-overflow" \
           "signed-integer-overflow:runtime error: signed integer overflow"; do
  kind="${bug%%:*}" expected="${bug#*:}"
  if report=$(python -c "import ember; ember._C._planted_bug('$kind')" 2>&1); then
    echo "sanitizer check FAILED: planted $kind ran without an error" >&2; exit 1
  fi
  grep -q "$expected" <<<"$report" || { echo "sanitizer check FAILED: no '$expected' in:" >&2; echo "$report" >&2; exit 1; }
  echo "planted $kind: caught"
done

# The fast subset (no slow marker), with output not captured so a report is never swallowed.
python -m pytest -q -s -p no:cacheprovider -m "not slow" tests/ops tests/autograd tests/kernels tests/nn \
    tests/optim tests/data tests/properties tests/test_tensor.py tests/test_io.py tests/test_interop.py
