"""Analytics reports: the figures of one site over one range, gathered into a `domain.analytics_report.Report`.

`build_report` reads the rollups (`storage.analytics`) and returns typed tables (summary, zones,
occupancy, lines, hours of day, paths, detection metrics), chart data and one heatmap picture per
camera. `pipelines.reports_render` writes it as PDF, Excel, CSV (a ZIP) or JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from sqlmodel import Session, col, select

from domain.analytics import VIEW, AnalyticsParams, TimeRange, auto_bucket_s
from domain.analytics_heatmap import render_heatmap
from domain.analytics_report import Column, ColumnType, Report, ReportTable
from storage import analytics as queries
from storage.analytics_models import AnalyticsSource
from storage.models import Video

__all__ = ["ReportScope", "build_report", "camera_background", "background_from_video", "video_frame", "Progress"]

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]  # (fraction 0-1, what is being done)
_T, _I, _F, _D = ColumnType.TEXT, ColumnType.INT, ColumnType.FLOAT, ColumnType.DATETIME


@dataclass(frozen=True)
class ReportScope:
    """What a report covers: the site and the cameras its requester may see.

    Attributes:
        site: the site's name.
        title: its display name.
        timezone: its IANA time zone.
        cameras: camera ids (already scoped to the requester).
        zones: camera id → configured zone names (zones with data are added).
    """

    site: str
    title: str
    timezone: str
    cameras: tuple[str, ...]
    zones: dict[str, tuple[str, ...]] = field(default_factory=dict)


def video_frame(uri: str, frame_index: int | None = None) -> npt.NDArray[np.uint8] | None:
    """One frame of a local video (its middle one by default); `None` for S3 inputs or unreadable files."""
    if uri.startswith("s3://") or not Path(uri).is_file():
        return None
    cap = cv2.VideoCapture(uri)
    try:
        if frame_index is None:
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            frame_index = n // 2
        cap.set(cv2.CAP_PROP_POS_FRAMES, max(0, frame_index))
        ok, frame = cap.read()
        return frame if ok else None
    finally:
        cap.release()


def background_from_video(session: Session, camera_id: str) -> npt.NDArray[np.uint8] | None:
    """A frame of the camera's most recent analysed video that is still readable, `None` if none is."""
    stmt = (select(AnalyticsSource.video_id).where(AnalyticsSource.camera_id == camera_id, AnalyticsSource.kind == "video")
            .order_by(col(AnalyticsSource.t_start).desc()).limit(5))  # fmt: skip
    for video_id in session.exec(stmt).all():
        video = session.get(Video, video_id)
        if video is not None:
            frame = video_frame(video.uri)
            if frame is not None:
                return frame
    return None


async def camera_background(session: Session, camera_id: str, *, control: Any = None) -> npt.NDArray[np.uint8] | None:
    """The picture a camera's heatmap goes on: its live frame (when running), else a frame of its latest video."""
    if control is not None:
        try:
            jpeg = await control.latest_frame(camera_id, False)
        except Exception:  # noqa: BLE001  (not running, manager unreachable: fall back to a video frame)
            jpeg = b""
        if jpeg:
            frame = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            if frame is not None:
                return frame
    from fastapi.concurrency import run_in_threadpool

    return await run_in_threadpool(background_from_video, session, camera_id)


def _dt(t_s: float | None) -> datetime | None:
    return None if t_s is None else datetime.fromtimestamp(t_s, tz=timezone.utc)


