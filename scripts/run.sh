#!/usr/bin/env bash
# The main job, until wmetad exists: build, then push a node's worth of sample events to
# the default data dir (or $WMETA_DATA_DIR) and show the log, the merged view, one
# container's history, a verify and the store's stats. Running it again appends only what
# changed (nothing, the second time).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
wmeta=build/tools/wmeta
"$wmeta" push tools/samples/node_events.ndjson
"$wmeta" log --since 1h
"$wmeta" list --sources
"$wmeta" history container/3f2a9c1e
"$wmeta" verify
"$wmeta" stats
