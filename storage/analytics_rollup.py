"""The incremental rollup step: stored tracks and events → visits, per-minute / per-hour rollups, heatmaps.

Why a step with a watermark rather than a hook in the writers: the rows analytics need are written
by several writers (the bulk job's `save_video_results`, the live event sink, imports), and the
rollup must see exactly what was committed. Each source carries the `version` it was computed
from — a video's `completed_at`, or for a live camera hour the newest `created_at` of its events —
so `rollup_pending` finds what is new or changed with two indexed queries and recomputes only
that. It is idempotent (a source's rows are replaced in one transaction), it runs wherever it is
called (after a job, periodically for live data by the platform's analytics worker, before every
analytics query and report), and `rebuild` recomputes everything after zones were edited.

Sources:
- `video:{video_id}`: a done video of a bulk job. Times are `origin + t_s`, where `origin` is the
  job's `params["video_start"]` (epoch s or ISO 8601) when given, else the job's creation time.
  Zones and lines come from the site's stored camera (`{site}.{camera key}`) when it exists (foot
  points against polygons); otherwise zone visits and crossings come from the video's own events.
- `live:{camera_id}:{hour}`: the visits entering (and crossings) in one hour of a live camera,
  from its stored events (`zone_enter` / `zone_exit` pairs, `dwell`, `line_cross`). Live cameras
  store no positions, so they have no view occupancy and no heatmap.

Heatmaps: one image grid per camera-hour, and for a camera calibrated to the floor plan also a plan
grid (`space="plan"`, cells of `heat_cell_m` metres anchored at the plan origin, `cell_m` stored)
that `storage.analytics.plan_heatmap` adds up over the site's cameras.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlmodel import Session, col, select

from domain.analytics import AnalyticsParams, Crossing, RollupRow, Visit, rollup_rows
from domain.analytics_heatmap import dwell_weights, heat_grid, plan_heat_grid
from domain.analytics_visits import EventRecord, crossings_of_track, detection_metrics, visits_from_events, visits_of_track
from domain.site import CameraConfig
from domain.site.floorplan import CalibrationConfig
from domain.zones import PolygonZone
from storage import crud
from storage.analytics_models import AnalyticsHeat, AnalyticsRollup, AnalyticsSource, AnalyticsVisit
from storage.models import Event, Job, Site, Track, TrackPoint, Video, VideoStatus, utcnow

__all__ = ["RollupParams", "RollupSummary", "rollup_pending", "rollup_video", "rollup_live_camera", "rebuild",
           "video_origin_s", "site_of_job", "camera_of_video"]  # fmt: skip

log = logging.getLogger(__name__)

_LOCK_ID = 0x414E414C59544943  # "ANALYTIC": one rollup at a time per PostgreSQL database
_MINUTE, _HOUR = 60, 3600


RollupParams = AnalyticsParams  # the rollup reads these knobs of it


@dataclass
class RollupSummary:
    """What one `rollup_pending` call did."""

    videos: int = 0
    live_hours: int = 0
    removed: int = 0
    skipped_locked: bool = False
    errors: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------- helpers
def _parse_start(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        t = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).timestamp()


def video_origin_s(job: Job) -> float:
    """Epoch seconds of a job's videos' first frame: `params["video_start"]` if given, else the job's creation time."""
    start = _parse_start((job.params or {}).get("video_start"))
    return start if start is not None else job.created_at.timestamp()


def site_of_job(job: Job) -> str:
    """The site (name) a job's results belong to: its site file's name, `"default"` without one."""
    return str((job.params or {}).get("site") or "default")


def camera_of_video(site: str, video: Video) -> str:
    """The camera id of a bulk video: `"{site}.{camera key}"` (as live cameras are named)."""
    key = video.camera_id or "default"
    return key if "." in key else crud.camera_id_for(site, key)


def _try_lock(session: Session) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.execute(sa.text("SELECT pg_try_advisory_xact_lock(:id)"), {"id": _LOCK_ID}).scalar())


def _delete_source(session: Session, source_id: str) -> None:
    for table in (AnalyticsVisit, AnalyticsRollup, AnalyticsHeat):
        session.execute(sa.delete(table).where(col(table.source_id) == source_id))
    session.execute(sa.delete(AnalyticsSource).where(col(AnalyticsSource.id) == source_id))


