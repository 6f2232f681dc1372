"""Repository functions for jobs, videos and their results. Each takes a `Session`.

Every mutating function is one unit of work: it commits before returning (or rolls back
and re-raises). Read functions never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from domain.events import Event as DomainEvent
from domain.events import EventType
from domain.tracks import Trajectory
from storage.db import commit as _commit
from storage.scope import CameraScope
from storage.models import (
    AuditLog,
    AuditLogCreate,
    Clip,
    ClipCreate,
    Event,
    Job,
    JobStatus,
    RefreshToken,
    Track,
    TrackPoint,
    User,
    UserCreate,
    UserUpdate,
    Video,
    VideoStatus,
    utcnow,
)

__all__ = [
    "NotFoundError",
    "create_job",
    "get_job",
    "list_jobs",
    "get_video",
    "list_videos",
    "start_job",
    "update_job_progress",
    "finish_job",
    "fail_job",
    "cancel_job",
    "update_video_probe",
    "mark_video_running",
    "fail_video",
    "save_video_results",
    "upsert_events",
    "list_events",
    "list_tracks",
    "get_track_points",
    "list_track_points_for_video",
    "list_clips",
    "count_job_results",
    "start_pending_job",
    "set_job_owner",
]

_CLIP_NAMESPACE = uuid.UUID("1c0f6a8e-3d2b-4f57-8a61-2b9e4d7c5a10")
_PROBE_FIELDS = frozenset(
    {"camera_id", "fps", "frame_count", "width", "height", "codec", "duration_s", "size_bytes", "name"}
)


class NotFoundError(LookupError):
    """A job or video id that is not in the database."""


# ------------------------------------------------------------------------------------- helpers
def _require(session: Session, model: type[Any], id_: str) -> Any:
    row = session.get(model, id_)
    if row is None:
        raise NotFoundError(f"{model.__name__.lower()} {id_!r} not found")
    return row


def _input_name(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1] or uri


def _delete_video_results(session: Session, video_id: str) -> None:
    """Delete clips, events, track points, tracks and alerts (with notes and history) of a video (no commit)."""
    track_pks = select(Track.id).where(Track.video_id == video_id)
    session.execute(sa.delete(Clip).where(col(Clip.video_id) == video_id))
    # Clips of this video's events that were stored without a video_id.
    event_ids = select(Event.id).where(Event.video_id == video_id)
    session.execute(sa.delete(Clip).where(col(Clip.event_id).in_(event_ids)))
    session.execute(sa.delete(Event).where(col(Event.video_id) == video_id))
    session.execute(sa.delete(TrackPoint).where(col(TrackPoint.track_pk).in_(track_pks)))
    session.execute(sa.delete(Track).where(col(Track.video_id) == video_id))
    alert_ids = select(Alert.id).where(Alert.video_id == video_id)
    session.execute(sa.delete(AlertNote).where(col(AlertNote.alert_id).in_(alert_ids)))
    session.execute(sa.delete(AlertHistory).where(col(AlertHistory.alert_id).in_(alert_ids)))
    session.execute(sa.delete(Alert).where(col(Alert.video_id) == video_id))


# ----------------------------------------------------------------------------------------- jobs
def create_job(session: Session, *, params: dict[str, Any], inputs: list[str]) -> Job:
    """Create a pending job with one pending video per input.

    Args:
        session: open session.
        params: job parameters (fps, imgsz, site name...); `inputs` is added to them.
        inputs: video URIs as the user gave them (paths or `s3://bucket/key`), in order.

    Returns:
        The committed `Job`.

    Raises:
        ValueError: if `inputs` is empty.
    """
    if not inputs:
        raise ValueError("a job needs at least one input, but got an empty list")
    job = Job(params={**params, "inputs": list(inputs)}, videos_total=len(inputs))
    session.add(job)
    session.flush()
    for position, uri in enumerate(inputs):
        session.add(Video(job_id=job.id, position=position, uri=uri, name=_input_name(uri)))
    _commit(session, job)
    return job


def get_job(session: Session, job_id: str) -> Job | None:
    """The job with this id, or `None`."""
    return session.get(Job, job_id)


def list_jobs(session: Session, *, limit: int = 50, offset: int = 0,
              scope: CameraScope | None = None) -> tuple[list[Job], int]:  # fmt: skip
    """Jobs, newest first.

    Args:
        session: open session.
        limit: page size.
        offset: rows to skip.
        scope: only the jobs this scope sees (`None`: every job).

    Returns:
        `(jobs, total)`: the page and the number of jobs in all.
    """
    conditions = [] if scope is None else [scope.job_clause()]
    total = session.exec(select(func.count()).select_from(Job).where(*conditions)).one()
    stmt = select(Job).where(*conditions).order_by(col(Job.created_at).desc(), col(Job.id)).offset(offset).limit(limit)
    return list(session.exec(stmt).all()), total


def set_job_owner(session: Session, job_id: str, *, camera_group: str | None, created_by: str | None) -> Job:
    """Record who submitted a job and the camera group it (and all it produces) belongs to.

    Raises:
        NotFoundError: if the job does not exist.
    """
    job = _require(session, Job, job_id)
    job.camera_group, job.created_by = camera_group, created_by
    session.add(job)
    _commit(session, job)
    return job


def get_video(session: Session, video_id: str) -> Video | None:
    """The video with this id, or `None`."""
    return session.get(Video, video_id)


def list_videos(session: Session, job_id: str) -> list[Video]:
    """The job's videos in input order."""
    stmt = select(Video).where(Video.job_id == job_id).order_by(col(Video.position), col(Video.id))
    return list(session.exec(stmt).all())


def start_job(session: Session, job_id: str) -> Job:
    """Mark a job running and stamp `started_at`.

    Raises:
        NotFoundError: if the job does not exist.
    """
    job = _require(session, Job, job_id)
    job.status = JobStatus.RUNNING
    job.started_at = utcnow()
    _commit(session, job)
    return job


def start_pending_job(session: Session, job_id: str) -> bool:
    """Mark a job running only if it is still pending, atomically (a concurrent cancel wins).

    Returns:
        Whether the job was pending and is now running.
    """
    result = session.execute(
        sa.update(Job)
        .where(col(Job.id) == job_id, col(Job.status) == JobStatus.PENDING)
        .values(status=JobStatus.RUNNING, started_at=utcnow())
    )
    session.commit()
    return result.rowcount == 1


def update_job_progress(session: Session, job_id: str, *, frames_done: int, frames_total: int) -> Job:
    """Record progress; `progress = frames_done / frames_total` clipped to 0–1 (0 if no total).

    Raises:
        NotFoundError: if the job does not exist.
    """
    job = _require(session, Job, job_id)
    job.frames_done = frames_done
    job.frames_total = frames_total
    job.progress = min(1.0, max(0.0, frames_done / frames_total)) if frames_total > 0 else 0.0
    _commit(session, job)
    return job


