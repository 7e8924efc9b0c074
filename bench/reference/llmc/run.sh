#!/usr/bin/env bash
# Reference timing of llm.c's CPU trainer (train_gpt2.c @ db2454f, B=4 T=64 hard-coded in main).
# Usage: /tmp/llmc/run.sh [num_steps=10] [threads=2]
# Timed region per step (llm.c's own clock_gettime): next_batch + forward + zero_grad + backward + AdamW update.
# Val loss (step 0, 10, ...) and sampling (step 20, 40) run outside that region.
set -euo pipefail
cd "$(dirname "$0")"
STEPS="${1:-10}"
THREADS="${2:-2}"
if [ ! -x train_gpt2 ] || [ train_gpt2.c -nt train_gpt2 ]; then
  gcc -Ofast -march=native -fopenmp -Wno-unused-result -fgnu89-inline train_gpt2.c -lm -o train_gpt2
fi
if [ ! -f gpt2_124M.bin ] || [ ! -f dev/data/tinyshakespeare/tiny_shakespeare_train.bin ]; then
  gcc -O2 mkdata.c -lm -o mkdata && ./mkdata
fi
LOG=$(mktemp /tmp/llmc/run.XXXXXX.log)
TIMELOG="$LOG.time"
OMP_NUM_THREADS="$THREADS" LLMC_STEPS="$STEPS" /usr/bin/time -v -o "$TIMELOG" ./train_gpt2 > "$LOG" 2>&1
grep -E '^step [0-9]+: train loss' "$LOG"
echo "threads=$THREADS steps=$STEPS B=4 T=64"
# median over steps after the first 2 (falls back to all steps if fewer than 3)
grep -E '^step [0-9]+: train loss' "$LOG" | sed -E 's/.*\(took ([0-9.]+) ms\).*/\1/' | awk '
  { t[NR]=$1 }
  END {
    skip = (NR > 2) ? 2 : 0; n = 0
    for (i = skip+1; i <= NR; i++) v[++n] = t[i]
    if (n == 0) { print "no step lines found" > "/dev/stderr"; exit 1 }
    for (i = 1; i <= n; i++) for (j = i+1; j <= n; j++) if (v[j] < v[i]) { x=v[i]; v[i]=v[j]; v[j]=x }
    med = (n % 2) ? v[(n+1)/2] : (v[n/2] + v[n/2+1]) / 2
    printf "timed steps used: %d (skipped first %d)\n", n, skip
    printf "min_ms=%.1f max_ms=%.1f\n", v[1], v[n]
    printf "MEDIAN %.1f\n", med
  }' > "$LOG.stats"
grep -v MEDIAN "$LOG.stats"
awk -F': ' '/Maximum resident set size/ {printf "peak_rss_kb=%s (%.1f MiB)\n", $2, $2/1024} /Elapsed \(wall clock\)/ {print "wall_clock=" $2}' "$TIMELOG"
echo "log: $LOG"
echo "llmc_ms_per_step=$(awk '/MEDIAN/ {print $2}' "$LOG.stats")"
