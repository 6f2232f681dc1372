"""SQLModel tables and API schemas for bulk video-analysis jobs and their results.

Families follow the `XBase` (shared fields) / `X` (table) / `XPublic` (with id) /
`XsPublic` (`data` + `count`) convention. Every table here is created by the Alembic
migrations `storage/migrations/versions/0001_initial.py` (jobs and results),
`0002_auth_audit.py` (users, refresh tokens, audit log), `0003_sites_cameras.py` (sites, cameras)
and `0004_alerts.py` (alerts, their notes and history); change both together.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone
from enum import Enum
from typing import Any

import sqlalchemy as sa
from pydantic import model_validator
from sqlmodel import Field, SQLModel

from domain.site.sources import redact_url

__all__ = [
    "JobStatus",
    "VideoStatus",
    "UTCDateTime",
    "utcnow",
    "new_id",
    "JobBase",
    "Job",
    "JobPublic",
    "JobsPublic",
    "VideoBase",
    "Video",
    "VideoPublic",
    "VideosPublic",
    "TrackBase",
    "Track",
    "TrackPublic",
    "TrackPointBase",
    "TrackPoint",
    "TrackPointPublic",
    "EventBase",
    "Event",
    "EventPublic",
    "EventsPublic",
    "ClipBase",
    "ClipCreate",
    "Clip",
    "ClipPublic",
    "ClipsPublic",
]


def utcnow() -> datetime:
    """Current time as a timezone-aware UTC datetime."""
    return datetime.now(timezone.utc)


def new_id() -> str:
    """A fresh random id: a uuid4 as 32 hex characters."""
    return uuid.uuid4().hex


class UTCDateTime(sa.types.TypeDecorator):
    """`DateTime(timezone=True)` that always returns aware UTC datetimes.

    SQLite stores no offset, so values read back from it are naive; this type tags them UTC.
    Naive datetimes written are taken to be UTC already.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class JobStatus(str, Enum):
    """Lifecycle of a bulk job."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    PARTIAL = "partial"  # finished, but some (not all) videos failed
    CANCELLED = "cancelled"


class VideoStatus(str, Enum):
    """Lifecycle of one video within a job."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


def _enum_type(enum: type[Enum]) -> sa.Enum:
    # Stored as VARCHAR(16) (no native PG enum, no CHECK), loaded back as the Enum member.
    return sa.Enum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=16,
        values_callable=lambda e: [m.value for m in e],
    )


# A BIGINT primary key that still auto-increments on SQLite (only INTEGER PRIMARY KEY does).
_BIG_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


# --------------------------------------------------------------------------------------- Job
class JobBase(SQLModel):
    status: JobStatus = Field(default=JobStatus.PENDING, sa_type=_enum_type(JobStatus), index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    frames_total: int = 0
    frames_done: int = 0
    progress: float = Field(default=0.0, ge=0.0, le=1.0)
    params: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    error: str | None = Field(default=None, sa_type=sa.Text)
    videos_total: int = 0
    videos_failed: int = 0
    # Scoping (0008): the camera group a job and everything it produced belong to (the submitter's
    # group); `None` = no group, seen only by users with access to every camera.
    camera_group: str | None = Field(default=None, max_length=64, index=True)
    created_by: str | None = Field(default=None, max_length=32)  # user id of the submitter (no FK)


class Job(JobBase, table=True):
    """A bulk analysis job over one or more videos. `params` holds fps, imgsz, site, inputs..."""

    __tablename__ = "job"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    # Migration 0009: the job driver's liveness and the job's deadline (`storage.reliability`).
    heartbeat_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    deadline_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class JobPublic(JobBase):
    id: str


class JobsPublic(SQLModel):
    data: list[JobPublic]
    count: int


# ------------------------------------------------------------------------------------- Video
class VideoBase(SQLModel):
    job_id: str = Field(foreign_key="job.id", ondelete="CASCADE", index=True, max_length=32)
    position: int = 0  # index of this input in the job's `inputs`
    uri: str = Field(sa_type=sa.Text)  # as the user gave it: a path or s3://bucket/key
    name: str = Field(max_length=512)
    camera_id: str | None = Field(default=None, max_length=128, index=True)
    status: VideoStatus = Field(default=VideoStatus.PENDING, sa_type=_enum_type(VideoStatus), index=True)
    error: str | None = Field(default=None, sa_type=sa.Text)
    fps: float | None = None
    frame_count: int | None = None
    width: int | None = None
    height: int | None = None
    codec: str | None = Field(default=None, max_length=16)  # fourcc, e.g. "avc1"
    duration_s: float | None = None
    size_bytes: int | None = Field(default=None, sa_type=sa.BigInteger)
    frames_analysed: int = 0
    people_count: int = 0
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Video(VideoBase, table=True):
    """One input video of a job, with its probe facts and outcome."""

    __tablename__ = "video"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)


class VideoPublic(VideoBase):
    id: str


class VideosPublic(SQLModel):
    data: list[VideoPublic]
    count: int


