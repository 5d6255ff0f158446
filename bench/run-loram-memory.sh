#!/usr/bin/env bash
# LoRA training memory and throughput on the shipped base vs its LoRAM-Stru pruned version (the paper's Table 5 for
# our models): prune at RATIO (default 0.65), then the same `loram train` run on both, one thread, and print the
# figures each report.json holds. Usage: bench/run-loram-memory.sh [ratio] [steps]
set -euo pipefail
cd "$(dirname "$0")/.."
ratio=${1:-0.65}; steps=${2:-12}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
loram="dotnet src/LoRAM/Cli/bin/Release/net10.0/loram.dll"
$loram data --out "$work/data" --corpus-chars 200000 --instructions 1000 --eval-size 20 > /dev/null
$loram prune --model models/base --method stru --ratio "$ratio" --keep-first 1 --keep-last 1 --calib "$work/data/corpus.txt" --out "$work/pruned" > /dev/null
for model in models/base "$work/pruned"; do
  name=$([ "$model" = models/base ] && echo "base" || echo "stru-$ratio")
  LORAM_THREADS=1 $loram train --model "$model" --data "$work/data/instructions.jsonl" --out "$work/$name" --steps "$steps" \
    --batch 16 --micro-batch 4 --seq-len 384 --json 2>/dev/null \
  | python3 -c "import json,sys; r=json.load(sys.stdin); p=r['peak_memory_bytes']; print('$name', r['model_parameters'], r['frozen_weight_bytes'], r['adapter_parameters'], r['peak_total_bytes'], round(r['tokens_per_s']), ' '.join(f'{k}={v}' for k,v in p.items()))"
done
