"""Camera-group scoping on every route that concerns a camera: two groups × every route.

A supervisor limited to group A (who may do everything but manage users) must get 404 for every
resource of group B: live events, alerts, clips, POS terminals, sessions and transactions of a
group-B camera, and bulk jobs (with their videos, tracks, events, results and alerts) submitted in
group B. Group A's own resources answer as usual, so over-restriction fails too. Real PostgreSQL,
Redis, object store and camera control; no route is faked.
"""

from __future__ import annotations

import io
import json
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.websockets import WebSocketDisconnect

from actors.event_sink import EVENTS_CHANNEL
from actors.notifier import ALERTS_CHANNEL
from cluster.settings import TrackerSettings
from deployments.api import create_app
from deployments.api.control import LocalCameraControl
from deployments.api.hub import Hub, job_channel
from actors.notifier import Notifier
from deployments.api.routes import alerts, cameras, media, notifications, pos, sites, system, ui, ws
from deployments.api.routes.job_submit import router as job_submit_router  # results (submission: test_job_submit)
from domain.pos import PaymentMethod
from domain.privacy import masked_key
from domain.scoring import Severity
from storage import crud
from storage import notifications as notify_repo
from storage import pos as pos_repo
from storage.models import CameraCreate, Clip, Event, Job, SiteCreate, Track, TrackPoint, UserRole, Video
from storage.objectstore import LocalObjectStore
from tests.deployments.conftest import bearer, create_random_user, login, make_config
from tests.deployments.test_ws import REDIS_URL

API = "/api/v1"
RUN = uuid.uuid4().hex[:6]
GA, GB = f"ga-{RUN}", f"gb-{RUN}"
TILL = {"kind": "checkout", "polygon": [[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.5]]}


def _detector(frames):  # never called: no camera is started here
    raise AssertionError("no camera runs in the scoping tests")


@pytest.fixture(scope="module")
def app(pg_engine: Engine, redis_client: redis_lib.Redis, module_prefix: str, tmp_path_factory) -> FastAPI:
    tmp = tmp_path_factory.mktemp("scoping")
    control = LocalCameraControl(pg_engine, _detector, tracker_params=TrackerSettings(), detection_fps=5.0,
                                 clips_dir=tmp / "clips", stop_timeout_s=5.0)  # fmt: skip
    app = create_app(
        engine=pg_engine, redis=redis_client, config=make_config(module_prefix),
        extra_routers=[sites.router, cameras.router, media.router, alerts.router, job_submit_router, ui.router,
                       ui.ws_router, pos.router, ws.router, notifications.router, system.router],
        state={"control": control, "store": LocalObjectStore(tmp / "objects"), "hub": Hub(REDIS_URL),
               "stream_options": ws.StreamOptions(heartbeat_s=0.3), "upload_dir": tmp / "uploads",
               "notifier": Notifier(pg_engine, redis_client, {}),
               "camera_group_of": lambda cid: {f"s-{RUN}.a": GA, f"s-{RUN}.b": GB}.get(cid)},
    )  # fmt: skip
    app.include_router(ws.router)
    app.include_router(ui.ws_router)
    return app


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c
        c.portal.call(app.state.hub.stop)


