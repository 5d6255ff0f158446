#!/usr/bin/env bash
# Experiment G of docs/the-claim.md (a diagnostic, not part of the method: the scale is read off the test sets): is the
# recovered LoRAM adapter too weak on the full base — diluted by the units recovery gives back — or too strong? Serves
# each seed-1 adapter of a finished `loram pipeline --out RUN` at scales s of its update, s·(α/r)·B·A, by copying it
# with lora_alpha = s·16 in adapter_config.json (the weights untouched), and scores it as the pipeline does (100
# items, 384 tokens) with `loram eval --by-token-category`. base + LoRA is the control: an adapter trained on the
# weights it is served with. Writes ROW-xS.json per point and a table of ppl in / out.
# Usage: docs/experiments/adapter-scale.sh RUN OUT "SCALES" "ROWS"   ROWS among loram-stru, base-lora, sweep-stru-R
set -euo pipefail
RUN=${1:-runs/claim}; OUT=${2:-runs/adapter-scale}; SCALES=${3:-0.5 1 1.5 2}; ROWS=${4:-loram-stru base-lora}
LORAM=${LORAM:-src/LoRAM/Cli/bin/Release/net10.0/loram}
D="$RUN/data"; S=lr-0.001/seed-1; mkdir -p "$OUT"
echo "| row | scale | ppl in | ppl out |" > "$OUT/report.md"; echo "|---|---:|---:|---:|" >> "$OUT/report.md"
for row in $ROWS; do
  case $row in
    base-lora) adapter="$RUN/variants/base-lora/$S/adapter" ;;
    loram-stru) adapter="$RUN/variants/loram-stru/$S/adapter-recovered" ;;
    sweep-stru-*) adapter="$RUN/sweep/$row/$S/adapter-recovered" ;;
    *) echo "unknown row $row" >&2; exit 2 ;;
  esac
  alpha=$(jq .lora_alpha "$adapter/adapter_config.json")
  for s in $SCALES; do
    name="$row-x$s"; scaled="$OUT/adapters/$name"
    if [ ! -s "$OUT/$name.json" ]; then
      rm -rf "$scaled"; mkdir -p "$scaled"; cp "$adapter"/adapter_model.safetensors "$scaled/"
      jq --argjson a "$(jq -n "$alpha * $s")" '.lora_alpha = $a' "$adapter/adapter_config.json" > "$scaled/adapter_config.json"
      start=$(date +%s)
      "$LORAM" eval --model models/base --adapter "$scaled" --ppl "$D/ppl-in.jsonl" --ppl "$D/ppl-out.jsonl" \
          --limit 100 --max-length 384 --by-token-category --json > "$OUT/$name.json.tmp"
      mv "$OUT/$name.json.tmp" "$OUT/$name.json"; echo "$name: $(( $(date +%s) - start )) s" >&2
    fi
    jq -r --arg row "$row" --arg s "$s" --arg i "$D/ppl-in.jsonl" --arg o "$D/ppl-out.jsonl" \
      '"| " + $row + " | " + $s + " | " + (.ppl[$i].perplexity * 1000 | round / 1000 | tostring) + " | " + (.ppl[$o].perplexity * 1000 | round / 1000 | tostring) + " |"' \
      "$OUT/$name.json" >> "$OUT/report.md"
  done
done
rm -rf "$OUT/adapters"
cat "$OUT/report.md"
