"""Retention policies: how long each kind of data is kept, per site.

Pure: the policy model, how a site's policy is resolved from the defaults, and the cut-off time of
each kind. `storage.retention` applies them (rows and objects deleted together, legal holds kept).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DataKind", "RetentionPolicy", "DEFAULT_SITE", "resolve_policy"]

DEFAULT_SITE = "*"  # the policy row for every site without its own


class DataKind(str, Enum):
    """What a retention policy limits."""

    UPLOADS = "uploads"  # uploaded videos (files of bulk jobs submitted through the API)
    TRACK_POINTS = "track_points"  # per-frame boxes and poses of bulk-job tracks
    EVENTS = "events"  # rule and behaviour events, with their clips
    CLIPS = "clips"  # evidence clips (row and object, masked copy included)
    EMBEDDINGS = "embeddings"  # appearance embeddings of people
    AUDIT = "audit"  # API audit-log rows


def _days(kind: DataKind) -> object:
    return Field(default=None, gt=0, le=36_500, title=f"Keep {kind.value} (days)",
                 description=f"Days {kind.value.replace('_', ' ')} are kept; none = forever.")


class RetentionPolicy(BaseModel):
    """Days each kind is kept (`None`: forever). Field names are `<kind>_days`.

    Example:
        >>> RetentionPolicy(events_days=30).days(DataKind.EVENTS)
        30
    """

    model_config = ConfigDict(extra="forbid")

    uploads_days: int | None = _days(DataKind.UPLOADS)
    track_points_days: int | None = _days(DataKind.TRACK_POINTS)
    events_days: int | None = _days(DataKind.EVENTS)
    clips_days: int | None = _days(DataKind.CLIPS)
    embeddings_days: int | None = _days(DataKind.EMBEDDINGS)
    audit_days: int | None = _days(DataKind.AUDIT)

    def days(self, kind: DataKind) -> int | None:
        """Days `kind` is kept, `None` for forever."""
        return getattr(self, f"{kind.value}_days")

    def cutoff(self, kind: DataKind, now: datetime) -> datetime | None:
        """Data of `kind` created before this is due for deletion; `None`: kept forever.

        Example:
            >>> from datetime import timezone
            >>> RetentionPolicy(clips_days=7).cutoff(DataKind.CLIPS, datetime(2026, 1, 8, tzinfo=timezone.utc)).day
            1
        """
        days = self.days(kind)
        return None if days is None else now - timedelta(days=days)


def resolve_policy(site: str | None, rows: dict[str, RetentionPolicy], default: RetentionPolicy) -> RetentionPolicy:
    """The policy in force for `site`: each kind from the site's own row, else the `*` row, else `default`.

    Args:
        site: the site name (`None`: data of no known site, e.g. audit rows).
        rows: stored policies by site name (`DEFAULT_SITE` included when set).
        default: the process settings' policy (`RETENTION__*`).

    Example:
        >>> rows = {"*": RetentionPolicy(events_days=90), "shop": RetentionPolicy(clips_days=30)}
        >>> p = resolve_policy("shop", rows, RetentionPolicy(audit_days=365))
        >>> (p.events_days, p.clips_days, p.audit_days)
        (90, 30, 365)
    """
    merged = {}
    for kind in DataKind:
        name = f"{kind.value}_days"
        for source in (rows.get(site or ""), rows.get(DEFAULT_SITE), default):
            if source is not None and getattr(source, name) is not None:
                merged[name] = getattr(source, name)
                break
    return RetentionPolicy(**merged)
