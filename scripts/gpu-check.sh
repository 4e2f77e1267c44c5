#!/usr/bin/env bash
# On a machine with a real GPU: lists the adapters, runs keqv's GPU tests and the fixture suite on
# the card through Vulkan (a missing adapter fails), then times dense 4096³ and the large MLP
# against PyTorch (scripts/gpu-bench.sh). Needs the kit from scripts/gpu-kit.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/gpu-env.sh
export KEQV_REQUIRE_GPU=1 KEQV_GPU_BACKENDS=vulkan

keqv adapters | tee "$report/adapters.txt"
failed=()
for t in "$kit"/bin/test-*; do
  echo "== $(basename "$t")"
  log="$report/$(basename "$t").log"
  "$t" --test-threads=4 >"$log" 2>&1 || failed+=("$(basename "$t")")
  grep -E '^(test result|.*FAILED|.*panicked)' "$log"
done
echo "== suite on vulkan"
keqv suite models/suite.toml --device vulkan --junit "$report/suite-junit.xml" >"$report/suite.log" 2>&1 \
  || failed+=(suite)
tail -3 "$report/suite.log"

scripts/gpu-bench.sh || failed+=(bench)
if [ "${#failed[@]}" -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all GPU checks passed"
