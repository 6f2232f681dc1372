#!/usr/bin/env bash
# Sets everything up, then runs the main job on the embedded defaults (local Ray, SQLite and a
# local object-store folder under ./data) over the real sample footage with the example site file.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export RAY_AUTH_MODE=disabled OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(nproc)}"
VTEST="${VTEST_AVI:-/usr/share/doc/opencv-doc/examples/data/vtest.avi}"
witness analyze "$VTEST" --site examples/site.yaml "$@"
