"""OpenAPI tags: one per router (the generated client's operation ids are `{tag}-{name}`)."""

from __future__ import annotations

from enum import Enum

__all__ = ["Tags"]


class Tags(str, Enum):
    """Router tags."""

    AUTH = "auth"
    USERS = "users"
    AUDIT = "audit"
    EVENTS = "events"
    JOBS = "jobs"
    CAMERAS = "cameras"
    ALERTS = "alerts"
    MEDIA = "media"
    STREAMS = "streams"
    HEALTH = "health"
    SITES = "sites"
    SYSTEM = "system"
    NOTIFICATIONS = "notifications"
    POS = "pos"
    ANALYTICS = "analytics"
    ENVIRONMENTS = "environments"
    EXPORTS = "exports"
    PLAYBACK = "playback"
    RETENTION = "retention"
    CUSTODY = "custody"
    REPORTS = "reports"
    PERSONS = "persons"