# ------------------------------------------------------------------------------------- Track
class TrackBase(SQLModel):
    job_id: str | None = Field(default=None, foreign_key="job.id", ondelete="CASCADE", index=True, max_length=32)
    video_id: str = Field(foreign_key="video.id", ondelete="CASCADE", index=True, max_length=32)
    track_id: int  # per-video track id
    first_t_s: float
    last_t_s: float
    first_frame: int
    last_frame: int
    frame_count: int  # detected (not interpolated) points
    mean_confidence: float
    global_id: str | None = Field(default=None, max_length=36, index=True)  # cross-camera person (identity)


class Track(TrackBase, table=True):
    """Summary of one person's trajectory through one video; its points are `TrackPoint`s."""

    __tablename__ = "track"
    __table_args__ = (sa.UniqueConstraint("video_id", "track_id", name="uq_track_video_id_track_id"),)

    id: int | None = Field(default=None, primary_key=True)


class TrackPublic(TrackBase):
    id: int


# -------------------------------------------------------------------------------- TrackPoint
class TrackPointBase(SQLModel):
    track_pk: int = Field(foreign_key="track.id", ondelete="CASCADE", index=True)
    frame_index: int
    t_s: float
    x1: float
    y1: float
    x2: float
    y2: float
    foot_x: float
    foot_y: float
    confidence: float
    interpolated: bool = False
    keypoints: list[list[float]] | None = Field(default=None, sa_type=sa.JSON)  # [17][3] or None
    landmarks: list[list[float]] | None = Field(default=None, sa_type=sa.JSON)  # 0013: MediaPipe [33][3] or None


class TrackPoint(TrackPointBase, table=True):
    """One box of a track in original-video pixels (`x1, y1, x2, y2`), with the foot point."""

    __tablename__ = "track_point"

    id: int | None = Field(default=None, primary_key=True, sa_type=_BIG_PK)


class TrackPointPublic(TrackPointBase):
    id: int


# ------------------------------------------------------------------------------------- Event
class EventBase(SQLModel):
    job_id: str | None = Field(default=None, foreign_key="job.id", ondelete="CASCADE", index=True, max_length=32)
    video_id: str | None = Field(default=None, foreign_key="video.id", ondelete="CASCADE", index=True, max_length=32)
    camera_id: str = Field(max_length=128, index=True)
    # A plain string (not an Enum column) so later event kinds need no migration.
    type: str = Field(max_length=32, index=True)
    rule: str = Field(max_length=128)
    track_id: int | None = None
    zone: str | None = Field(default=None, max_length=128)
    t_start_s: float = Field(index=True)
    t_end_s: float
    frame_start: int
    frame_end: int
    confidence: float
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    global_id: str | None = Field(default=None, max_length=36, index=True)  # the person's identity, once known


class Event(EventBase, table=True):
    """A stored rule firing. `id` is `domain.events.event_id(scope, event)`, so writes are idempotent."""

    __tablename__ = "event"

    id: str = Field(primary_key=True, max_length=64)


class EventPublic(EventBase):
    id: str


class EventsPublic(SQLModel):
    data: list[EventPublic]
    count: int


# -------------------------------------------------------------------------------------- Clip
class ClipBase(SQLModel):
    event_id: str = Field(foreign_key="event.id", ondelete="CASCADE", index=True, max_length=64)
    job_id: str | None = Field(default=None, foreign_key="job.id", ondelete="CASCADE", index=True, max_length=32)
    video_id: str | None = Field(default=None, foreign_key="video.id", ondelete="CASCADE", index=True, max_length=32)
    key: str = Field(max_length=1024)  # object-store key
    t_start_s: float
    t_end_s: float
    frame_count: int
    fps: float
    width: int
    height: int
    size_bytes: int = Field(default=0, sa_type=sa.BigInteger)
    content_type: str = Field(default="video/mp4", max_length=128)


class ClipCreate(ClipBase):
    """Input for a clip; `id` defaults to a deterministic id of `(event_id, key)`."""

    id: str | None = None


class Clip(ClipBase, table=True):
    """An evidence clip of an event, stored in the object store under `key`."""

    __tablename__ = "clip"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ClipPublic(ClipBase):
    id: str
    created_at: datetime


class ClipsPublic(SQLModel):
    data: list[ClipPublic]
    count: int


# ==================================================================== auth and audit (0002)
# Tables below are created by `storage/migrations/versions/0002_auth_audit.py`.
class UserRole(str, Enum):
    """API roles, most privileged first: admin > supervisor > operator > viewer."""

    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    OPERATOR = "operator"
    VIEWER = "viewer"


USERNAME_PATTERN = r"^[A-Za-z0-9_.@-]{3,64}$"


# -------------------------------------------------------------------------------------- User
class UserBase(SQLModel):
    username: str = Field(unique=True, index=True, max_length=64, schema_extra={"pattern": USERNAME_PATTERN})
    role: UserRole = Field(default=UserRole.VIEWER, sa_type=_enum_type(UserRole))
    # Camera groups this user may see. An empty list means no camera unless `all_cameras` is set
    # (admins see every camera whatever these say): see `storage.scope.CameraScope`.
    camera_groups: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    all_cameras: bool = Field(default=False, description="Sees every camera (admins always do)")
    is_active: bool = True


class UserCreate(UserBase):
    """Input for a new user: the plain password is hashed before storing."""

    password: str = Field(min_length=8, max_length=128)


