#!/usr/bin/env bash
# chain.sh CONFIG WORK TOKENIZER: LoRAM end to end on a random-weight model of a real shape, every phase's peak resident
# set (VmHWM) and wall time beside `loram plan`'s prediction (bench/RESULTS.md, "TinyLlama-1.1B shape").
#   init → prune stru 0.65 (32 × 128 calibration tokens) → align 20 steps → train --nf4 20 steps → recover → eval
# Needs WORK/calib.txt (calibration text), WORK/align.txt (general text) and WORK/train.jsonl (Alpaca records whose
# responses fill 512 tokens); LORAM points at the loram binary. Phases already done (their folder exists) are skipped.
set -euo pipefail
config=$1; work=$2; tok=$3
L=${LORAM:-loram}
here=$(cd "$(dirname "$0")" && pwd)
cd "$work"
seq=512
source "$here/phase.sh"
phase init model "$L" init --config "$config" --tokenizer "$tok" --out model --json
"$L" plan --config model --method stru --ratio 0.65 --samples 32 --calib-seq-len 128 --nf4 --micro-batch 1 --seq-len $seq \
  --checkpoint-layers --json > plan.json
phase prune pruned "$L" prune --model model --method stru --ratio 0.65 --calib calib.txt --samples 32 --seq-len 128 --out pruned --json
phase align aligned "$L" align --model pruned --data align.txt --tokens $((20 * seq)) --seq-len $seq --batch 1 --micro-batch 1 \
  --checkpoint-layers --eval-sequences 0 --checkpoint-every 0 --out aligned --json
phase train adapter "$L" train --model aligned --data train.jsonl --template alpaca --out adapter --nf4 --steps 20 --batch 1 \
  --micro-batch 1 --seq-len $seq --checkpoint-layers --json
phase recover recovered "$L" recover --pruned aligned --adapter adapter --model model --out recovered --json
phase eval eval.done "$L" eval --model model --adapter recovered --ppl train.jsonl --limit 8 --batch 1 --max-length $seq --json
touch eval.done
