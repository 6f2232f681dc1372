"""The live ingress app (`deployments.app.make_fastapi`) carries the analytics routes, the export runner and
runs the analytics worker for as long as it serves."""

from __future__ import annotations

from fastapi.testclient import TestClient

from cluster.live import app_args
from cluster.settings import Settings
from deployments.app import make_fastapi
from pipelines.exports import RayExportRunner
from storage.db import make_engine, migrate
from tests.deployments.conftest import DEFAULT_REDIS_URL


def test_the_live_app_serves_analytics_and_runs_its_worker(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REDIS_URL", DEFAULT_REDIS_URL)
    monkeypatch.setenv("ANALYTICS__REFRESH_S", "0.05")
    for key in ("DATABASE_URL", "S3_ENDPOINT"):
        monkeypatch.delenv(key, raising=False)
    settings = Settings(_env_file=None)
    migrate(make_engine(settings.sqlalchemy_url))
    app = make_fastapi(app_args(settings))
    paths = set(app.openapi()["paths"])
    assert {"/api/v1/environments", "/api/v1/analytics/heatmap/{site_id}", "/api/v1/export/jobs/{export_id}/download",
            "/api/v1/analytics/reports/generate", "/api/v1/playback/videos/{video_id}", "/api/v1/media/{token}"} <= paths  # fmt: skip
    assert isinstance(app.state.export_runner, RayExportRunner)
    worker = app.state.analytics_worker
    with TestClient(app) as client:
        assert client.get("/health").status_code in (200, 503)
        assert client.get("/api/v1/environments").status_code == 401  # there, behind the token
        assert client.get("/api/v1/media/forged").json() == {"detail": "media not found"}  # public, checks its token
        assert worker._thread is not None and worker._thread.is_alive()  # started with the app
    assert not worker._thread.is_alive()  # and stopped with it