class UserUpdate(SQLModel):
    """Partial update of a user; every field is optional."""

    role: UserRole | None = None
    camera_groups: list[str] | None = None
    all_cameras: bool | None = None
    is_active: bool | None = None
    password: str | None = Field(default=None, min_length=8, max_length=128)


class User(UserBase, table=True):
    """An API account; `password_hash` is an argon2 PHC string and never leaves the server."""

    __tablename__ = "app_user"  # "user" is reserved in PostgreSQL

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    password_hash: str = Field(max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Bumped on a password, role, group or status change: tokens carrying an older `ver` are refused (0008).
    token_version: int = 0


class UserPublic(UserBase):
    id: str
    created_at: datetime


class UsersPublic(SQLModel):
    data: list[UserPublic]
    count: int


# ------------------------------------------------------------------------------ RefreshToken
class RefreshToken(SQLModel, table=True):
    """A refresh token issued to a user, keyed by its JWT `jti`; rotation revokes it."""

    __tablename__ = "refresh_token"

    jti: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(foreign_key="app_user.id", ondelete="CASCADE", index=True, max_length=32)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# ---------------------------------------------------------------------------------- AuditLog
class AuditLogBase(SQLModel):
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    user_id: str | None = Field(default=None, max_length=32, index=True)  # no FK: rows outlive users
    username: str | None = Field(default=None, max_length=64)
    method: str = Field(max_length=8)
    path: str = Field(max_length=1024)
    action: str = Field(max_length=64, index=True)  # e.g. "camera.update", "auth.login"
    resource_type: str = Field(max_length=64, index=True)
    resource_id: str | None = Field(default=None, max_length=128)
    status_code: int
    client_ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=512)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)


class AuditLogCreate(AuditLogBase):
    """Input for one audit row."""


