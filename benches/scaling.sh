#!/usr/bin/env bash
# How keqv's cost grows, as Markdown tables for BENCHMARKS.md: CPU time against batch size,
# width and depth (`keqv bench`), `keqv verify` on the large MLP at growing batches (wall time
# and peak memory, /usr/bin/time), and process start to first result on the GPU path for the
# fixture pairs. Run on a quiet machine:
#
#     PYTHON=/opt/keqv-py/bin/python bash benches/scaling.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
keqv=${KEQV:-target/release/keqv}
out=${1:-target/scaling}
"${PYTHON:-python3}" benches/scaling_models.py "$out" >/dev/null
cp -n "$out/big_mlp.h5" "$out/big_mlp_copy.h5"

bench() { # model batch -> "median_ms samples/s gflops"
  "$keqv" bench "$1" --batch "$2" --device cpu --runs "${RUNS:-5}" --warmup 1 --format json \
    | python3 -c 'import json,sys; d=json.load(sys.stdin)["devices"][0]; print("%.1f %.0f %.1f" % (d["median_ms"], d["samples_per_s"], d["gflops"]))'
}

echo "### CPU time against batch size (large MLP 784-4096-4096-4096-10)"
echo; echo "| batch | median ms | samples/s | GFLOP/s |"; echo "|---|---|---|---|"
for b in 1 16 64 256 1024 4096; do
  read -r ms sps gf < <(bench "$out/big_mlp.h5" "$b"); echo "| $b | $ms | $sps | $gf |"
done

echo; echo "### CPU time against width (784-W-W-W-10, batch 256)"
echo; echo "| W | median ms | samples/s | GFLOP/s |"; echo "|---|---|---|---|"
for w in 256 512 1024 2048 4096; do
  read -r ms sps gf < <(bench "$out/width_$w.h5" 256); echo "| $w | $ms | $sps | $gf |"
done

echo; echo "### CPU time against depth (784-1024×D-10, batch 256)"
echo; echo "| D | median ms | samples/s | GFLOP/s |"; echo "|---|---|---|---|"
for d in 1 2 4 8; do
  read -r ms sps gf < <(bench "$out/depth_$d.h5" 256); echo "| $d | $ms | $sps | $gf |"
done

echo; echo "### keqv verify on the large MLP against a copy of itself, CPU, streaming in chunks"
echo; echo "| batch | wall s | samples/s (both models) | peak memory MB | verdict |"; echo "|---|---|---|---|---|"
for b in ${VERIFY_BATCHES:-12500 25000 50000 200000}; do
  set +e
  /usr/bin/time -f "%e %M" -o "$out/time.txt" "$keqv" verify "$out/big_mlp.h5" "$out/big_mlp_copy.h5" \
    --batch "$b" --device cpu --format json >"$out/verify.json"
  code=$?
  set -e
  read -r secs kb <"$out/time.txt"
  verdict=$(python3 -c 'import json,sys; print("equivalent" if json.load(open(sys.argv[1]))["equivalent"] else "not equivalent")' "$out/verify.json")
  echo "| $b | $secs | $(python3 -c "print(round(2*$b/$secs))") | $((kb / 1024)) | $verdict (exit $code) |"
done

echo; echo "### Process start to first result on the GPU path (keqv verify, wall s)"
echo; echo "| pair | lavapipe (Vulkan) | llvmpipe (GL) |"; echo "|---|---|---|"
for pair in "k3/a_seq_mlp.keras k3/a_func_mlp.keras" "tfk/c_func_skip.h5 k3/c_func_skip_reimpl.keras" \
  "k3/d_chain_func.keras k3/d_chain_seq.keras" "tfk/e_zoo.h5 k3/e_zoo.keras"; do
  read -r a b <<<"$pair"
  row="| $a vs $b |"
  for device in vulkan gl; do
    /usr/bin/time -f "%e" -o "$out/time.txt" "$keqv" verify "models/$a" "models/$b" --device "$device" \
      >/dev/null 2>&1 || true
    row="$row $(cat "$out/time.txt") |"
  done
  echo "$row"
done
