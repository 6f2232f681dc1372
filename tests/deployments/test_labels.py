"""Training labels from operators' work, end to end through the API on PostgreSQL.

Dismissing and escalating alerts and confirming / rejecting events each store a label (class,
source, who); `GET /training/labels` lists them with counts, scoped to the user's camera groups;
the labels' pose windows come from the bulk track's stored keypoints or the live alert's windows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import numpy as np
import pytest
import redis as redis_lib
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from deployments.api import create_app
from deployments.api.routes import alerts, events, training
from domain.events import Event as DomainEvent
from domain.events import EventType
from storage import crud
from storage.labels import list_labels, pose_windows
from storage.models import CameraCreate, Event, SiteCreate, UserRole
from tests.deployments.conftest import bearer, create_random_user, login, make_config
from tests.domain.skeletons import Pose, box, keypoints
from tests.factories import make_trajectory

API = "/api/v1"
RUN = uuid.uuid4().hex[:6]
S, O, V = UserRole.SUPERVISOR, UserRole.OPERATOR, UserRole.VIEWER


@pytest.fixture(scope="module")
def app(pg_engine: Engine, redis_client: redis_lib.Redis, module_prefix: str) -> FastAPI:
    return create_app(engine=pg_engine, redis=redis_client, config=make_config(module_prefix),
                      extra_routers=[alerts.router, events.router, training.router], state={})  # fmt: skip


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def walking_person(track_id: int, n: int, *, fps: float = 5.0):
    """A trajectory of `n` frames of a stick figure walking right, with COCO-17 keypoints."""
    kps = [keypoints(Pose(x=100.0 + 4 * i, torso_deg=5 * np.sin(i / 3))) for i in range(n)]
    xyxy = [box(k).tolist() for k in kps]
    return make_trajectory(track_id, list(range(n)), xyxy, fps=fps, keypoints=[k.tolist() for k in kps])


def pose_evidence(t0: float, t1: float, n: int = 4) -> dict:
    """A live alert's attached pose windows (window 10, stride 5), `n` of them between t0 and t1."""
    edges = np.linspace(t0, t1, n + 1)
    return {"window": 10, "stride": 5, "bounds_s": [[float(a), float(b)] for a, b in zip(edges, edges[1:])],
            "features": [[0.1 * k] * 20 + [None] for k in range(n)]}  # fmt: skip


@pytest.fixture(scope="module")
def world(pg_engine: Engine, vtest_path) -> dict:
    """Two groups' cameras; in group A a bulk job (a tracked person with keypoints) and live alerts and events."""
    with Session(pg_engine, expire_on_commit=False) as s:
        site = crud.create_site(s, SiteCreate(name=f"lab-{RUN}"))
        cam_a = crud.create_camera(s, CameraCreate(site_id=site.id, key="a", camera_group=f"ga-{RUN}"))
        cam_b = crud.create_camera(s, CameraCreate(site_id=site.id, key="b", camera_group=f"gb-{RUN}"))
        job = crud.create_job(s, params={}, inputs=[str(vtest_path)])
        crud.set_job_owner(s, job.id, camera_group=f"ga-{RUN}", created_by=None)
        video = crud.list_videos(s, job.id)[0]
        crud.save_video_results(s, video_id=video.id, trajectories=[walking_person(7, 60)], events=[], clips=[],
                                frames_analysed=60, people_count=1)  # fmt: skip
        visit = {"visit": {"t_start_s": 0.0, "t_end_s": 6.0},  # the first half of the person's 12 s track
                 "behaviours": [{"class": "pickup", "confidence": 0.9, "t_start_s": 1.0, "t_end_s": 2.0},
                                {"class": "concealment", "confidence": 0.7, "t_start_s": 5.0, "t_end_s": 7.0}]}  # fmt: skip
        bulk = crud.create_alert(s, score=0.7, severity="high", camera_id=cam_a.id, job_id=job.id, video_id=video.id,
                                 track_id=7, details=visit)  # fmt: skip
        live_fp = crud.create_alert(s, score=0.6, severity="medium", camera_id=cam_a.id, track_id=3,
                                    details={"visit": {"t_start_s": 10.0, "t_end_s": 20.0},
                                             "pose_windows": pose_evidence(10.0, 20.0)})  # fmt: skip
        other = crud.create_alert(s, score=0.6, severity="medium", camera_id=cam_b.id, track_id=1,
                                  details={"visit": {"t_start_s": 0.0, "t_end_s": 5.0}})  # fmt: skip
        rule_alert = crud.create_alert(s, score=0.9, severity="high", camera_id=cam_a.id, origin="rule", rule="fall")
        evs = {}
        for name, etype, cam, t in (("bypass", EventType.BYPASS, cam_a, 3.0), ("conceal", EventType.CONCEALMENT, cam_a, 6.0),
                                    ("loiter", EventType.DWELL, cam_a, 1.0), ("b_bypass", EventType.BYPASS, cam_b, 1.0)):
            e = DomainEvent(etype, "r", cam.id, 7, None, t, t + 2.0, int(t * 5), int(t * 5) + 10, 0.8)
            crud.upsert_events(s, [(f"ev-{name}-{RUN}", e)], job_id=job.id if cam is cam_a else None,
                               video_id=video.id if cam is cam_a else None)  # fmt: skip
            evs[name] = f"ev-{name}-{RUN}"
    return {"bulk": bulk.id, "live_fp": live_fp.id, "other": other.id, "rule": rule_alert.id, "events": evs,
            "cam_a": cam_a.id, "cam_b": cam_b.id, "video": video.id}


