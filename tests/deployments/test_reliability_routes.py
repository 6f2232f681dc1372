"""The API under failure: names too long for the event columns refused, dead-lettered events listed,
rate limits and token revocation failing open while Redis is unreachable (logged and counted)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import pytest
import redis as redis_lib
from fastapi import FastAPI
from fastapi.testclient import TestClient
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cluster.settings import TrackerSettings
from deployments.api import create_app
from deployments.api.control import LocalCameraControl
from deployments.api.routes import cameras, dead_letters
from storage import crud
from storage.models import CameraCreate, SiteCreate, UserRole
from storage.reliability import add_dead_events
from tests.deployments.conftest import bearer, create_random_user, login, make_config

SQUARE = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]


@pytest.fixture(scope="module")
def app(pg_engine: Engine, redis_client: redis_lib.Redis, module_prefix: str,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:  # fmt: skip
    control = LocalCameraControl(pg_engine, lambda frames: [], tracker_params=TrackerSettings(),
                                 clips_dir=tmp_path_factory.mktemp("clips"))  # fmt: skip
    yield create_app(engine=pg_engine, redis=redis_client, config=make_config(module_prefix),
                     extra_routers=[cameras.router, dead_letters.router], state={"control": control})  # fmt: skip
    control.close()


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def new_camera(engine: Engine) -> str:
    with Session(engine, expire_on_commit=False) as session:
        site = crud.create_site(session, SiteCreate(name=f"s-{uuid.uuid4().hex[:8]}")).id
        data = CameraCreate.model_validate({"site_id": site, "key": f"c{uuid.uuid4().hex[:6]}",
                                            "config": {"zones": {"shelf": {"polygon": SQUARE}}}})  # fmt: skip
        return crud.create_camera(session, data).id


def test_zone_and_rule_names_longer_than_the_event_columns_are_refused(client: TestClient, pg_engine: Engine,
                                                                       admin_headers: dict[str, str]) -> None:  # fmt: skip
    camera_id = new_camera(pg_engine)
    long = "z" * 129
    r = client.put(f"/api/v1/cameras/{camera_id}/zones/{long}", json={"polygon": SQUARE}, headers=admin_headers)
    assert r.status_code == 422, r.text
    assert "at most 128 characters" in r.text
    r = client.put(f"/api/v1/cameras/{camera_id}/rules/{'r' * 200}", json={"type": "zone_enter", "zone": "shelf"},
                   headers=admin_headers)  # fmt: skip
    assert r.status_code == 422 and "at most 128 characters" in r.text
    ok = client.put(f"/api/v1/cameras/{camera_id}/zones/{'z' * 128}", json={"polygon": SQUARE}, headers=admin_headers)
    assert ok.status_code == 200, ok.text  # 128 fits the column


def test_dead_lettered_events_are_listed_for_supervisors(client: TestClient, pg_engine: Engine,
                                                        auth_headers: dict[UserRole, dict[str, str]]) -> None:  # fmt: skip
    camera_id = new_camera(pg_engine)
    event_id = str(uuid.uuid4())
    with Session(pg_engine) as session:
        add_dead_events(session, [{"event_id": event_id, "camera_id": camera_id, "payload": {"event": {"zone": "x" * 300}},
                                   "error": "DataError: value too long for type character varying(128)"}])  # fmt: skip
    r = client.get("/api/v1/dead-letters/events", headers=auth_headers[UserRole.SUPERVISOR])
    assert r.status_code == 200, r.text
    mine = [d for d in r.json()["data"] if d["event_id"] == event_id]
    assert len(mine) == 1 and mine[0]["camera_id"] == camera_id and "too long" in mine[0]["error"]
    assert client.get("/api/v1/dead-letters/events", headers=auth_headers[UserRole.VIEWER]).status_code == 403


def test_redis_down_rate_limits_and_revocation_fail_open(pg_engine: Engine, module_prefix: str,
                                                         caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket is closed
    dead = redis_lib.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    app = create_app(engine=pg_engine, redis=dead, config=make_config(module_prefix, rate_limit_per_user_per_min=1,
                                                                        rate_limit_per_ip_per_min=1))  # fmt: skip
    user = create_random_user(pg_engine, UserRole.VIEWER)
    with TestClient(app) as client, caplog.at_level("WARNING"):
        headers = bearer(login(client, user.username))
        answers = [client.get("/api/v1/auth/me", headers=headers).status_code for _ in range(3)]
        metrics = client.get("/metrics", headers=headers).text
    assert answers == [200, 200, 200]  # limits of 1 a minute are not enforced: Redis cannot count
    assert "Redis unavailable" in caplog.text and "failing open" in caplog.text
    counts = {line.split("{")[1].split("}")[0]: float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
              if line.startswith("witness_redis_fail_open_total{")}  # fmt: skip
    assert counts['check="rate_limit"'] >= 6 and counts['check="token_revocation"'] >= 3, counts
