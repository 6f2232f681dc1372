"""`/analytics`: occupancy, dwell, counts, heatmaps, paths, the historical summary, detection metrics,
real-time metrics; `/environments`: the sites with their cameras, zones and data ranges; the
`/ws/analytics/{site_id}` WebSocket of `analytics_update` messages.

Paths and message names follow the SpotOn plan. Every route takes `from` / `to` (ISO 8601) and is
scoped to the cameras the user may see (`deployments.api.analytics_scope`). A range with no data
answers an empty series with the range echoed; a missing, inverted or too long range, an unknown
site, camera or zone answer 422 / 404 naming it.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

import cv2
import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, WebSocket, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from starlette.websockets import WebSocketDisconnect, WebSocketState

from deployments.api.analytics_live import LiveDep
from deployments.api.analytics_scope import (
    AnalyticsParamsDep,
    RangeDep,
    SiteScope,
    pick_cameras,
    refresh_rollups,
    site_scope,
    unprocessable,
    visible_sites,
)
from deployments.api.deps import CurrentUser, SessionDep, require
from deployments.api.permissions import Permission
from deployments.api.tags import Tags
from domain.analytics import VIEW, OccupancySeries, TimeRange, auto_bucket_s
from domain.analytics_heatmap import render_heatmap
from storage import analytics as queries

__all__ = ["router", "environments_router", "ws_router"]

_READ = [Depends(require(Permission.READ))]
router = APIRouter(prefix="/analytics", tags=[Tags.ANALYTICS], dependencies=[*_READ, Depends(refresh_rollups)])
environments_router = APIRouter(prefix="/environments", tags=[Tags.ENVIRONMENTS], dependencies=_READ)
ws_router = APIRouter(prefix="/ws", tags=[Tags.ANALYTICS], dependencies=_READ)


VIEW_PATH = "_view"  # the {zone} of a camera's whole view: "people seen by the camera"


def _iso(t_s: float | None) -> datetime | None:
    return None if t_s is None else datetime.fromtimestamp(t_s, tz=timezone.utc)


# ------------------------------------------------------------------------------------ responses
class RangePublic(BaseModel):
    """The range a figure covers (echoed as asked)."""

    t_from: datetime = Field(alias="from", serialization_alias="from")
    t_to: datetime = Field(alias="to", serialization_alias="to")

    model_config = {"populate_by_name": True}

    @classmethod
    def of(cls, rng: TimeRange) -> RangePublic:
        a, b = rng.as_datetimes()
        return cls(t_from=a, t_to=b)


class OccupancyPointPublic(BaseModel):
    t: datetime = Field(description="Bucket start")
    mean: float = Field(description="Mean people in the zone over the bucket")
    peak: int = Field(description="Most people at once in the bucket")


class OccupancyPublic(BaseModel):
    """People in a zone over time."""

    site: str
    zone: str = Field(description='Zone name; "" is the cameras\' whole view')
    cameras: list[str]
    range: RangePublic
    bucket_s: int
    series: list[OccupancyPointPublic] = Field(description="Every bucket of the range; empty when there is no data")
    peak: int
    peak_at: datetime | None
    mean: float = Field(description="Mean people over the whole range")


class HistogramBinPublic(BaseModel):
    from_s: float
    to_s: float | None = Field(description="None: open-ended last bin")
    visits: int


class DwellPublic(BaseModel):
    """Dwell distribution of one zone's visits that started in the range."""

    zone: str
    cameras: list[str]
    visits: int
    bounces: int
    bounce_s: float
    mean_s: float | None
    median_s: float | None
    p90_s: float | None
    histogram: list[HistogramBinPublic]


class DwellsPublic(BaseModel):
    site: str
    range: RangePublic
    data: list[DwellPublic]


class ZoneCountPublic(BaseModel):
    camera_id: str
    zone: str = Field(description='"" is the camera\'s whole view (people appearing / leaving)')
    entries: int
    exits: int


