"""The factory's extension points: extra routers (HTTP and WebSocket) behind the token, public routers, state."""

from __future__ import annotations

from typing import Annotated

import pytest
import redis as redis_lib
from fastapi import APIRouter, Depends, FastAPI, WebSocket
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocketDisconnect

from deployments.api import Permission, Tags, create_app
from deployments.api.deps import CurrentUser, require
from storage.models import UserRole
from tests.deployments.conftest import bearer, create_random_user, login, make_config

API = "/api/v1"


def _store(conn: HTTPConnection) -> str:
    return conn.app.state.object_store


@pytest.fixture
def extended(pg_engine: Engine, redis_client: redis_lib.Redis, key_prefix: str) -> FastAPI:
    cameras = APIRouter(prefix="/cameras", tags=[Tags.CAMERAS])

    @cameras.post("/{camera_id}/start", dependencies=[Depends(require(Permission.CAMERA_CONTROL))])
    def start_camera(camera_id: str, store: Annotated[str, Depends(_store)]) -> dict:
        """Start a camera."""
        return {"camera_id": camera_id, "store": store}

    @cameras.websocket("/{camera_id}/live")
    async def live(websocket: WebSocket, camera_id: str, user: CurrentUser) -> None:
        await websocket.accept()
        await websocket.send_json({"camera_id": camera_id, "user": user.username})
        await websocket.close()

    public = APIRouter(prefix="/public", tags=[Tags.MEDIA])

    @public.get("/ping")
    def ping() -> dict:
        """Ping."""
        return {"pong": True}

    return create_app(
        engine=pg_engine, redis=redis_client, config=make_config(key_prefix, rate_limit_per_ip_per_min=1000),
        extra_routers=[cameras], public_routers=[public], state={"object_store": "s3://bucket"},
    )  # fmt: skip


def test_extra_router_is_protected_and_audited(extended: FastAPI, pg_engine: Engine) -> None:
    operator = create_random_user(pg_engine, UserRole.OPERATOR)
    viewer = create_random_user(pg_engine, UserRole.VIEWER)
    with TestClient(extended) as client:
        assert client.post(f"{API}/cameras/c1/start").status_code == 401
        assert client.post(f"{API}/cameras/c1/start", headers=bearer(login(client, viewer.username))).status_code == 403
        ok = client.post(f"{API}/cameras/c1/start", headers=bearer(login(client, operator.username)))
        assert ok.json() == {"camera_id": "c1", "store": "s3://bucket"}
        assert client.get(f"{API}/public/ping").json() == {"pong": True}
        audit = client.get(f"{API}/audit", headers=bearer(login(client, create_random_user(pg_engine, UserRole.ADMIN).username)),
                           params={"resource_id": "c1", "action": "camera.start"}).json()  # fmt: skip
        assert [r["status_code"] for r in audit["data"]] == [200, 403, 401]
        assert "cameras-start_camera" in client.get("/openapi.json").text


def test_websocket_takes_the_token_from_the_query(extended: FastAPI, pg_engine: Engine) -> None:
    user = create_random_user(pg_engine, UserRole.VIEWER)
    with TestClient(extended) as client:
        token = login(client, user.username)["access_token"]
        with client.websocket_connect(f"{API}/cameras/c9/live?access_token={token}") as ws:
            assert ws.receive_json() == {"camera_id": "c9", "user": user.username}
        with pytest.raises(WebSocketDisconnect) as refused:
            with client.websocket_connect(f"{API}/cameras/c9/live") as ws:
                ws.receive_json()
        assert refused.value.code == 1008
