"""Events emitted by the rules engine: the unit every later stage (storage, clips, alerts) consumes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

__all__ = ["EventType", "Event", "event_id"]

# A fixed namespace so the same event always hashes to the same id (idempotent writes).
_EVENT_NAMESPACE = uuid.UUID("6f1d3a52-0b8e-4b7a-9d43-5f0c1b2a7e11")


class EventType(str, Enum):
    """Closed set of event types: those the rules engine emits and the intent assessment's behaviours."""

    ZONE_ENTER = "zone_enter"
    ZONE_EXIT = "zone_exit"
    DWELL = "dwell"
    LINE_CROSS = "line_cross"
    ZONE_SEQUENCE = "zone_sequence"
    OCCUPANCY = "occupancy"
    PICKUP = "pickup"  # a hand into a shelf zone and out again (`domain.interactions`)
    CONCEALMENT = "concealment"  # a concealment cue (`domain.behaviour` heuristic or the trained classifier)
    BYPASS = "bypass"  # shelf → exit without a checkout (`domain.behaviour.detect_bypass`)
    FALL = "fall"  # a fast drop, then lying still (`domain.rules.fall`)
    FIGHTING = "fighting"  # two or more people close together with fast limbs (`domain.rules.fighting`)


@dataclass(frozen=True)
class Event:
    """One rule firing on one camera.

    Attributes:
        type: what happened.
        rule: name of the rule (key in the site file) that fired.
        camera_id: camera (site-file key) the event was seen on.
        track_id: per-camera track id of the person, `None` for occupancy events.
        zone: zone or line name the event concerns, `None` if not applicable.
        t_start_s: seconds from the start of the video / stream when it began.
        t_end_s: seconds when it ended (equal to `t_start_s` for instantaneous events).
        frame_start: frame index (0-based, over every decoded frame) of `t_start_s`.
        frame_end: frame index of `t_end_s`.
        confidence: 0–1, the detector confidence that supported the event.
        payload: rule-specific facts (dwell seconds, crossing direction, count, sequence...).
        clip: whether the rule asks for an evidence clip.
        alert: the rule's `alert:` section (`{"severity", "notify"}`) when its events raise alerts,
            else `None` (`domain.rule_alerts` builds the alert).
        global_id: the person's cross-camera identity (`None` until the identity registry placed them).
    """

    type: EventType
    rule: str
    camera_id: str
    track_id: int | None
    zone: str | None
    t_start_s: float
    t_end_s: float
    frame_start: int
    frame_end: int
    confidence: float
    payload: dict[str, Any] = field(default_factory=dict)
    clip: bool = True
    alert: dict[str, Any] | None = None
    global_id: str | None = None

    @property
    def duration_s(self) -> float:
        """Length of the event in seconds."""
        return self.t_end_s - self.t_start_s


def event_id(scope: str, event: Event) -> str:
    """Deterministic id of `event` within `scope` (a job/video or a live camera session).

    The same event produced twice (a retried chunk, a replayed write) gets the same id, so
    storage can write idempotently.

    Example:
        >>> e = Event(EventType.ZONE_ENTER, "r", "cam", 3, "z", 1.0, 1.0, 10, 10, 0.9)
        >>> event_id("job1/video1", e) == event_id("job1/video1", e)
        True
    """
    key = f"{scope}|{event.rule}|{event.type.value}|{event.track_id}|{event.zone}|{event.frame_start}"
    return str(uuid.uuid5(_EVENT_NAMESPACE, key))
