#!/usr/bin/env bash
# OpenMP scaling of ember vs PyTorch over 1..16 threads on a many-core machine: builds ember from this tree into a
# scratch folder, then runs the side-by-side benchmarks at each thread count. Results go to $OUT (or bench-out/).
set -uo pipefail
out="${OUT:-bench-out}"
mkdir -p "$out"
nproc > "$out/machine.txt"; lscpu >> "$out/machine.txt" 2>&1
python3 -m pip install -q --no-build-isolation --no-deps --target /tmp/ember-site . > "$out/build.log" 2>&1 \
  || { tail -40 "$out/build.log"; exit 1; }
export PYTHONPATH=/tmp/ember-site
python3 -c "import ember; print(ember.config())" | tee -a "$out/machine.txt"
run() { local name=$1; shift; echo "== $name"; timeout "${LIMIT:-150}" "$@" 2>&1 | tee "$out/$name.txt" | tail -40; }
run train_step python3 bench/train_step.py --threads 1 2 4 8 16 --rounds 3 --json "$out/train_step.json"
run gemm python3 bench/gemm.py --threads 1 4 16 --rounds 3 --json "$out/gemm.json" \
  --only gemm_sq1024 gemm_sq2048 gemm_mlp_fc1_fwd gemm_gpt_qkv_fwd gemm_head_fwd
run elementwise python3 bench/elementwise.py --sizes 16M --threads 1,4,16 --ops add,exp,gelu,sum
for t in 1 4 16; do run "conv_t$t" python3 bench/conv.py --quick --threads "$t" --only lenet; done
