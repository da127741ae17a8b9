#!/bin/sh
# Builds bench/cpp/gemm_check without CMake or the rest of the core (kernels + threads only).
set -e
cd "$(dirname "$0")/../.."
OUT=${1:-build-cpp/gemm_check}
mkdir -p "$(dirname "$OUT")" build-cpp/obj
FLAGS="-O3 -std=c++17 -fopenmp -fno-math-errno -fno-trapping-math -Wall -Wno-sign-compare -Icsrc"
for f in csrc/kernels/x86_avx2/*.cpp; do g++ $FLAGS -mavx2 -mfma -mf16c -c "$f" -o "build-cpp/obj/avx2_$(basename "$f").o" & done
for f in csrc/kernels/x86_avx512/*.cpp; do g++ $FLAGS -mavx512f -mavx512dq -mavx512bw -mavx512vl -mavx2 -mfma -mf16c -c "$f" -o "build-cpp/obj/avx512_$(basename "$f").o" & done
wait
g++ $FLAGS bench/cpp/gemm_check.cpp csrc/kernels/*.cpp csrc/kernels/ref/*.cpp csrc/kernels/gemm/*.cpp csrc/core/threads.cpp \
  build-cpp/obj/*.o -o "$OUT"
