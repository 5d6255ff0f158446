#!/usr/bin/env bash
# Experiment F of docs/the-claim.md: where in the response does LoRAM-Stru lose perplexity against sibling + LoRA?
# Scores the seed-1 models of a finished `loram pipeline --out RUN` (base w/o FT, sibling + LoRA, base + LoRA,
# LoRAM-Stru recovered and without recovery, and the ratio-sweep points named in RATIOS) on the pipeline's
# perplexity sets exactly as the pipeline does (100 items, 384 tokens), each split by token category
# (`loram eval --by-token-category`: opening token, end of turn, separators, words copied from the prompt, words in
# at least 5 % of the set's responses, other content — all decided from the data). Writes NAME.json per model and
# report.md: each category's perplexity, and how much of each row's gap in mean NLL to sibling + LoRA it carries
# (every model shares the byte tokenizer, so the categories hold the same tokens in every row and the gap splits exactly).
# Usage: docs/experiments/token-categories.sh RUN OUT "RATIOS"   e.g. runs/claim-small docs/experiments/token-categories "0.05 0.25"
set -euo pipefail
RUN=${1:-runs/claim}; OUT=${2:-runs/token-categories}; RATIOS=${3:-}
LORAM=${LORAM:-src/LoRAM/Cli/bin/Release/net10.0/loram}
D="$RUN/data"; S=lr-0.001/seed-1; mkdir -p "$OUT"
rows=("base|models/base|" "sibling-lora|models/sibling|$RUN/variants/sibling-lora/$S/adapter"
      "base-lora|models/base|$RUN/variants/base-lora/$S/adapter"
      "loram-stru-0.75|models/base|$RUN/variants/loram-stru/$S/adapter-recovered"
      "loram-stru-0.75-without-recovery|$RUN/variants/loram-stru/pruned|$RUN/variants/loram-stru/$S/adapter-pruned")
for r in $RATIOS; do
  P="$RUN/sweep/sweep-stru-$r"
  rows+=("loram-stru-$r|models/base|$P/$S/adapter-recovered" "loram-stru-$r-without-recovery|$P/pruned|$P/$S/adapter-pruned")
done
names=()
for row in "${rows[@]}"; do
  IFS='|' read -r name model adapter <<< "$row"; names+=("$name")
  [ -s "$OUT/$name.json" ] && continue
  start=$(date +%s)
  "$LORAM" eval --model "$model" ${adapter:+--adapter "$adapter"} --ppl "$D/ppl-in.jsonl" --ppl "$D/ppl-out.jsonl" \
      --limit 100 --max-length 384 --by-token-category --json > "$OUT/$name.json.tmp"
  mv "$OUT/$name.json.tmp" "$OUT/$name.json"; echo "$name: $(( $(date +%s) - start )) s"
done
# report.md: per set, each row's perplexity by category, then each category's part of the row's gap to sibling + LoRA.
{
  echo "# Response perplexity by token category (\`$0 $*\`)"
  for set in ppl-in ppl-out; do
    key="$D/$set.jsonl"
    jq -rs --arg key "$key" --arg set "$set" --argjson names "$(printf '%s\n' "${names[@]}" | jq -R . | jq -s .)" '
      def cats: .[0].ppl[$key].by_category;
      def fmt(x): (x * 1000 | round / 1000 | tostring);
      def pct(x): ((x * 1000 | round) / 10 | tostring) + " %";
      (map(.ppl[$key])) as $s | ($names | index("sibling-lora")) as $sib |
      "\n## " + $set + " (" + ($s[0].tokens | tostring) + " response tokens)\n",
      "| row | ppl | " + (cats | map(.category + " (" + (.tokens | tostring) + ")") | join(" | ")) + " |",
      "|---|---:|" + (cats | map("---:") | join("|")) + "|",
      (range(0; $s | length) as $i | "| " + $names[$i] + " | " + fmt($s[$i].perplexity) + " | " + ($s[$i].by_category | map(fmt(.perplexity)) | join(" | ")) + " |"),
      "\nGap in mean NLL to sibling + LoRA (log of the perplexity ratio), and the part of it each category carries: Σ over the category of (NLL − sibling NLL) / all tokens.\n",
      "| row | gap | " + (cats | map(.category) | join(" | ")) + " |",
      "|---|---:|" + (cats | map("---:") | join("|")) + "|",
      (range(0; $s | length) as $i | ($s[$i].nll - $s[$sib].nll) as $gap |
        "| " + $names[$i] + " | " + fmt($gap) + " | " +
        ([range(0; $s[$i].by_category | length) as $c | ($s[$i].by_category[$c].nll_sum - $s[$sib].by_category[$c].nll_sum) / $s[$i].tokens] | map(fmt(.) ) | join(" | ")) + " |")
    ' $(printf "$OUT/%s.json " "${names[@]}")
  done
} > "$OUT/report.md"
cat "$OUT/report.md"