class AuditLog(AuditLogBase, table=True):
    """One mutating API request (allowed or refused): who, what, on which resource, outcome."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True, sa_type=_BIG_PK)


class AuditLogPublic(AuditLogBase):
    id: int


class AuditLogsPublic(SQLModel):
    data: list[AuditLogPublic]
    count: int


# ------------------------------------------------------------------------------- API schemas
class JobDetailPublic(JobPublic):
    """A job with its videos (status, progress facts and errors)."""

    videos: list[VideoPublic]


__all__ += [
    "UserRole",
    "USERNAME_PATTERN",
    "UserBase",
    "UserCreate",
    "UserUpdate",
    "User",
    "UserPublic",
    "UsersPublic",
    "RefreshToken",
    "AuditLogBase",
    "AuditLogCreate",
    "AuditLog",
    "AuditLogPublic",
    "AuditLogsPublic",
    "JobDetailPublic",
]


# ============================================================= sites and cameras (0003)
# Tables below are created by `storage/migrations/versions/0003_sites_cameras.py`.
# A camera's zones, lines and rules live in `Camera.config`, a `CameraConfig.model_dump(mode="json")`,
# so the API applies exactly the site file's validation (see `crud.camera_config`).
from domain.site import CameraConfig  # noqa: E402  (section import: only these tables need it)

SLUG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$"  # site names and camera keys: URL-safe, no '.'


# -------------------------------------------------------------------------------------- Site
class SiteBase(SQLModel):
    name: str = Field(unique=True, index=True, max_length=63, schema_extra={"pattern": SLUG_PATTERN})
    friendly_name: str | None = Field(default=None, max_length=255)
    timezone: str = Field(default="UTC", min_length=1, max_length=64)  # IANA name
    floor_plan: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)  # domain.site.FloorPlanConfig, JSON mode


class SiteCreate(SiteBase):
    """Input for a new site (a store)."""


class SiteUpdate(SQLModel):
    """Partial update of a site; every field is optional (`name` is the stable key: not editable)."""

    friendly_name: str | None = Field(default=None, max_length=255)
    timezone: str | None = Field(default=None, min_length=1, max_length=64)


class Site(SiteBase, table=True):
    """A store: the `site:` section of a site file."""

    __tablename__ = "site"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SitePublic(SiteBase):
    id: str
    created_at: datetime
    updated_at: datetime


class SitesPublic(SQLModel):
    data: list[SitePublic]
    count: int


# ------------------------------------------------------------------------------------ Camera
class CameraBase(SQLModel):
    site_id: str = Field(foreign_key="site.id", index=True, max_length=32)
    key: str = Field(max_length=63, schema_extra={"pattern": SLUG_PATTERN})  # the site file's camera key
    friendly_name: str | None = Field(default=None, max_length=255)
    source: str | None = Field(default=None, sa_type=sa.Text)  # rtsp/http URL or file path
    camera_group: str | None = Field(default=None, max_length=64, index=True)  # role scoping
    enabled: bool = True


class CameraCreate(SQLModel):
    """Input for a new camera. `friendly_name` / `source` default to those in `config`."""

    site_id: str = Field(max_length=32)
    key: str = Field(max_length=63, schema_extra={"pattern": SLUG_PATTERN})
    friendly_name: str | None = Field(default=None, max_length=255)
    source: str | None = None
    camera_group: str | None = Field(default=None, max_length=64)
    enabled: bool = True
    config: CameraConfig = Field(default_factory=CameraConfig)


class CameraUpdate(SQLModel):
    """Partial update of a camera; every field is optional. `config` replaces the whole config."""

    friendly_name: str | None = Field(default=None, max_length=255)
    source: str | None = None
    camera_group: str | None = Field(default=None, max_length=64)
    enabled: bool | None = None
    config: CameraConfig | None = None


class Camera(CameraBase, table=True):
    """A live camera of a site; `id` is `"{site name}.{key}"`, fixed at creation."""

    __tablename__ = "camera"
    __table_args__ = (sa.UniqueConstraint("site_id", "key", name="uq_camera_site_id_key"),)

    id: str = Field(primary_key=True, max_length=128)
    config: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)  # CameraConfig, JSON mode
    version: int = 1  # bumped on every change
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CameraPublic(CameraBase):
    """A camera as the API shows it: passwords and secret query values of its source are `***`."""

    id: str
    config: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime

    @model_validator(mode="after")
    def _redact_source(self) -> CameraPublic:
        self.source = redact_url(self.source)
        if isinstance(self.config.get("source"), str):
            self.config = {**self.config, "source": redact_url(self.config["source"])}
        return self


class CamerasPublic(SQLModel):
    data: list[CameraPublic]
    count: int


__all__ += [
    "SLUG_PATTERN",
    "SiteBase",
    "SiteCreate",
    "SiteUpdate",
    "Site",
    "SitePublic",
    "SitesPublic",
    "CameraBase",
    "CameraCreate",
    "CameraUpdate",
    "Camera",
    "CameraPublic",
    "CamerasPublic",
]


# ------------------------------------------------------------------------------------- Alert
from domain.alerts import AlertStatus  # noqa: E402
from domain.scoring import Severity  # noqa: E402


class AlertBase(SQLModel):
    camera_id: str | None = Field(default=None, max_length=128, index=True)
    job_id: str | None = Field(default=None, max_length=32, index=True)
    video_id: str | None = Field(default=None, max_length=32)
    track_id: int | None = None
    severity: Severity = Field(sa_type=_enum_type(Severity), index=True)
    score: float
    components: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    explanation: str = Field(default="", sa_type=sa.Text)
    evidence: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)  # {"event_ids": [...], "clip_keys": [...]}
    status: AlertStatus = Field(default=AlertStatus.PENDING, sa_type=_enum_type(AlertStatus), index=True)
    reason: str | None = Field(default=None, sa_type=sa.Text)
    acknowledged_by: str | None = Field(default=None, max_length=64)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_by: str | None = Field(default=None, max_length=64)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    requires_human_review: bool = True
    # 0013: what raised it: "intent" (the intent score) or "rule" (a rule's `alert:`), and that rule's name.
    origin: str = Field(default="intent", max_length=16, index=True,
                        sa_column_kwargs={"server_default": "intent"})  # fmt: skip
    rule: str | None = Field(default=None, max_length=128)
    # 0014: the behaviour-model version whose verdicts the alert's evidence used (None: heuristics only).
    model_version: str | None = Field(default=None, max_length=16)


class Alert(AlertBase, table=True):
    """A scored person awaiting (or done with) human review; `status` moves only by `domain.alerts.transition`."""

    __tablename__ = "alert"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class AlertPublic(AlertBase):
    id: str
    created_at: datetime


class AlertsPublic(SQLModel):
    data: list[AlertPublic]
    count: int


class AlertNote(SQLModel, table=True):
    """A reviewer's note on an alert."""

    __tablename__ = "alert_note"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    alert_id: str = Field(foreign_key="alert.id", ondelete="CASCADE", index=True, max_length=32)
    author: str = Field(max_length=64)
    text: str = Field(sa_type=sa.Text)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AlertNotePublic(SQLModel):
    id: str
    alert_id: str
    author: str
    text: str
    at: datetime


class AlertHistory(SQLModel, table=True):
    """One audited change of an alert (`domain.alerts.AuditEntry`), notes included."""

    __tablename__ = "alert_history"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    alert_id: str = Field(foreign_key="alert.id", ondelete="CASCADE", index=True, max_length=32)
    actor: str = Field(max_length=64)
    action: str = Field(max_length=16)
    from_status: AlertStatus = Field(sa_type=_enum_type(AlertStatus))
    to_status: AlertStatus = Field(sa_type=_enum_type(AlertStatus))
    reason: str | None = Field(default=None, sa_type=sa.Text)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class AlertHistoryPublic(SQLModel):
    id: str
    alert_id: str
    actor: str
    action: str
    from_status: AlertStatus
    to_status: AlertStatus
    reason: str | None
    at: datetime


class AlertDetailPublic(AlertPublic):
    """An alert with its notes and history, oldest first."""

    notes: list[AlertNotePublic]
    history: list[AlertHistoryPublic]


__all__ += [
    "AlertBase",
    "Alert",
    "AlertPublic",
    "AlertsPublic",
    "AlertNote",
    "AlertNotePublic",
    "AlertHistory",
    "AlertHistoryPublic",
    "AlertDetailPublic",
]


# ======================================================================= point of sale (0005)
# Tables below are created by `storage/migrations/versions/0005_pos.py`. The rules (SKU format,
# prices, session state machine, file formats) live in `domain.pos`; `storage.pos` applies them.
from decimal import Decimal  # noqa: E402

from domain.pos import SKU_PATTERN, PaymentMethod, SessionStatus  # noqa: E402