@pytest.fixture(scope="module")
def headers(client: TestClient, pg_engine: Engine) -> dict:
    users = {"op": create_random_user(pg_engine, O, camera_groups=[f"ga-{RUN}"], all_cameras=False),
             "sup_b": create_random_user(pg_engine, S, camera_groups=[f"gb-{RUN}"], all_cameras=False),
             "viewer": create_random_user(pg_engine, V, camera_groups=[f"ga-{RUN}"], all_cameras=False)}  # fmt: skip
    return {k: bearer(login(client, u.username)) | {"x-user": u.username} for k, u in users.items()}


def _h(headers: dict, who: str) -> dict:
    return {k: v for k, v in headers[who].items() if k != "x-user"}


def test_decisions_become_labels_listed_with_counts_and_scoped(client: TestClient, world: dict, headers: dict,
                                                              pg_engine: Engine) -> None:  # fmt: skip
    op = _h(headers, "op")
    assert client.post(f"{API}/alerts/{world['live_fp']}/dismiss", json={"reason": "staff restocking"},
                       headers=op).status_code == 200  # fmt: skip
    assert client.post(f"{API}/alerts/{world['bulk']}/escalate", json={"reason": "hid a bottle"},
                       headers=op).status_code == 200  # fmt: skip
    assert client.post(f"{API}/alerts/{world['rule']}/escalate", json={"reason": "fell"}, headers=op).status_code == 200
    ev = world["events"]
    r = client.post(f"{API}/events/{ev['bypass']}/review", json={"verdict": "confirm"}, headers=op)
    assert r.status_code == 200, r.text
    assert (r.json()["label"], r.json()["source"], r.json()["given_by"]) == ("bypass", "event_confirmed", headers["op"]["x-user"])
    r = client.post(f"{API}/events/{ev['conceal']}/review", json={"verdict": "confirm"}, headers=op)
    assert r.status_code == 200
    r = client.post(f"{API}/events/{ev['conceal']}/review", json={"verdict": "reject", "reason": "a phone"}, headers=op)
    assert r.status_code == 200 and r.json()["label"] == "normal"  # the later verdict replaces the earlier one

    listed = client.get(f"{API}/training/labels", headers=_h(headers, "viewer"))
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["count"] == 4  # the fall escalation names no behaviour: no label
    assert body["by_class"] == {"bypass": 1, "concealment": 1, "normal": 2}
    assert body["by_source"] == {"dismissal": 1, "escalation": 1, "event_confirmed": 1, "event_rejected": 1}
    by_alert = {row["alert_id"]: row for row in body["data"] if row["alert_id"]}
    assert by_alert[world["bulk"]]["label"] == "concealment" and by_alert[world["bulk"]]["reason"] == "hid a bottle"
    assert (by_alert[world["live_fp"]]["t_start_s"], by_alert[world["live_fp"]]["t_end_s"]) == (10.0, 20.0)
    only = client.get(f"{API}/training/labels", params={"source": "dismissal"}, headers=_h(headers, "viewer")).json()
    assert only["count"] == 1 and only["by_source"] == {"dismissal": 1}
    assert client.get(f"{API}/training/labels", params={"label": "normal"}, headers=op).json()["count"] == 2

    other_group = client.get(f"{API}/training/labels", headers=_h(headers, "sup_b")).json()
    assert other_group["count"] == 0 and other_group["by_class"] == {}  # group B sees none of group A's labels

    with Session(pg_engine) as s:
        rows = {r.alert_id or r.event_id: r for r in list_labels(s, limit=None)[0]}
        feats, bounds = pose_windows(s, rows[world["bulk"]], window=10, stride=5)  # from the track's keypoints
        # 60 frames at 5 fps: windows k = 0..10 span [k, k + 1.8] s; the visit's span keeps centres <= 6 s
        assert feats.shape == (6, 21) and np.isfinite(feats).any(axis=1).all()
        assert bounds[0].tolist() == [0.0, 1.8] and bounds[-1].tolist() == pytest.approx([5.0, 6.8])
        feats, _ = pose_windows(s, rows[world["live_fp"]], window=10, stride=5)  # attached by the live camera
        assert feats.shape == (4, 21) and np.isnan(feats[:, 20]).all()
        assert len(pose_windows(s, rows[world["live_fp"]], window=30, stride=15)[0]) == 0  # other window: none