def _world(engine: Engine, store: LocalObjectStore, video_file: Path, group: str, key: str, site_id: str) -> dict:
    """One group's resources: a camera, a live event with a clip, a live alert, a bulk job (video, track,
    event, alert), a POS terminal with a transaction."""
    with Session(engine, expire_on_commit=False) as s:
        camera = crud.create_camera(s, CameraCreate(site_id=site_id, key=key, camera_group=group,
                                                    config={"zones": {"till": TILL}}))  # fmt: skip
        live = Event(id=f"ev-{key}-{RUN}", camera_id=camera.id, type="zone_enter", rule="r", t_start_s=1.0,
                     t_end_s=2.0, frame_start=1, frame_end=2, confidence=0.9)  # fmt: skip
        s.add(live)
        s.commit()
        clip_key = f"clips/live/{live.id}.mp4"
        for stored_key in (clip_key, masked_key(clip_key)):  # the original and its face-masked copy
            store.put_bytes(stored_key, b"\x00\x00\x00\x18ftypmp42 clip " + key.encode(), "video/mp4")
        s.add(Clip(id=f"clip-{key}-{RUN}", event_id=live.id, key=clip_key, t_start_s=0, t_end_s=2, frame_count=2,
                   fps=1, width=2, height=2))  # fmt: skip
        job = crud.create_job(s, params={}, inputs=[str(video_file)])
        crud.set_job_owner(s, job.id, camera_group=group, created_by=None)
        video = crud.list_videos(s, job.id)[0]
        crud.update_video_probe(s, video.id, camera_id=camera.id)
        track = Track(job_id=job.id, video_id=video.id, track_id=1, first_t_s=0, last_t_s=0.1, first_frame=0,
                      last_frame=1, frame_count=2, mean_confidence=0.9)  # fmt: skip
        s.add(track)
        s.commit()
        for f in (0, 1):
            s.add(TrackPoint(track_pk=track.id, frame_index=f, t_s=f / 10, x1=100, y1=100, x2=200, y2=300, foot_x=150,
                             foot_y=300, confidence=0.9))  # fmt: skip
        job_event = Event(id=f"jev-{key}-{RUN}", job_id=job.id, video_id=video.id, camera_id=camera.id, type="dwell",
                          rule="r", t_start_s=1, t_end_s=3, frame_start=10, frame_end=30, confidence=0.8)  # fmt: skip
        s.add(job_event)
        s.commit()
        live_alert = crud.create_alert(s, score=0.7, severity=Severity.HIGH, camera_id=camera.id, event_ids=[live.id],
                                       clip_keys=[clip_key])
        job_alert = crud.create_alert(s, score=0.6, severity=Severity.MEDIUM, camera_id=camera.id, job_id=job.id,
                                      video_id=video.id, track_id=1)  # fmt: skip
        terminal, _ = pos_repo.put_terminal(s, f"till-{key}-{RUN}", camera_id=camera.id, zone="till")
        pos_repo.start_session(s, terminal.id)
        pos_repo.scan_item(s, terminal.id, "CHOC001", 1)
        tx = pos_repo.complete_session(s, terminal.id, PaymentMethod.CARD)
        dead = notify_repo.record_delivery(s, alert_id=live_alert.id, url="https://hooks.example.com/x", payload={},
                                           attempts=5, status="dead", last_error="timeout")  # fmt: skip
    return {"dead_letter": dead.id, "camera": camera.id, "event": live.id, "job_event": job_event.id, "job": job.id, "video": video.id,
            "alert": live_alert.id, "job_alert": job_alert.id, "terminal": terminal.id, "transaction": tx.id}


@pytest.fixture(scope="module")
def world(app: FastAPI, pg_engine: Engine, vtest_path: Path) -> dict[str, dict]:
    with Session(pg_engine, expire_on_commit=False) as s:
        site = crud.create_site(s, SiteCreate(name=f"s-{RUN}"))
    store = app.state.store
    return {"A": _world(pg_engine, store, vtest_path, GA, "a", site.id),
            "B": _world(pg_engine, store, vtest_path, GB, "b", site.id)}


@pytest.fixture(scope="module")
def headers(client: TestClient, pg_engine: Engine) -> dict[str, dict]:
    """A supervisor limited to group A, one in no group without the flag, and an admin."""
    scoped = create_random_user(pg_engine, UserRole.SUPERVISOR, camera_groups=[GA])
    nobody = create_random_user(pg_engine, UserRole.SUPERVISOR, camera_groups=[], all_cameras=False)
    admin = create_random_user(pg_engine, UserRole.ADMIN, camera_groups=[GB])  # admins see all, whatever groups say
    return {name: bearer(login(client, u.username)) for name, u in (("A", scoped), ("nobody", nobody), ("admin", admin))}