TERMINAL_ID_PATTERN = SLUG_PATTERN  # a till id: URL-safe, e.g. "till-1"
CAMERA_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}\.[A-Za-z0-9][A-Za-z0-9_-]{0,62}$"  # "{site}.{camera key}"
_MONEY = sa.Numeric(10, 2)


class PosLineItemPublic(SQLModel):
    """One billed or scanned line: `quantity` units of `sku` at `unit_price` each."""

    sku: str
    quantity: int
    unit_price: Decimal


# ---------------------------------------------------------------------------------- Product
class PosProductBase(SQLModel):
    name: str = Field(min_length=1, max_length=255)
    price: Decimal = Field(gt=0, max_digits=10, decimal_places=2, sa_type=_MONEY)  # unit price, 2 places


class PosProductCreate(PosProductBase):
    """Input for a new product (validated again as a `domain.pos.Product`)."""

    sku: str = Field(max_length=32, schema_extra={"pattern": SKU_PATTERN})


class PosProductUpdate(SQLModel):
    """Partial update of a product; every field is optional (`sku` is the key: not editable)."""

    name: str | None = Field(default=None, min_length=1, max_length=255)
    price: Decimal | None = Field(default=None, gt=0, max_digits=10, decimal_places=2)


class PosProduct(PosProductBase, table=True):
    """One product of the store's catalog (`domain.pos.Product`)."""

    __tablename__ = "pos_product"

    sku: str = Field(primary_key=True, max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PosProductPublic(PosProductBase):
    sku: str
    created_at: datetime
    updated_at: datetime


class PosProductsPublic(SQLModel):
    data: list[PosProductPublic]
    count: int


# --------------------------------------------------------------------------------- Terminal
class PosTerminalBase(SQLModel):
    camera_id: str | None = Field(default=None, max_length=128, schema_extra={"pattern": CAMERA_ID_PATTERN})
    zone: str | None = Field(default=None, min_length=1, max_length=128)  # the checkout zone (site-file name)


class PosTerminalUpdate(PosTerminalBase):
    """A terminal's checkout link (PUT replaces both fields; `None` unlinks)."""


class PosTerminal(PosTerminalBase, table=True):
    """A till, linked to the camera watching it and its checkout zone."""

    __tablename__ = "pos_terminal"

    id: str = Field(primary_key=True, max_length=63)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PosTerminalPublic(PosTerminalBase):
    id: str
    created_at: datetime
    updated_at: datetime


class PosTerminalsPublic(SQLModel):
    data: list[PosTerminalPublic]
    count: int


# ---------------------------------------------------------------------------------- Session
class PosSessionBase(SQLModel):
    terminal_id: str = Field(max_length=63, index=True)  # no FK: a till need not be registered
    status: SessionStatus = Field(default=SessionStatus.OPEN, sa_type=_enum_type(SessionStatus), index=True)
    # `[{"sku", "quantity", "unit_price"}]` (price as a string, 2 places), scan order, merged per SKU and price
    items: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)
    t_start_s: float  # epoch seconds
    t_end_s: float | None = None  # completion or void time
    camera_id: str | None = Field(default=None, max_length=128)
    zone: str | None = Field(default=None, max_length=128)
    transaction_id: str | None = Field(default=None, max_length=64)  # set on completion


class PosSessionRow(PosSessionBase, table=True):
    """One till session (`domain.pos.PosSession`); at most one per terminal is open (a partial unique index)."""

    __tablename__ = "pos_session"
    __table_args__ = (
        sa.Index("ux_pos_session_open_terminal", "terminal_id", unique=True,
                 sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'")),
    )  # fmt: skip

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PosSessionPublic(PosSessionBase):
    id: str
    items: list[PosLineItemPublic]
    subtotal: Decimal
    created_at: datetime


# ------------------------------------------------------------------------------ Transaction
class PosTransactionBase(SQLModel):
    terminal_id: str = Field(max_length=63, index=True)
    # `[{"sku", "quantity", "unit_price"}]`, unit price as a string with 2 places
    items: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)
    total: Decimal = Field(max_digits=10, decimal_places=2, sa_type=_MONEY)
    payment_method: PaymentMethod = Field(sa_type=_enum_type(PaymentMethod))
    t_start_s: float = Field(index=True)  # epoch seconds (POS clock)
    t_end_s: float = Field(index=True)
    camera_id: str | None = Field(default=None, max_length=128, index=True)
    zone: str | None = Field(default=None, max_length=128, index=True)
    source: str = Field(default="session", max_length=255)  # "session", or the imported file's name


