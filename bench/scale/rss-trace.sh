#!/usr/bin/env bash
# rss-trace.sh LOG COMMAND...: runs COMMAND, samples its resident set every 0.5 s (VmRSS, RssAnon, RssFile, VmHWM
# in kB, from /proc/PID/status) into LOG, and prints the peak. The command's exit status is kept.
set -u
log=$1; shift
"$@" &
pid=$!
: > "$log"
while kill -0 "$pid" 2>/dev/null; do
  awk -v t="$(date +%s.%N)" '/^(VmRSS|RssAnon|RssFile|VmHWM):/ {a[$1]=$2}
    END {if (length(a)) printf "%.1f %d %d %d %d\n", t, a["VmRSS:"], a["RssAnon:"], a["RssFile:"], a["VmHWM:"]}' "/proc/$pid/status" 2>/dev/null >> "$log"
  sleep 0.5
done
wait "$pid"; rc=$?
awk '{ if ($2 > m) { m = $2; a = $3; f = $4 } if ($5 > h) h = $5 }
  END { printf "peak VmRSS %.2f GiB (anon %.2f, file %.2f); VmHWM %.2f GiB\n", m/1048576, a/1048576, f/1048576, h/1048576 }' "$log" >&2
exit $rc
