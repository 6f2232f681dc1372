"""Rule alerts (pure part): which events alert, with what fields and explanation."""

from __future__ import annotations

import pytest

from domain.events import Event, EventType
from domain.rule_alerts import RULE_ORIGIN, SAFETY_DISCLAIMER, explain_event, rule_alert_fields, rule_alert_id
from domain.scoring import Severity


def ev(type_: EventType, payload: dict, *, track: int | None = 12, zone: str | None = None, alert=None) -> Event:
    return Event(type_, "r", "shop.cam", track, zone, 3.0, 17.0, 30, 170, 0.8, payload, alert=alert)


@pytest.mark.parametrize(
    ("event", "starts_with"),
    [
        (ev(EventType.FALL, {"still_s": 14.2, "drop_bh": 0.45, "drop_s": 0.6, "torso_angle_deg": 85.0}),
         "Person 12 lay still for 14 s after a fall-like drop (hips fell 0.45 body heights in 0.6 s; torso 85° from"),
        (ev(EventType.FALL, {"still_s": 5, "drop_bh": 0.3, "drop_s": 0.5, "torso_angle_deg": None}, zone="aisle"),
         "Person 12 lay still for 5 s after a fall-like drop (hips fell 0.30 body heights in 0.5 s; body box wider"),
        (ev(EventType.FIGHTING, {"track_ids": [3, 7], "limb_speed_bh_s": [2.8, 3.1], "distance_bh": 0.6,
                                 "duration_s": 2.1}, track=3),
         "Persons 3 and 7 moved their limbs fast (2.8 and 3.1 body heights/s) within 0.6 body heights of each other"),
        (ev(EventType.DWELL, {"dwell_s": 48.0}, zone="till"), "Person 12 stayed 48 s in zone 'till'."),
        (ev(EventType.ZONE_ENTER, {}, zone="staff"), "Person 12 entered zone 'staff'."),
        (ev(EventType.ZONE_EXIT, {"reason": "lost"}, zone="staff"), "Person 12 left zone 'staff' (track lost there)."),
        (ev(EventType.LINE_CROSS, {"direction": "in"}, zone="door"), "Person 12 crossed line 'door' (in)."),
        (ev(EventType.ZONE_SEQUENCE, {"zones": ["shelf", "exit"]}), "Person 12 went shelf → exit."),
        (ev(EventType.OCCUPANCY, {"max_count": 9, "threshold": 6}, track=None, zone="queue"),
         "9 people in zone 'queue' (more than 6) for 14 s."),
    ],
)
def test_explain_event(event: Event, starts_with: str) -> None:
    text = explain_event(event)
    assert text.startswith(starts_with)
    assert text.endswith(f"Rule 'r' on camera shop.cam. {SAFETY_DISCLAIMER}")


def test_fall_explanation_names_the_second_opinion() -> None:
    e = ev(EventType.FALL, {"still_s": 6, "drop_bh": 0.4, "drop_s": 0.5, "torso_angle_deg": 80,
                            "second_opinion": {"frames": 3, "fall_frames": 2}})
    assert "The fall detector saw a fall on 2 of 3 frames of the lying period." in explain_event(e)


def test_rule_alert_fields() -> None:
    assert rule_alert_fields("e1", ev(EventType.FALL, {})) is None  # a rule without `alert:` raises none
    f = rule_alert_fields("e1", ev(EventType.ZONE_ENTER, {}, zone="staff", alert={"severity": "critical", "notify": False}),
                          ["clips/e1.mp4"])
    assert f is not None
    assert (f["alert_id"], f["origin"], f["rule"], f["severity"]) == (rule_alert_id("e1"), RULE_ORIGIN, "r", Severity.CRITICAL)
    assert (f["score"], f["track_id"], f["camera_id"]) == (0.8, 12, "shop.cam")
    assert f["event_ids"] == ["e1"] and f["clip_keys"] == ["clips/e1.mp4"]
    assert f["details"]["notify"] is False and f["details"]["event_type"] == "zone_enter"
    assert f["components"]["rule"]["evidence"] == f["explanation"]
    assert rule_alert_id("e1") != rule_alert_id("e2") and len(rule_alert_id("e1")) == 32
