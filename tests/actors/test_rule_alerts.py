"""Rule alerts, live: `raise_rule_alerts` against PostgreSQL and Redis, and through the real event-sink actor."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator

import pytest
import redis as redis_lib

from actors.notifier import ALERTS_CHANNEL, Notifier
from actors.rule_alerts import notify_alerts, raise_rule_alerts
from domain.events import Event, EventType, event_id
from domain.rule_alerts import rule_alert_id
from storage import crud
from storage.db import session_scope

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
HIGH = {"severity": "high", "notify": True}


def items_for(camera: str, scope: str) -> list[dict]:
    """A fall that alerts (with a clip), a quiet-rule dwell that alerts without notifying, and a plain event."""
    fall = Event(EventType.FALL, "fall", camera, 5, None, 2.0, 9.0, 20, 90, 0.85,
                 {"still_s": 5.0, "drop_bh": 0.4, "drop_s": 0.5, "torso_angle_deg": 84.0}, alert=HIGH)
    dwell = Event(EventType.DWELL, "loiter", camera, 6, "door", 0.0, 40.0, 0, 400, 0.9, {"dwell_s": 40.0},
                  alert={"severity": "low", "notify": False})
    plain = Event(EventType.ZONE_ENTER, "count", camera, 7, "door", 1.0, 1.0, 10, 10, 0.9)
    ids = [event_id(scope, e) for e in (fall, dwell, plain)]
    clip = {"event_id": ids[0], "key": f"live/{camera}/{ids[0]}.mp4", "t_start_s": 0.0, "t_end_s": 12.0,
            "frame_count": 60, "fps": 5.0, "width": 640, "height": 480}
    return [{"id": ids[0], "event": fall, "clip": clip}, {"id": ids[1], "event": dwell}, {"id": ids[2], "event": plain}]


def messages(sub, seconds: float) -> list[dict]:
    out, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        m = sub.get_message(timeout=0.5)
        if m and m["type"] == "message":
            out.append(json.loads(m["data"]))
    return out


@pytest.fixture
def alerts_sub() -> Iterator:
    client = redis_lib.Redis.from_url(REDIS_URL)
    sub = client.pubsub()
    sub.subscribe(ALERTS_CHANNEL)
    sub.get_message(timeout=1.0)  # the subscription confirmation
    yield sub
    sub.close()


def test_raise_rule_alerts_stores_once_and_notifies_per_rule(pg_engine, alerts_sub) -> None:
    camera = f"shop-{uuid.uuid4().hex[:8]}.cam"
    items = items_for(camera, f"live/{camera}/s1")
    notifier = Notifier(pg_engine, redis_lib.Redis.from_url(REDIS_URL), {"dedup_window_s": 300})
    stored = raise_rule_alerts(pg_engine, items, lambda: notifier)
    assert stored == [rule_alert_id(items[0]["id"]), rule_alert_id(items[1]["id"])]  # the plain event raises none
    assert raise_rule_alerts(pg_engine, items, lambda: notifier) == []  # a retried batch: nothing new
    with session_scope(pg_engine) as s:
        alerts = crud.list_alerts(s, camera_id=camera, limit=10)[0]
    by_rule = {a.rule: a for a in alerts}
    assert sorted(by_rule) == ["fall", "loiter"] and {a.origin for a in alerts} == {"rule"}
    fall = by_rule["fall"]
    assert fall.severity.value == "high" and fall.status.value == "pending" and fall.track_id == 5
    assert fall.explanation.startswith("Person 5 lay still for 5 s after a fall-like drop")
    assert fall.evidence["clip_keys"] == [items[0]["clip"]["key"]] and fall.evidence["event_ids"] == [items[0]["id"]]
    assert by_rule["loiter"].evidence["clip_keys"] == [] and by_rule["loiter"].severity.value == "low"
    got = [m["alert"]["id"] for m in messages(alerts_sub, 3.0) if m["camera_id"] == camera]
    assert got == [fall.id]  # `notify: false` stays quiet; the retry notified nothing again
    # The same camera, rule and person inside the de-duplication window notifies once.
    assert notify_alerts(notifier, [fall]) == 1
    assert [m for m in messages(alerts_sub, 1.5) if m["camera_id"] == camera] == []
    notifier.close()


@pytest.fixture(scope="module")
def ray_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    import ray

    from cluster.runtime import init_ray
    from cluster.settings import Settings

    started = not ray.is_initialized()
    init_ray(Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("ray"), ray_num_cpus=2))
    yield
    if started:
        ray.shutdown()


def test_event_sink_raises_rule_alerts(ray_local, pg_url, pg_engine, alerts_sub) -> None:
    import ray

    from actors.event_sink import EventSink

    camera = f"shop-{uuid.uuid4().hex[:8]}.cam"
    items = items_for(camera, f"live/{camera}/s2")
    sink = EventSink.remote(pg_url, REDIS_URL, notify={"dedup_window_s": 300})
    assert ray.get(sink.submit.remote(items), timeout=60) == 3
    assert ray.get(sink.submit.remote(items), timeout=60) == 3  # a camera re-sending after a restart
    assert ray.get(sink.stats.remote())["alerts"] == 2
    with session_scope(pg_engine) as s:
        alerts = crud.list_alerts(s, camera_id=camera, limit=10)[0]
        clips = crud.list_clips(s, event_id=items[0]["id"])
    assert sorted(a.rule for a in alerts) == ["fall", "loiter"]
    assert [c.key for c in clips] == [items[0]["clip"]["key"]]
    got = [m for m in messages(alerts_sub, 3.0) if m["camera_id"] == camera]
    assert [m["alert"]["rule"] for m in got] == ["fall"] and got[0]["alert"]["origin"] == "rule"
    ray.kill(sink)