class LineCountPublic(BaseModel):
    camera_id: str
    line: str
    in_: int = Field(alias="in", serialization_alias="in")
    out: int

    model_config = {"populate_by_name": True}


class CountsPublic(BaseModel):
    """Entries / exits per zone and line, unique people, entries per hour of day."""

    site: str
    range: RangePublic
    zones: list[ZoneCountPublic]
    lines: list[LineCountPublic]
    unique_people: int
    people_identity: str = Field(description='"global_id" when people are matched across cameras, else "track"')
    hour_of_day: list[int] = Field(description="Entries into view per local hour 0-23 (site time zone)")
    timezone: str


class TransitionPublic(BaseModel):
    from_zone: str = Field(alias="from", serialization_alias="from")
    to_zone: str = Field(alias="to", serialization_alias="to")
    count: int

    model_config = {"populate_by_name": True}


class PathsPublic(BaseModel):
    """The most common zone-to-zone transitions."""

    site: str
    range: RangePublic
    transitions: list[TransitionPublic]
    zones: list[str]


class HeatmapGridPublic(BaseModel):
    """Occupancy density, person-seconds per cell: one camera's image, or the floor plan of every calibrated camera."""

    camera_id: str | None = Field(description="The camera (image grids); null for the floor-plan grid")
    cameras: list[str] = Field(description="The cameras whose footage the grid adds up")
    space: Literal["image", "plan"]
    grid_w: int
    grid_h: int
    cell_w: float = Field(description="Cell width: pixels (image) or metres (plan)")
    cell_h: float
    unit: Literal["px", "m"]
    resolution_wh: list[int] | None
    hours: int = Field(description="Camera-hours summed")
    max: float
    total_person_s: float
    cells: list[list[float]] = Field(description="Rows top to bottom")


class HeatmapPublic(BaseModel):
    site: str
    range: RangePublic
    floor_plan: bool = Field(description="True: `data` starts with the floor-plan grid of the site's calibrated cameras; "
                             "one grid per camera image follows either way")
    data: list[HeatmapGridPublic]


class SummaryZonePublic(BaseModel):
    camera_id: str
    zone: str
    visits: int
    mean_occupancy: float
    peak: int
    mean_dwell_s: float | None


class SummaryPublic(BaseModel):
    """The headline figures of a site over a range."""

    site: str
    title: str
    timezone: str
    range: RangePublic
    unique_people: int
    visits: int = Field(description="People appearing in view (or entering zones, for live cameras)")
    zone_visits: int
    busiest_hour: int | None = Field(description="Local hour of day with most entries")
    busiest_zone: str | None
    line_crossings: int
    zones: list[SummaryZonePublic]
    cameras: list[str]


class DetectionMetricsPublic(BaseModel):
    camera_id: str
    videos: int
    frames_analysed: int
    duration_s: float
    analysed_fps: float
    mean_people_per_frame: float
    tracks: int
    mean_track_s: float
    fragmentation: float = Field(description="Share of track starts / ends mid-frame (a fragmentation proxy, 0-1)")
    live_fps_out: float | None = Field(None, description="A live camera's current analysed fps")


class DetectionMetricsListPublic(BaseModel):
    site: str
    range: RangePublic
    data: list[DetectionMetricsPublic]


class EnvironmentCameraPublic(BaseModel):
    id: str
    name: str
    stored: bool = Field(description="False: only known from analysed videos")
    zones: list[dict[str, Any]]
    lines: list[str]


class DateRangePublic(BaseModel):
    t_from: datetime = Field(alias="from", serialization_alias="from")
    t_to: datetime = Field(alias="to", serialization_alias="to")

    model_config = {"populate_by_name": True}


class EnvironmentPublic(BaseModel):
    """A site (the SpotOn plan's environment) with what the landing page needs."""

    environment_id: str = Field(description="The site's name (usable wherever a site_id is)")
    id: str | None = Field(description="The stored site's id")
    name: str
    timezone: str
    cameras: list[EnvironmentCameraPublic]
    data_range: DateRangePublic | None
    available_dates: list[str] = Field(description="Local dates with analysed data, newest first")
    calibrated: bool = Field(False, description="Whether a camera of the site is calibrated to its floor plan")