class PosTransaction(PosTransactionBase, table=True):
    """A completed sale (`domain.pos.Transaction`), rung up here or imported from a POS file."""

    __tablename__ = "pos_transaction"

    id: str = Field(primary_key=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PosTransactionPublic(PosTransactionBase):
    id: str
    items: list[PosLineItemPublic]
    created_at: datetime


class PosTransactionsPublic(SQLModel):
    data: list[PosTransactionPublic]
    count: int


__all__ += [
    "TERMINAL_ID_PATTERN",
    "CAMERA_ID_PATTERN",
    "PosLineItemPublic",
    "PosProductBase",
    "PosProductCreate",
    "PosProductUpdate",
    "PosProduct",
    "PosProductPublic",
    "PosProductsPublic",
    "PosTerminalBase",
    "PosTerminalUpdate",
    "PosTerminal",
    "PosTerminalPublic",
    "PosTerminalsPublic",
    "PosSessionBase",
    "PosSessionRow",
    "PosSessionPublic",
    "PosTransactionBase",
    "PosTransaction",
    "PosTransactionPublic",
    "PosTransactionsPublic",
]


# --- Notifications
# Tables below are created by `storage/migrations/versions/0006_notifications.py`.
from domain.notifications import Channel  # noqa: E402

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class DeliveryStatus(str, Enum):
    """State of a webhook delivery: pending (retries to come), delivered, or dead (every attempt failed:
    a dead letter)."""

    DELIVERED = "delivered"
    DEAD = "dead"
    PENDING = "pending"  # waiting for its next attempt (`next_attempt_at`); survives a restart (0009)


class NotificationPreferenceUpdate(SQLModel):
    """The current user's notification preference, replaced whole (PUT).

    `email` overrides the address; without it, email goes to the username when that is an address.
    """

    channels: list[Channel] = Field(default_factory=lambda: [Channel.IN_APP], max_length=3)
    min_severity: Severity = Severity.MEDIUM
    email: str | None = Field(default=None, max_length=320, schema_extra={"pattern": EMAIL_PATTERN})


class NotificationPreference(SQLModel, table=True):
    """One user's notification channels (`Channel` values) and the least severe alert they want."""

    __tablename__ = "notification_preference"

    user_id: str = Field(primary_key=True, foreign_key="app_user.id", ondelete="CASCADE", max_length=32)
    channels: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    min_severity: Severity = Field(default=Severity.MEDIUM, sa_type=_enum_type(Severity))
    email: str | None = Field(default=None, max_length=320)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class NotificationPreferencePublic(SQLModel):
    """A user's preference; `updated_at` is `None` while the user still has the defaults."""

    user_id: str
    channels: list[Channel]
    min_severity: Severity
    email: str | None
    updated_at: datetime | None


class WebhookDeliveryBase(SQLModel):
    alert_id: str = Field(foreign_key="alert.id", ondelete="CASCADE", index=True, max_length=32)
    url: str = Field(sa_type=sa.Text)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)  # the JSON body sent
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    status: DeliveryStatus = Field(sa_type=_enum_type(DeliveryStatus), index=True)


class WebhookDelivery(WebhookDeliveryBase, table=True):
    """The outcome of posting one alert to one webhook URL; `status` dead marks a dead letter."""

    __tablename__ = "webhook_delivery"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)  # also the X-Witness-Delivery header
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Migration 0009: a pending delivery's next attempt, and until when a worker holds it.
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebhookDeliveryPublic(WebhookDeliveryBase):
    """A delivery as the API shows it: the URL's password and secret query values are `***`."""

    id: str
    created_at: datetime
    updated_at: datetime

    @model_validator(mode="after")
    def _redact_url(self) -> WebhookDeliveryPublic:
        self.url = redact_url(self.url) or ""
        if self.last_error:
            self.last_error = re.sub(r"[a-z][a-z0-9+.-]*://\S+", lambda m: redact_url(m.group(0)) or "", self.last_error)
        return self


class WebhookDeliveriesPublic(SQLModel):
    data: list[WebhookDeliveryPublic]
    count: int


__all__ += [
    "EMAIL_PATTERN",
    "DeliveryStatus",
    "NotificationPreferenceUpdate",
    "NotificationPreference",
    "NotificationPreferencePublic",
    "WebhookDeliveryBase",
    "WebhookDelivery",
    "WebhookDeliveryPublic",
    "WebhookDeliveriesPublic",
]


