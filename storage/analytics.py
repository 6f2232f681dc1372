"""Analytics queries over the rollups: occupancy, dwell, counts, people, paths, heatmaps, metrics.

Every function takes the cameras the caller may see (`cameras`, camera ids) and a
`domain.analytics.TimeRange`; an empty camera list gives empty results. Long ranges read hourly
rollups and only the partial hours at the range's two ends from the per-minute rollups, so a
month of one store costs about as much as a day (see `benchmarks/analytics.py`).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlmodel import Session

from domain.analytics import VIEW, DwellStats, OccupancySeries, RollupKind, TimeRange, dwell_stats, occupancy_series
from domain.analytics_heatmap import HeatGrid, sum_plan_grids
from domain.analytics_report import site_zone
from storage.analytics_models import AnalyticsHeat, AnalyticsRollup, AnalyticsSource, AnalyticsVisit

__all__ = [
    "plan_heatmap",
    "has_global_ids",
    "occupancy",
    "dwell",
    "counts",
    "CountsResult",
    "unique_people",
    "hour_of_day",
    "transitions",
    "heatmap",
    "detection_metrics",
    "summary",
    "data_range",
    "data_days",
    "known_zones",
    "site_cameras",
    "camera_resolution",
]

_MINUTE, _HOUR = 60, 3600
_R = AnalyticsRollup.__table__.c
_V = AnalyticsVisit.__table__.c
_H = AnalyticsHeat.__table__.c
_S = AnalyticsSource.__table__.c


def _pieces(rng: TimeRange) -> list[tuple[int, float, float]]:
    """`(bucket_s, from, to)` pieces: whole hours from hourly rows, the partial ends from minute rows.

    Minute rows are used for `[from, first full hour)` and `[last full hour, to)`; a range inside
    one hour uses minutes only. Bucket starts are compared, so a bucket counts when it starts in
    the range (ranges are aligned to minutes by the caller's choice of bounds).
    """
    lo, hi = rng.t_from_s, rng.t_to_s
    h0, h1 = math.ceil(lo / _HOUR) * _HOUR, math.floor(hi / _HOUR) * _HOUR
    if h1 <= h0:
        return [(_MINUTE, lo, hi)]
    out = []
    if lo < h0:
        out.append((_MINUTE, lo, h0))
    out.append((_HOUR, h0, h1))
    if h1 < hi:
        out.append((_MINUTE, h1, hi))
    return out


def _piece_filter(bucket_s: int, lo: float, hi: float) -> Any:
    # A minute bucket counts when it starts in [lo, hi); lo is rounded down to its minute so a
    # range starting mid-minute still sees that minute.
    start = math.floor(lo / bucket_s) * bucket_s
    return sa.and_(_R.bucket_s == bucket_s, _R.t_bucket >= start, _R.t_bucket < hi)


def _rollup_where(cameras: Sequence[str], rng: TimeRange, *extra: Any) -> Any:
    pieces = sa.or_(*[_piece_filter(b, lo, hi) for b, lo, hi in _pieces(rng)])
    return sa.and_(_R.camera_id.in_(list(cameras)), pieces, *extra)


# -------------------------------------------------------------------------------------- occupancy
def occupancy(session: Session, *, cameras: Sequence[str], zone: str, rng: TimeRange, bucket_s: int) -> OccupancySeries:
    """People in `zone` (`VIEW`: in the cameras' view) over `rng` in buckets of `bucket_s`.

    `bucket_s` a multiple of 60 reads the rollups (hourly ones when it is a multiple of 3600);
    anything finer is computed exactly from the stored visits. A zone seen by several cameras
    sums them: its peak is then the sum of the cameras' peaks in the bucket (an upper bound).

    Returns:
        The series over every bucket of the range (zeros where nobody was there).
    """
    if not cameras:
        return occupancy_series(np.empty((0, 2)), rng.t_from_s, rng.t_to_s, bucket_s)
    kind = RollupKind.VIEW.value if zone == VIEW else RollupKind.ZONE.value
    if bucket_s % _MINUTE:
        rows = session.execute(
            sa.select(_V.t_enter, _V.t_exit).where(
                _V.camera_id.in_(list(cameras)), _V.zone == zone, _V.t_enter < rng.t_to_s, _V.t_exit >= rng.t_from_s
            )
        ).all()
        return occupancy_series(np.array(rows, dtype=np.float64).reshape(-1, 2), rng.t_from_s, rng.t_to_s, bucket_s)
    source = _HOUR if bucket_s % _HOUR == 0 else _MINUTE
    start = math.floor(rng.t_from_s / bucket_s) * bucket_s
    stmt = (
        sa.select(_R.t_bucket, _R.camera_id, sa.func.sum(_R.person_s), sa.func.max(_R.peak))
        .where(_R.camera_id.in_(list(cameras)), _R.kind == kind, _R.name == zone, _R.bucket_s == source,
               _R.t_bucket >= start, _R.t_bucket < rng.t_to_s)
        .group_by(_R.t_bucket, _R.camera_id)
    )  # fmt: skip
    edges_n = max(1, math.ceil((rng.t_to_s - start) / bucket_s - 1e-9))
    t = start + bucket_s * np.arange(edges_n, dtype=np.float64)
    person_s = np.zeros(edges_n)
    peak = np.zeros(edges_n, dtype=np.int64)
    per_camera_peak: dict[tuple[int, str], int] = defaultdict(int)
    for t_bucket, camera_id, ps, pk in session.execute(stmt).all():
        b = int((t_bucket - start) // bucket_s)
        if 0 <= b < edges_n:
            person_s[b] += float(ps or 0.0)
            key = (b, camera_id)
            per_camera_peak[key] = max(per_camera_peak[key], int(pk or 0))
    for (b, _camera), pk in per_camera_peak.items():
        peak[b] += pk
    return OccupancySeries(t, float(bucket_s), person_s / bucket_s, peak)


# ------------------------------------------------------------------------------------------ dwell
def dwell(session: Session, *, cameras: Sequence[str], zone: str, rng: TimeRange, bounce_s: float,
          bin_edges_s: Sequence[float]) -> DwellStats:  # fmt: skip
    """Dwell distribution of the visits to `zone` that started in `rng` (exact, from the visits)."""
    if not cameras:
        return dwell_stats([], bounce_s=bounce_s, bin_edges_s=bin_edges_s)
    rows = session.execute(
        sa.select(_V.dwell_s).where(
            _V.camera_id.in_(list(cameras)), _V.zone == zone, _V.t_enter >= rng.t_from_s, _V.t_enter < rng.t_to_s
        )
    ).scalars().all()
    return dwell_stats(np.asarray(rows, dtype=np.float64), bounce_s=bounce_s, bin_edges_s=bin_edges_s)


# ----------------------------------------------------------------------------------------- counts
@dataclass
class CountsResult:
    """Entries and exits per zone (and per camera view), crossings per line, in a range.

    Attributes:
        zones: `(camera_id, zone) -> (entries, exits)`; `VIEW` is the camera's view (people appearing
            and leaving).
        lines: `(camera_id, line) -> (in, out)`.
    """

    zones: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    lines: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)


def counts(session: Session, *, cameras: Sequence[str], rng: TimeRange) -> CountsResult:
    """Entries / exits per zone and in / out per line over `rng` (hourly rows inside, minutes at the ends)."""
    result = CountsResult()
    if not cameras:
        return result
    stmt = (
        sa.select(_R.camera_id, _R.kind, _R.name, sa.func.sum(_R.entries), sa.func.sum(_R.exits))
        .where(_rollup_where(cameras, rng, _R.kind.in_([RollupKind.VIEW.value, RollupKind.ZONE.value,
                                                        RollupKind.LINE.value])))
        .group_by(_R.camera_id, _R.kind, _R.name)
    )  # fmt: skip
    for camera_id, kind, name, entries, exits in session.execute(stmt).all():
        target = result.lines if kind == RollupKind.LINE.value else result.zones
        target[(camera_id, name)] = (int(entries or 0), int(exits or 0))
    return result


def unique_people(session: Session, *, cameras: Sequence[str], rng: TimeRange, zone: str | None = None) -> int:
    """People who arrived in `rng`: distinct global ids where matched, else tracks.

    Without global ids every person key belongs to one source (a video's track, a live track), so
    the count is the sum of the rolled-up arrivals (cheap on months of data); once a source in the
    range carries global ids (or for one zone) it is a distinct count over the visits.
    """
    if not cameras:
        return 0
    if zone is None and not has_global_ids(session, cameras=cameras, rng=rng):
        total = session.execute(
            sa.select(sa.func.sum(_R.entries)).where(_rollup_where(cameras, rng, _R.kind == RollupKind.PEOPLE.value))
        ).scalar()
        return int(total or 0)
    conditions = [_V.camera_id.in_(list(cameras)), _V.t_enter >= rng.t_from_s, _V.t_enter < rng.t_to_s]
    if zone is not None:
        conditions.append(_V.zone == zone)
    return int(session.execute(sa.select(sa.func.count(sa.distinct(_V.person))).where(*conditions)).scalar() or 0)


def has_global_ids(session: Session, *, cameras: Sequence[str], rng: TimeRange) -> bool:
    """Whether any rolled-up source of `cameras` overlapping `rng` carries cross-camera global ids."""
    if not cameras:
        return False
    row = session.execute(
        sa.select(_S.id).where(_S.camera_id.in_(list(cameras)), _S.t_start < rng.t_to_s, _S.t_end >= rng.t_from_s,
                               _S.global_ids > 0).limit(1)
    ).first()  # fmt: skip
    return row is not None


def hour_of_day(session: Session, *, cameras: Sequence[str], rng: TimeRange, tz: str,
                kind: RollupKind = RollupKind.VIEW, name: str = VIEW) -> list[int]:  # fmt: skip
    """Entries per local hour of day (0–23, in time zone `tz`) of one series (default: the views)."""
    out = [0] * 24
    if not cameras:
        return out
    zone = site_zone(tz)
    stmt = (
        sa.select(_R.bucket_s, _R.t_bucket, sa.func.sum(_R.entries))
        .where(_rollup_where(cameras, rng, _R.kind == kind.value, _R.name == name))
        .group_by(_R.bucket_s, _R.t_bucket)
    )
    for _bucket_s, t_bucket, entries in session.execute(stmt).all():
        out[datetime.fromtimestamp(int(t_bucket), tz=timezone.utc).astimezone(zone).hour] += int(entries or 0)
    return out


def transitions(session: Session, *, cameras: Sequence[str], rng: TimeRange) -> Counter[tuple[str, str]]:
    """Zone-to-zone transitions `(from, to) -> count` over `rng` (summed over cameras)."""
    out: Counter[tuple[str, str]] = Counter()
    if not cameras:
        return out
    stmt = (
        sa.select(_R.name, _R.to_name, sa.func.sum(_R.entries))
        .where(_rollup_where(cameras, rng, _R.kind == RollupKind.PATH.value))
        .group_by(_R.name, _R.to_name)
    )
    for a, b, n in session.execute(stmt).all():
        out[(a, b)] += int(n or 0)
    return out


# ---------------------------------------------------------------------------------------- heatmap
def heatmap(session: Session, *, camera_id: str, rng: TimeRange, space: str = "image") -> tuple[HeatGrid | None, int]:
    """A camera's heatmap over the hours overlapping `rng` (heatmaps are stored per hour).

    Returns:
        `(grid, hours)`: the summed grid (`None` when there is none) and how many camera-hours it adds.
    """
    start = math.floor(rng.t_from_s / _HOUR) * _HOUR
    rows = session.execute(
        sa.select(_H.grid_w, _H.grid_h, _H.cells).where(
            _H.camera_id == camera_id, _H.space == space, _H.t_bucket >= start, _H.t_bucket < rng.t_to_s
        )
    ).all()
    total: np.ndarray | None = None
    used = 0
    for w, h, cells in rows:
        grid = np.frombuffer(cells, dtype="<f4").reshape(h, w)
        if total is None:
            total = grid.astype(np.float64)
        elif total.shape == grid.shape:
            total += grid
        else:
            continue  # a grid of another size (settings changed): not mixed in
        used += 1
    if total is None:
        return None, 0
    return HeatGrid(total, (0.0, 0.0, 1.0, 1.0), space), used


def plan_heatmap(session: Session, *, cameras: Sequence[str], rng: TimeRange) -> tuple[HeatGrid | None, int, list[str]]:
    """The floor-plan heatmap of `cameras` (the calibrated ones) over the hours overlapping `rng`.

    Plan grids share the plan's origin, so grids of every camera and hour add up
    (`domain.analytics_heatmap.sum_plan_grids`); hours stored with another cell size are left out.

    Returns:
        `(grid, camera_hours, cameras)`: the summed grid (`None` when no camera has a plan grid in
        the range), how many camera-hours it adds and which cameras contributed.
    """
    if not cameras:
        return None, 0, []
    start = math.floor(rng.t_from_s / _HOUR) * _HOUR
    rows = session.execute(
        sa.select(_H.camera_id, _H.grid_w, _H.grid_h, _H.cell_m, _H.cells).where(
            _H.camera_id.in_(list(cameras)), _H.space == "plan", _H.cell_m.is_not(None), _H.t_bucket >= start,
            _H.t_bucket < rng.t_to_s,
        ).order_by(_H.t_bucket.desc())
    ).all()
    if not rows:
        return None, 0, []
    cell = float(rows[0].cell_m)  # the newest hour's cell size wins
    rows = [r for r in rows if math.isclose(float(r.cell_m), cell)]
    grids = [HeatGrid(np.frombuffer(r.cells, dtype="<f4").reshape(r.grid_h, r.grid_w).astype(np.float64),
                      (0.0, 0.0, r.grid_w * cell, r.grid_h * cell), "plan") for r in rows]  # fmt: skip
    return sum_plan_grids(grids), len(grids), sorted({r.camera_id for r in rows})


# -------------------------------------------------------------------------------------- metrics
def detection_metrics(session: Session, *, cameras: Sequence[str], rng: TimeRange) -> dict[str, dict[str, Any]]:
    """Per camera, the detection metrics of the bulk videos overlapping `rng`, duration-weighted.

    Returns:
        camera id → `{"videos", "frames_analysed", "duration_s", "analysed_fps", "mean_people_per_frame",
        "tracks", "mean_track_s", "fragmentation"}`.
    """
    if not cameras:
        return {}
    rows = session.execute(
        sa.select(_S.camera_id, _S.stats).where(
            _S.kind == "video", _S.camera_id.in_(list(cameras)), _S.t_start < rng.t_to_s, _S.t_end >= rng.t_from_s
        )
    ).all()
    acc: dict[str, dict[str, float]] = {}
    for camera_id, stats in rows:
        if not stats:
            continue
        a = acc.setdefault(camera_id, defaultdict(float))
        a["videos"] += 1
        for k in ("frames_analysed", "duration_s", "tracks"):
            a[k] += float(stats.get(k, 0))
        a["people_points"] += float(stats.get("mean_people_per_frame", 0)) * float(stats.get("frames_analysed", 0))
        a["track_s"] += float(stats.get("mean_track_s", 0)) * float(stats.get("tracks", 0))
        a["frag_w"] += float(stats.get("fragmentation", 0)) * float(stats.get("tracks", 0))
    out = {}
    for camera_id, a in acc.items():
        frames, duration, tracks = a["frames_analysed"], a["duration_s"], a["tracks"]
        out[camera_id] = {
            "videos": int(a["videos"]),
            "frames_analysed": int(frames),
            "duration_s": round(duration, 3),
            "analysed_fps": round(frames / duration, 3) if duration else 0.0,
            "mean_people_per_frame": round(a["people_points"] / frames, 3) if frames else 0.0,
            "tracks": int(tracks),
            "mean_track_s": round(a["track_s"] / tracks, 3) if tracks else 0.0,
            "fragmentation": round(a["frag_w"] / tracks, 3) if tracks else 0.0,
        }
    return out


# -------------------------------------------------------------------------------------- summary
def summary(session: Session, *, cameras: Sequence[str], rng: TimeRange) -> dict[str, Any]:
    """Headline figures of `rng`: people, visits, per-zone totals and the busiest zone.

    Returns:
        `{"unique_people", "visits", "zones": [{"camera_id", "zone", "visits", "exits", "person_s",
        "mean_occupancy", "peak", "mean_dwell_s"}], "lines": [{"camera_id", "line", "in", "out"}]}`.
        `mean_dwell_s` is person-seconds per visit (exact for visits inside the range).
    """
    zones: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    views_visits = 0
    if cameras:
        stmt = (
            sa.select(_R.camera_id, _R.kind, _R.name, sa.func.sum(_R.person_s), sa.func.max(_R.peak),
                      sa.func.sum(_R.entries), sa.func.sum(_R.exits))
            .where(_rollup_where(cameras, rng, _R.kind.in_([RollupKind.VIEW.value, RollupKind.ZONE.value,
                                                            RollupKind.LINE.value])))
            .group_by(_R.camera_id, _R.kind, _R.name)
        )  # fmt: skip
        for camera_id, kind, name, ps, peak, entries, exits in session.execute(stmt).all():
            if kind == RollupKind.LINE.value:
                lines.append({"camera_id": camera_id, "line": name, "in": int(entries or 0), "out": int(exits or 0)})
                continue
            entries = int(entries or 0)
            if kind == RollupKind.VIEW.value:
                views_visits += entries
            zones.append({
                "camera_id": camera_id, "zone": name, "visits": entries, "exits": int(exits or 0),
                "person_s": round(float(ps or 0.0), 3), "mean_occupancy": round(float(ps or 0.0) / rng.duration_s, 4),
                "peak": int(peak or 0), "mean_dwell_s": round(float(ps or 0.0) / entries, 3) if entries else None,
            })  # fmt: skip
    zones.sort(key=lambda z: (z["camera_id"], z["zone"]))
    lines.sort(key=lambda z: (z["camera_id"], z["line"]))
    zone_visits = sum(z["visits"] for z in zones if z["zone"] != VIEW)
    return {
        "unique_people": unique_people(session, cameras=cameras, rng=rng),
        "visits": views_visits or zone_visits,
        "zone_visits": zone_visits,
        "zones": zones,
        "lines": lines,
    }


# ------------------------------------------------------------------------------------ the data
def data_range(session: Session, *, cameras: Sequence[str]) -> tuple[float, float] | None:
    """`(first, last)` epoch seconds of the analysed data of these cameras, `None` without any."""
    if not cameras:
        return None
    lo, hi = session.execute(
        sa.select(sa.func.min(_S.t_start), sa.func.max(_S.t_end)).where(_S.camera_id.in_(list(cameras)))
    ).one()
    return None if lo is None else (float(lo), float(hi))


def data_days(session: Session, *, cameras: Sequence[str], tz: str, limit: int = 400) -> list[str]:
    """The local dates (`YYYY-MM-DD`, newest first) on which these cameras have data (at most `limit`)."""
    if not cameras:
        return []
    zone = site_zone(tz)
    rows = session.execute(
        sa.select(_S.t_start, _S.t_end).where(_S.camera_id.in_(list(cameras))).order_by(_S.t_start.desc()).limit(5000)
    ).all()
    days: set[str] = set()
    for lo, hi in rows:
        t = float(lo)
        while t <= float(hi) and len(days) < limit:
            days.add(datetime.fromtimestamp(t, tz=timezone.utc).astimezone(zone).date().isoformat())
            t += 86400
        days.add(datetime.fromtimestamp(float(hi), tz=timezone.utc).astimezone(zone).date().isoformat())
    return sorted(days, reverse=True)[:limit]


def known_zones(session: Session, *, cameras: Sequence[str]) -> dict[str, set[str]]:
    """Zone names (not `VIEW`) with rolled-up data, per camera."""
    if not cameras:
        return {}
    rows = session.execute(
        sa.select(_R.camera_id, _R.name).where(_R.camera_id.in_(list(cameras)), _R.kind == RollupKind.ZONE.value)
        .group_by(_R.camera_id, _R.name)
    ).all()  # fmt: skip
    out: dict[str, set[str]] = defaultdict(set)
    for camera_id, name in rows:
        out[camera_id].add(name)
    return dict(out)


def site_cameras(session: Session, *, site: str) -> list[str]:
    """Camera ids with rolled-up data in `site` (cameras stored or not)."""
    return sorted(session.execute(sa.select(_S.camera_id).where(_S.site == site).distinct()).scalars().all())


def camera_resolution(session: Session, *, camera_id: str) -> tuple[int, int] | None:
    """`(width, height)` of the camera's most recent analysed video, `None` when unknown."""
    row = session.execute(
        sa.select(_S.resolution_w, _S.resolution_h)
        .where(_S.camera_id == camera_id, _S.resolution_w.is_not(None))
        .order_by(_S.t_start.desc())
        .limit(1)
    ).first()
    return (int(row[0]), int(row[1])) if row else None
