#!/usr/bin/env bash
# make-mc4.sh: a 4-choice JSONL task for the prefix-reuse throughput benchmark (docs/evaluation.md).
# Usage: bench/tasks/make-mc4.sh TEXT CONTEXT_CHARS > out.jsonl   (60 questions; gold = the true next 24 characters)
set -euo pipefail
awk -v L="${2:-800}" 'BEGIN{RS="\0"} {
  gsub(/\\/, ""); gsub(/"/, "\x27"); gsub(/\n/, " "); text=$0;
  for (q=0; q<60; q++) {
    s = 1000 + q*9000; printf "{\"context\": \"%s\", \"choices\": [", substr(text, s, L);
    g = q % 4;
    for (c=0; c<4; c++) { off = (c==g) ? s+L : s + 50000 + c*777 + q*31; ch = substr(text, off, 24); gsub(/^ +| +$/, "", ch); if (ch=="") ch="x"; printf "%s\"%s\"", (c? ", " : ""), ch }
    printf "], \"gold\": %d}\n", g;
  } }' "$1"