# ------------------------------------------------------------------------------ Training runs
class TrainingRunStatus(str, Enum):
    """Lifecycle of a model-training run started from the API."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class TrainingRunBase(SQLModel):
    kind: str = Field(default="behaviour", max_length=32)
    status: TrainingRunStatus = Field(
        default=TrainingRunStatus.PENDING, sa_type=_enum_type(TrainingRunStatus), index=True
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_by: str | None = Field(default=None, max_length=64)  # username
    data_dir: str = Field(sa_type=sa.Text)  # folder or s3://bucket/prefix, as the workers see it
    params: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)  # fps, imgsz, seed, window, stride, labels
    frames_done: int = 0
    frames_total: int = 0
    version: str | None = Field(default=None, max_length=16)  # the saved model's version once done
    report: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)  # TrainingReport.to_dict() once done
    error: str | None = Field(default=None, sa_type=sa.Text)


class TrainingRun(TrainingRunBase, table=True):
    """One training run (migration `0007_training.py`); the model itself lives in the object store."""

    __tablename__ = "training_run"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)


class TrainingRunPublic(TrainingRunBase):
    id: str
    progress: float = Field(0.0, description="frames_done / frames_total (0-1)")


class TrainingRunsPublic(SQLModel):
    data: list[TrainingRunPublic]
    count: int


__all__ += ["TrainingRunStatus", "TrainingRunBase", "TrainingRun", "TrainingRunPublic", "TrainingRunsPublic"]


# ============================================================== safety and evidence (0013)
# Tables below are created by `storage/migrations/versions/0013_safety_evidence.py`: legal holds,
# per-site retention policies and the hash-chained chain-of-custody log.
class LegalHold(SQLModel, table=True):
    """An alert and its evidence kept from retention purges until released (escalation places one)."""

    __tablename__ = "legal_hold"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    alert_id: str = Field(foreign_key="alert.id", ondelete="CASCADE", index=True, max_length=32)
    reason: str = Field(sa_type=sa.Text)
    placed_by: str = Field(max_length=64)
    placed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    released_by: str | None = Field(default=None, max_length=64)
    released_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    release_reason: str | None = Field(default=None, sa_type=sa.Text)


class LegalHoldPublic(SQLModel):
    id: str
    alert_id: str
    reason: str
    placed_by: str
    placed_at: datetime
    released_by: str | None
    released_at: datetime | None
    release_reason: str | None


class RetentionPolicyRow(SQLModel, table=True):
    """How many days each kind of data is kept for one site (`site="*"`: every site without its own).

    A `None` column keeps that kind forever. The kinds are `domain.retention.DataKind`.
    """

    __tablename__ = "retention_policy"

    site: str = Field(primary_key=True, max_length=63)
    uploads_days: int | None = None
    track_points_days: int | None = None
    events_days: int | None = None
    clips_days: int | None = None
    embeddings_days: int | None = None
    audit_days: int | None = None
    updated_by: str | None = Field(default=None, max_length=64)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CustodyEntry(SQLModel, table=True):
    """One entry of the append-only chain-of-custody log (`domain.custody`).

    `seq` counts from 1 with no gaps (the primary key makes two writers racing for the same
    number fail, and the loser retries); `entry_hash` is the SHA-256 of the entry's canonical
    form including `prev_hash`, the previous entry's `entry_hash`.
    """

    __tablename__ = "custody_log"

    seq: int = Field(primary_key=True, sa_type=sa.BigInteger, sa_column_kwargs={"autoincrement": False})
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor: str = Field(max_length=64)
    action: str = Field(max_length=16, index=True)
    object_key: str | None = Field(default=None, max_length=1024, index=True)
    sha256: str | None = Field(default=None, max_length=64)
    size_bytes: int | None = Field(default=None, sa_type=sa.BigInteger)
    key_id: str | None = Field(default=None, max_length=64)
    alert_id: str | None = Field(default=None, max_length=32, index=True)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    prev_hash: str = Field(max_length=64)
    entry_hash: str = Field(max_length=64, unique=True, index=True)


class CustodyEntryPublic(SQLModel):
    seq: int
    at: datetime
    actor: str
    action: str
    object_key: str | None
    sha256: str | None
    size_bytes: int | None
    key_id: str | None
    alert_id: str | None
    detail: dict[str, Any]
    prev_hash: str
    entry_hash: str


__all__ += ["LegalHold", "LegalHoldPublic", "RetentionPolicyRow", "CustodyEntry", "CustodyEntryPublic"]
# ---------------------------------------------------------------------------------- Identity
# Cross-camera identities (migration `0012_identity.py`). Times are epoch seconds (float): live
# sightings on the cameras' clock, bulk ones from the recording session's start time. Every row
# of a person is personal data and is deleted once `expires_at` passes (`IDENTITY__RETENTION_S`).
class Identity(SQLModel, table=True):
    """A person across cameras: their `global_id` (a UUID) and summary."""

    __tablename__ = "identity"

    global_id: str = Field(primary_key=True, max_length=36)
    site: str = Field(max_length=63, index=True)
    job_id: str | None = Field(default=None, foreign_key="job.id", ondelete="CASCADE", index=True, max_length=32)
    first_seen_s: float
    last_seen_s: float = Field(index=True)
    first_camera_id: str = Field(max_length=128)
    last_camera_id: str = Field(max_length=128)
    crop_key: str | None = Field(default=None, max_length=1024)  # object-store key of the best crop (JPEG)
    crop_quality: float = 0.0
    expires_at: float = Field(index=True)  # epoch seconds (wall clock)
    merged_into: str | None = Field(default=None, max_length=36)  # a tentative identity merged into this person


class IdentityEmbedding(SQLModel, table=True):
    """One gallery embedding of a person (float32 bytes)."""

    __tablename__ = "identity_embedding"

    id: int | None = Field(default=None, primary_key=True, sa_type=_BIG_PK)
    global_id: str = Field(foreign_key="identity.global_id", ondelete="CASCADE", index=True, max_length=36)
    camera_id: str = Field(max_length=128)
    t_s: float
    quality: float
    vector: bytes = Field(sa_type=sa.LargeBinary)


class IdentityTrack(SQLModel, table=True):
    """A per-camera track linked to a person, and why (the matching verdict)."""

    __tablename__ = "identity_track"
    __table_args__ = (sa.UniqueConstraint("track_key", name="uq_identity_track_track_key"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=_BIG_PK)
    global_id: str = Field(foreign_key="identity.global_id", ondelete="CASCADE", index=True, max_length=36)
    track_key: str = Field(max_length=160)  # "live/{camera}/{session}/{track_id}" or "{job}/{video}/{track_id}"
    camera_id: str = Field(max_length=128, index=True)
    track_id: int
    job_id: str | None = Field(default=None, max_length=32, index=True)
    video_id: str | None = Field(default=None, max_length=32)
    first_seen_s: float
    last_seen_s: float
    verdict: str = Field(max_length=32)
    score: float | None = None


class IdentityPosition(SQLModel, table=True):
    """A sampled position of a person: the box in the camera and, for calibrated cameras, the plan point (m)."""

    __tablename__ = "identity_position"

    id: int | None = Field(default=None, primary_key=True, sa_type=_BIG_PK)
    global_id: str = Field(foreign_key="identity.global_id", ondelete="CASCADE", index=True, max_length=36)
    camera_id: str = Field(max_length=128)
    track_id: int
    t_s: float = Field(index=True)
    x1: float
    y1: float
    x2: float
    y2: float
    map_x: float | None = None
    map_y: float | None = None
    frame_w: int | None = None  # size of the frame the box is in (px)
    frame_h: int | None = None


class FocusSession(SQLModel, table=True):
    """A user's focused person ("focus track"): one per user."""

    __tablename__ = "focus_session"

    user_id: str = Field(primary_key=True, max_length=32)
    global_id: str = Field(max_length=36, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


__all__ += ["Identity", "IdentityEmbedding", "IdentityTrack", "IdentityPosition", "FocusSession"]
# ================================================================= reliability (0009)
# Tables below are created by `storage/migrations/versions/0009_reliability.py` (which also adds the
# job heartbeat / deadline and the webhook-delivery retry columns above); repositories in `storage.reliability`.


class DeadEventBase(SQLModel):
    event_id: str = Field(sa_type=sa.Text, index=True)
    camera_id: str | None = Field(default=None, sa_type=sa.Text)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)  # the event (and its clip) as sent
    error: str = Field(sa_type=sa.Text)