class EnvironmentsPublic(BaseModel):
    data: list[EnvironmentPublic]
    count: int


# --------------------------------------------------------------------------------------- helpers
def _bucket(bucket_s: int | None, rng: TimeRange, max_buckets: int) -> int:
    if bucket_s is None:
        return auto_bucket_s(rng.duration_s, max_buckets=min(500, max_buckets))
    if rng.duration_s / bucket_s > max_buckets:
        raise unprocessable("bucket_s", f"bucket_s={bucket_s} gives {int(rng.duration_s // bucket_s)} buckets over "
                            f"the range; at most {max_buckets}: use a larger bucket_s")  # fmt: skip
    if bucket_s < 60 and rng.duration_s > 6 * 3600:
        raise unprocessable("bucket_s", "bucket_s below 60 needs a range of at most 6 hours")
    return bucket_s


def _series(series: OccupancySeries) -> list[OccupancyPointPublic]:
    if not (series.peak > 0).any():
        return []
    return [OccupancyPointPublic(t=_iso(float(t)), mean=round(float(m), 4), peak=int(p))
            for t, m, p in zip(series.t_s, series.mean, series.peak)]  # fmt: skip


def _zone_cameras(scope: SiteScope, cameras: list[str], zone: str, session: Any) -> list[str]:
    """The cameras of `cameras` that have `zone` (configured, or with rolled-up data); 404 naming it otherwise."""
    if zone == VIEW:
        return cameras
    data = queries.known_zones(session, cameras=cameras)
    found = [c for c in cameras if zone in scope.zones(c) or zone in data.get(c, set())]
    if not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"zone '{zone}' not found in site '{scope.name}'")
    return found


def _all_zones(scope: SiteScope, cameras: list[str], session: Any) -> list[str]:
    data = queries.known_zones(session, cameras=cameras)
    names = set()
    for c in cameras:
        names |= set(scope.zones(c)) | data.get(c, set())
    return sorted(names)


# ----------------------------------------------------------------------------------- occupancy
@router.get("/zones/{zone}/occupancy")
def zone_occupancy(
    session: SessionDep, user: CurrentUser, zone: str, rng: RangeDep, params: AnalyticsParamsDep,
    site_id: Annotated[str | None, Query(description="Site id or name (default: every site with this zone)")] = None,
    camera_id: Annotated[str | None, Query(description="Only this camera")] = None,
    bucket_s: Annotated[int | None, Query(ge=1, le=7 * 86400, description="Bucket length (s); default by range")] = None,
) -> OccupancyPublic:
    """People in a zone over time: mean and peak per bucket, the peak and when, the mean."""
    zone_name = VIEW if zone == VIEW_PATH else zone
    bucket = _bucket(bucket_s, rng, params.max_buckets)
    scopes = [site_scope(session, user, site_id)] if site_id is not None else visible_sites(session, user)
    chosen: tuple[SiteScope, list[str]] | None = None
    for scope in scopes:
        if camera_id is not None and camera_id not in scope.cameras and site_id is None:
            continue  # looking for the camera's site
        cams = pick_cameras(scope, camera_id)  # 404 naming the camera when a given site lacks it
        try:
            chosen = (scope, _zone_cameras(scope, cams, zone_name, session))
            break
        except HTTPException:
            if site_id is not None:
                raise
    if chosen is None:
        missing = f"camera '{camera_id}'" if camera_id is not None and not any(camera_id in s.cameras for s in scopes) \
            else f"zone '{zone}'"  # fmt: skip
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{missing} not found")
    scope, cams = chosen
    series = queries.occupancy(session, cameras=cams, zone=zone_name, rng=rng, bucket_s=bucket)
    return OccupancyPublic(site=scope.name, zone=zone_name, cameras=cams, range=RangePublic.of(rng), bucket_s=bucket,
                           series=_series(series), peak=series.peak_value, peak_at=_iso(series.peak_at_s),
                           mean=round(series.overall_mean, 4))  # fmt: skip


