#!/usr/bin/env bash
# Sets everything up, runs the main bulk job on the embedded defaults (local Ray, SQLite and a
# local object-store folder under ./data) over the real sample footage with the intent demo's site
# file and POS file (pickups cross-checked against what was billed, scored, alerts raised), then starts the live platform with the same footage playing as two cameras and prints how to log
# in. Stop the platform with: .venv/bin/witness down
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export RAY_AUTH_MODE=disabled OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(nproc)}"
VTEST="${VTEST_AVI:-/usr/share/doc/opencv-doc/examples/data/vtest.avi}"
witness analyze "$VTEST" --site examples/intent-site.yaml --pos examples/pos-vtest.json "$@"
witness alerts
# Live: 960 px inference keeps two cameras near their 5 fps on a small CPU-only machine.
MODEL__IMGSZ="${MODEL__IMGSZ:-960}" witness up --site examples/live-site.yaml
