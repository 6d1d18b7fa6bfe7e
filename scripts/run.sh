#!/usr/bin/env bash
# The main job, until wmetad exists: build, then append a node's worth of sample events
# to the default data dir (or $WMETA_DATA_DIR) and show the log and the store's stats.
# Each run appends the sample again: the log keeps every event.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
wmeta=build/tools/wmeta
"$wmeta" push tools/samples/node_events.ndjson
"$wmeta" log --since 1h
"$wmeta" verify
"$wmeta" stats