# --------------------------------------------------------------------------------------- dwell
@router.get("/dwell/{site_id}")
def dwell(
    session: SessionDep, user: CurrentUser, site_id: str, rng: RangeDep, params: AnalyticsParamsDep,
    zone: Annotated[str | None, Query(description="Only this zone (default: every zone)")] = None,
    camera_id: Annotated[str | None, Query(description="Only this camera")] = None,
) -> DwellsPublic:
    """Dwell per zone: histogram, median, p90, visits and bounces."""
    scope = site_scope(session, user, site_id)
    cams = pick_cameras(scope, camera_id)
    zones = [zone] if zone is not None else _all_zones(scope, cams, session)
    out = []
    edges = params.dwell_bins_s
    for name in zones:
        zone_cams = _zone_cameras(scope, cams, name, session)
        s = queries.dwell(session, cameras=zone_cams, zone=name, rng=rng, bounce_s=params.bounce_s, bin_edges_s=edges)
        bins = [HistogramBinPublic(from_s=edges[i], to_s=edges[i + 1] if i + 2 < len(edges) else None, visits=n)
                for i, n in enumerate(s.histogram)]  # fmt: skip
        out.append(DwellPublic(zone=name, cameras=zone_cams, visits=s.visits, bounces=s.bounces, bounce_s=s.bounce_s,
                               mean_s=s.mean_s, median_s=s.median_s, p90_s=s.p90_s, histogram=bins))  # fmt: skip
    return DwellsPublic(site=scope.name, range=RangePublic.of(rng), data=out)


# -------------------------------------------------------------------------------------- counts
@router.get("/counts/{site_id}")
def counts(
    session: SessionDep, user: CurrentUser, site_id: str, rng: RangeDep,
    camera_id: Annotated[str | None, Query(description="Only this camera")] = None,
    zone: Annotated[str | None, Query(description="Only this zone")] = None,
) -> CountsPublic:
    """Entries and exits per zone and line, unique people, entries per hour of day."""
    scope = site_scope(session, user, site_id)
    cams = pick_cameras(scope, camera_id)
    if zone is not None:
        cams = _zone_cameras(scope, cams, zone, session)
    c = queries.counts(session, cameras=cams, rng=rng)
    zones = [ZoneCountPublic(camera_id=k[0], zone=k[1], entries=v[0], exits=v[1]) for k, v in sorted(c.zones.items())
             if zone is None or k[1] == zone]  # fmt: skip
    lines = [LineCountPublic(camera_id=k[0], line=k[1], in_=v[0], out=v[1]) for k, v in sorted(c.lines.items())]
    return CountsPublic(
        site=scope.name, range=RangePublic.of(rng), zones=zones, lines=lines if zone is None else [],
        unique_people=queries.unique_people(session, cameras=cams, rng=rng, zone=zone),
        people_identity="global_id" if queries.has_global_ids(session, cameras=cams, rng=rng) else "track",
        hour_of_day=queries.hour_of_day(session, cameras=cams, rng=rng, tz=scope.timezone),
        timezone=scope.timezone,
    )  # fmt: skip


# ------------------------------------------------------------------------------------- heatmap
def _grid_public(session: Any, scope: SiteScope, camera_id: str, rng: TimeRange) -> HeatmapGridPublic | None:
    grid, hours = queries.heatmap(session, camera_id=camera_id, rng=rng)
    if grid is None:
        return None
    res = queries.camera_resolution(session, camera_id=camera_id)
    cw, ch = grid.cell_size(res)
    return HeatmapGridPublic(
        camera_id=camera_id, cameras=[camera_id], space=grid.space, grid_w=grid.grid_wh[0], grid_h=grid.grid_wh[1], cell_w=round(cw, 4),
        cell_h=round(ch, 4), unit="px" if grid.space == "image" and res else "m" if grid.space == "plan" else "px",
        resolution_wh=list(res) if res else None, hours=hours, max=round(float(grid.cells.max()), 4),
        total_person_s=round(float(grid.cells.sum()), 3), cells=np.round(grid.cells, 3).tolist(),
    )  # fmt: skip


