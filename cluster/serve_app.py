"""The Serve application built from this process's settings, as a module attribute.

`serve build cluster.serve_app:app` generates a serve config from it (`deploy/render.py` does, for the
KubeRay RayService), and a serve config's `import_path: cluster.serve_app:app` deploys it: each cluster
builds the application from its own environment (DATABASE_URL, REDIS_URL, API__JWT_SECRET, DETECTOR__*,
MODEL__*), so no secret is written into the serve config. Importing it reads the settings (and, without
API__JWT_SECRET, creates DATA_DIR/jwt-secret like `witness up`).
"""

from __future__ import annotations

from cluster.live import app_args
from cluster.settings import Settings
from deployments.app import build_app

__all__ = ["app"]

app = build_app(app_args(Settings()))