def _visit_rows(source_id: str, site: str, visits: Iterable[Visit]) -> list[dict[str, Any]]:
    return [dict(source_id=source_id, site=site, camera_id=v.camera_id, zone=v.zone, person=v.person,
                 global_id=v.global_id, track_id=v.track_id, t_enter=v.t_enter_s, t_exit=v.t_exit_s,
                 dwell_s=v.dwell_s) for v in visits]  # fmt: skip


def _rollup_rows(source_id: str, site: str, rows: Iterable[RollupRow]) -> list[dict[str, Any]]:
    return [dict(source_id=source_id, site=site, camera_id=r.camera_id, kind=r.kind.value, name=r.name,
                 to_name=r.to_name, bucket_s=r.bucket_s, t_bucket=r.t_bucket, person_s=r.person_s, peak=r.peak,
                 entries=r.entries, exits=r.exits) for r in rows]  # fmt: skip


def _write(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(sa.insert(table.__table__), rows)


def _store_source(session: Session, source: AnalyticsSource, visits: Sequence[Visit], crossings: Sequence[Crossing],
                  params: RollupParams, heat: list[dict[str, Any]] | None = None) -> None:  # fmt: skip
    """Replace a source's rows (no commit)."""
    _delete_source(session, source.id)
    source.global_ids = sum(1 for v in visits if v.global_id is not None)
    session.add(source)
    session.flush()
    _write(session, AnalyticsVisit, _visit_rows(source.id, source.site, visits))
    for bucket in (_MINUTE, _HOUR):
        rows = rollup_rows(visits, crossings, bucket_s=bucket, path_max_gap_s=params.path_max_gap_s)
        _write(session, AnalyticsRollup, _rollup_rows(source.id, source.site, rows))
    _write(session, AnalyticsHeat, heat or [])


# --------------------------------------------------------------------------------------- videos
def _points_by_track(session: Session, video_id: str) -> list[tuple[int, np.ndarray]]:
    """`(track_id, (T, 7) [t_s, x1, y1, x2, y2, foot_x, foot_y])` and the interpolated flags, per track."""
    p = TrackPoint.__table__.c
    t = Track.__table__.c
    stmt = (
        sa.select(t.track_id, p.t_s, p.x1, p.y1, p.x2, p.y2, p.foot_x, p.foot_y, p.interpolated)
        .select_from(TrackPoint.__table__.join(Track.__table__, t.id == p.track_pk))
        .where(t.video_id == video_id)
        .order_by(t.track_id, p.frame_index)
    )
    rows = session.execute(stmt).all()
    if not rows:
        return []
    arr = np.array([r[1:] for r in rows], dtype=np.float64)
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    cuts = np.flatnonzero(np.diff(ids)) + 1
    return [(int(chunk_ids[0]), chunk) for chunk_ids, chunk in zip(np.split(ids, cuts), np.split(arr, cuts))]


def _event_records(events: Iterable[Event], origin_s: float | None, camera_id: str | None = None) -> list[EventRecord]:
    out = []
    for e in events:
        payload = e.payload or {}
        if origin_s is None:  # live: epoch times in the payload
            start = payload.get("epoch_start_s")
            end = payload.get("epoch_end_s", start)
            if start is None:
                continue
            start, end = float(start), float(end)
        else:
            start, end = origin_s + e.t_start_s, origin_s + e.t_end_s
        out.append(EventRecord(str(getattr(e.type, "value", e.type)), camera_id or e.camera_id, e.track_id, e.zone,
                               start, end, payload))  # fmt: skip
    return out


def rollup_video(session: Session, video: Video, params: RollupParams) -> AnalyticsSource | None:
    """Roll up one done video (replacing its earlier rollup); no commit.

    Returns:
        The source row, or `None` if the video is not done or its job is gone.
    """
    job = session.get(Job, video.job_id)
    if job is None or video.status is not VideoStatus.DONE:
        return None
    site = site_of_job(job)
    camera_id = camera_of_video(site, video)
    origin = video_origin_s(job)
    resolution = (int(video.width or 0), int(video.height or 0))
    camera_row = crud.get_camera(session, camera_id)
    config: CameraConfig | None = None
    if camera_row is not None:
        try:
            config = crud.camera_config(camera_row)
        except crud.ConfigInvalidError:
            log.warning("camera %s has an invalid config; its zones are not used for analytics", camera_id)
    polygons = config is not None and resolution[0] > 0 and resolution[1] > 0
    zones = {n: PolygonZone(n, z, resolution) for n, z in config.zones.items()} if polygons else {}
    visits: list[Visit] = []
    crossings: list[Crossing] = []
    heat_points: list[np.ndarray] = []
    heat_weights: list[np.ndarray] = []
    heat_times: list[np.ndarray] = []
    metric_tracks = []
    global_ids = dict(session.execute(sa.select(Track.track_id, Track.global_id).where(Track.video_id == video.id)).all())
    for track_id, pts in _points_by_track(session, video.id):
        t_video = pts[:, 0]
        t = origin + t_video
        feet = pts[:, 5:7]
        global_id = global_ids.get(track_id)  # the job's cross-video person, once the identity stage linked it
        person = global_id or f"{video.id}:{track_id}"
        visits += visits_of_track(camera_id=camera_id, person=person, t_s=t, foot_xy=feet,
                                  zones=zones if polygons else {}, max_gap_s=params.max_gap_s, track_id=track_id,
                                  global_id=global_id)  # fmt: skip
        if polygons and config is not None and config.lines:
            crossings += crossings_of_track(camera_id=camera_id, person=person, t_s=t, foot_xy=feet, lines=config.lines,
                                            resolution_wh=resolution, max_gap_s=params.max_gap_s)  # fmt: skip
        heat_points.append(feet)
        heat_weights.append(dwell_weights(t, max_dt_s=params.heat_max_dt_s))
        heat_times.append(t)
        metric_tracks.append((t_video, pts[:, 1:5], pts[:, 7].astype(bool)))
    zones_from = "camera" if polygons else "none"
    if not polygons:
        events = session.exec(select(Event).where(Event.video_id == video.id)).all()
        ev_visits, ev_crossings = visits_from_events(
            _event_records(events, origin, camera_id), person_gap_s=params.live_person_gap_s,
            max_visit_s=params.live_max_visit_s,
        )
        visits += ev_visits
        crossings += ev_crossings
        zones_from = "events" if events else "none"
    heat_rows: list[dict[str, Any]] = []
    source_id = f"video:{video.id}"
    if heat_points and resolution[0] > 0:
        feet_all, w_all, t_all = np.concatenate(heat_points), np.concatenate(heat_weights), np.concatenate(heat_times)
        hours = (np.floor(t_all / _HOUR) * _HOUR).astype(np.int64)
        for hour in np.unique(hours).tolist():
            sel = hours == hour
            grid = heat_grid(feet_all[sel], w_all[sel], grid_wh=params.heat_grid_wh, resolution_wh=resolution)
            heat_rows.append(dict(source_id=source_id, site=site, camera_id=camera_id, space=grid.space, t_bucket=hour,
                                  grid_w=grid.grid_wh[0], grid_h=grid.grid_wh[1], cell_m=None,
                                  cells=grid.cells.astype("<f4").tobytes(), person_s=float(grid.cells.sum())))  # fmt: skip
        calibration = config.calibration.fitted if config is not None and config.calibration is not None else None
        if calibration is not None:  # a calibrated camera: the same points on the floor plan as well
            plan_xy = calibration.to_map(feet_all / np.asarray(resolution, np.float64))
            size_m = _plan_size_m(session, camera_row, config.calibration)
            for hour in np.unique(hours).tolist():
                sel = hours == hour
                grid = plan_heat_grid(plan_xy[sel], w_all[sel], cell_m=params.heat_cell_m, size_m=size_m)
                heat_rows.append(dict(source_id=source_id, site=site, camera_id=camera_id, space="plan", t_bucket=hour,
                                      grid_w=grid.grid_wh[0], grid_h=grid.grid_wh[1], cell_m=params.heat_cell_m,
                                      cells=grid.cells.astype("<f4").tobytes(), person_s=float(grid.cells.sum())))  # fmt: skip
    metrics = detection_metrics(metric_tracks, frames_analysed=video.frames_analysed, duration_s=video.duration_s or 0.0,
                                resolution_wh=resolution if resolution[0] > 0 else (1, 1))  # fmt: skip
    duration = float(video.duration_s or 0.0)
    source = AnalyticsSource(
        id=source_id, kind="video", site=site, camera_id=camera_id, job_id=job.id, video_id=video.id,
        t_start=origin, t_end=origin + duration, version=video.completed_at, rolled_at=utcnow(), zones_from=zones_from,
        resolution_w=resolution[0] or None, resolution_h=resolution[1] or None, stats=metrics.__dict__,
    )
    _store_source(session, source, visits, crossings, params, heat_rows)
    return source


def _plan_size_m(session: Session, camera_row: Any, calibration: CalibrationConfig) -> tuple[float, float]:
    """`(width, height)` in metres a camera's plan grid covers: the site file's `floor_plan` size when
    given, else as far as this camera's calibration points and field of view reach (from the origin)."""
    site_row = session.get(Site, camera_row.site_id) if camera_row is not None else None
    plan = (site_row.floor_plan or {}) if site_row is not None else {}
    if plan.get("width_m") and plan.get("height_m"):
        return float(plan["width_m"]), float(plan["height_m"])
    pts = np.concatenate([calibration.fitted.field_of_view().reshape(-1, 2),
                          np.asarray(calibration.map_points, np.float64).reshape(-1, 2)])
    return max(1.0, float(pts[:, 0].max())), max(1.0, float(pts[:, 1].max()))


def _pending_videos(session: Session) -> list[str]:
    s = AnalyticsSource.__table__.c
    v = Video.__table__.c
    stmt = (
        sa.select(v.id)
        .select_from(Video.__table__.outerjoin(AnalyticsSource.__table__, s.video_id == v.id))
        .where(v.status == VideoStatus.DONE.value)
        .where(sa.or_(s.id.is_(None), s.version.is_(None), s.version < v.completed_at))
        .order_by(v.completed_at)
    )
    return [r[0] for r in session.execute(stmt).all()]


def _orphan_sources(session: Session) -> list[str]:
    s = AnalyticsSource.__table__.c
    v = Video.__table__.c
    stmt = (
        sa.select(s.id)
        .select_from(AnalyticsSource.__table__.outerjoin(Video.__table__, s.video_id == v.id))
        .where(s.kind == "video")
        .where(sa.or_(v.id.is_(None), v.status != VideoStatus.DONE.value))
    )
    return [r[0] for r in session.execute(stmt).all()]


# ------------------------------------------------------------------------------------ live cameras
def _live_watermarks(session: Session) -> dict[str, datetime]:
    s = AnalyticsSource.__table__.c
    rows = session.execute(sa.select(s.camera_id, sa.func.max(s.version)).where(s.kind == "live").group_by(s.camera_id))
    return {camera: version for camera, version in rows.all() if version is not None}


def _live_cameras_with_new_events(session: Session) -> list[tuple[str, datetime]]:
    e = Event.__table__.c
    rows = session.execute(
        sa.select(e.camera_id, sa.func.max(e.created_at)).where(e.job_id.is_(None)).group_by(e.camera_id)
    ).all()
    marks = _live_watermarks(session)
    out = []
    for camera, newest in rows:
        newest = _aware(newest)
        mark = marks.get(camera)
        if mark is None or newest > _aware(mark):
            out.append((camera, newest))
    return out


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _site_of_camera(session: Session, camera_id: str) -> str:
    camera = crud.get_camera(session, camera_id)
    if camera is not None:
        site = crud.get_site(session, camera.site_id)
        if site is not None:
            return site.name
    return camera_id.split(".", 1)[0] if "." in camera_id else "default"


def rollup_live_camera(session: Session, camera_id: str, params: RollupParams, *,
                       since: datetime | None = None) -> int:  # fmt: skip
    """Roll up the hours of a live camera that events created after `since` touch (all of them
    when `None`); no commit. Returns the number of hours rolled up."""
    e = Event.__table__.c
    created = sa.select(e.created_at, e.payload).where(e.camera_id == camera_id, e.job_id.is_(None))
    if since is not None:
        created = created.where(e.created_at > since)
    fresh = [(_aware(c), float(p["epoch_start_s"])) for c, p in session.execute(created).all()
             if isinstance(p, dict) and p.get("epoch_start_s") is not None]  # fmt: skip
    if not fresh:
        return 0
    epochs = [t for _, t in fresh]
    first = math.floor((min(epochs) - params.live_max_visit_s) / _HOUR) * _HOUR
    last = math.floor(max(epochs) / _HOUR) * _HOUR
    lo, hi = first - params.live_max_visit_s, last + _HOUR + params.live_max_visit_s
    # Events have no epoch column. They are written in about the order they happen, so the events of
    # the hours to redo were created at most (newest epoch - lo) before the oldest new event; read
    # those (plus some slack for the sink's batching and retries), then keep the exact epochs.
    slack_s = 600.0
    created_lo = min(c for c, _ in fresh).timestamp() - (max(epochs) - lo) - slack_s
    window = select(Event).where(Event.camera_id == camera_id, col(Event.job_id).is_(None),
                                 col(Event.created_at) >= datetime.fromtimestamp(created_lo, tz=timezone.utc))
    events = list(session.exec(window).all())
    records = [r for r in _event_records(events, None) if lo <= r.t_start_s < hi]
    newest = max((_aware(ev.created_at) for ev in events), default=utcnow())
    visits, crossings = visits_from_events(records, person_gap_s=params.live_person_gap_s,
                                           max_visit_s=params.live_max_visit_s)  # fmt: skip
    site = _site_of_camera(session, camera_id)
    hours = 0
    for hour in range(int(first), int(last) + _HOUR, _HOUR):
        hv = [v for v in visits if hour <= v.t_enter_s < hour + _HOUR]
        hc = [c for c in crossings if hour <= c.t_s < hour + _HOUR]
        source_id = f"live:{camera_id}:{hour}"
        if not hv and not hc:
            _delete_source(session, source_id)
            continue
        t_end = max([v.t_exit_s for v in hv] + [c.t_s for c in hc])
        source = AnalyticsSource(id=source_id, kind="live", site=site, camera_id=camera_id, t_start=float(hour),
                                 t_end=t_end, version=newest, rolled_at=utcnow(), zones_from="events")  # fmt: skip
        _store_source(session, source, hv, hc, params)
        hours += 1
    # Remember how far we got even when no hour kept data (else the same events are read again).
    if hours == 0:
        mark = AnalyticsSource(id=f"live:{camera_id}:{int(last)}", kind="live", site=site, camera_id=camera_id,
                               t_start=float(last), t_end=float(last), version=newest, rolled_at=utcnow(),
                               zones_from="events")  # fmt: skip
        _store_source(session, mark, [], [], params)
    return hours


# ------------------------------------------------------------------------------------- the step
def rollup_pending(engine: Any, params: RollupParams, *, max_videos: int | None = None, live: bool = True) -> RollupSummary:
    """Roll up every new or changed source: done videos, live cameras with new events; drop stale ones.

    Each source commits on its own, so a failure on one (logged, in `errors`) does not stop the
    others. On PostgreSQL a transaction-level advisory lock lets one caller at a time work (the
    others return at once with `skipped_locked`).

    Args:
        engine: migrated database engine.
        params: rollup knobs.
        max_videos: stop after this many videos (the rest wait for the next call).
        live: also roll up live cameras with new events (this groups the event table by camera:
            the periodic worker does it; API requests pass `False`).

    Returns:
        What was done.
    """
    summary = RollupSummary()
    with Session(engine, expire_on_commit=False) as session:
        if not _try_lock(session):
            summary.skipped_locked = True
            return summary
        for source_id in _orphan_sources(session):
            _delete_source(session, source_id)
            summary.removed += 1
        session.commit()
        for n, video_id in enumerate(_pending_videos(session)):
            if max_videos is not None and n >= max_videos:
                break
            if not _try_lock(session):
                summary.skipped_locked = True
                return summary
            try:
                video = crud.get_video(session, video_id)
                if video is not None and rollup_video(session, video, params) is not None:
                    summary.videos += 1
                session.commit()
            except Exception as exc:  # noqa: BLE001  (one bad source must not block the others)
                session.rollback()
                log.exception("rollup of video %s failed", video_id)
                summary.errors.append(f"video {video_id}: {type(exc).__name__}: {exc}")
        if not live:
            return summary
        marks = _live_watermarks(session)
        for camera_id, _newest in _live_cameras_with_new_events(session):
            if not _try_lock(session):
                summary.skipped_locked = True
                return summary
            try:
                mark = marks.get(camera_id)
                summary.live_hours += rollup_live_camera(session, camera_id, params,
                                                         since=_aware(mark) if mark else None)  # fmt: skip
                session.commit()
            except Exception as exc:  # noqa: BLE001
                session.rollback()
                log.exception("rollup of live camera %s failed", camera_id)
                summary.errors.append(f"camera {camera_id}: {type(exc).__name__}: {exc}")
    return summary


def rebuild(engine: Any, params: RollupParams, *, site: str | None = None) -> RollupSummary:
    """Drop the rollups (of one site, or all) and roll everything up again, e.g. after zones changed."""
    with Session(engine) as session:
        ids = session.exec(select(AnalyticsSource.id).where(*([AnalyticsSource.site == site] if site else []))).all()
        for source_id in ids:
            _delete_source(session, source_id)
        session.commit()
    return rollup_pending(engine, params)