# Every read route that names one resource: (what, method, path template, body).
ONE = [
    ("event", "GET", "/events/{event}", None),
    ("job event", "GET", "/events/{job_event}", None),
    ("event clip", "GET", "/events/{event}/clip", None),
    ("alert", "GET", "/alerts/{alert}", None),
    ("job alert", "GET", "/alerts/{job_alert}", None),
    ("case file", "GET", "/alerts/{alert}/case-file", None),
    ("case file zip", "GET", "/alerts/{alert}/case-file.zip", None),
    ("job", "GET", "/jobs/{job}", None),
    ("job events", "GET", "/jobs/{job}/events", None),
    ("job results", "GET", "/jobs/{job}/results", None),
    ("track crop", "GET", "/tracks/{video}/1/crop.jpg", None),
    ("camera", "GET", "/cameras/{camera}", None),
    ("terminal", "GET", "/pos/terminals/{terminal}", None),
    ("terminal session", "GET", "/pos/terminals/{terminal}/session", None),
    ("transaction", "GET", "/pos/transactions/{transaction}", None),
]
# Every write route that concerns one resource (run against the other group only: 404, nothing changes).
WRITES = [
    ("acknowledge", "POST", "/alerts/{alert}/acknowledge", None),
    ("dismiss", "POST", "/alerts/{alert}/dismiss", {"reason": "x"}),
    ("escalate", "POST", "/alerts/{job_alert}/escalate", {"reason": "x"}),
    ("note", "POST", "/alerts/{alert}/notes", {"text": "x"}),
    ("cancel job", "POST", "/jobs/{job}/cancel", None),
    ("retry dead letter", "POST", "/notifications/dead-letters/{dead_letter}/retry", None),
    ("put terminal", "PUT", "/pos/terminals/{terminal}", {"camera_id": None, "zone": None}),
    ("delete terminal", "DELETE", "/pos/terminals/{terminal}", None),
    ("start session", "POST", "/pos/terminals/{terminal}/session", None),
    ("scan", "POST", "/pos/terminals/{terminal}/session/scan", {"sku": "CHOC001"}),
    ("complete", "POST", "/pos/terminals/{terminal}/session/complete", {"payment_method": "cash"}),
    ("void", "POST", "/pos/terminals/{terminal}/session/void", None),
    ("patch camera", "PATCH", "/cameras/{camera}", {"friendly_name": "x"}),
]


@pytest.mark.parametrize(("what", "method", "path", "body"), ONE, ids=[r[0] for r in ONE])
def test_one_resource_of_another_group_is_404(client, world, headers, what, method, path, body) -> None:
    other = client.request(method, API + path.format(**world["B"]), headers=headers["A"], json=body)
    assert other.status_code == 404, f"{what} of group B: {other.status_code} {other.text[:200]}"
    own = client.request(method, API + path.format(**world["A"]), headers=headers["A"], json=body)
    assert own.status_code != 404 or what == "terminal session" and own.json()["detail"] == "no open session", own.text
    nobody = client.request(method, API + path.format(**world["A"]), headers=headers["nobody"], json=body)
    assert nobody.status_code == 404  # no group and no flag: no camera at all
    admin = client.request(method, API + path.format(**world["B"]), headers=headers["admin"], json=body)
    assert admin.status_code != 404 or what == "terminal session", admin.text


@pytest.mark.parametrize(("what", "method", "path", "body"), WRITES, ids=[r[0] for r in WRITES])
def test_writing_a_resource_of_another_group_is_404_and_changes_nothing(client, world, headers, pg_engine,
                                                                        what, method, path, body) -> None:  # fmt: skip
    with Session(pg_engine) as s:
        before = (crud.get_alert(s, world["B"]["alert"]).status, crud.get_job(s, world["B"]["job"]).status,
                  pos_repo.get_terminal(s, world["B"]["terminal"]) is not None,
                  crud.get_camera(s, world["B"]["camera"]).friendly_name)  # fmt: skip
    response = client.request(method, API + path.format(**world["B"]), headers=headers["A"], json=body)
    assert response.status_code == 404, f"{what}: {response.status_code} {response.text[:200]}"
    with Session(pg_engine) as s:
        after = (crud.get_alert(s, world["B"]["alert"]).status, crud.get_job(s, world["B"]["job"]).status,
                 pos_repo.get_terminal(s, world["B"]["terminal"]) is not None,
                 crud.get_camera(s, world["B"]["camera"]).friendly_name)  # fmt: skip
    assert after == before


