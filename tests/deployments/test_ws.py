"""WebSockets against real Redis pub/sub: token checks, tracking, events, job progress, slow clients."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import redis as redis_lib
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.websockets import WebSocketDisconnect
from websockets.sync.client import connect

from actors.event_sink import EVENTS_CHANNEL
from deployments.api import create_app
from deployments.api.hub import HEALTH_CHANNEL, Hub, job_channel, tracking_channel
from deployments.api.routes import ws
from storage import crud
from storage.models import UserRole
from tests.deployments.conftest import DEFAULT_REDIS_URL, create_random_user, login, make_config

REDIS_URL = os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS_URL)
RUN = uuid.uuid4().hex[:6]  # channels are server-wide: every camera here is unique to this run
NORTH, SOUTH = f"north-{RUN}", f"south-{RUN}"
GROUPS = {NORTH: "north", SOUTH: "south"}


def build_app(engine: Engine, redis: redis_lib.Redis, prefix: str) -> FastAPI:
    """The API with the WebSocket router under /api/v1 and at the root, heartbeats every 0.5 s."""
    app = create_app(
        engine=engine, redis=redis, config=make_config(prefix), extra_routers=[ws.router],
        state={"hub": Hub(REDIS_URL), "stream_options": ws.StreamOptions(heartbeat_s=0.5), "camera_group_of": GROUPS.get},
    )  # fmt: skip
    app.include_router(ws.router)
    return app


@pytest.fixture(scope="module")
def app(pg_engine: Engine, redis_client: redis_lib.Redis, module_prefix: str) -> FastAPI:
    return build_app(pg_engine, redis_client, module_prefix)


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c
        c.portal.call(app.state.hub.stop)


@pytest.fixture(scope="module")
def tokens(client: TestClient, pg_engine: Engine) -> dict[str, str]:
    """Access tokens: a viewer who sees every camera, and one limited to the `north` group."""
    viewer = create_random_user(pg_engine, UserRole.VIEWER)
    north = create_random_user(pg_engine, UserRole.VIEWER, camera_groups=["north"])
    return {"all": login(client, viewer.username)["access_token"], "north": login(client, north.username)["access_token"]}


def receive_until(ws_session, publish: Callable[[], None], found: Callable[[dict], bool], timeout_s: float = 10) -> list[dict]:
    """Publish and read (heartbeats keep reads short) until a message matches; returns everything read."""
    seen: list[dict] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        publish()  # again each time: the hub's subscription may not be live yet
        seen.append(ws_session.receive_json())
        if found(seen[-1]):
            return seen
    raise AssertionError(f"no matching message within {timeout_s} s; got {seen[-5:]}")


@pytest.mark.parametrize("path", ["/api/v1/ws/tracking/cam1", "/ws/tracking", "/ws/events", "/api/v1/ws/jobs/x"])
@pytest.mark.parametrize("token", [None, "not-a-jwt"])  # missing, invalid
def test_socket_without_valid_token_is_closed_1008(client: TestClient, path: str, token: str | None) -> None:
    url = path if token is None else f"{path}?access_token={token}"
    with pytest.raises(WebSocketDisconnect) as refused:
        with client.websocket_connect(url) as session:
            session.receive_json()
    assert refused.value.code == 1008


@pytest.mark.parametrize("prefix", ["/api/v1", ""])  # both mounts
def test_tracking_update_and_heartbeats(client: TestClient, redis_client: redis_lib.Redis, tokens: dict, prefix: str) -> None:
    update = {"type": "tracking_update", "camera_id": NORTH, "frame_index": 7, "tracks": [{"id": 1}]}
    with client.websocket_connect(f"{prefix}/ws/tracking/{NORTH}?access_token={tokens['all']}") as session:
        seen = receive_until(session, lambda: redis_client.publish(tracking_channel(NORTH), json.dumps(update)),
                             lambda m: m == update)  # fmt: skip
        seen += receive_until(session, lambda: None, lambda m: m["kind"] == "heartbeat" if "kind" in m else False)
    beat = next(m for m in seen if m.get("kind") == "heartbeat")
    assert beat["dropped"] == 0 and abs(beat["t"] - time.time()) < 5


def test_all_cameras_stream_shows_only_visible_cameras(client: TestClient, redis_client: redis_lib.Redis, tokens: dict) -> None:
    def publish() -> None:
        for cam in (SOUTH, NORTH):  # the hidden camera first
            redis_client.publish(tracking_channel(cam), json.dumps({"type": "tracking_update", "camera_id": cam}))

    with client.websocket_connect(f"/ws/tracking?access_token={tokens['north']}") as session:
        seen = receive_until(session, publish, lambda m: m.get("camera_id") == NORTH)
    assert SOUTH not in {m.get("camera_id") for m in seen}
    with client.websocket_connect(f"/ws/tracking?cameras={SOUTH},{NORTH}&access_token={tokens['all']}") as session:
        assert {m.get("camera_id") for m in receive_until(session, publish, lambda m: m.get("camera_id") == SOUTH)} >= {SOUTH}
    with pytest.raises(WebSocketDisconnect) as refused:  # asking for a hidden camera
        with client.websocket_connect(f"/ws/tracking?cameras={SOUTH}&access_token={tokens['north']}") as session:
            session.receive_json()
    assert (refused.value.code, refused.value.reason) == (1008, f"camera not visible: {SOUTH}")


def test_events_stream_gets_events_and_health(client: TestClient, redis_client: redis_lib.Redis, tokens: dict) -> None:
    event = {"kind": "event", "id": f"ev-{RUN}", "camera_id": NORTH, "type": "dwell", "clip_key": None}
    health = {"kind": "camera_health", "camera_id": NORTH, "state": "reconnecting", "changed": True}
    with client.websocket_connect(f"/api/v1/ws/events?access_token={tokens['north']}") as session:
        receive_until(session, lambda: redis_client.publish(EVENTS_CHANNEL, json.dumps(event)), lambda m: m == event)
        receive_until(session, lambda: redis_client.publish(HEALTH_CHANNEL, json.dumps(health)), lambda m: m == health)


def test_job_stream_sends_state_then_progress_until_done(client: TestClient, pg_engine: Engine,
                                                          redis_client: redis_lib.Redis, tokens: dict) -> None:  # fmt: skip
    with Session(pg_engine) as session:
        job_id = crud.create_job(session, params={}, inputs=["a.mp4"]).id
        done_id = crud.create_job(session, params={}, inputs=["b.mp4"]).id
        crud.finish_job(session, done_id)
    progress = {"kind": "job_progress", "job_id": job_id, "frames_done": 5, "frames_total": 10, "fps": 2.0, "eta_s": 2.5}
    done = {"kind": "job_done", "job_id": job_id, "status": "done", "videos": []}
    with client.websocket_connect(f"/ws/jobs/{job_id}?access_token={tokens['all']}") as session:
        assert session.receive_json() == {"kind": "job_status", "job_id": job_id, "status": "pending", "frames_done": 0,
                                          "frames_total": 0, "progress": 0.0}  # fmt: skip
        receive_until(session, lambda: redis_client.publish(job_channel(job_id), json.dumps(progress)), lambda m: m == progress)
        receive_until(session, lambda: redis_client.publish(job_channel(job_id), json.dumps(done)), lambda m: m == done)
        with pytest.raises(WebSocketDisconnect) as closed:  # the server closes after job_done
            while True:
                session.receive_json()
        assert closed.value.code == 1000
    with client.websocket_connect(f"/ws/jobs/{done_id}?access_token={tokens['all']}") as session:
        assert session.receive_json()["status"] == "failed"  # its only video never ran
        with pytest.raises(WebSocketDisconnect):
            session.receive_json()
    with pytest.raises(WebSocketDisconnect) as refused:
        with client.websocket_connect(f"/ws/jobs/nope?access_token={tokens['all']}") as session:
            session.receive_json()
    assert (refused.value.code, refused.value.reason) == (1008, "job not found")


# ------------------------------------------------------------------- a real server, real sockets
@contextmanager
def running(app: FastAPI) -> Iterator[int]:
    """Serve `app` with uvicorn on a free loopback port in a thread; yields the port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def stalled_client(port: int, path: str) -> Iterator[socket.socket]:
    """A WebSocket client that never reads: a raw socket with a small receive buffer, after the handshake."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)  # set before connecting: no autotuning
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())  # fmt: skip
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)  # a byte at a time: read nothing past the handshake
    assert head.startswith(b"HTTP/1.1 101"), head
    try:
        yield sock
    finally:
        sock.close()


def first_heartbeat_after(sock: socket.socket, after: float, timeout_s: float = 30) -> int:
    """Read the raw stream (server frames are unmasked, so JSON shows verbatim) up to a heartbeat sent after `after`."""
    pattern = re.compile(rb'\{"kind": "heartbeat", "t": ([0-9.]+), "dropped": ([0-9]+)\}')
    sock.settimeout(2)
    data, deadline = b"", time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        data += sock.recv(1 << 20)
        for match in pattern.finditer(data):
            if float(match[1]) > after:
                return int(match[2])
        data = data[-200:]
    raise AssertionError("no heartbeat")


def test_slow_client_does_not_block_a_fast_one(pg_engine: Engine, redis_client: redis_lib.Redis, key_prefix: str,
                                               tokens: dict) -> None:  # fmt: skip
    cam = f"busy-{RUN}"
    app = build_app(pg_engine, redis_client, key_prefix)
    pad = "x" * 65536  # 64 KiB a message: a reader that stops reading fills the socket buffers quickly
    count = 300
    with running(app) as port:
        url = f"ws://127.0.0.1:{port}/ws/tracking/{cam}?access_token={tokens['all']}"
        with stalled_client(port, url.removeprefix(f"ws://127.0.0.1:{port}")) as slow, connect(url, max_size=None) as fast:
            deadline = time.monotonic() + 10
            while True:  # until both subscriptions are live
                redis_client.publish(tracking_channel(cam), json.dumps({"camera_id": cam, "n": -1}))
                if json.loads(fast.recv(timeout=2)).get("n") == -1:
                    break
                assert time.monotonic() < deadline
            fast_seen: list[int] = []

            def read_fast() -> None:
                while not fast_seen or fast_seen[-1] != count - 1:
                    message = json.loads(fast.recv(timeout=30))
                    fast_seen.append(message.get("n", -2))

            reader = threading.Thread(target=read_fast, daemon=True)
            reader.start()
            for n in range(count):  # the slow client reads none of these
                redis_client.publish(tracking_channel(cam), json.dumps({"camera_id": cam, "n": n, "pad": pad}))
            reader.join(timeout=30)
            assert fast_seen and fast_seen[-1] == count - 1, "the fast client did not get the last message"
            dropped = first_heartbeat_after(slow, time.time())  # now read the slow client
    assert dropped > 0  # the slow client lost its oldest messages, and nothing else