def finish_job(session: Session, job_id: str) -> Job:
    """Close a job and derive its status from its videos.

    Videos still pending or running are failed first (their partial rows removed, as in
    `fail_video`). Then: no failed video → `done`; some failed → `partial`; all failed →
    `failed` (with the first video error in `error`). A cancelled job stays `cancelled`.

    Raises:
        NotFoundError: if the job does not exist.
    """
    job = _require(session, Job, job_id)
    videos = list_videos(session, job_id)
    for video in videos:
        if video.status in (VideoStatus.PENDING, VideoStatus.RUNNING):
            _delete_video_results(session, video.id)
            video.status = VideoStatus.FAILED
            video.error = "job finished before this video was processed"
            video.completed_at = None
    failed = [v for v in videos if v.status == VideoStatus.FAILED]
    job.videos_total = len(videos)
    job.videos_failed = len(failed)
    if job.status == JobStatus.CANCELLED:
        pass  # cancelled by a user: the counts are updated, the status is kept
    elif videos and len(failed) == len(videos):
        job.status = JobStatus.FAILED
        job.error = f"all {len(videos)} videos failed; first error: {failed[0].error}"
    elif failed:
        job.status = JobStatus.PARTIAL
    else:
        job.status = JobStatus.DONE
        if job.frames_total > 0:
            job.frames_done = job.frames_total
        job.progress = 1.0
    job.finished_at = utcnow()
    _commit(session, job)
    return job


def fail_job(session: Session, job_id: str, error: str) -> Job:
    """Mark a whole job failed (e.g. the cluster lost it) with `error`.

    Raises:
        NotFoundError: if the job does not exist.
    """
    job = _require(session, Job, job_id)
    job.status = JobStatus.FAILED
    job.error = error
    job.finished_at = utcnow()
    _commit(session, job)
    return job


def cancel_job(session: Session, job_id: str) -> Job:
    """Mark a job cancelled (results already saved are kept).

    Raises:
        NotFoundError: if the job does not exist.
    """
    job = _require(session, Job, job_id)
    job.status = JobStatus.CANCELLED
    job.finished_at = utcnow()
    _commit(session, job)
    return job


# --------------------------------------------------------------------------------------- videos
def update_video_probe(session: Session, video_id: str, **probe: Any) -> Video:
    """Store what probing the file found.

    Args:
        session: open session.
        video_id: the video.
        **probe: any of `camera_id, fps, frame_count, width, height, codec, duration_s,
            size_bytes, name`.

    Returns:
        The updated video.

    Raises:
        NotFoundError: if the video does not exist.
        ValueError: for an unknown probe field.
    """
    unknown = set(probe) - _PROBE_FIELDS
    if unknown:
        raise ValueError(f"unknown probe fields {sorted(unknown)}; expected some of {sorted(_PROBE_FIELDS)}")
    video = _require(session, Video, video_id)
    for name, value in probe.items():
        setattr(video, name, value)
    _commit(session, video)
    return video


def mark_video_running(session: Session, video_id: str) -> Video:
    """Mark a video running (clearing any earlier error).

    Raises:
        NotFoundError: if the video does not exist.
    """
    video = _require(session, Video, video_id)
    video.status = VideoStatus.RUNNING
    video.error = None
    _commit(session, video)
    return video


def fail_video(session: Session, video_id: str, error: str) -> Video:
    """Mark a video failed and delete every track, point, event and clip row stored for it.

    A failed video's partial results never stay behind looking complete. Clip objects in the
    object store are not touched; delete them by prefix separately.

    Raises:
        NotFoundError: if the video does not exist.
    """
    video = _require(session, Video, video_id)
    try:
        _delete_video_results(session, video_id)
        video.status = VideoStatus.FAILED
        video.error = error
        video.completed_at = None
        video.frames_analysed = 0
        video.people_count = 0
    except BaseException:
        session.rollback()
        raise
    _commit(session, video)
    return video


# -------------------------------------------------------------------------------------- results
def _event_row(event_id: str, event: DomainEvent, *, job_id: str | None, video_id: str | None) -> dict[str, Any]:
    return {
        "id": event_id,
        "job_id": job_id,
        "video_id": video_id,
        "camera_id": event.camera_id,
        "type": event.type.value if isinstance(event.type, EventType) else str(event.type),
        "rule": event.rule,
        "track_id": event.track_id,
        "zone": event.zone,
        "t_start_s": float(event.t_start_s),
        "t_end_s": float(event.t_end_s),
        "frame_start": int(event.frame_start),
        "frame_end": int(event.frame_end),
        "confidence": float(event.confidence),
        "payload": dict(event.payload),
        "created_at": utcnow(),
        "global_id": getattr(event, "global_id", None),
    }


def _upsert_event_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    table = Event.__table__
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(table)
        updated = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in ("id", "created_at")}
        session.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=updated), rows)
    else:  # other dialects: portable but slower
        for row in rows:
            session.merge(Event(**row))


def upsert_events(
    session: Session,
    events: Sequence[tuple[str, DomainEvent]],
    *,
    job_id: str | None = None,
    video_id: str | None = None,
) -> int:
    """Insert events, updating any already stored under the same id (retries never duplicate).

    Args:
        session: open session.
        events: `(id, event)` pairs, the id from `domain.events.event_id`.
        job_id: job to tag them with (`None` for live events).
        video_id: video to tag them with (`None` for live events).

    Returns:
        Number of events written.
    """
    rows = [_event_row(eid, ev, job_id=job_id, video_id=video_id) for eid, ev in events]
    try:
        _upsert_event_rows(session, rows)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return len(rows)


def _track_row(traj: Trajectory, *, job_id: str, video_id: str) -> dict[str, Any]:
    detected = ~np.asarray(traj.interpolated, dtype=bool)
    conf = np.asarray(traj.confidence, dtype=np.float64)
    n = len(traj)
    return {
        "job_id": job_id,
        "video_id": video_id,
        "track_id": int(traj.track_id),
        "first_t_s": float(traj.t_s[0]) if n else 0.0,
        "last_t_s": float(traj.t_s[-1]) if n else 0.0,
        "first_frame": int(traj.frame_index[0]) if n else 0,
        "last_frame": int(traj.frame_index[-1]) if n else 0,
        "frame_count": int(detected.sum()),
        "mean_confidence": float(conf[detected].mean()) if detected.any() else 0.0,
    }


