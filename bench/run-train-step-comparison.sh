#!/usr/bin/env bash
# One whole training step, ours (LoRAM.Bench train-step) against torch 1.13 eager (bench/peers/train_step.py),
# interleaved configuration by configuration and round by round so that load from other jobs hits both alike.
# Prints a Markdown table of medians over rounds (tokens/s, peak RSS) and the ratio ours/peer (> 1 = ours faster /
# for memory < 1 = ours smaller).
# Usage: bench/run-train-step-comparison.sh [rounds=3] [threads=1] [steps=3] [configs="base:lora base:full smollm-135m:lora"]
# The peer's OpenBLAS kernels follow OPENBLAS_CORETYPE as exported (reported in the JSON; see the GEMM section of
# bench/RESULTS.md for what that choice costs it).
set -euo pipefail
ROUNDS=${1:-3}; THREADS=${2:-1}; STEPS=${3:-3}
CONFIGS=${4:-"base:lora base:full smollm-135m:lora"}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(mktemp -d /tmp/train-step-comparison.XXXXXX)
dotnet build "$HERE/LoRAM.Bench.csproj" -c Release -v q -nologo >/dev/null
BENCH="$HERE/bin/Release/net10.0/LoRAM.Bench"
PY=/usr/bin/python3

for r in $(seq 1 "$ROUNDS"); do
  for cfg in $CONFIGS; do
    shape=${cfg%%:*}; mode=${cfg##*:}
    echo "round $r/$ROUNDS $shape $mode" >&2
    LORAM_THREADS="$THREADS" "$BENCH" train-step --shape "$shape" --mode "$mode" --threads "$THREADS" --steps "$STEPS" --json > "$OUT/ours.$shape.$mode.$r.json"
    "$PY" "$HERE/peers/train_step.py" --shape "$shape" --mode "$mode" --threads "$THREADS" --steps "$STEPS" --json > "$OUT/torch.$shape.$mode.$r.json"
  done
done

"$PY" - "$OUT" "$ROUNDS" $CONFIGS <<'PYEOF'
import json, statistics, sys
out, rounds, configs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
med = statistics.median
print(f"median over {rounds} rounds of each run's median step; tokens/s = micro-batch × seq-len / step time")
print()
print("| shape | mode | threads | ours tok/s | torch tok/s | ours/torch | ours peak RSS MiB | torch peak RSS MiB | ours/torch RSS |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
for cfg in configs:
    shape, mode = cfg.split(":")
    o = [json.load(open(f"{out}/ours.{shape}.{mode}.{r}.json")) for r in range(1, rounds + 1)]
    t = [json.load(open(f"{out}/torch.{shape}.{mode}.{r}.json")) for r in range(1, rounds + 1)]
    ot, tt = med(x["tokens_per_s"] for x in o), med(x["tokens_per_s"] for x in t)
    orss, trss = med(x["peak_rss_bytes"] for x in o) / 2**20, med(x["peak_rss_bytes"] for x in t) / 2**20
    print(f"| {shape} | {mode} | {o[0]['threads']} | {ot:.0f} | {tt:.0f} | {ot / tt:.2f} | {orss:.0f} | {trss:.0f} | {orss / trss:.2f} |")
print()
print(f"raw JSON: {out}")
PYEOF
