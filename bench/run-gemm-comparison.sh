#!/usr/bin/env bash
# Our CPU GEMM against torch.matmul (Debian's python3-torch over OpenBLAS 0.3.21, pthread build), interleaved round by
# round so that load from other jobs hits both alike. Prints a Markdown table of medians over rounds and the ratio
# ours/peer of GFLOP/s (> 1 = ours faster). The peer runs once per OpenBLAS kernel choice each round:
#   auto      OPENBLAS_CORETYPE unset: OpenBLAS's own CPU detection (DYNAMIC_ARCH)
#   SkylakeX  its AVX-512 kernels
#   Haswell   its AVX2 kernels (what an environment exporting OPENBLAS_CORETYPE=Haswell gets)
# Usage: bench/run-gemm-comparison.sh [rounds=3] [threads=1] [reps=7]
# Needs dotnet and /usr/bin/python3 with torch (apt-get install python3-torch libopenblas0-pthread).
set -euo pipefail
ROUNDS=${1:-3}; THREADS=${2:-1}; REPS=${3:-7}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(mktemp -d /tmp/gemm-comparison.XXXXXX)
dotnet build "$HERE/LoRAM.Bench.csproj" -c Release -v q -nologo >/dev/null
BENCH="$HERE/bin/Release/net10.0/LoRAM.Bench"
PY=/usr/bin/python3
CORES=(auto SkylakeX Haswell)

for r in $(seq 1 "$ROUNDS"); do
  echo "round $r/$ROUNDS" >&2
  env -u LORAM_GEMM_KERNEL LORAM_THREADS="$THREADS" "$BENCH" gemm --threads "$THREADS" --reps "$REPS" --json > "$OUT/ours.$r.json"
  for core in "${CORES[@]}"; do
    if [ "$core" = auto ]; then
      env -u OPENBLAS_CORETYPE "$PY" "$HERE/peers/gemm.py" --threads "$THREADS" --reps "$REPS" --json > "$OUT/torch-$core.$r.json"
    else
      OPENBLAS_CORETYPE=$core "$PY" "$HERE/peers/gemm.py" --threads "$THREADS" --reps "$REPS" --json > "$OUT/torch-$core.$r.json"
    fi
  done
done

"$PY" - "$OUT" "$ROUNDS" "${CORES[@]}" <<'PYEOF'
import json, statistics, sys
out, rounds, cores = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def load(prefix):
    runs = [json.load(open(f"{out}/{prefix}.{r}.json")) for r in range(1, rounds + 1)]
    table = {}
    for run in runs:
        for x in run["results"]:
            table.setdefault((x["name"], x["dtype"]), []).append(x["gflops"])
    return runs[0], {key: statistics.median(v) for key, v in table.items()}
ours_meta, ours = load("ours")
peers = [load(f"torch-{c}") for c in cores]
print(f"ours: LoRAM.Bench gemm, kernel {ours_meta['kernel']}, threads {ours_meta['threads']}; peer: torch {peers[0][0]['torch']} "
      f"torch.matmul, threads {peers[0][0]['threads']}; GFLOP/s = 2mnk/t, median over {rounds} rounds of each run's median of "
      f"{ours_meta['reps']} reps")
print()
head = "| shape (m×k×n) | B | ours |" + "".join(f" torch, OpenBLAS {c} ({m['openblas_core']}) | ours/peer |" for c, (m, _) in zip(cores, peers))
print(head)
print("|---|---|---:|" + "---:|---:|" * len(cores))
for (name, dtype), g in ours.items():
    row = f"| {name} | {dtype} | {g:.1f} |"
    for _, p in peers:
        row += f" {p[(name, dtype)]:.1f} | {g / p[(name, dtype)]:.2f} |"
    print(row)
print()
print(f"raw JSON: {out}")
PYEOF