@pytest.mark.parametrize(
    ("who", "method", "path", "body", "code"),
    [
        ("viewer", "get", "/training/labels?source=bogus", None, 422),  # unknown source
        ("viewer", "get", "/training/labels?label=theft", None, 422),  # unknown class
        ("viewer", "get", "/training/labels?limit=0", None, 422),  # bad page
        ("op", "post", "/events/{bypass}/review", {"verdict": "maybe"}, 422),  # unknown verdict
        ("op", "post", "/events/{bypass}/review", {}, 422),  # empty body
        ("op", "post", "/events/{loiter}/review", {"verdict": "confirm"}, 422),  # not a behaviour class
        ("op", "post", "/events/nope/review", {"verdict": "confirm"}, 404),  # unknown event
        ("op", "post", "/events/{b_bypass}/review", {"verdict": "confirm"}, 404),  # another group's event
        ("viewer", "post", "/events/{bypass}/review", {"verdict": "confirm"}, 403),  # viewers cannot label
    ],
)  # fmt: skip
def test_bad_label_requests_are_refused(client: TestClient, world: dict, headers: dict, who, method, path, body,
                                        code) -> None:  # fmt: skip
    url = API + path.format(**world["events"])
    r = client.get(url, headers=_h(headers, who)) if method == "get" else client.post(url, json=body, headers=_h(headers, who))
    assert r.status_code == code, r.text
    if path.startswith("/events/{loiter}"):
        assert "is not a behaviour class" in r.json()["detail"]


def test_ml_engineers_add_and_correct_labels(client: TestClient, world: dict, pg_engine: Engine, headers: dict) -> None:
    sup = create_random_user(pg_engine, S, camera_groups=[f"ga-{RUN}"], all_cameras=False)
    sh = bearer(login(client, sup.username))
    body = {"video_id": world["video"], "track_id": 7, "t_start_s": 6.0, "t_end_s": 12.0, "label": "pickup"}
    r = client.post(f"{API}/training/labels", json=body, headers=sh)
    assert r.status_code == 201, r.text
    added = r.json()
    assert (added["source"], added["label"], added["given_by"], added["job_id"] is not None) == ("manual", "pickup", sup.username, True)
    with Session(pg_engine) as s:
        row = next(r for r in list_labels(s, limit=None)[0] if r.id == added["id"])
        assert len(pose_windows(s, row, window=10, stride=5)[0]) == 5  # windows k = 6..10 have centres in [6, 12]
    r = client.patch(f"{API}/training/labels/{added['id']}", json={"label": "normal", "reason": "just browsing"}, headers=sh)
    assert r.status_code == 200 and (r.json()["label"], r.json()["reason"], r.json()["source"]) == ("normal", "just browsing", "manual")
    refused = [
        client.post(f"{API}/training/labels", json=body, headers=_h(headers, "op")).status_code,  # operators: no
        client.post(f"{API}/training/labels", json=body | {"label": "theft"}, headers=sh).status_code,  # unknown class
        client.post(f"{API}/training/labels", json=body | {"t_end_s": 1.0}, headers=sh).status_code,  # end before start
        client.post(f"{API}/training/labels", json=body | {"track_id": 99}, headers=sh).status_code,  # no such track
        client.post(f"{API}/training/labels", json=body, headers=_h(headers, "sup_b")).status_code,  # another group's video
        client.patch(f"{API}/training/labels/{added['id']}", json={"label": "normal"}, headers=_h(headers, "sup_b")).status_code,
        client.patch(f"{API}/training/labels/nope", json={"label": "normal"}, headers=sh).status_code,
        client.patch(f"{API}/training/labels/{added['id']}", json={}, headers=sh).status_code,  # empty body
    ]
    assert refused == [403, 422, 422, 404, 404, 404, 404, 422]
