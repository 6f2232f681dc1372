"""Alerts raised by rules: a rule with `alert: {severity, notify}` turns each of its events into an alert.

Pure: the alert's fields and its plain-language explanation from one `domain.events.Event`. The
platform stores them with `storage.crud.create_alert` (bulk jobs in the video's transaction, the
live event sink after the event's batch is committed: `actors.rule_alerts`). An alert is a request
for human review, never a verdict.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from domain.events import Event, EventType
from domain.scoring import Severity

__all__ = ["RULE_ORIGIN", "INTENT_ORIGIN", "SAFETY_DISCLAIMER", "rule_alert_id", "explain_event", "rule_alert_fields"]

RULE_ORIGIN = "rule"  # `Alert.origin` of an alert raised by a rule's event
INTENT_ORIGIN = "intent"  # `Alert.origin` of an intent-score alert
SAFETY_DISCLAIMER = "This is a request for human review, not a finding."
_ALERT_NAMESPACE = uuid.UUID("0b8f5a0e-54a4-4c0e-9d6e-3f2b7a61c5d4")


def rule_alert_id(event_id: str) -> str:
    """The alert id of an event's rule alert: fixed per event, so a retried write never raises it twice.

    Example:
        >>> rule_alert_id("e1") == rule_alert_id("e1") != rule_alert_id("e2")
        True
    """
    return uuid.uuid5(_ALERT_NAMESPACE, event_id).hex


def _person(track_id: int | None) -> str:
    return "Someone" if track_id is None else f"Person {track_id}"


def _where(event: Event) -> str:
    return f" in zone '{event.zone}'" if event.zone else ""


def explain_event(event: Event) -> str:
    """One or two sentences saying what the rule saw, with its numbers, ending with the review disclaimer.

    Args:
        event: a rule event (any `EventType`).

    Returns:
        The explanation.

    Example:
        >>> e = Event(EventType.FALL, "fall", "cam", 12, None, 3.0, 17.2, 30, 172, 0.8,
        ...           {"still_s": 14.0, "drop_bh": 0.45, "drop_s": 0.6, "torso_angle_deg": 85.0})
        >>> explain_event(e).split(" (")[0]
        'Person 12 lay still for 14 s after a fall-like drop'
    """
    p = event.payload
    who = _person(event.track_id)
    if event.type is EventType.FALL:
        torso = p.get("torso_angle_deg")
        how = [f"hips fell {p.get('drop_bh', 0):.2f} body heights in {p.get('drop_s', 0):.1f} s"]
        how.append(f"torso {torso:.0f}° from vertical" if torso is not None else "body box wider than tall")
        text = f"{who} lay still for {p.get('still_s', 0):.0f} s after a fall-like drop ({'; '.join(how)}){_where(event)}."
        second = p.get("second_opinion")
        if second:
            text += (f" The fall detector saw a fall on {second.get('fall_frames', 0)} of {second.get('frames', 0)} "
                     "frames of the lying period.")
    elif event.type is EventType.FIGHTING:
        ids = p.get("track_ids") or [event.track_id]
        speeds = p.get("limb_speed_bh_s") or []
        who = " and ".join(str(i) for i in ids)
        text = (f"Persons {who} moved their limbs fast ({' and '.join(f'{s:.1f}' for s in speeds)} body heights/s) "
                f"within {p.get('distance_bh', 0):.1f} body heights of each other for {p.get('duration_s', 0):.0f} s"
                f"{_where(event)}.")
    elif event.type is EventType.DWELL:
        text = f"{who} stayed {p.get('dwell_s', event.duration_s):.0f} s{_where(event)}."
    elif event.type is EventType.ZONE_ENTER:
        text = f"{who} entered zone '{event.zone}'."
    elif event.type is EventType.ZONE_EXIT:
        text = f"{who} left zone '{event.zone}'" + (" (track lost there)." if p.get("reason") == "lost" else ".")
    elif event.type is EventType.LINE_CROSS:
        direction = p.get("direction")
        text = f"{who} crossed line '{event.zone}'" + (f" ({direction})." if direction else ".")
    elif event.type is EventType.ZONE_SEQUENCE:
        seq = p.get("zones") or []
        text = f"{who} went {' → '.join(seq) if seq else 'through the zone sequence'}."
    elif event.type is EventType.OCCUPANCY:
        text = (f"{p.get('max_count', '?')} people{_where(event)} (more than {p.get('threshold', '?')}) "
                f"for {event.duration_s:.0f} s.")
    else:
        text = f"{who}: {event.type.value}{_where(event)}."
    return f"{text} Rule '{event.rule}' on camera {event.camera_id}. {SAFETY_DISCLAIMER}"


def rule_alert_fields(event_id: str, event: Event, clip_keys: Sequence[str] = ()) -> dict[str, Any] | None:
    """`storage.crud.create_alert` keywords for an event's alert, `None` when its rule raises none.

    The score is the event's confidence (the detector's support for it, 0–1; a rule alert has no
    intent score), with one component `rule` carrying it and the explanation; the severity is the
    rule's. `evidence` keeps the event ids, clip keys, the rule, the event type and payload, and
    whether to notify.

    Args:
        event_id: the event's id (`domain.events.event_id`).
        event: the event; `event.alert` is the rule's `alert:` section or `None`.
        clip_keys: object-store keys of its evidence clip(s).

    Example:
        >>> e = Event(EventType.ZONE_ENTER, "staff", "cam", 5, "back", 1.0, 1.0, 10, 10, 0.9,
        ...           alert={"severity": "high", "notify": False})
        >>> f = rule_alert_fields("e1", e)
        >>> f["severity"].value, f["origin"], f["details"]["notify"]
        ('high', 'rule', False)
    """
    if not event.alert:
        return None
    explanation = explain_event(event)
    confidence = round(float(min(max(event.confidence, 0.0), 1.0)), 6)
    return {
        "alert_id": rule_alert_id(event_id),
        "origin": RULE_ORIGIN,
        "rule": event.rule,
        "score": confidence,
        "severity": Severity(event.alert.get("severity", Severity.HIGH.value)),
        "components": {"rule": {"value": confidence, "weight": 1.0, "contribution": confidence, "evidence": explanation}},
        "explanation": explanation,
        "camera_id": event.camera_id,
        "track_id": event.track_id,
        "event_ids": [event_id],
        "clip_keys": list(clip_keys),
        "details": {"rule": event.rule, "event_type": event.type.value, "zone": event.zone,
                    "t_start_s": event.t_start_s, "t_end_s": event.t_end_s, "payload": dict(event.payload),
                    "notify": bool(event.alert.get("notify", True))},
    }
