"""Bias-aware review reporting: how often alerts are raised and dismissed, by camera, zone and hour of day.

Groups are places and times only — never people: no demographic attribute is inferred, stored or
reported, ever. A camera, zone or hour whose alerts are mostly dismissed is where a rule or the
intent score over-fires (lighting, layout, a stand-in zone), which a supervisor can then fix.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from domain.alerts import AlertStatus
from storage.models import Alert, Event

__all__ = ["GroupBy", "alert_review_rates", "NO_DEMOGRAPHICS"]

NO_DEMOGRAPHICS = ("Groups are cameras, zones and hours of the day only; no demographic attribute is inferred, "
                   "stored or reported.")


class GroupBy(str, Enum):
    """What the rates are grouped by."""

    CAMERA = "camera"
    ZONE = "zone"
    HOUR = "hour"


def alert_review_rates(session: Session, *, by: GroupBy | str, since: datetime | None = None,
                       until: datetime | None = None, tz: str = "UTC",
                       visible: Callable[[str | None], bool] | None = None) -> dict[str, Any]:  # fmt: skip
    """Alert counts per group with their review outcome and dismissal rate.

    Args:
        session: open session.
        by: `camera`, `zone` (the zones of the alert's evidence events; an alert in two zones counts
            in both) or `hour` (0–23, of `created_at` in `tz`).
        since, until: alerts raised in `[since, until)`.
        tz: IANA time zone of the hours.
        visible: `camera_id -> bool`, alerts of cameras it refuses are left out (camera-group scoping).

    Returns:
        `{"by", "total", "groups": [{"key", "alerts", "pending", "acknowledged", "dismissed", "escalated",
        "dismissal_rate", "share"}], "note"}`; `dismissal_rate` is dismissed / (dismissed + escalated),
        `None` before any alert of the group was closed; `share` is the group's part of all alerts.

    Raises:
        ValueError: an unknown `by` or time zone.
    """
    by = GroupBy(by)
    try:
        zone_info = ZoneInfo(tz)
    except (KeyError, ValueError):
        raise ValueError(f"unknown time zone {tz!r}") from None
    stmt = select(Alert)
    if since is not None:
        stmt = stmt.where(col(Alert.created_at) >= since)
    if until is not None:
        stmt = stmt.where(col(Alert.created_at) < until)
    alerts = [a for a in session.exec(stmt).all() if visible is None or visible(a.camera_id)]
    zones_of: dict[str, set[str]] = {}
    if by is GroupBy.ZONE:
        ids = {i for a in alerts for i in (a.evidence or {}).get("event_ids", [])}
        zone_by_event = {e.id: e.zone for e in session.exec(select(Event).where(col(Event.id).in_(ids))).all()} if ids else {}
        for a in alerts:
            zones = {zone_by_event.get(i) for i in (a.evidence or {}).get("event_ids", [])}
            zones.add((a.evidence or {}).get("zone"))
            zones_of[a.id] = {z for z in zones if z} or {"(no zone)"}
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {s.value: 0 for s in AlertStatus})
    for a in alerts:
        status = a.status.value if isinstance(a.status, AlertStatus) else str(a.status)
        if by is GroupBy.CAMERA:
            keys = {a.camera_id or "(no camera)"}
        elif by is GroupBy.ZONE:
            keys = zones_of[a.id]
        else:
            keys = {f"{a.created_at.astimezone(zone_info).hour:02d}"}
        for key in keys:
            counts[key][status] += 1
    total = len(alerts)
    groups = []
    for key in sorted(counts):
        c = counts[key]
        closed = c["dismissed"] + c["escalated"]
        n = sum(c.values())
        groups.append({"key": key, "alerts": n, **c, "dismissal_rate": round(c["dismissed"] / closed, 4) if closed else None,
                       "share": round(n / total, 4) if total else 0.0})
    return {"by": by.value, "total": total, "groups": groups, "note": NO_DEMOGRAPHICS}
