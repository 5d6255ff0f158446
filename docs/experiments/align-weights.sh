#!/usr/bin/env bash
# Experiment B of docs/the-claim.md: does alignment hurt the recovered LoRAM-Stru row because it moves the weights the
# pruned model shares with the base? Aligns the pipeline's pruned base with only its pruned layers trainable
# (--weights pruned-layers: embeddings, norms, the first and last layer and the LM head stay bit for bit), with every
# other setting as the pipeline's loram-stru-aligned row (64 steps × 8 × 256 tokens of unseen text, the default recipe),
# then trains, recovers and scores the adapter exactly as that row's seed 1.
# Usage: docs/experiments/align-weights.sh RUN OUT   (RUN: a finished `loram pipeline --out RUN` with loram-stru)
set -euo pipefail
RUN=${1:-runs/claim}; OUT=${2:-runs/align-weights}
LORAM=${LORAM:-src/LoRAM/Cli/bin/Release/net10.0/loram}
D="$RUN/data"; mkdir -p "$OUT"
"$LORAM" align --model "$RUN/variants/loram-stru/pruned" --data "$D/corpus.txt" --tokens 131072 --batch 8 --micro-batch 4 \
    --seq-len 256 --seed 1 --checkpoint-every 0 --keep-checkpoints 1 --eval-sequences 8 --weights pruned-layers --out "$OUT/aligned"
"$LORAM" train --model "$OUT/aligned" --data "$D/instructions-train.jsonl" --out "$OUT/adapter" --rank 8 --alpha 16 \
    --targets q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj,lm_head --steps 60 --batch 16 --micro-batch 4 \
    --seq-len 384 --lr 1e-3 --seed 1
"$LORAM" recover --pruned "$OUT/aligned" --adapter "$OUT/adapter" --model models/base --out "$OUT/recovered"
for served in "models/base $OUT/recovered recovered" "$OUT/aligned $OUT/adapter without-recovery"; do
  set -- $served
  "$LORAM" eval --model "$1" --adapter "$2" --ppl "$D/ppl-in.jsonl" --ppl "$D/ppl-out.jsonl" --limit 100 --max-length 384 > "$OUT/eval-$3-ppl.txt"
  "$LORAM" eval --model "$1" --adapter "$2" --knowledge "$D/knowledge.jsonl" --limit 200 > "$OUT/eval-$3-knowledge.txt"
done
tail -n +1 "$OUT"/eval-*.txt
