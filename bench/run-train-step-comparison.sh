#!/usr/bin/env bash
# One whole training step, ours (LoRAM.Bench train-step) against torch 1.13 eager (bench/peers/train_step.py),
# interleaved configuration by configuration and round by round so that load from other jobs hits both alike.
# Prints a Markdown table of medians over rounds (tokens/s, peak RSS) and the ratio ours/peer (> 1 = ours faster /
# for memory < 1 = ours smaller).
# Usage: bench/run-train-step-comparison.sh [rounds=3] [threads=1] [steps=3] [configs="base:lora base:full smollm-135m:lora"]
# PEER_CORETYPE picks the peer's OpenBLAS kernels: auto (default: OPENBLAS_CORETYPE unset, OpenBLAS's own choice,
# Cooperlake AVX-512 on our EPYC, its fastest), or a name such as Haswell (what this environment exports; AVX2,
# about half the GEMM speed — see the GEMM section of bench/RESULTS.md). The choice is reported in the JSON.
set -euo pipefail
ROUNDS=${1:-3}; THREADS=${2:-1}; STEPS=${3:-3}
CONFIGS=${4:-"base:lora base:full smollm-135m:lora"}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(mktemp -d /tmp/train-step-comparison.XXXXXX)
dotnet build "$HERE/LoRAM.Bench.csproj" -c Release -v q -nologo >/dev/null
BENCH="$HERE/bin/Release/net10.0/LoRAM.Bench"
PY=/usr/bin/python3
PEER_CORETYPE=${PEER_CORETYPE:-auto}
if [ "$PEER_CORETYPE" = auto ]; then PEER_ENV=(env -u OPENBLAS_CORETYPE); else PEER_ENV=(env OPENBLAS_CORETYPE="$PEER_CORETYPE"); fi

for r in $(seq 1 "$ROUNDS"); do
  for cfg in $CONFIGS; do
    shape=${cfg%%:*}; mode=${cfg##*:}
    echo "round $r/$ROUNDS $shape $mode" >&2
    LORAM_THREADS="$THREADS" "$BENCH" train-step --shape "$shape" --mode "$mode" --threads "$THREADS" --steps "$STEPS" --json > "$OUT/ours.$shape.$mode.$r.json"
    "${PEER_ENV[@]}" "$PY" "$HERE/peers/train_step.py" --shape "$shape" --mode "$mode" --threads "$THREADS" --steps "$STEPS" --json > "$OUT/torch.$shape.$mode.$r.json"
  done
done

"$PY" - "$OUT" "$ROUNDS" $CONFIGS <<'PYEOF'
import json, statistics, sys
out, rounds, configs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
med = statistics.median
t0 = json.load(open(f"{out}/torch.{configs[0].replace(':', '.')}.1.json"))
print(f"median over {rounds} rounds of each run's median step; tokens/s = micro-batch × seq-len / step time; "
      f"peer torch {t0['torch']}, OpenBLAS core {t0.get('openblas_core')} (OPENBLAS_CORETYPE {t0['openblas_coretype']})")
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