def _point_rows(traj: Trajectory, track_pk: int) -> list[dict[str, Any]]:
    xyxy = np.asarray(traj.xyxy, dtype=np.float64)
    foot = np.asarray(traj.foot_xy, dtype=np.float64)
    keypoints: list[Any]
    if traj.keypoints is not None:
        kp = np.nan_to_num(np.asarray(traj.keypoints, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        keypoints = np.round(kp, 2).tolist()
    else:
        keypoints = [None] * len(traj)
    landmarks: list[Any] = [None] * len(traj)
    if traj.landmarks is not None:
        landmarks = np.round(np.nan_to_num(np.asarray(traj.landmarks, dtype=np.float64)), 2).tolist()
    return [
        {
            "track_pk": track_pk,
            "frame_index": f,
            "t_s": t,
            "x1": b[0],
            "y1": b[1],
            "x2": b[2],
            "y2": b[3],
            "foot_x": fx[0],
            "foot_y": fx[1],
            "confidence": c,
            "interpolated": i,
            "keypoints": k,
            "landmarks": lm,
        }
        for f, t, b, fx, c, i, k, lm in zip(
            np.asarray(traj.frame_index).tolist(),
            np.asarray(traj.t_s, dtype=np.float64).tolist(),
            xyxy.tolist(),
            foot.tolist(),
            np.asarray(traj.confidence, dtype=np.float64).tolist(),
            np.asarray(traj.interpolated, dtype=bool).tolist(),
            keypoints,
            landmarks,
            strict=True,
        )
    ]


def _clip_row(clip: ClipCreate | dict[str, Any], *, job_id: str, video_id: str) -> dict[str, Any]:
    data = ClipCreate.model_validate(clip).model_dump()
    data["job_id"] = job_id
    data["video_id"] = video_id
    if data.get("id") is None:
        data["id"] = str(uuid.uuid5(_CLIP_NAMESPACE, f"{data['event_id']}|{data['key']}"))
    data["created_at"] = utcnow()
    return data


def save_video_results(
    session: Session,
    *,
    video_id: str,
    trajectories: Sequence[Trajectory],
    events: Sequence[tuple[str, DomainEvent]],
    clips: Sequence[ClipCreate | dict[str, Any]],
    frames_analysed: int,
    people_count: int,
    alerts: Sequence[dict[str, Any]] = (),
) -> Video:
    """Store a video's results in one transaction and mark the video done.

    Any rows stored for the video before (an earlier attempt) are replaced, so re-running is
    idempotent. Tracks are inserted in bulk with RETURNING, points in one executemany; events
    are upserted by id; clips are inserted with their `job_id`/`video_id` set from the video.
    Nothing is visible (and the video is not `done`) unless everything committed.

    Args:
        session: open session.
        video_id: the video.
        trajectories: one per person track; `track_id`s must be unique within the video.
        events: `(id, event)` pairs, ids from `domain.events.event_id`.
        clips: clip descriptions, each referring to one of `events` by `event_id`.
        frames_analysed: frames the detector ran on.
        people_count: distinct people seen.
        alerts: `create_alert` keywords of the alerts the video raised (job, video set here);
            alerts stored for the video before are replaced with the rest of its results.

    Returns:
        The updated video (status `done`, `completed_at` set).

    Raises:
        NotFoundError: if the video does not exist.
        ValueError: if two trajectories share a `track_id`.
        sqlalchemy.exc.IntegrityError: e.g. a clip naming an event that is not stored.
    """
    video = _require(session, Video, video_id)
    track_ids = [int(t.track_id) for t in trajectories]
    if len(set(track_ids)) != len(track_ids):
        raise ValueError(f"trajectories must have unique track_id values, but got {sorted(track_ids)}")
    job_id = video.job_id
    try:
        _delete_video_results(session, video_id)
        if trajectories:
            track_rows = [_track_row(t, job_id=job_id, video_id=video_id) for t in trajectories]
            stmt = sa.insert(Track.__table__).returning(
                Track.__table__.c.id, Track.__table__.c.track_id, sort_by_parameter_order=True
            )
            pk_by_track = {tid: pk for pk, tid in session.execute(stmt, track_rows).all()}
            points: list[dict[str, Any]] = []
            for traj in trajectories:
                points.extend(_point_rows(traj, pk_by_track[int(traj.track_id)]))
            if points:
                session.execute(sa.insert(TrackPoint.__table__), points)
        _upsert_event_rows(session, [_event_row(eid, ev, job_id=job_id, video_id=video_id) for eid, ev in events])
        clip_rows = [_clip_row(c, job_id=job_id, video_id=video_id) for c in clips]
        if clip_rows:
            session.execute(sa.insert(Clip.__table__), clip_rows)
        for fields in alerts:
            create_alert(session, **{**fields, "job_id": job_id, "video_id": video_id}, commit=False)
        video.status = VideoStatus.DONE
        video.error = None
        video.frames_analysed = frames_analysed
        video.people_count = people_count
        video.completed_at = utcnow()
        session.add(video)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    session.refresh(video)
    return video


# ---------------------------------------------------------------------------------------- reads
def list_events(
    session: Session,
    *,
    job_id: str | None = None,
    video_id: str | None = None,
    camera_id: str | None = None,
    type: EventType | str | None = None,  # noqa: A002  (the field's name)
    t_from: float | None = None,
    t_to: float | None = None,
    limit: int = 100,
    offset: int = 0,
    zone: str | None = None,
    scope: CameraScope | None = None,
) -> tuple[list[Event], int]:
    """Events matching every given filter, ordered by start time.

    Args:
        session: open session.
        job_id: only this job's events.
        video_id: only this video's events.
        camera_id: only this camera's events.
        type: only this event type.
        t_from: only events starting at or after this many seconds.
        t_to: only events starting before this many seconds.
        limit: page size.
        offset: rows to skip.
        zone: only events in this zone.
        scope: only the events this scope sees (`None`: every event).

    Returns:
        `(events, total)`: the page and the number of matching events in all.
    """
    conditions = [] if scope is None else [scope.row_clause(camera_id=Event.camera_id, job_id=Event.job_id)]
    if job_id is not None:
        conditions.append(col(Event.job_id) == job_id)
    if video_id is not None:
        conditions.append(col(Event.video_id) == video_id)
    if camera_id is not None:
        conditions.append(col(Event.camera_id) == camera_id)
    if type is not None:
        conditions.append(col(Event.type) == (type.value if isinstance(type, EventType) else type))
    if t_from is not None:
        conditions.append(col(Event.t_start_s) >= t_from)
    if t_to is not None:
        conditions.append(col(Event.t_start_s) < t_to)
    if zone is not None:
        conditions.append(col(Event.zone) == zone)
    total = session.exec(select(func.count()).select_from(Event).where(*conditions)).one()
    stmt = (
        select(Event)
        .where(*conditions)
        .order_by(col(Event.t_start_s), col(Event.id))
        .offset(offset)
        .limit(limit)
    )
    return list(session.exec(stmt).all()), total


def list_tracks(session: Session, *, video_id: str) -> list[Track]:
    """A video's tracks ordered by `track_id`."""
    stmt = select(Track).where(Track.video_id == video_id).order_by(col(Track.track_id))
    return list(session.exec(stmt).all())


def get_track_points(session: Session, *, track_pk: int) -> list[TrackPoint]:
    """One track's points ordered by frame (`track_pk` is `Track.id`)."""
    stmt = select(TrackPoint).where(TrackPoint.track_pk == track_pk).order_by(col(TrackPoint.frame_index))
    return list(session.exec(stmt).all())


def list_track_points_for_video(session: Session, video_id: str) -> list[tuple[int, TrackPoint]]:
    """Every point of a video for exports, ordered by track then frame.

    Returns:
        `(track_id, point)` pairs, `track_id` being the per-video track id.
    """
    stmt = (
        select(Track.track_id, TrackPoint)
        .join(Track, col(Track.id) == col(TrackPoint.track_pk))
        .where(Track.video_id == video_id)
        .order_by(col(Track.track_id), col(TrackPoint.frame_index))
    )
    return [(tid, point) for tid, point in session.exec(stmt).all()]


def track_points_at_frame(session: Session, *, video_id: str, frame_index: int) -> list[TrackPoint]:
    """Every track's point on one frame of a video (e.g. to mask all the faces on it)."""
    stmt = (
        select(TrackPoint)
        .join(Track, col(Track.id) == col(TrackPoint.track_pk))
        .where(Track.video_id == video_id, TrackPoint.frame_index == frame_index)
    )
    return list(session.exec(stmt).all())


def list_clips(session: Session, *, job_id: str | None = None, event_id: str | None = None) -> list[Clip]:
    """Clips of a job and/or an event, ordered by start time."""
    stmt = select(Clip)
    if job_id is not None:
        stmt = stmt.where(Clip.job_id == job_id)
    if event_id is not None:
        stmt = stmt.where(Clip.event_id == event_id)
    return list(session.exec(stmt.order_by(col(Clip.t_start_s), col(Clip.id))).all())


def count_job_results(session: Session, job_id: str) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Per video of a job, its events counted by type and its tracks counted.

    Returns:
        `(events_by_type, tracks)`: `{video_id: {type: n}}` and `{video_id: n}`; videos
        without events or tracks are absent.
    """
    events: dict[str, dict[str, int]] = {}
    stmt = (
        select(Event.video_id, Event.type, func.count())
        .where(Event.job_id == job_id)
        .group_by(col(Event.video_id), col(Event.type))
    )
    for video_id, type_, n in session.exec(stmt).all():
        events.setdefault(video_id, {})[str(getattr(type_, "value", type_))] = n
    stmt = select(Track.video_id, func.count()).where(Track.job_id == job_id).group_by(col(Track.video_id))
    return events, {video_id: n for video_id, n in session.exec(stmt).all()}


# ============================================================================ users and auth
# Password hashing lives with the API (`deployments.api.security`); functions here take the
# hash, or a `verify(hash, password)` callable, so storage never imports the layer above.


def create_user(session: Session, *, data: UserCreate, password_hash: str) -> User:
    """Create a user.

    Args:
        session: open session.
        data: the new user (its plain `password` is ignored: pass the hash).
        password_hash: the password's hash (e.g. argon2 PHC string).

    Returns:
        The committed `User`.

    Raises:
        ValueError: if the username is already taken.
    """
    if get_user_by_username(session, data.username) is not None:
        raise ValueError(f"username {data.username!r} already exists")
    user = User.model_validate(data.model_dump(exclude={"password"}) | {"password_hash": password_hash})
    session.add(user)
    try:
        _commit(session, user)
    except IntegrityError:  # a concurrent insert of the same username
        raise ValueError(f"username {data.username!r} already exists") from None
    return user


def get_user(session: Session, user_id: str) -> User | None:
    """The user with this id, or `None`."""
    return session.get(User, user_id)


def get_user_by_username(session: Session, username: str) -> User | None:
    """The user with this username (exact match), or `None`."""
    return session.exec(select(User).where(User.username == username)).first()


def list_users(session: Session, *, limit: int = 100, offset: int = 0) -> tuple[list[User], int]:
    """Users ordered by username.

    Returns:
        `(users, total)`: the page and the number of users in all.
    """
    total = session.exec(select(func.count()).select_from(User)).one()
    stmt = select(User).order_by(col(User.username)).offset(offset).limit(limit)
    return list(session.exec(stmt).all()), total


def update_user(session: Session, user_id: str, *, data: UserUpdate, password_hash: str | None = None) -> User:
    """Apply the fields set in `data` (its plain `password` is ignored: pass `password_hash`).

    A new password, role, camera groups, all-cameras flag or active flag bumps the user's
    `token_version` (so their access and refresh tokens stop working) and revokes their
    stored refresh tokens.

    Raises:
        NotFoundError: if the user does not exist.
    """
    user = _require(session, User, user_id)
    before = (user.role, list(user.camera_groups), user.all_cameras, user.is_active)
    for name, value in data.model_dump(exclude_unset=True, exclude={"password"}).items():
        if value is not None:
            setattr(user, name, value)
    if password_hash is not None:
        user.password_hash = password_hash
    if password_hash is not None or (user.role, list(user.camera_groups), user.all_cameras, user.is_active) != before:
        user.token_version += 1  # every token issued before this change is refused
        _revoke_user_tokens(session, user_id)
    session.add(user)
    _commit(session, user)
    return user


def delete_user(session: Session, user_id: str) -> None:
    """Delete a user and their refresh tokens (audit rows keep their id and username).

    Raises:
        NotFoundError: if the user does not exist.
    """
    user = _require(session, User, user_id)
    session.execute(sa.delete(RefreshToken).where(col(RefreshToken.user_id) == user_id))
    session.delete(user)
    _commit(session)


def authenticate(
    session: Session, *, username: str, password: str, verify: Callable[[str, str], bool], dummy_hash: str
) -> User | None:
    """The user whose username and password match, or `None`.

    An unknown username still costs one `verify` call (against `dummy_hash`), so response
    time does not reveal which usernames exist. Inactive users are returned too: the caller
    decides how to refuse them.

    Args:
        session: open session.
        username: as typed.
        password: as typed.
        verify: `verify(hash, password) -> bool`, never raising for a mismatch.
        dummy_hash: a valid hash of some random password.
    """
    user = get_user_by_username(session, username)
    if user is None:
        verify(dummy_hash, password)
        return None
    return user if verify(user.password_hash, password) else None


def store_refresh_token(session: Session, *, jti: str, user_id: str, expires_at: datetime) -> RefreshToken:
    """Record an issued refresh token."""
    row = RefreshToken(jti=jti, user_id=user_id, expires_at=expires_at)
    session.add(row)
    _commit(session, row)
    return row


def get_refresh_token(session: Session, jti: str) -> RefreshToken | None:
    """The refresh token with this `jti`, or `None`."""
    return session.get(RefreshToken, jti)


def revoke_refresh_token(session: Session, jti: str) -> bool:
    """Revoke a refresh token atomically.

    Returns:
        `True` if this call revoked it; `False` if it was unknown or already revoked (so of
        two concurrent rotations of the same token, exactly one wins).
    """
    stmt = (
        sa.update(RefreshToken)
        .where(col(RefreshToken.jti) == jti, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    try:
        revoked = session.execute(stmt).rowcount == 1
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return revoked


def is_refresh_token_revoked(session: Session, jti: str) -> bool:
    """`True` if the token is unknown, revoked or expired."""
    row = session.get(RefreshToken, jti)
    return row is None or row.revoked_at is not None or row.expires_at <= utcnow()


def _revoke_user_tokens(session: Session, user_id: str) -> int:
    stmt = (
        sa.update(RefreshToken)
        .where(col(RefreshToken.user_id) == user_id, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    return session.execute(stmt).rowcount


def revoke_user_refresh_tokens(session: Session, user_id: str) -> int:
    """Revoke every active refresh token of a user (e.g. on detected token reuse).

    Returns:
        Number of tokens revoked.
    """
    try:
        count = _revoke_user_tokens(session, user_id)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return count


# ------------------------------------------------------------------------------------ audit
def add_audit(session: Session, entry: AuditLogCreate) -> AuditLog:
    """Append one audit row."""
    row = AuditLog.model_validate(entry)
    session.add(row)
    _commit(session, row)
    return row


def list_audit(
    session: Session,
    *,
    user_id: str | None = None,
    username: str | None = None,
    action: str | None = None,
    resource_type: str | None = None,
    resource_id: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[AuditLog], int]:
    """Audit rows matching every given filter, newest first.

    Args:
        session: open session.
        user_id: only this user's requests.
        username: only requests by (or login attempts as) this username.
        action: only this action, e.g. `"job.cancel"`.
        resource_type: only this resource type, e.g. `"job"`.
        resource_id: only this resource.
        since: only rows at or after this time.
        limit: page size.
        offset: rows to skip.

    Returns:
        `(rows, total)`: the page and the number of matching rows in all.
    """
    conditions = []
    for column, value in (
        (AuditLog.user_id, user_id),
        (AuditLog.username, username),
        (AuditLog.action, action),
        (AuditLog.resource_type, resource_type),
        (AuditLog.resource_id, resource_id),
    ):
        if value is not None:
            conditions.append(col(column) == value)
    if since is not None:
        conditions.append(col(AuditLog.at) >= since)
    total = session.exec(select(func.count()).select_from(AuditLog).where(*conditions)).one()
    stmt = select(AuditLog).where(*conditions).order_by(col(AuditLog.at).desc(), col(AuditLog.id).desc())
    return list(session.exec(stmt.offset(offset).limit(limit)).all()), total


__all__ += [
    "create_user",
    "get_user",
    "get_user_by_username",
    "list_users",
    "update_user",
    "delete_user",
    "authenticate",
    "store_refresh_token",
    "get_refresh_token",
    "revoke_refresh_token",
    "is_refresh_token_revoked",
    "revoke_user_refresh_tokens",
    "add_audit",
    "list_audit",
]


def get_event(session: Session, event_id: str) -> Event | None:
    """The event with this id, or `None`."""
    return session.get(Event, event_id)


__all__ += ["get_event"]


# ========================================================================= sites and cameras
# A camera's zones, lines and rules are its `config` (a `CameraConfig` in JSON mode). Every
# change is validated by building a whole new `CameraConfig`, so the cross-field checks of the
# site file ("rule references unknown zone") apply to the API too.
import re  # noqa: E402

from pydantic import ValidationError  # noqa: E402

from domain.site import CameraConfig, LineConfig, SiteConfig, ZoneConfig  # noqa: E402
from domain.site.rules import LineCrossRuleConfig, RuleBase, ZoneSequenceRuleConfig  # noqa: E402
from storage.models import (  # noqa: E402
    SLUG_PATTERN,
    Camera,
    CameraCreate,
    CameraUpdate,
    Site,
    SiteCreate,
    SiteUpdate,
)

_SLUG = re.compile(SLUG_PATTERN)
_SECTIONS = ("zones", "lines", "rules")


class ConfigInvalidError(ValueError):
    """A camera config (or site file) that fails validation.

    Attributes:
        errors: one `{"loc": (...), "msg": str, "type": str}` per problem; `loc` is the field path
            inside the `CameraConfig` (or `SiteConfig` for imports), e.g. `("rules", "x", "zone")`.
    """

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in errors))


class InUseError(ValueError):
    """Deleting something still referenced (a zone used by a rule, a site with cameras).

    Attributes:
        by: what references it (the rule's name), if one thing.
    """

    def __init__(self, message: str, *, by: str | None = None) -> None:
        super().__init__(message)
        self.by = by


def _config_errors(exc: ValidationError) -> list[dict[str, Any]]:
    errors = []
    for err in exc.errors():
        loc = tuple(err["loc"]) + tuple((err.get("ctx") or {}).get("path", ()))
        errors.append({"loc": loc, "msg": err["msg"].removeprefix("Value error, "), "type": err["type"]})
    return errors


def validate_camera_config(data: dict[str, Any] | CameraConfig) -> CameraConfig:
    """A `CameraConfig` from a dict, with the site file's validation.

    Raises:
        ConfigInvalidError: (a `ValueError`) listing each problem with its field path.
    """
    if isinstance(data, CameraConfig):
        data = data.model_dump(mode="json")
    try:
        return CameraConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigInvalidError(_config_errors(exc)) from None


def camera_config(camera: Camera) -> CameraConfig:
    """The camera's validated `CameraConfig` (`friendly_name` and `source` from its columns)."""
    return validate_camera_config({**camera.config, "friendly_name": camera.friendly_name, "source": camera.source})


def camera_id_for(site_name: str, key: str) -> str:
    """A camera's id: `"{site_name}.{key}"` (both slugs, so the id is URL-safe).

    Example:
        >>> camera_id_for("demo-store", "vtest")
        'demo-store.vtest'
    """
    return f"{site_name}.{key}"


def _check_slug(value: str, loc: tuple[Any, ...]) -> None:
    if not _SLUG.match(value):
        msg = f"'{value}' must match {SLUG_PATTERN} (letters, digits, '-', '_'; at most 63)"
        raise ConfigInvalidError([{"loc": loc, "msg": msg, "type": "string_pattern_mismatch"}])


def _touch(row: Site | Camera) -> None:
    row.updated_at = utcnow()
    if isinstance(row, Camera):
        row.version += 1


# ---------------------------------------------------------------------------------------- sites
def create_site(session: Session, data: SiteCreate) -> Site:
    """Create a site.

    Raises:
        ValueError: if the name is taken (`ConfigInvalidError` if it is not a slug).
    """
    _check_slug(data.name, ("name",))
    if get_site_by_name(session, data.name) is not None:
        raise ValueError(f"site {data.name!r} already exists")
    site = Site.model_validate(data)
    session.add(site)
    try:
        _commit(session, site)
    except IntegrityError:
        raise ValueError(f"site {data.name!r} already exists") from None
    return site


def get_site(session: Session, site_id: str) -> Site | None:
    """The site with this id, or `None`."""
    return session.get(Site, site_id)


def get_site_by_name(session: Session, name: str) -> Site | None:
    """The site with this name, or `None`."""
    return session.exec(select(Site).where(Site.name == name)).first()


def list_sites(session: Session, *, limit: int = 100, offset: int = 0) -> tuple[list[Site], int]:
    """Sites ordered by name; returns `(sites, total)`."""
    total = session.exec(select(func.count()).select_from(Site)).one()
    stmt = select(Site).order_by(col(Site.name)).offset(offset).limit(limit)
    return list(session.exec(stmt).all()), total


def update_site(session: Session, site_id: str, *, data: SiteUpdate) -> Site:
    """Apply the fields set in `data`.

    Raises:
        NotFoundError: if the site does not exist.
    """
    site = _require(session, Site, site_id)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("timezone", "") is None:
        del changes["timezone"]
    for name, value in changes.items():
        setattr(site, name, value)
    _touch(site)
    session.add(site)
    _commit(session, site)
    return site


def delete_site(session: Session, site_id: str) -> None:
    """Delete a site that has no cameras.

    Raises:
        NotFoundError: if the site does not exist.
        InUseError: if cameras still belong to it (delete them first).
    """
    site = _require(session, Site, site_id)
    count = session.exec(select(func.count()).select_from(Camera).where(Camera.site_id == site_id)).one()
    if count:
        raise InUseError(f"site {site.name!r} still has {count} cameras")
    session.delete(site)
    _commit(session)


# -------------------------------------------------------------------------------------- cameras
def _config_dict(config: CameraConfig, friendly_name: str | None, source: str | None) -> dict[str, Any]:
    return {**config.model_dump(mode="json"), "friendly_name": friendly_name, "source": source}


def create_camera(session: Session, data: CameraCreate) -> Camera:
    """Create a camera; its id is `camera_id_for(site.name, key)`.

    `friendly_name` and `source` default to the ones in `data.config`.

    Raises:
        NotFoundError: if the site does not exist.
        ValueError: if the site already has a camera with this key (`ConfigInvalidError` if the
            key is not a slug).
    """
    _check_slug(data.key, ("key",))
    site = _require(session, Site, data.site_id)
    friendly_name = data.friendly_name if data.friendly_name is not None else data.config.friendly_name
    source = data.source if data.source is not None else data.config.source
    camera = Camera(
        id=camera_id_for(site.name, data.key),
        site_id=site.id,
        key=data.key,
        friendly_name=friendly_name,
        source=source,
        camera_group=data.camera_group,
        enabled=data.enabled,
        config=_config_dict(data.config, friendly_name, source),
    )
    if session.get(Camera, camera.id) is not None:
        raise ValueError(f"camera {camera.id!r} already exists")
    session.add(camera)
    try:
        _commit(session, camera)
    except IntegrityError:
        raise ValueError(f"camera {camera.id!r} already exists") from None
    return camera


def get_camera(session: Session, camera_id: str) -> Camera | None:
    """The camera with this id, or `None`."""
    return session.get(Camera, camera_id)


def list_cameras(
    session: Session,
    *,
    site_id: str | None = None,
    enabled: bool | None = None,
    camera_group: str | None = None,
    camera_groups: Sequence[str] | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> tuple[list[Camera], int]:
    """Cameras matching every given filter, ordered by id.

    Args:
        session: open session.
        site_id: only this site's cameras.
        enabled: only enabled (or disabled) cameras.
        camera_group: only this group's cameras.
        camera_groups: only cameras in one of these groups (a user's scope; `None`: no limit).
        limit: page size.
        offset: rows to skip.

    Returns:
        `(cameras, total)`.
    """
    conditions = []
    if site_id is not None:
        conditions.append(col(Camera.site_id) == site_id)
    if enabled is not None:
        conditions.append(col(Camera.enabled) == enabled)
    if camera_group is not None:
        conditions.append(col(Camera.camera_group) == camera_group)
    if camera_groups is not None:
        conditions.append(col(Camera.camera_group).in_(list(camera_groups)))
    total = session.exec(select(func.count()).select_from(Camera).where(*conditions)).one()
    stmt = select(Camera).where(*conditions).order_by(col(Camera.id)).offset(offset).limit(limit)
    return list(session.exec(stmt).all()), total


def update_camera(session: Session, camera_id: str, *, data: CameraUpdate) -> Camera:
    """Apply the fields set in `data` (`config` replaces the whole config) and bump `version`.

    `friendly_name`, `source` and `camera_group` may be set to `None`; `enabled` and `config`
    given as `None` are ignored.

    Raises:
        NotFoundError: if the camera does not exist.
    """
    camera = _require(session, Camera, camera_id)
    changes = data.model_dump(exclude_unset=True, exclude={"config"})
    for name, value in changes.items():
        if value is not None or name != "enabled":
            setattr(camera, name, value)
    config = data.config if data.config is not None else camera_config(camera)
    camera.config = _config_dict(config, camera.friendly_name, camera.source)
    _touch(camera)
    session.add(camera)
    _commit(session, camera)
    return camera


def delete_camera(session: Session, camera_id: str) -> None:
    """Delete a camera (its stored events are kept).

    Raises:
        NotFoundError: if the camera does not exist.
    """
    session.delete(_require(session, Camera, camera_id))
    _commit(session)


def _references(config: CameraConfig, section: str, name: str) -> list[str]:
    """Rules using zone / line `name` (`section` is `"zones"` or `"lines"`)."""
    users = []
    for rule_name, rule in config.rules.items():
        if section == "lines":
            used = isinstance(rule, LineCrossRuleConfig) and rule.line == name
        elif isinstance(rule, ZoneSequenceRuleConfig):
            used = name in rule.sequence or name in rule.absent
        else:
            used = getattr(rule, "zone", None) == name
        if used:
            users.append(rule_name)
    return users


def _edit_section(session: Session, camera_id: str, section: str, name: str, value: Any) -> Camera:
    camera = _require(session, Camera, camera_id)
    config = camera_config(camera)
    items = dict(getattr(config, section))
    if value is None:
        if name not in items:
            raise NotFoundError(f"{section[:-1]} {name!r} not found on camera {camera_id!r}")
        if section != "rules" and (users := _references(config, section, name)):
            raise InUseError(f"{section[:-1]} {name!r} is used by rule {users[0]!r}", by=users[0])
        del items[name]
    else:
        items[name] = value.model_dump(mode="json")
    data = config.model_dump(mode="json") | {section: {k: _dump(v) for k, v in items.items()}}
    camera.config = _config_dict(validate_camera_config(data), camera.friendly_name, camera.source)
    _touch(camera)
    session.add(camera)
    _commit(session, camera)
    return camera


def _dump(value: Any) -> Any:
    return value.model_dump(mode="json") if hasattr(value, "model_dump") else value


def put_zone(session: Session, camera_id: str, name: str, zone: ZoneConfig) -> Camera:
    """Create or replace a zone of a camera.

    Raises:
        NotFoundError: if the camera does not exist.
        ConfigInvalidError: if the resulting config is invalid.
    """
    return _edit_section(session, camera_id, "zones", name, zone)


def delete_zone(session: Session, camera_id: str, name: str) -> Camera:
    """Delete a zone no rule uses.

    Raises:
        NotFoundError: if the camera or the zone does not exist.
        InUseError: if a rule references the zone (the message names the first such rule).
    """
    return _edit_section(session, camera_id, "zones", name, None)


def put_line(session: Session, camera_id: str, name: str, line: LineConfig) -> Camera:
    """Create or replace a line of a camera (raises like `put_zone`)."""
    return _edit_section(session, camera_id, "lines", name, line)


def delete_line(session: Session, camera_id: str, name: str) -> Camera:
    """Delete a line no rule uses (raises like `delete_zone`)."""
    return _edit_section(session, camera_id, "lines", name, None)


def put_rule(session: Session, camera_id: str, name: str, rule: RuleBase) -> Camera:
    """Create or replace a rule (any `RuleConfig` member) of a camera.

    Raises:
        NotFoundError: if the camera does not exist.
        ConfigInvalidError: e.g. the rule references an unknown zone or line; the error's `loc`
            is `("rules", name, field)`.
    """
    return _edit_section(session, camera_id, "rules", name, rule)


def delete_rule(session: Session, camera_id: str, name: str) -> Camera:
    """Delete a rule.

    Raises:
        NotFoundError: if the camera or the rule does not exist.
    """
    return _edit_section(session, camera_id, "rules", name, None)


def import_site_config(session: Session, site: SiteConfig, *, new_camera_group: str | None = None) -> Site:
    """Upsert a whole parsed site file: the site (by `site.name`) and its cameras (by key).

    Ids stay stable: an existing site and existing cameras are updated in place (their config,
    `friendly_name` and `source` replaced by the file's; `enabled` and `camera_group` kept), new
    cameras are created enabled in `new_camera_group` (default: no group). Cameras stored for the site but absent from the
    file are left alone (neither deleted nor disabled): remove them explicitly. Unchanged
    cameras keep their `version`. One transaction; then the file's `reports:` become the site's
    `site_file` report schedules (`storage.analytics_exports.sync_site_schedules`).

    Raises:
        ConfigInvalidError: if the site name or a camera key is not a slug (`loc` names it).
    """
    _check_slug(site.site.name, ("site", "name"))
    for key in site.cameras:
        _check_slug(key, ("cameras", key))
    try:
        row = get_site_by_name(session, site.site.name)
        if row is None:
            row = Site(name=site.site.name)
        row.friendly_name, row.timezone, row.updated_at = site.site.friendly_name, site.site.timezone, utcnow()
        row.floor_plan = site.site.floor_plan.model_dump(mode="json") if site.site.floor_plan else None
        session.add(row)
        session.flush()
        for key, config in site.cameras.items():
            data = _config_dict(config, config.friendly_name, config.source)
            camera = session.get(Camera, camera_id_for(row.name, key))
            if camera is None:
                camera = Camera(id=camera_id_for(row.name, key), site_id=row.id, key=key, config=data,
                                friendly_name=config.friendly_name, source=config.source,
                                camera_group=new_camera_group)  # fmt: skip
            elif camera.config != data:
                camera.config, camera.friendly_name, camera.source = data, config.friendly_name, config.source
                _touch(camera)
            session.add(camera)
    except BaseException:
        session.rollback()
        raise
    _commit(session, row)
    from storage.analytics_exports import sync_site_schedules  # the site file's `reports:` (lazy: no import cycle)

    sync_site_schedules(session, site=row.name, tz=row.timezone, reports=site.reports)
    return row


__all__ += [
    "ConfigInvalidError",
    "InUseError",
    "validate_camera_config",
    "camera_config",
    "camera_id_for",
    "create_site",
    "get_site",
    "get_site_by_name",
    "list_sites",
    "update_site",
    "delete_site",
    "create_camera",
    "get_camera",
    "list_cameras",
    "update_camera",
    "delete_camera",
    "put_zone",
    "delete_zone",
    "put_line",
    "delete_line",
    "put_rule",
    "delete_rule",
    "import_site_config",
]


# ------------------------------------------------------------------------------- live events
def save_live_events(
    session: Session,
    *,
    events: Sequence[tuple[str, DomainEvent]],
    clips: Sequence[ClipCreate | dict[str, Any]],
) -> int:
    """Store live-camera events and their clips in one transaction (the event sink's batch write).

    Events are upserted by id and clips by their deterministic id, so a retried batch (a camera
    re-sending after a sink restart) never duplicates anything.

    Args:
        session: open session.
        events: `(id, event)` pairs, ids from `domain.events.event_id`.
        clips: clips already in the object store, each naming one of `events` by `event_id`.

    Returns:
        Number of events written.
    """
    rows = [_event_row(eid, ev, job_id=None, video_id=None) for eid, ev in events]
    clip_rows = []
    for clip in clips:
        data = ClipCreate.model_validate(clip).model_dump()
        data["id"] = data.get("id") or str(uuid.uuid5(_CLIP_NAMESPACE, f"{data['event_id']}|{data['key']}"))
        data["created_at"] = utcnow()
        clip_rows.append(data)
    try:
        _upsert_event_rows(session, rows)
        if clip_rows:
            dialect = session.get_bind().dialect.name
            if dialect in ("postgresql", "sqlite"):
                insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
                session.execute(insert(Clip.__table__).on_conflict_do_nothing(index_elements=["id"]), clip_rows)
            else:  # other dialects: portable but slower
                for row in clip_rows:
                    session.merge(Clip(**row))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return len(rows)


# ------------------------------------------------------------------------------------- alerts
import dataclasses  # noqa: E402

from domain.alerts import AlertAction, AlertState, AlertStatus, transition  # noqa: E402
from domain.scoring import Severity  # noqa: E402
from storage.models import Alert, AlertHistory, AlertNote, LegalHold  # noqa: E402


def create_alert(
    session: Session,
    *,
    score: float,
    severity: Severity | str,
    components: dict[str, Any] | None = None,
    explanation: str = "",
    camera_id: str | None = None,
    job_id: str | None = None,
    video_id: str | None = None,
    track_id: int | None = None,
    event_ids: Sequence[str] = (),
    clip_keys: Sequence[str] = (),
    created_at: datetime | None = None,
    details: dict[str, Any] | None = None,
    commit: bool = True,
    alert_id: str | None = None,
    origin: str = "intent",
    rule: str | None = None,
    model_version: str | None = None,
) -> Alert:
    """Store a pending alert from an intent score's fields (or a rule alert's: `domain.rule_alerts`).

    Args:
        session: open session.
        score: the 0–1 intent score.
        severity: its severity.
        components: by name; `ComponentScore` tuples are stored as `{value, weight, contribution}`.
        explanation: the score's plain-language explanation.
        camera_id: the live camera, if any.
        job_id: the bulk job, if any.
        video_id: the video, if any.
        track_id: the scored person's track.
        event_ids: the evidence events.
        clip_keys: object-store keys of the evidence clips.
        created_at: when it was raised (default now).
        details: more evidence stored beside the ids (discrepancy table, behaviours, visit:
            `domain.assessment.Assessment.summary()`).
        commit: commit now; `False` only adds it to the session (the caller commits, e.g.
            `save_video_results` storing a video's alerts with its results).
        alert_id: a fixed id (rule alerts: `domain.rule_alerts.rule_alert_id`; a live visit's alert
            takes the visit's id, so scoring a visit twice cannot raise two alerts); default a random one.
        origin: `"intent"` or `"rule"`.
        rule: the rule that raised it (rule alerts).
        model_version: the behaviour-model version whose verdicts the evidence used (`None`: heuristics only).

    Returns:
        The stored (or added) alert.
    """
    comps = {k: (v._asdict() if hasattr(v, "_asdict") else v) for k, v in (components or {}).items()}
    alert = Alert(
        score=score, severity=Severity(severity), components=comps, explanation=explanation, camera_id=camera_id,
        job_id=job_id, video_id=video_id, track_id=track_id,
        evidence={**(details or {}), "event_ids": list(event_ids), "clip_keys": list(clip_keys)},
        origin=origin, rule=rule, model_version=model_version,
    )  # fmt: skip
    if alert_id is not None:
        alert.id = alert_id
    if created_at is not None:
        alert.created_at = created_at
    if alert_id is not None:
        alert.id = alert_id
    session.add(alert)
    if commit:
        _commit(session, alert)
    return alert


def get_alert(session: Session, alert_id: str) -> Alert | None:
    """The alert with this id, or `None`."""
    return session.get(Alert, alert_id)


def list_alerts(
    session: Session,
    *,
    status: AlertStatus | str | None = None,
    severity: Severity | str | None = None,
    camera_id: str | None = None,
    since: datetime | None = None,
    oldest_first: bool = False,
    limit: int = 100,
    offset: int = 0,
    job_id: str | None = None,
    video_id: str | None = None,
    scope: CameraScope | None = None,
) -> tuple[list[Alert], int]:
    """Alerts matching every given filter, newest first (or oldest first).

    Args:
        session: open session.
        status: only this review status.
        severity: only this severity.
        camera_id: only this camera's alerts.
        since: only alerts raised at or after this time.
        oldest_first: order by creation time ascending (the review queue).
        limit: page size.
        offset: rows to skip.
        job_id: only this bulk job's alerts.
        video_id: only this video's alerts.
        scope: only the alerts this scope sees (`None`: every alert).

    Returns:
        `(alerts, total)`: the page and the number of matching alerts in all.
    """
    conditions = [] if scope is None else [scope.row_clause(camera_id=Alert.camera_id, job_id=Alert.job_id)]
    if job_id is not None:
        conditions.append(col(Alert.job_id) == job_id)
    if video_id is not None:
        conditions.append(col(Alert.video_id) == video_id)
    if status is not None:
        conditions.append(col(Alert.status) == AlertStatus(status))
    if severity is not None:
        conditions.append(col(Alert.severity) == Severity(severity))
    if camera_id is not None:
        conditions.append(col(Alert.camera_id) == camera_id)
    if since is not None:
        conditions.append(col(Alert.created_at) >= since)
    total = session.exec(select(func.count()).select_from(Alert).where(*conditions)).one()
    order = (col(Alert.created_at), col(Alert.id)) if oldest_first else (
        col(Alert.created_at).desc(), col(Alert.id).desc())
    stmt = select(Alert).where(*conditions).order_by(*order).offset(offset).limit(limit)
    return list(session.exec(stmt).all()), total


def alert_stats(session: Session, *, scope: CameraScope | None = None) -> dict[str, Any]:
    """Counts by status and by severity, and the mean seconds from creation to acknowledgement.

    Args:
        session: open session.
        scope: count only the alerts this scope sees (`None`: every alert).

    Returns:
        `{"total", "by_status", "by_severity", "mean_time_to_acknowledge_s"}`; the mean is `None`
        when no alert was acknowledged. Every status and severity is listed, zero or not.
    """
    visible = sa.true() if scope is None else scope.row_clause(camera_id=Alert.camera_id, job_id=Alert.job_id)
    by_status = {s.value: 0 for s in AlertStatus}
    for value, n in session.exec(select(Alert.status, func.count()).where(visible).group_by(Alert.status)).all():
        by_status[AlertStatus(value).value] = n
    by_severity = {s.value: 0 for s in Severity}
    for value, n in session.exec(select(Alert.severity, func.count()).where(visible).group_by(Alert.severity)).all():
        by_severity[Severity(value).value] = n
    acked = session.exec(select(Alert.created_at, Alert.acknowledged_at)
                         .where(col(Alert.acknowledged_at).is_not(None), visible)).all()  # fmt: skip
    mean = sum((a - c).total_seconds() for c, a in acked) / len(acked) if acked else None
    return {"total": sum(by_status.values()), "by_status": by_status, "by_severity": by_severity,
            "mean_time_to_acknowledge_s": mean}


def _state(alert: Alert) -> AlertState:
    return AlertState(alert.id, alert.status, alert.created_at.timestamp(), alert.reason,
                      acknowledged_by=alert.acknowledged_by, closed_by=alert.closed_by)


def apply_transition(
    session: Session, alert_id: str, action: AlertAction | str, *, actor: str, reason: str | None = None,
    at: datetime | None = None,
) -> Alert:
    """Apply a review action through `domain.alerts.transition`, storing the alert, a history row and any note.

    All or nothing: on any error nothing is written.

    Args:
        session: open session.
        alert_id: the alert.
        action: acknowledge, dismiss, escalate or note.
        actor: who does it (user name).
        reason: the dismissal / escalation reason, or the note's text.
        at: when it happens (default now).

    Returns:
        The updated alert.

    Raises:
        NotFoundError: no alert with this id.
        InvalidTransitionError: the action is not allowed from the alert's status.
        ValueError: unknown action, empty actor, or a missing / blank reason or note.
    """
    alert = _require(session, Alert, alert_id)
    when = at or utcnow()
    new, entry = transition(_state(alert), action, actor=actor, t_s=when.timestamp(), reason=reason)
    try:
        if entry.action is AlertAction.NOTE:
            session.add(AlertNote(alert_id=alert.id, author=entry.actor, text=entry.note or "", at=when))
        elif entry.action is AlertAction.ACKNOWLEDGE:
            alert.status, alert.acknowledged_by, alert.acknowledged_at = new.status, new.acknowledged_by, when
        else:
            alert.status, alert.reason, alert.closed_by, alert.closed_at = new.status, new.reason, new.closed_by, when
        session.add(alert)
        session.add(AlertHistory(alert_id=alert.id, actor=entry.actor, action=entry.action.value,
                                 from_status=entry.from_status, to_status=entry.to_status,
                                 reason=entry.reason if entry.note is None else entry.note, at=when))
        if entry.to_status is AlertStatus.ESCALATED and entry.from_status is not AlertStatus.ESCALATED:
            # escalated evidence is kept from retention purges until released (same transaction)
            session.add(LegalHold(alert_id=alert.id, reason=f"escalated: {entry.reason}", placed_by=entry.actor,
                                  placed_at=when))
        if entry.action in (AlertAction.DISMISS, AlertAction.ESCALATE):
            from storage.labels import label_alert

            label_alert(session, alert, entry.action.value, actor=entry.actor, reason=entry.reason)  # a training label
    except BaseException:
        session.rollback()
        raise
    _commit(session, alert)
    return alert


def add_note(session: Session, alert_id: str, *, actor: str, text: str) -> AlertNote:
    """Add a note to an alert (any status); it is also recorded in the alert's history.

    Raises:
        NotFoundError: no alert with this id.
        ValueError: empty text or actor.
    """
    apply_transition(session, alert_id, AlertAction.NOTE, actor=actor, reason=text)
    stmt = select(AlertNote).where(AlertNote.alert_id == alert_id).order_by(col(AlertNote.at).desc(),
                                                                            col(AlertNote.id))
    return session.exec(stmt).first()


def list_notes(session: Session, alert_id: str) -> list[AlertNote]:
    """An alert's notes, oldest first."""
    stmt = select(AlertNote).where(AlertNote.alert_id == alert_id).order_by(col(AlertNote.at), col(AlertNote.id))
    return list(session.exec(stmt).all())


def list_history(session: Session, alert_id: str) -> list[AlertHistory]:
    """An alert's history rows, oldest first."""
    stmt = (select(AlertHistory).where(AlertHistory.alert_id == alert_id)
            .order_by(col(AlertHistory.at), col(AlertHistory.id)))  # fmt: skip
    return list(session.exec(stmt).all())


__all__ += ["create_alert", "get_alert", "list_alerts", "alert_stats", "apply_transition", "add_note", "list_notes",
            "list_history"]
