"""The alert workflow through the API: queue, filters, stats, transitions (409), notes, history, audit, roles, case file."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from datetime import datetime, timedelta, timezone

import pytest
import redis as redis_lib
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from deployments.api import create_app
from deployments.api.routes import alerts
from storage import crud
from storage.labels import list_labels
from storage.models import Alert, AlertHistory, AlertNote, UserRole
from storage.objectstore import LocalObjectStore
from tests.deployments.conftest import make_config

API = "/api/v1/alerts"
A, S, O, V = UserRole.ADMIN, UserRole.SUPERVISOR, UserRole.OPERATOR, UserRole.VIEWER
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


def create_random_alert(engine: Engine, *, severity: str = "medium", minutes: float = 0, **fields: object) -> str:
    """Test data: a pending alert raised `minutes` after T0 on a unique camera unless given; returns its id."""
    fields.setdefault("camera_id", f"shop.{uuid.uuid4().hex[:8]}")
    with Session(engine) as s:
        return crud.create_alert(s, score=0.62, severity=severity, explanation="1 of 2 items was not billed.",
                                 event_ids=["ev-1", "ev-2"], clip_keys=["clips/ev-1.mp4"],
                                 created_at=T0 + timedelta(minutes=minutes), **fields).id  # fmt: skip


def _clear(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in (AlertHistory, AlertNote, Alert):
            conn.execute(sa.delete(table))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> LocalObjectStore:
    return LocalObjectStore(tmp_path_factory.mktemp("objects"))


@pytest.fixture(scope="module")
def app(pg_engine: Engine, redis_client: redis_lib.Redis, module_prefix: str, store: LocalObjectStore) -> FastAPI:
    """The API with the alerts router, on an emptied alert table."""
    _clear(pg_engine)
    yield create_app(engine=pg_engine, redis=redis_client, config=make_config(module_prefix),
                     extra_routers=[alerts.router], state={"store": store})  # fmt: skip
    _clear(pg_engine)


@pytest.fixture
def clean(pg_engine: Engine) -> None:
    _clear(pg_engine)


def test_list_filter_paginate(client: TestClient, pg_engine: Engine, auth_headers: dict, clean: None) -> None:
    cam = "shop.filter"
    ids = [create_random_alert(pg_engine, severity=sev, minutes=i, camera_id=cam)
           for i, sev in enumerate(["low", "medium", "high", "critical"])]  # fmt: skip
    create_random_alert(pg_engine, severity="high", minutes=10)
    r = client.get(API, params={"camera_id": cam}, headers=auth_headers[V])
    assert r.status_code == 200, r.text
    assert r.json()["count"] == 4 and [a["id"] for a in r.json()["data"]] == ids[::-1]  # newest first
    r = client.get(API, params={"camera_id": cam, "limit": 2, "offset": 1}, headers=auth_headers[V])
    assert [a["id"] for a in r.json()["data"]] == [ids[2], ids[1]] and r.json()["count"] == 4
    r = client.get(API, params={"severity": "high"}, headers=auth_headers[V])
    assert r.json()["count"] == 2
    r = client.get(API, params={"since": (T0 + timedelta(minutes=3)).isoformat()}, headers=auth_headers[V])
    assert r.json()["count"] == 2
    assert client.get(API, params={"status": "bogus"}, headers=auth_headers[V]).status_code == 422
    assert client.get(API, params={"limit": 0}, headers=auth_headers[V]).status_code == 422


def test_pending_queue_is_oldest_first(client: TestClient, pg_engine: Engine, auth_headers: dict, clean: None) -> None:
    late = create_random_alert(pg_engine, minutes=20)
    early = create_random_alert(pg_engine, minutes=1)
    middle = create_random_alert(pg_engine, minutes=5)
    done = create_random_alert(pg_engine, minutes=0)
    assert client.post(f"{API}/{done}/acknowledge", headers=auth_headers[O]).status_code == 200
    r = client.get(f"{API}/pending", headers=auth_headers[V])
    assert r.status_code == 200, r.text
    assert [a["id"] for a in r.json()["data"]] == [early, middle, late] and r.json()["count"] == 3


def test_stats(client: TestClient, pg_engine: Engine, auth_headers: dict, clean: None) -> None:
    a = create_random_alert(pg_engine, severity="high")
    create_random_alert(pg_engine, severity="low")
    with Session(pg_engine) as s:  # acknowledged 40 s and 80 s after creation → mean 60 s
        crud.apply_transition(s, a, "acknowledge", actor="ann", at=T0 + timedelta(seconds=40))
        b = create_random_alert(pg_engine, severity="high")
        crud.apply_transition(s, b, "acknowledge", actor="ann", at=T0 + timedelta(seconds=80))
    r = client.get(f"{API}/stats", headers=auth_headers[V])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 3
    assert body["by_status"] == {"pending": 1, "acknowledged": 2, "dismissed": 0, "escalated": 0}
    assert body["by_severity"]["high"] == 2 and body["by_severity"]["low"] == 1
    assert body["mean_time_to_acknowledge_s"] == pytest.approx(60.0)


def test_acknowledge_then_dismiss_with_history_notes_and_audit(
    client: TestClient, pg_engine: Engine, auth_headers: dict, users: dict,
) -> None:
    alert_id = create_random_alert(pg_engine)
    r = client.post(f"{API}/{alert_id}/acknowledge", headers=auth_headers[O])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "acknowledged" and r.json()["acknowledged_by"] == users[O].username
    r = client.post(f"{API}/{alert_id}/notes", json={"text": "looking at clip"}, headers=auth_headers[O])
    assert r.status_code == 201, r.text
    assert [n["text"] for n in r.json()["notes"]] == ["looking at clip"]
    r = client.post(f"{API}/{alert_id}/dismiss", json={"reason": "staff restocking"}, headers=auth_headers[S])
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["reason"], body["closed_by"]) == ("dismissed", "staff restocking", users[S].username)
    assert [(h["action"], h["from_status"], h["to_status"]) for h in body["history"]] == [
        ("acknowledge", "pending", "acknowledged"),
        ("note", "acknowledged", "acknowledged"),
        ("dismiss", "acknowledged", "dismissed"),
    ]
    detail = client.get(f"{API}/{alert_id}", headers=auth_headers[V]).json()
    assert detail["history"] == body["history"] and detail["notes"][0]["author"] == users[O].username
    with Session(pg_engine) as s:
        rows, _ = crud.list_audit(s, resource_id=alert_id, limit=100)
        labels = [lab for lab in list_labels(s, limit=None)[0] if lab.alert_id == alert_id]
    actions = {(row.action, row.resource_type, row.username, row.status_code) for row in rows}
    assert ("alert.acknowledge", "alert", users[O].username, 200) in actions
    assert ("alert.note", "alert", users[O].username, 201) in actions
    assert ("alert.dismiss", "alert", users[S].username, 200) in actions
    assert labels and (labels[0].reason, labels[0].label, labels[0].source) == ("staff restocking", "normal", "dismissal")

    r = client.post(f"{API}/{alert_id}/acknowledge", headers=auth_headers[O])
    assert r.status_code == 409 and r.json()["detail"] == "alert is dismissed: cannot acknowledge"
    r = client.post(f"{API}/{alert_id}/escalate", json={"reason": "x"}, headers=auth_headers[O])
    assert r.status_code == 409 and r.json()["detail"] == "alert is dismissed: cannot escalate"
    assert client.post(f"{API}/{alert_id}/notes", json={"text": "closed but noted"},
                       headers=auth_headers[O]).status_code == 201  # fmt: skip


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("dismiss", None),  # no body
        ("dismiss", {}),  # no reason
        ("dismiss", {"reason": "   "}),  # blank reason
        ("escalate", {"reason": ""}),  # empty reason
        ("notes", {"text": " "}),  # blank note
    ],
)
def test_missing_reason_is_422_and_changes_nothing(client: TestClient, pg_engine: Engine, auth_headers: dict,
                                                   path: str, body: dict | None) -> None:  # fmt: skip
    alert_id = create_random_alert(pg_engine)
    r = client.post(f"{API}/{alert_id}/{path}", json=body, headers=auth_headers[O])
    assert r.status_code == 422, r.text
    detail = client.get(f"{API}/{alert_id}", headers=auth_headers[V]).json()
    assert (detail["status"], detail["history"], detail["notes"]) == ("pending", [], [])


def test_escalate(client: TestClient, pg_engine: Engine, auth_headers: dict) -> None:
    alert_id = create_random_alert(pg_engine)
    r = client.post(f"{API}/{alert_id}/escalate", json={"reason": "concealment seen"}, headers=auth_headers[O])
    assert r.status_code == 200 and r.json()["status"] == "escalated" and r.json()["reason"] == "concealment seen"
    r = client.post(f"{API}/{alert_id}/dismiss", json={"reason": "fp"}, headers=auth_headers[O])
    assert r.status_code == 409 and r.json()["detail"] == "alert is escalated: cannot dismiss"


def test_unknown_alert_is_404(client: TestClient, auth_headers: dict) -> None:
    for method, path, body in [("get", "nope", None), ("get", "nope/case-file", None), ("post", "nope/acknowledge", None),
                               ("post", "nope/dismiss", {"reason": "x"}), ("post", "nope/notes", {"text": "x"})]:
        r = client.request(method.upper(), f"{API}/{path}", json=body, headers=auth_headers[O])
        assert r.status_code == 404 and r.json()["detail"] == "alert not found", (path, r.text)


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (V, 403),  # viewer reads only
        (O, 200),  # operator reviews
        (S, 200),  # supervisor
        (A, 200),  # admin
    ],
)
def test_role_matrix_acknowledge(client: TestClient, pg_engine: Engine, auth_headers: dict, role: UserRole,
                                 expected: int) -> None:  # fmt: skip
    alert_id = create_random_alert(pg_engine)
    assert client.get(f"{API}/{alert_id}", headers=auth_headers[role]).status_code == 200
    assert client.post(f"{API}/{alert_id}/acknowledge", headers=auth_headers[role]).status_code == expected
    r = client.post(f"{API}/{alert_id}/notes", json={"text": "n"}, headers=auth_headers[role])
    assert r.status_code == (403 if role is V else 201)


def test_requires_token(client: TestClient) -> None:
    assert client.get(API).status_code == 401


def test_case_file(client: TestClient, pg_engine: Engine, auth_headers: dict) -> None:
    alert_id = create_random_alert(pg_engine, track_id=7)
    client.post(f"{API}/{alert_id}/notes", json={"text": "suspicious bag"}, headers=auth_headers[O])
    client.post(f"{API}/{alert_id}/escalate", json={"reason": "handed to security"}, headers=auth_headers[O])
    r = client.get(f"{API}/{alert_id}/case-file", headers=auth_headers[V])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["alert"]["id"] == alert_id and body["alert"]["track_id"] == 7
    assert body["alert"]["status"] == "escalated" and body["alert"]["requires_human_review"] is True
    assert body["event_ids"] == ["ev-1", "ev-2"] and body["clip_keys"] == ["clips/ev-1.mp4"]
    assert [n["text"] for n in body["notes"]] == ["suspicious bag"]
    assert [h["action"] for h in body["history"]] == ["note", "escalate"]


def test_case_file_zip_holds_the_case_and_the_clips(client: TestClient, pg_engine: Engine, auth_headers: dict,
                                                    store: LocalObjectStore, users: dict) -> None:
    with Session(pg_engine) as s:
        alert_id = crud.create_alert(s, score=0.7, severity="high", explanation="2 of 2 items were not billed.",
                                     event_ids=[], clip_keys=["clips/j/v/ev-a.mp4", "clips/j/v/gone.mp4"]).id
    store.put_bytes("clips/j/v/ev-a.mp4", b"\x00\x00\x00\x18ftypmp42" + b"x" * 2000, "video/mp4")
    store.put_bytes("clips/j/v/ev-a.masked.mp4", b"\x00\x00\x00\x18ftypmp42" + b"m" * 1990, "video/mp4")
    client.post(f"{API}/{alert_id}/dismiss", json={"reason": "staff member restocking"}, headers=auth_headers[O])
    r = client.get(f"{API}/{alert_id}/case-file.zip", headers=auth_headers[V])
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert f"case-{alert_id}.zip" in r.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        assert sorted(zf.namelist()) == ["case.json", "clips/ev-a.mp4"]
        assert zf.read("clips/ev-a.mp4") == store.get_bytes("clips/j/v/ev-a.masked.mp4")  # faces masked by default
        case = json.loads(zf.read("case.json"))
    assert case["alert"]["id"] == alert_id and case["alert"]["status"] == "dismissed"
    assert [h["reason"] for h in case["history"]] == ["staff member restocking"]
    assert [{k: v for k, v in c.items() if k in ("key", "file", "size_bytes", "missing", "masked")}
            for c in case["clips"]] == [
        {"key": "clips/j/v/ev-a.mp4", "file": "clips/ev-a.mp4", "size_bytes": 2002, "masked": True},
        {"key": "clips/j/v/gone.mp4", "missing": True, "masked": True}]
    assert client.get(f"{API}/nope/case-file.zip", headers=auth_headers[V]).status_code == 404
    # The originals: refused to a viewer, allowed to an admin and audited.
    assert client.get(f"{API}/{alert_id}/case-file.zip", params={"unmasked": True},
                      headers=auth_headers[V]).status_code == 403
    r = client.get(f"{API}/{alert_id}/case-file.zip", params={"unmasked": True}, headers=auth_headers[A])
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        assert zf.read("clips/ev-a.mp4") == store.get_bytes("clips/j/v/ev-a.mp4")
    with Session(pg_engine) as s:
        rows = crud.list_audit(s, action="media.unmask", resource_id=alert_id)[0]
    assert len(rows) == 1 and rows[0].username == users[A].username and rows[0].method == "GET"