class DeadEvent(DeadEventBase, table=True):
    """A live event the database refused for a reason a retry cannot fix (e.g. a value too long for its
    column): kept here, out of the way of the other events of its batch."""

    __tablename__ = "dead_event"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class DeadEventPublic(DeadEventBase):
    id: str
    created_at: datetime


class DeadEventsPublic(SQLModel):
    data: list[DeadEventPublic]
    count: int


class PendingVisit(SQLModel, table=True):
    """A live person's finished visit waiting to be scored (so a restarted event sink still scores it).

    `id` is derived from the visit (`actors.intent_watch.visit_record`), and the alert it raises gets
    the same id, so a visit is scored and alerted at most once.
    """

    __tablename__ = "pending_visit"

    id: str = Field(primary_key=True, max_length=32)
    camera_id: str = Field(max_length=128, index=True)
    due_at: datetime = Field(sa_type=UTCDateTime, index=True)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    status: str = Field(default="pending", max_length=16, index=True)  # pending | failed
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


__all__ += ["DeadEventBase", "DeadEvent", "DeadEventPublic", "DeadEventsPublic", "PendingVisit"]


# ====================================================================== learning loop (0014)
# Tables below are created by `storage/migrations/versions/0015_learning.py`: operators' training
# labels (`domain.labels`) and the behaviour-model stage history (production / staging).
class TrainingLabelBase(SQLModel):
    source: str = Field(max_length=16, index=True)  # domain.labels.LabelSource value
    label: str = Field(max_length=16, index=True)  # a BehaviourClass value
    alert_id: str | None = Field(default=None, foreign_key="alert.id", ondelete="CASCADE", index=True, max_length=32)
    event_id: str | None = Field(default=None, foreign_key="event.id", ondelete="CASCADE", index=True, max_length=64)
    camera_id: str | None = Field(default=None, max_length=128, index=True)
    job_id: str | None = Field(default=None, max_length=32, index=True)
    video_id: str | None = Field(default=None, max_length=32)
    track_id: int | None = None
    t_start_s: float | None = None  # the span labelled, on the alert's / event's clock
    t_end_s: float | None = None
    given_by: str = Field(max_length=64)  # username
    reason: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class TrainingLabel(TrainingLabelBase, table=True):
    """One labelled example from an operator's decision: one per alert and one per event (the latest decision wins)."""

    __tablename__ = "training_label"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)


class TrainingLabelPublic(TrainingLabelBase):
    id: str


class TrainingLabelsPublic(SQLModel):
    data: list[TrainingLabelPublic]
    count: int
    by_class: dict[str, int] = Field(default_factory=dict, description="Matching labels per class")
    by_source: dict[str, int] = Field(default_factory=dict, description="Matching labels per source")


class ModelStageChange(SQLModel, table=True):
    """One promotion or rollback of a model version to a stage; the newest row per (kind, stage) is current."""

    __tablename__ = "model_stage_change"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32, index=True)
    stage: str = Field(max_length=16, index=True)  # production | staging
    version: str | None = Field(default=None, max_length=16)  # None: the stage was cleared
    previous_version: str | None = Field(default=None, max_length=16)
    action: str = Field(max_length=16)  # promote | rollback
    actor: str = Field(max_length=64)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class ModelStageChangePublic(SQLModel):
    id: int
    kind: str
    stage: str
    version: str | None
    previous_version: str | None
    action: str
    actor: str
    at: datetime


__all__ += ["TrainingLabelBase", "TrainingLabel", "TrainingLabelPublic", "TrainingLabelsPublic", "ModelStageChange",
            "ModelStageChangePublic"]
