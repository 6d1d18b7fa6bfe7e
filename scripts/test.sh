#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs the whole suite.
# Extra arguments go to ctest (e.g. -L unit, -R Crash).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh test
bash scripts/build.sh
ctest --test-dir build --output-on-failure -j "$(nproc)" "$@"
