"""Tables of store analytics (pre-aggregated rollups), export jobs and report schedules.

Created by `storage/migrations/versions/0010_analytics.py`; change both together.

Rollups are derived data: every row comes from stored tracks (bulk jobs) or stored events (live
cameras) through `storage.analytics_rollup`, tagged with the `AnalyticsSource` it came from, so a
source can be rolled up again (its rows replaced) at any time. Times are epoch seconds (floats),
which both PostgreSQL and SQLite index and compare the same way.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from storage.models import _BIG_PK, UTCDateTime, _enum_type, new_id, utcnow

__all__ = [
    "AnalyticsSource",
    "AnalyticsVisit",
    "AnalyticsRollup",
    "AnalyticsHeat",
    "ExportKind",
    "ExportStatus",
    "ExportJobBase",
    "ExportJob",
    "ExportJobPublic",
    "ExportJobsPublic",
    "ReportSchedule",
    "ReportSchedulePublic",
    "ReportSchedulesPublic",
]

_SOURCE_FK = dict(foreign_key="analytics_source.id", ondelete="CASCADE", max_length=160)


class AnalyticsSource(SQLModel, table=True):
    """One rolled-up source: a bulk job's video (`video:{id}`) or one hour of a live camera (`live:{camera}:{hour}`).

    `version` is what the rollup was computed from (the video's completion time, or the newest
    event's `created_at`); a newer version means the source must be rolled up again.
    """

    __tablename__ = "analytics_source"
    __table_args__ = (sa.Index("ix_analytics_source_site_t", "site", "t_start"),)

    id: str = Field(primary_key=True, max_length=160)
    kind: str = Field(max_length=16)  # "video" | "live"
    site: str = Field(max_length=63)
    camera_id: str = Field(max_length=128, index=True)
    job_id: str | None = Field(default=None, max_length=32)
    video_id: str | None = Field(default=None, max_length=32, index=True)
    t_start: float  # epoch s of the first data
    t_end: float  # epoch s of the last data
    version: datetime | None = Field(default=None, sa_type=UTCDateTime)
    rolled_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    zones_from: str = Field(default="none", max_length=16)  # "camera" (polygons) | "events" | "none"
    resolution_w: int | None = None
    resolution_h: int | None = None
    stats: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)  # DetectionMetrics fields
    global_ids: int = 0  # visits matched to a cross-camera person id (then people are counted by distinct id)


class AnalyticsVisit(SQLModel, table=True):
    """One person's visit to one zone (`zone == ""`: the camera's whole view)."""

    __tablename__ = "analytics_visit"
    __table_args__ = (
        sa.Index("ix_analytics_visit_site_zone_t", "site", "zone", "t_enter"),
        sa.Index("ix_analytics_visit_camera_zone_t", "camera_id", "zone", "t_enter"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=_BIG_PK)
    source_id: str = Field(index=True, **_SOURCE_FK)
    site: str = Field(max_length=63)
    camera_id: str = Field(max_length=128)
    zone: str = Field(max_length=128)
    person: str = Field(max_length=160)  # global id when known, else a per-track key
    global_id: str | None = Field(default=None, max_length=64)
    track_id: int | None = None
    t_enter: float
    t_exit: float
    dwell_s: float


class AnalyticsRollup(SQLModel, table=True):
    """One bucket (a minute or an hour) of one series: a zone, a view, a line or a zone-to-zone path."""

    __tablename__ = "analytics_rollup"
    __table_args__ = (
        sa.Index("ix_analytics_rollup_camera_t", "camera_id", "bucket_s", "t_bucket"),  # totals over a range
        sa.Index("ix_analytics_rollup_camera_series_t", "camera_id", "kind", "name", "bucket_s", "t_bucket"),  # one series
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=_BIG_PK)
    source_id: str = Field(index=True, **_SOURCE_FK)
    site: str = Field(max_length=63)
    camera_id: str = Field(max_length=128)
    kind: str = Field(max_length=8)  # domain.analytics.RollupKind
    name: str = Field(max_length=128)
    to_name: str = Field(default="", max_length=128)
    bucket_s: int
    t_bucket: int = Field(sa_type=sa.BigInteger)
    person_s: float = 0.0
    peak: int = 0
    entries: int = 0
    exits: int = 0


class AnalyticsHeat(SQLModel, table=True):
    """One hour of one camera's heatmap: `cells` is a `(grid_h, grid_w)` float32 grid of person-seconds."""

    __tablename__ = "analytics_heat"
    __table_args__ = (sa.Index("ix_analytics_heat_site_camera_t", "site", "camera_id", "t_bucket"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=_BIG_PK)
    source_id: str = Field(index=True, **_SOURCE_FK)
    site: str = Field(max_length=63)
    camera_id: str = Field(max_length=128)
    space: str = Field(default="image", max_length=8)  # "image" (normalized frame) | "plan" (metres)
    t_bucket: int = Field(sa_type=sa.BigInteger)
    grid_w: int
    grid_h: int
    cell_m: float | None = None  # plan grids: cell side (m), cells anchored at plan (0, 0) (0014)
    cells: bytes = Field(sa_type=sa.LargeBinary)  # float32, little endian, row-major
    person_s: float = 0.0


# ------------------------------------------------------------------------------------ exports
class ExportKind(str, Enum):
    """What an export job produces (the `POST /export/{kind}` path)."""

    TRACKING_DATA = "tracking-data"
    ANALYTICS_REPORT = "analytics-report"
    VIDEO_WITH_OVERLAYS = "video-with-overlays"


class ExportStatus(str, Enum):
    """Lifecycle of an export job; only `done` has a downloadable file."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ExportJobBase(SQLModel):
    kind: ExportKind = Field(sa_type=sa.Enum(ExportKind, native_enum=False, create_constraint=False, length=32,
                                             values_callable=lambda e: [m.value for m in e]))
    format: str = Field(max_length=16)
    status: ExportStatus = Field(default=ExportStatus.PENDING, sa_type=_enum_type(ExportStatus), index=True)
    params: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    site: str | None = Field(default=None, max_length=63)
    created_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    progress: float = Field(default=0.0, ge=0.0, le=1.0)
    stage: str | None = Field(default=None, max_length=255)  # what it is doing now
    error: str | None = Field(default=None, sa_type=sa.Text)
    filename: str | None = Field(default=None, max_length=255)
    content_type: str | None = Field(default=None, max_length=128)
    size_bytes: int | None = Field(default=None, sa_type=sa.BigInteger)
    schedule_id: str | None = Field(default=None, max_length=32)


class ExportJob(ExportJobBase, table=True):
    """A report or export run on Ray; its file is in the object store under `key` once `done`."""

    __tablename__ = "export_job"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    key: str | None = Field(default=None, max_length=1024)


class ExportJobPublic(ExportJobBase):
    id: str
    download_url: str | None = None


class ExportJobsPublic(SQLModel):
    data: list[ExportJobPublic]
    count: int


# ---------------------------------------------------------------------------- report schedules
class ReportSchedule(SQLModel, table=True):
    """A scheduled report of one site (`config` is a `domain.analytics_report.ReportScheduleConfig`)."""

    __tablename__ = "report_schedule"
    __table_args__ = (sa.UniqueConstraint("site", "name", name="uq_report_schedule_site_name"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    site: str = Field(max_length=63, index=True)
    name: str = Field(max_length=63)
    config: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    origin: str = Field(default="api", max_length=16)  # "api" | "site_file"
    next_run_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    last_run_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_export_id: str | None = Field(default=None, max_length=32)
    created_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ReportSchedulePublic(SQLModel):
    id: str
    site: str
    name: str
    config: dict[str, Any]
    origin: str
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_export_id: str | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class ReportSchedulesPublic(SQLModel):
    data: list[ReportSchedulePublic]
    count: int
