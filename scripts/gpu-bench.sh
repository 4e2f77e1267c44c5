#!/usr/bin/env bash
# On a machine with a real GPU: WGSL dense 4096³, the large MLP (784→4096→4096→4096→10) at batch
# 1024 and ResNet50's 3×3 convolutions at batch 32 through Vulkan, then the same work in PyTorch
# (cuBLAS and cuDNN float32, TF32 off) in the same run; prints a Markdown table for BENCHMARKS.md.
# Needs the kit from scripts/gpu-kit.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/gpu-env.sh
export KEQV_GPU_BACKENDS=vulkan

KEQV_BENCH_SIZES=4096 bench-kernels --bench '^dense/' 2>&1 | tee "$report/bench-dense.log"
bench-kernels --bench '^conv3x3/' 2>&1 | tee "$report/bench-conv.log"
bench-verify --bench '^large_mlp/.*/1024$' 2>&1 | tee "$report/bench-mlp.log"
python3 scripts/gpu_compare.py target/criterion | tee "$report/gpu-compare.md"