def _plan_public(session: Any, scope: SiteScope, cams: list[str], rng: TimeRange) -> HeatmapGridPublic | None:
    grid, hours, used = queries.plan_heatmap(session, cameras=[c for c in cams if c in scope.calibrated()], rng=rng)
    if grid is None:
        return None
    cw, ch = grid.cell_size()
    return HeatmapGridPublic(
        camera_id=None, cameras=used, space="plan", grid_w=grid.grid_wh[0], grid_h=grid.grid_wh[1], cell_w=round(cw, 4),
        cell_h=round(ch, 4), unit="m", resolution_wh=None, hours=hours, max=round(float(grid.cells.max()), 4),
        total_person_s=round(float(grid.cells.sum()), 3), cells=np.round(grid.cells, 3).tolist(),
    )  # fmt: skip


@router.get("/heatmap/{site_id}", response_model=None,
            responses={200: {"content": {"image/png": {}, "application/json": {}}}})  # fmt: skip
async def heatmap(
    request: Request, session: SessionDep, user: CurrentUser, site_id: str, rng: RangeDep,
    camera_id: Annotated[str | None, Query(description="The camera (required for png when the site has several)")] = None,
    format: Annotated[Literal["json", "png"], Query(description="json: the grids; png: one as an image")] = "json",  # noqa: A002
    space: Annotated[Literal["image", "plan"], Query(
        description="png: `image` overlays one camera's image (camera_id), `plan` draws the floor plan")] = "image",
) -> HeatmapPublic | Response:
    """Occupancy density as grids (the floor plan of the calibrated cameras, cells in metres, and each
    camera's image, cells in pixels) or one of them as a PNG."""
    scope = await run_in_threadpool(site_scope, session, user, site_id)
    cams = pick_cameras(scope, camera_id)
    if format == "json":
        def grids() -> list[HeatmapGridPublic]:
            plan = _plan_public(session, scope, cams, rng)
            return ([plan] if plan else []) + [g for c in cams if (g := _grid_public(session, scope, c, rng))]

        data = await run_in_threadpool(grids)
        return HeatmapPublic(site=scope.name, range=RangePublic.of(rng), floor_plan=bool(data) and data[0].space == "plan",
                             data=data)  # fmt: skip
    if space == "plan":
        if not scope.calibrated():
            raise unprocessable("space", f"site '{scope.name}' has no camera calibrated to a floor plan: use space=image "
                                "with a camera_id")  # fmt: skip
        grid, _, _ = await run_in_threadpool(
            lambda: queries.plan_heatmap(session, cameras=[c for c in cams if c in scope.calibrated()], rng=rng))
        if grid is None:
            from domain.analytics_heatmap import HeatGrid

            grid = HeatGrid(np.zeros((1, 1)), (0.0, 0.0, 1.0, 1.0), "plan")
        per_cell = max(4, min(32, 1600 // max(grid.grid_wh)))  # at most 1600 px on the long side
        image = await run_in_threadpool(render_heatmap, grid, None, size_wh=(grid.grid_wh[0] * per_cell,
                                                                             grid.grid_wh[1] * per_cell))
        ok, png = cv2.imencode(".png", image)
        if not ok:
            raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, "heatmap could not be encoded")
        return Response(png.tobytes(), media_type="image/png", headers={"Cache-Control": "no-store"})
    if len(cams) != 1:
        raise unprocessable("camera_id", f"camera_id is required for format=png&space=image: site '{scope.name}' "
                            f"has several cameras; one of: {', '.join(cams)}")  # fmt: skip
    grid, _ = await run_in_threadpool(queries.heatmap, session, camera_id=cams[0], rng=rng)
    from pipelines.reports import camera_background

    background = await camera_background(session, cams[0], control=getattr(request.app.state, "control", None))
    if grid is None:
        from domain.analytics_heatmap import HeatGrid

        grid = HeatGrid(np.zeros((1, 1)), (0.0, 0.0, 1.0, 1.0))
    image = await run_in_threadpool(render_heatmap, grid, background)
    ok, png = cv2.imencode(".png", image)
    if not ok:
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, "heatmap could not be encoded")
    return Response(png.tobytes(), media_type="image/png", headers={"Cache-Control": "no-store"})


