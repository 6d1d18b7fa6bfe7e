#!/usr/bin/env bash
# Runs the log benchmarks as bench/RESULTS.md reports them. Each benchmark runs in its own
# process, so that one store's background flushes and compactions never overlap another's
# measurement; the raw RocksDB baseline and wmeta alternate; ROUNDS rounds (default 3).
# Prints every round and the median of each benchmark's items/s.
#
#   bash bench/run.sh [path/to/log_bench]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/bench/log_bench}
rounds=${ROUNDS:-3}
benchmarks=(BM_RawRocksDbAppendSync BM_LogAppendSync BM_RawRocksDbIterate BM_LogReplay
            BM_LogOffsetAtTime)
results=$(mktemp)
trap 'rm -f "$results"' EXIT

for round in $(seq "$rounds"); do
  for b in "${benchmarks[@]}"; do
    # CSV: the header names the columns; counters (bytes_per_event, ...) come last.
    "$bin" --benchmark_filter="^$b" --benchmark_format=csv 2>/dev/null |
      awk -F, -v round="$round" '
        NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
        {
          extra = ""
          for (name in col) if (name ~ /^"?(bytes_per_event|index_catchup_ms|log_records)"?$/)
            extra = extra " " name "=" $col[name]
          gsub(/"/, "", $1)
          printf "round %s %-45s items/s %12.0f%s\n", round, $1, $col["items_per_second"], extra
        }' | tee -a "$results"
  done
done

echo
echo "median items/s over $rounds rounds:"
for b in "${benchmarks[@]}"; do
  grep " $b" "$results" | awk '{print $5}' | sort -n |
    awk -v name="$b" '{v[NR] = $1} END { printf "  %-26s %12.0f\n", name, v[int((NR + 1) / 2)] }'
done
