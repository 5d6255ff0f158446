# phase.sh, sourced by chain.sh and llama-2-7b.sh: `phase NAME OUTDIR COMMAND...` runs COMMAND under rss-trace.sh
# (NAME.rss, NAME.json, NAME.err) unless OUTDIR exists, and appends "NAME  peak VmHWM  wall" to phases.tsv.
phase() {
  local name=$1 out=$2; shift 2
  if [ -e "$out" ]; then echo "$name: $out exists, skipped" >&2; return; fi
  local start=$(date +%s.%N)
  "$(dirname "${BASH_SOURCE[0]}")/rss-trace.sh" "$name.rss" "$@" > "$name.json" 2> "$name.err"
  local end=$(date +%s.%N)
  awk -v n="$name" -v s="$(echo "$end - $start" | bc)" '{ if ($5 > h) h = $5 } END { printf "%s\t%.3f GiB\t%.0f s\n", n, h/1048576, s }' "$name.rss" | tee -a phases.tsv
}