def _ids(client: TestClient, path: str, headers: dict, **params) -> set[str]:
    response = client.get(API + path, headers=headers, params=params)
    assert response.status_code == 200, response.text
    return {row["id"] for row in response.json()["data"]}


def test_lists_hold_only_the_users_groups(client, world, headers) -> None:
    a, b = world["A"], world["B"]
    h = headers["A"]
    for path, ids in (("/events", ("event", "job_event")), ("/alerts", ("alert", "job_alert")), ("/jobs", ("job",)),
                      ("/pos/terminals", ("terminal",)), ("/pos/transactions", ("transaction",)),
                      ("/cameras", ("camera",)), ("/notifications/dead-letters", ("dead_letter",))):  # fmt: skip
        seen = _ids(client, path, h, limit=1000)
        assert {a[k] for k in ids} <= seen, path
        assert not {b[k] for k in ids} & seen, path
        assert _ids(client, path, headers["nobody"], limit=1000) == set(), path
        assert {b[k] for k in ids} <= _ids(client, path, headers["admin"], limit=1000), path
    # a filter naming the other group's camera or job finds nothing (rather than leaking)
    assert _ids(client, "/events", h, camera_id=b["camera"]) == set()
    assert _ids(client, "/alerts", h, job_id=b["job"]) == set()
    assert _ids(client, "/pos/transactions", h, camera_id=b["camera"]) == set()
    pending = client.get(f"{API}/alerts/pending", headers=h, params={"limit": 1000}).json()["data"]
    assert a["alert"] in {x["id"] for x in pending} and b["alert"] not in {x["id"] for x in pending}


def test_alert_stats_and_the_dashboard_count_only_the_users_groups(client, world, headers) -> None:
    stats = {name: client.get(f"{API}/alerts/stats", headers=headers[name]).json()["total"] for name in headers}
    assert stats["nobody"] == 0
    assert 2 <= stats["A"] < stats["admin"]  # A's two alerts, not B's
    summary = client.get(f"{API}/ui/summary", headers=headers["A"], params={"recent": 100}).json()
    recent_events = {e["id"] for e in summary["recent_events"]}
    recent_alerts = {x["id"] for x in summary["recent_alerts"]}
    assert world["A"]["event"] in recent_events and world["B"]["event"] not in recent_events
    assert world["A"]["alert"] in recent_alerts and world["B"]["alert"] not in recent_alerts
    assert not {world["B"]["alert"], world["B"]["job_alert"]} & recent_alerts
    nobody = client.get(f"{API}/ui/summary", headers=headers["nobody"]).json()
    assert (nobody["events"], nobody["alerts"], nobody["recent_events"]) == (0, 0, [])


def test_case_file_zip_of_own_group_has_the_clip(client, world, headers) -> None:
    response = client.get(f"{API}/alerts/{world['A']['alert']}/case-file.zip", headers=headers["A"])
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.content)) as z:
        assert any(n.startswith("clips/") for n in z.namelist())


def test_terminals_cannot_be_linked_to_another_groups_camera(client, world, headers) -> None:
    new_id = f"till-new-{RUN}"
    body = {"camera_id": world["B"]["camera"], "zone": "till"}
    assert client.put(f"{API}/pos/terminals/{new_id}", headers=headers["A"], json=body).status_code == 422
    assert client.put(f"{API}/pos/terminals/{new_id}", headers=headers["A"],
                      json={"camera_id": None, "zone": None}).status_code == 422  # unlinked: nobody in A would see it
    ok = client.put(f"{API}/pos/terminals/{new_id}", headers=headers["A"], json={"camera_id": world["A"]["camera"], "zone": "till"})
    assert ok.status_code == 201, ok.text


def test_importing_transactions_for_another_groups_camera_is_refused(client, world, headers, pg_engine) -> None:
    def file(camera: str, tx: str) -> dict:
        body = {"transactions": [{"transaction_id": tx, "terminal_id": "till-x", "t_start": 1.0, "t_end": 2.0,
                                  "payment_method": "card", "camera_id": camera, "zone": "till",
                                  "items": [{"sku": "CHOC001", "quantity": 1}]}]}  # fmt: skip
        return {"file": ("pos.json", json.dumps(body).encode(), "application/json")}

    refused = client.post(f"{API}/pos/transactions/import", headers=headers["A"], files=file(world["B"]["camera"], f"tb-{RUN}"))
    assert refused.status_code == 422 and "not one of your cameras" in refused.json()["detail"]
    with Session(pg_engine) as s:
        assert pos_repo.get_transaction(s, f"tb-{RUN}") is None
    ok = client.post(f"{API}/pos/transactions/import", headers=headers["A"], files=file(world["A"]["camera"], f"ta-{RUN}"))
    assert ok.status_code == 201, ok.text