# --------------------------------------------------------------------------------------- paths
@router.get("/paths/{site_id}")
def paths(
    session: SessionDep, user: CurrentUser, site_id: str, rng: RangeDep,
    camera_id: Annotated[str | None, Query(description="Only this camera")] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Most transitions returned")] = 20,
) -> PathsPublic:
    """The most common zone-to-zone transitions (per camera; across cameras once global ids exist)."""
    scope = site_scope(session, user, site_id)
    cams = pick_cameras(scope, camera_id)
    counter = queries.transitions(session, cameras=cams, rng=rng)
    top = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return PathsPublic(site=scope.name, range=RangePublic.of(rng), zones=_all_zones(scope, cams, session),
                       transitions=[TransitionPublic(from_zone=a, to_zone=b, count=n) for (a, b), n in top])  # fmt: skip


# ------------------------------------------------------------------------------------- summary
@router.get("/historical/{site_id}/summary")
def historical_summary(
    session: SessionDep, user: CurrentUser, site_id: str, rng: RangeDep,
    camera_id: Annotated[str | None, Query(description="Only this camera")] = None,
) -> SummaryPublic:
    """The headline figures of a range: people, visits, busiest hour and zone, per-zone occupancy and dwell."""
    scope = site_scope(session, user, site_id)
    cams = pick_cameras(scope, camera_id)
    s = queries.summary(session, cameras=cams, rng=rng)
    hours = queries.hour_of_day(session, cameras=cams, rng=rng, tz=scope.timezone)
    zones = [SummaryZonePublic(**{k: z[k] for k in SummaryZonePublic.model_fields}) for z in s["zones"] if z["zone"]]
    busiest = max(zones, key=lambda z: (z.visits, z.zone), default=None)
    return SummaryPublic(
        site=scope.name, title=scope.title, timezone=scope.timezone, range=RangePublic.of(rng),
        unique_people=s["unique_people"], visits=s["visits"], zone_visits=s["zone_visits"],
        busiest_hour=int(np.argmax(hours)) if any(hours) else None,
        busiest_zone=busiest.zone if busiest and busiest.visits else None,
        line_crossings=sum(x["in"] + x["out"] for x in s["lines"]), zones=zones, cameras=cams,
    )  # fmt: skip


# ----------------------------------------------------------------------------- detection metrics
@router.get("/detection/{site_id}")
async def detection_metrics(
    session: SessionDep, user: CurrentUser, site_id: str, rng: RangeDep, live: LiveDep,
    camera_id: Annotated[str | None, Query(description="Only this camera")] = None,
) -> DetectionMetricsListPublic:
    """Per camera: frames analysed, analysed fps, mean people per frame, track fragmentation (bulk videos),
    and a live camera's current analysed fps."""
    scope = await run_in_threadpool(site_scope, session, user, site_id)
    cams = pick_cameras(scope, camera_id)
    stored = await run_in_threadpool(queries.detection_metrics, session, cameras=cams, rng=rng)
    live_fps = await live.fps_out(cams)
    empty = dict(videos=0, frames_analysed=0, duration_s=0.0, analysed_fps=0.0, mean_people_per_frame=0.0, tracks=0,
                 mean_track_s=0.0, fragmentation=0.0)  # fmt: skip
    data = [DetectionMetricsPublic(camera_id=c, **stored.get(c, empty), live_fps_out=live_fps.get(c))
            for c in cams if c in stored or c in live_fps]  # fmt: skip
    return DetectionMetricsListPublic(site=scope.name, range=RangePublic.of(rng), data=data)


