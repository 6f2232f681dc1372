"""The ingress serves the built web UI at `/` (SPA fallback) without shadowing the API."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from deployments.api import create_app
from deployments.live import finish_live_app, live_routers, mount_webui
from storage.models import UserRole
from tests.deployments.conftest import bearer, create_random_user, login, make_config

INDEX = "<!doctype html><html><body><div id=root></div><script src=/assets/app-1.js></script></body></html>"


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    """A stand-in for `npm run build`'s output: index.html and one bundle."""
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text(INDEX)
    (tmp_path / "assets" / "app-1.js").write_text("console.log('ui')")
    (tmp_path / "favicon.svg").write_text("<svg/>")
    return tmp_path


@pytest.fixture
def ui_client(pg_engine, redis_client, key_prefix, dist):
    """The live app as `make_fastapi` finishes it, with `webui_dir` pointing at `dist`."""
    app = create_app(engine=pg_engine, redis=redis_client, config=make_config(key_prefix, webui_dir=str(dist)),
                     extra_routers=live_routers())
    with TestClient(finish_live_app(app, redis_client)) as client:
        yield client


def test_root_serves_the_index(ui_client):
    r = ui_client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.text == INDEX
    assert r.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("path", ["/alerts/123", "/live", "/cameras/shop.door", "/jobs/abc?tab=results"])
def test_client_side_routes_fall_back_to_the_index(ui_client, path):
    r = ui_client.get(path)
    assert r.status_code == 200 and r.text == INDEX


def test_built_files_are_served_with_long_caching(ui_client):
    r = ui_client.get("/assets/app-1.js")
    assert r.status_code == 200 and r.text == "console.log('ui')"
    assert "immutable" in r.headers["cache-control"]
    assert ui_client.get("/favicon.svg").text == "<svg/>"


def test_a_missing_bundle_is_404_not_the_page(ui_client):
    assert ui_client.get("/assets/gone-2.js").status_code == 404


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/alerts/123", "/ws/nope", "/metrics/x", "/docs/x", "/health/x"])
def test_api_paths_keep_their_json_answers(ui_client, path):
    r = ui_client.get(path)
    assert r.status_code in (401, 404), r.text
    assert r.headers["content-type"] == "application/json"
    assert "detail" in r.json()


def test_api_routes_still_answer_json(ui_client):
    assert ui_client.get("/health").json()["status"] in ("ok", "degraded")
    assert ui_client.get("/openapi.json").json()["info"]["title"] == "Digital Witness API"
    r = ui_client.post("/api/v1/auth/login", json={"username": "nobody", "password": "wrong-password"})
    assert r.status_code == 401 and r.json() == {"detail": "incorrect username or password"}


def test_a_handlers_own_404_is_not_replaced(ui_client, pg_engine):
    headers = bearer(login(ui_client, create_random_user(pg_engine, UserRole.ADMIN).username))
    r = ui_client.get("/api/v1/alerts/does-not-exist", headers=headers)
    assert r.status_code == 404 and r.json() == {"detail": "alert not found"}


def test_other_methods_on_unknown_paths_stay_404(ui_client):
    assert ui_client.post("/somewhere").status_code == 404


def test_a_path_outside_the_dist_is_never_served(ui_client, dist):
    (dist.parent / "secret.txt").write_text("no")
    r = ui_client.get("/..%2Fsecret.txt")
    assert r.status_code == 200 and r.text == INDEX


def test_a_missing_dist_means_no_ui(pg_engine, redis_client, key_prefix, tmp_path, caplog):
    app = create_app(engine=pg_engine, redis=redis_client, config=make_config(key_prefix))
    with caplog.at_level("INFO", logger="deployments.live"):
        assert mount_webui(app, tmp_path / "nothing-here") is False
    assert "no web UI at" in caplog.text
    with TestClient(app) as client:
        r = client.get("/")
        assert r.status_code == 404 and r.json() == {"detail": "Not Found"}


def test_a_relative_dir_is_resolved_against_the_repository(pg_engine, redis_client, key_prefix):
    app = create_app(engine=pg_engine, redis=redis_client, config=make_config(key_prefix))
    repo = Path(__file__).resolve().parents[2]
    expected = (repo / "webui" / "dist" / "index.html").is_file()
    assert mount_webui(app, "webui/dist") is expected
