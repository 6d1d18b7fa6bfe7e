#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs wmetad in the foreground on the
# default data dir ($WMETA_DATA_DIR, else /var/lib/wmeta for root, else
# ~/.local/state/wmeta) with the process collector (and docker/podman when their sockets
# are at the default paths), its socket in the data dir and HTTP on
# 127.0.0.1:7170. Ctrl-C (or SIGTERM) stops it cleanly. Extra arguments go to wmetad.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
cat >&2 <<'HINT'
wmetad starting. From another terminal:
  build/tools/wmeta list --kind process        # the merged view (read from the data dir)
  build/tools/wmeta list --kind container      # when Docker or podman runs
  build/tools/wmeta watch                      # follow changes live; Ctrl-C ends it
  curl -s localhost:7170/healthz; curl -s localhost:7170/metrics
  build/tools/wmeta push tools/samples/node_events.ndjson   # writes go through wmetad
HINT
# Unless told which collectors to run, the container engines whose sockets are there are
# followed too.
if [[ " $* " != *" --collectors"* && " $* " != *" --config"* ]]; then
  collectors=process
  [[ -S /var/run/docker.sock ]] && collectors+=,docker
  [[ -S /run/podman/podman.sock ]] && collectors+=,podman
  set -- --collectors "$collectors" "$@"
fi
exec build/tools/wmetad "$@"