# ---------------------------------------------------------------------------------- real time
@router.get("/real-time/metrics")
async def real_time_metrics(
    session: SessionDep, user: CurrentUser, live: LiveDep,
    site_id: Annotated[str, Query(description="Site id or name")],
) -> dict[str, Any]:
    """People now per camera and zone, average dwell so far, crowd density and zones over their threshold
    (the `analytics_update` payload)."""
    scope = await run_in_threadpool(site_scope, session, user, site_id)
    return await live.payload(session, scope, wait_s=1.0)


@ws_router.websocket("/analytics/{site_id}")
async def analytics_stream(websocket: WebSocket, site_id: str, user: CurrentUser, session: SessionDep,
                           live: LiveDep) -> None:  # fmt: skip
    """`{"type": "analytics_update", "payload": {...}}` every `ANALYTICS__REALTIME_INTERVAL_S` for one site."""
    scope = await run_in_threadpool(site_scope, session, user, site_id)
    interval = float(getattr(websocket.app.state, "analytics_interval_s", None) or 2.0)
    await websocket.accept()
    try:
        while True:
            payload = await live.payload(session, scope, wait_s=0.0)
            await websocket.send_text(json.dumps({"type": "analytics_update", "payload": payload}, default=str))
            deadline = time.monotonic() + interval
            while time.monotonic() < deadline:
                try:
                    message = await asyncio.wait_for(websocket.receive(), timeout=max(0.0, deadline - time.monotonic()))
                except asyncio.TimeoutError:
                    break
                if message["type"] == "websocket.disconnect":
                    return
    except WebSocketDisconnect:
        return
    finally:
        if websocket.application_state is WebSocketState.CONNECTED and websocket.client_state is WebSocketState.CONNECTED:
            await websocket.close()


# -------------------------------------------------------------------------------- environments
def _environment(session: Any, scope: SiteScope) -> EnvironmentPublic:
    cams = sorted(scope.cameras)
    data = queries.known_zones(session, cameras=cams)
    cameras = []
    for c in cams:
        zones = scope.zones(c)
        names = sorted(set(zones) | data.get(c, set()))
        cameras.append(EnvironmentCameraPublic(
            id=c, name=(scope.cameras[c].friendly_name if scope.cameras[c] else None) or c,
            stored=scope.cameras[c] is not None,
            zones=[{"name": n, "kind": zones[n].kind.value if n in zones else None} for n in names],
            lines=sorted(scope.lines(c)),
        ))  # fmt: skip
    span = queries.data_range(session, cameras=cams)
    return EnvironmentPublic(
        environment_id=scope.name, id=scope.site.id if scope.site else None, name=scope.title, timezone=scope.timezone,
        cameras=cameras, data_range=DateRangePublic(t_from=_iso(span[0]), t_to=_iso(span[1])) if span else None,
        available_dates=queries.data_days(session, cameras=cams, tz=scope.timezone), calibrated=bool(scope.calibrated()),
    )  # fmt: skip


@environments_router.get("", dependencies=[Depends(refresh_rollups)])
def list_environments(session: SessionDep, user: CurrentUser) -> EnvironmentsPublic:
    """Sites with their cameras, zones and the dates for which analysed data exists."""
    data = [_environment(session, scope) for scope in visible_sites(session, user)]
    return EnvironmentsPublic(data=data, count=len(data))


@environments_router.get("/{site_id}")
def get_environment(session: SessionDep, user: CurrentUser, site_id: str) -> EnvironmentPublic:
    """One site with its cameras, zones and data dates."""
    return _environment(session, site_scope(session, user, site_id))