def test_site_import_cannot_rewrite_another_groups_camera(client, world, headers, pg_engine) -> None:
    text = f"site: {{name: s-{RUN}}}\ncameras:\n  b: {{friendly_name: hijacked}}\n"
    response = client.post(f"{API}/sites/import", headers=headers["A"] | {"Content-Type": "text/plain"}, content=text)
    assert response.status_code == 404
    with Session(pg_engine) as s:
        assert crud.get_camera(s, world["B"]["camera"]).friendly_name != "hijacked"
    # its own camera, and a new one (which lands in the user's group, so they still see it)
    text = f"site: {{name: s-{RUN}}}\ncameras:\n  a: {{friendly_name: mine}}\n  new{RUN}: {{}}\n"
    response = client.post(f"{API}/sites/import", headers=headers["A"] | {"Content-Type": "text/plain"}, content=text)
    assert response.status_code == 200, response.text
    with Session(pg_engine) as s:
        assert crud.get_camera(s, f"s-{RUN}.new{RUN}").camera_group == GA


def test_cameras_cannot_be_moved_or_created_outside_the_users_groups(client, world, headers) -> None:
    moved = client.patch(f"{API}/cameras/{world['A']['camera']}", headers=headers["A"], json={"camera_group": GB})
    assert moved.status_code == 422 and moved.json()["detail"][0]["loc"] == ["body", "camera_group"]
    site_id = client.get(f"{API}/cameras/{world['A']['camera']}", headers=headers["A"]).json()["site_id"]
    created = client.post(f"{API}/cameras", headers=headers["A"], json={"site_id": site_id, "key": f"x{RUN}"})
    assert created.status_code == 422  # in no group: nobody limited to groups would see it


def test_job_websocket_of_another_group_is_refused(client, world, headers) -> None:
    token = headers["A"]["Authorization"].split()[1]
    with pytest.raises(WebSocketDisconnect) as exc:
        with client.websocket_connect(f"/ws/jobs/{world['B']['job']}?access_token={token}") as s:
            s.receive_json()
    assert (exc.value.code, exc.value.reason) == (1008, "job not found")
    with client.websocket_connect(f"/ws/jobs/{world['A']['job']}?access_token={token}") as s:
        assert s.receive_json()["kind"] == "job_status"


def test_stream_hides_other_groups_jobs_and_bulk_alerts(client, world, headers, redis_client) -> None:
    token = headers["A"]["Authorization"].split()[1]
    a, b = world["A"], world["B"]
    with client.websocket_connect(f"/ws/stream?access_token={token}") as s:
        s.send_json({"op": "subscribe", "jobs": [a["job"], b["job"]]})
        seen: list[dict] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(m.get("job_id") == a["job"] for m in seen):
            redis_client.publish(job_channel(b["job"]), json.dumps({"kind": "job_progress", "job_id": b["job"]}))
            redis_client.publish(ALERTS_CHANNEL, json.dumps({"kind": "alert", "camera_id": a["camera"],
                                                             "alert": {"id": "x", "job_id": b["job"]}}))  # fmt: skip
            redis_client.publish(EVENTS_CHANNEL, json.dumps({"kind": "event", "camera_id": b["camera"]}))
            redis_client.publish(job_channel(a["job"]), json.dumps({"kind": "job_progress", "job_id": a["job"]}))
            seen.append(s.receive_json())
    assert any(m.get("job_id") == a["job"] for m in seen), seen[-3:]
    assert not [m for m in seen if m.get("job_id") == b["job"] or m.get("camera_id") == b["camera"]
                or (m.get("alert") or {}).get("job_id") == b["job"]]  # fmt: skip
