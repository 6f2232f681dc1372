#!/usr/bin/env bash
# Sets everything up, makes sure PostgreSQL is running, and runs the whole test suite
# (unit tests, storage against PostgreSQL / SQLite / a real S3 server, end-to-end jobs on a local Ray
# cluster with the real model on a cut of vtest.avi, the web UI's Vitest suite and its end-to-end run
# in chromium). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/services.sh
. .venv/bin/activate
export RAY_AUTH_MODE=disabled
# The web UI's component tests (Vitest); its end-to-end run in chromium is tests/e2e (pytest, slow).
(cd webui && npm test --silent -- --run)
python -m pytest "$@"
