#!/usr/bin/env bash
# llama-2-7b.sh WORK TOKENIZER: LLaMA-2-7B's shape on one 24 GiB machine (bench/RESULTS.md, "LLaMA-2-7B shape"):
# init → prune stru 0.65 (10 × 128 calibration tokens, lean Taylor) → train --nf4 3 steps of 512 tokens, each phase's
# peak resident set beside `loram plan`. Needs WORK/calib.txt and WORK/train.jsonl (see chain.sh); LORAM = the binary.
set -euo pipefail
work=$1; tok=$2
L=${LORAM:-loram}
here=$(cd "$(dirname "$0")" && pwd)
cd "$work"
source "$here/phase.sh"
phase init model "$L" init --config llama-2-7b --tokenizer "$tok" --out model --json
"$L" plan --config model --method stru --ratio 0.65 --samples 10 --calib-seq-len 128 --nf4 --micro-batch 1 --seq-len 512 \
  --checkpoint-layers --json > plan.json
phase prune pruned "$L" prune --model model --method stru --ratio 0.65 --calib calib.txt --samples 10 --seq-len 128 --out pruned --json
phase train adapter "$L" train --model pruned --data train.jsonl --template alpaca --out adapter --nf4 --steps 3 --batch 1 \
  --micro-batch 1 --seq-len 512 --checkpoint-layers --json
