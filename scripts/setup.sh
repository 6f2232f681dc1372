#!/usr/bin/env bash
# Installs what Digital Witness needs on a Debian machine with Python 3.11: the sample footage
# (opencv-doc), a virtual environment in .venv with the project and its test tools, and the
# headless OpenCV build. Safe to run again: it skips what is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "==> apt-get install ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# Sample footage (vtest.avi); Redis (embedded default of the live platform); GStreamer's RTSP
# server (the tests' live RTSP camera, run with the system python3); venv support for a system Python.
apt_install opencv-doc redis-server gir1.2-gst-rtsp-server-1.0 python3-gst-1.0 gstreamer1.0-plugins-good \
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
"$PY" -c "import venv, ensurepip" 2>/dev/null || apt_install python3-venv
# The web UI: Node.js and npm to build it, Debian's chromium for its end-to-end tests (playwright-core
# drives it; Playwright's own browser download is not used).
command -v npm >/dev/null || apt_install nodejs npm
apt_install chromium
# Reports: pdftoppm (the tests render exported PDFs to PNG to check them).
apt_install poppler-utils

# webui/: `npm ci` when the lockfile changed, `npm run build` when a source changed (own stamps, so
# a UI change never reinstalls the Python environment). The ingress serves webui/dist at /.
ui_hash() { find webui/src webui/public webui/index.html webui/vite.config.ts webui/tsconfig.json webui/postcss.config.cjs \
  webui/package-lock.json -type f 2>/dev/null | LC_ALL=C sort | xargs sha1sum | sha1sum | cut -c1-12; }
deps_stamp="webui/node_modules/.installed-$(sha1sum webui/package-lock.json | cut -c1-12)"
if [ ! -f "$deps_stamp" ]; then
  echo "==> installing the web UI's packages (npm ci)"
  # A registry mirror without every platform's optional packages (e.g. @rollup/rollup-darwin-*)
  # makes `npm ci` call the lockfile out of sync; `npm install --no-save` still follows the lockfile.
  (cd webui && { npm ci --no-audit --no-fund --loglevel=error 2>/dev/null \
    || npm install --no-save --no-audit --no-fund --loglevel=error; })
  touch "$deps_stamp"
fi
build_stamp="webui/dist/.built-$(ui_hash)"
if [ ! -f "$build_stamp" ]; then
  echo "==> building the web UI (npm run build)"
  (cd webui && npm run build --silent)
  touch "$build_stamp"
fi

stamp=".venv/.installed-$(sha1sum pyproject.toml scripts/setup.sh | sha1sum | cut -c1-12)"
if [ -f "$stamp" ]; then
  exit 0
fi
echo "==> creating .venv and installing the project (first run takes a few minutes)"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
python -m pip install -q --upgrade pip wheel
python -m pip install -q torch==2.14.1 torchvision==0.29.1
python -m pip install -q -e ".[test]"
# Ultralytics pulls opencv-python and mediapipe opencv-contrib-python (GUI builds): the headless
# build must be the cv2 that stays.
cv_version=$(python -c "import importlib.metadata as m; print(m.version('opencv-python-headless'))")
python -m pip uninstall -q -y opencv-python opencv-contrib-python >/dev/null 2>&1 || true
python -m pip install -q --force-reinstall --no-deps "opencv-python-headless==${cv_version}"
mkdir -p data/ultralytics  # the project-owned Ultralytics config folder (Settings.yolo_config_dir), never $HOME
YOLO_CONFIG_DIR="$PWD/data/ultralytics" YOLO_OFFLINE=1 YOLO_AUTOINSTALL=0 \
  python -c "import cv2, torch, ultralytics, ray; print('cv2', cv2.__version__, '| torch', torch.__version__, '| ultralytics', ultralytics.__version__, '| ray', ray.__version__)"
rm -f .venv/.installed-*
touch "$stamp"