def build_report(
    session: Session, scope: ReportScope, rng: TimeRange, params: AnalyticsParams, *,
    progress: Progress | None = None, max_buckets: int = 200, heatmaps: bool = True,
) -> Report:  # fmt: skip
    """Gather a site's figures over `rng`.

    Args:
        session: database session.
        scope: the site and the requester's cameras.
        rng: the range.
        params: analytics knobs (bounce threshold, dwell bins).
        progress: called with `(fraction, stage)` as the parts are gathered.
        max_buckets: most occupancy buckets per zone (the bucket length follows the range).
        heatmaps: render one heatmap picture per camera with data.

    Returns:
        The report; a range without data gives the same tables, empty (or zero).
    """
    step = progress or (lambda f, s: None)
    cams = list(scope.cameras)
    data_zones = queries.known_zones(session, cameras=cams)
    zones_by_camera = {c: sorted(set(scope.zones.get(c, ())) | data_zones.get(c, set())) for c in cams}
    step(0.05, "summary")
    summary = queries.summary(session, cameras=cams, rng=rng)
    hours = queries.hour_of_day(session, cameras=cams, rng=rng, tz=scope.timezone)
    counts = queries.counts(session, cameras=cams, rng=rng)
    people = summary["unique_people"]
    total_crossings = sum(x["in"] + x["out"] for x in summary["lines"])
    busiest = int(np.argmax(hours)) if any(hours) else None
    summary_rows = (
        ("Unique people", float(people), "people"),
        ("Visits (people appearing in view)", float(summary["visits"]), "visits"),
        ("Zone visits", float(summary["zone_visits"]), "visits"),
        ("Line crossings", float(total_crossings), "crossings"),
        ("Busiest hour of day", None if busiest is None else float(busiest), f"hour ({scope.timezone})"),
        ("Cameras", float(len(cams)), "cameras"),
    )
    tables = [ReportTable("summary", "Summary", (Column("metric", "Metric"), Column("value", "Value", _F),
                                                 Column("unit", "Unit")), summary_rows)]  # fmt: skip

    step(0.2, "dwell per zone")
    zone_rows = []
    dwell_charts: dict[str, Any] = {}
    by_zone = {(z["camera_id"], z["zone"]): z for z in summary["zones"]}
    for camera_id in cams:
        for zone in [VIEW, *zones_by_camera[camera_id]]:
            z = by_zone.get((camera_id, zone), {})
            d = queries.dwell(session, cameras=[camera_id], zone=zone, rng=rng, bounce_s=params.bounce_s,
                              bin_edges_s=params.dwell_bins_s)  # fmt: skip
            if zone != VIEW:
                dwell_charts[f"{camera_id}/{zone}"] = (d.bin_edges_s, d.histogram)
            zone_rows.append((camera_id, zone or "(whole view)", z.get("visits", 0), z.get("exits", 0),
                              z.get("mean_occupancy", 0.0), z.get("peak", 0), d.mean_s, d.median_s, d.p90_s,
                              d.bounces))  # fmt: skip
    tables.append(ReportTable("zones", "Zones: visits, occupancy and dwell", (
        Column("camera_id", "Camera"), Column("zone", "Zone"), Column("visits", "Visits", _I),
        Column("exits", "Exits", _I), Column("mean_occupancy", "Mean occupancy (people)", _F),
        Column("peak", "Peak (people)", _I), Column("mean_dwell_s", "Mean dwell (s)", _F),
        Column("median_dwell_s", "Median dwell (s)", _F), Column("p90_dwell_s", "p90 dwell (s)", _F),
        Column("bounces", f"Bounces (< {params.bounce_s:g} s)", _I),
    ), tuple(zone_rows)))  # fmt: skip

    step(0.4, "occupancy")
    bucket = auto_bucket_s(rng.duration_s, max_buckets=max_buckets)
    occ_rows = []
    occ_charts: dict[str, Any] = {}
    for camera_id in cams:
        for zone in [VIEW, *zones_by_camera[camera_id]]:
            series = queries.occupancy(session, cameras=[camera_id], zone=zone, rng=rng, bucket_s=bucket)
            if not (series.peak > 0).any():
                continue
            label = f"{camera_id}/{zone or 'view'}"
            occ_charts[label] = ([_dt(float(t)) for t in series.t_s], series.mean.tolist(), series.peak.tolist())
            occ_rows += [(_dt(float(t)), camera_id, zone or "(whole view)", round(float(m), 4), int(p))
                         for t, m, p in zip(series.t_s, series.mean, series.peak)]  # fmt: skip
    tables.append(ReportTable("occupancy", f"Occupancy per {_duration(bucket)}", (
        Column("t", "Bucket start (UTC)", _D), Column("camera_id", "Camera"), Column("zone", "Zone"),
        Column("mean", "Mean people", _F), Column("peak", "Peak people", _I),
    ), tuple(occ_rows)))  # fmt: skip

    step(0.55, "counts")
    tables.append(ReportTable("lines", "Line crossings", (
        Column("camera_id", "Camera"), Column("line", "Line"), Column("in", "In", _I), Column("out", "Out", _I),
    ), tuple((k[0], k[1], v[0], v[1]) for k, v in sorted(counts.lines.items()))))  # fmt: skip
    tables.append(ReportTable("hours", f"Entries per hour of day ({scope.timezone})", (
        Column("hour", "Hour", _I), Column("entries", "Entries", _I),
    ), tuple((h, n) for h, n in enumerate(hours))))  # fmt: skip
    transitions = queries.transitions(session, cameras=cams, rng=rng)
    tables.append(ReportTable("paths", "Zone-to-zone paths", (
        Column("from", "From zone"), Column("to", "To zone"), Column("count", "People", _I),
    ), tuple((a, b, n) for (a, b), n in sorted(transitions.items(), key=lambda kv: (-kv[1], kv[0])))))  # fmt: skip

    step(0.65, "detection metrics")
    metrics = queries.detection_metrics(session, cameras=cams, rng=rng)
    tables.append(ReportTable("detection", "Detection metrics (analysed videos)", (
        Column("camera_id", "Camera"), Column("videos", "Videos", _I), Column("frames_analysed", "Frames analysed", _I),
        Column("analysed_fps", "Analysed fps", _F), Column("mean_people_per_frame", "People per frame", _F),
        Column("tracks", "Tracks", _I), Column("mean_track_s", "Mean track (s)", _F),
        Column("fragmentation", "Fragmentation (0-1)", _F),
    ), tuple((c, m["videos"], m["frames_analysed"], m["analysed_fps"], m["mean_people_per_frame"], m["tracks"],
              m["mean_track_s"], m["fragmentation"]) for c, m in sorted(metrics.items()))))  # fmt: skip

    pictures: dict[str, bytes] = {}
    plan = None
    if heatmaps:
        plan, _, plan_cams = queries.plan_heatmap(session, cameras=cams, rng=rng)
        if plan is not None:  # the calibrated cameras on the floor plan first
            per_cell = max(4, min(32, 1600 // max(plan.grid_wh)))
            ok, png = cv2.imencode(".png", render_heatmap(plan, None, size_wh=(plan.grid_wh[0] * per_cell,
                                                                             plan.grid_wh[1] * per_cell)))  # fmt: skip
            if ok:
                pictures[f"floor plan ({', '.join(plan_cams)})"] = png.tobytes()
        for i, camera_id in enumerate(cams):
            step(0.7 + 0.25 * i / max(1, len(cams)), f"heatmap {camera_id}")
            grid, _ = queries.heatmap(session, camera_id=camera_id, rng=rng)
            if grid is None:
                continue
            image = render_heatmap(grid, background_from_video(session, camera_id))
            ok, png = cv2.imencode(".png", image)
            if ok:
                pictures[camera_id] = png.tobytes()
    notes = ["People are counted once across cameras (global ids)." if queries.has_global_ids(session, cameras=cams, rng=rng)
             else "Counts are of tracked people; without cross-camera identities one person seen by two cameras counts twice.",
             "Heatmaps: the floor plan of the calibrated cameras, then each camera's image." if plan is not None
             else "Heatmaps are per camera image (no floor-plan heatmap in this range)."]  # fmt: skip
    if not cams:
        notes.insert(0, "No camera of this site is visible to the requester.")
    step(0.97, "done gathering")
    return Report(
        site=scope.site, site_title=scope.title, t_from=rng.as_datetimes()[0], t_to=rng.as_datetimes()[1],
        generated_at=datetime.now(timezone.utc), timezone=scope.timezone, tables=tuple(tables),
        charts={"occupancy": occ_charts, "hours": hours, "dwell": dwell_charts, "bucket_s": bucket},
        heatmaps=pictures, notes=tuple(notes),
    )  # fmt: skip


def _duration(seconds: float) -> str:
    for unit, n in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= n and seconds % n == 0:
            k = int(seconds // n)
            return f"{k} {unit}{'s' if k > 1 else ''}" if k > 1 else unit
    return f"{seconds:g} s"


def scope_from(site: str, title: str, tz: str, cameras: Sequence[str],
               zones: dict[str, Sequence[str]] | None = None) -> ReportScope:  # fmt: skip
    """A `ReportScope` from plain values."""
    return ReportScope(site, title, tz, tuple(cameras), {k: tuple(v) for k, v in (zones or {}).items()})
