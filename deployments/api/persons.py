"""What the person and focus routes return: a person's summary, details, journey; who may see whom.

A person is visible to a user when one of their tracks is on a camera the user may see
(`deps.user_can_see_camera` with the camera's group); anyone else gets 404, as for an unknown id.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import numpy as np
from pydantic import BaseModel, Field
from sqlmodel import Session, select

from deployments.api.deps import user_can_see_camera
from domain.floorplan import movement_metrics, zone_dwell_s
from domain.geometry import foot_points
from domain.zones import PolygonZone
from storage import crud
from storage import identity as repo
from storage.models import Clip, Event, Identity, User

__all__ = ["PersonSummary", "PersonsPublic", "PositionRecord", "MovementMetrics", "PersonDetails", "Visit",
           "JourneyPublic", "FocusState", "visible_person", "summary", "details", "journey"]


def _iso(t_s: float) -> str:
    return dt.datetime.fromtimestamp(t_s, dt.timezone.utc).isoformat().replace("+00:00", "Z")


class PersonSummary(BaseModel):
    global_id: str
    site: str
    job_id: str | None
    first_detected: str = Field(description="ISO 8601 UTC")
    last_seen: str
    tracking_duration: float = Field(description="seconds from first to last sighting")
    current_camera: str
    image_url: str | None


class PersonsPublic(BaseModel):
    data: list[PersonSummary]
    count: int


class PositionRecord(BaseModel):
    timestamp: str
    t_s: float = Field(description="epoch seconds")
    camera: str
    track_id: int
    bbox: list[float] = Field(description="[x1, y1, x2, y2] in the camera's pixels")
    map_coords: list[float] | None = Field(description="[x, y] on the floor plan (m), null when uncalibrated")


class MovementMetrics(BaseModel):
    average_speed: float = Field(description="m/s over the time the person was seen moving on the plan")
    total_distance: float = Field(description="m on the plan")
    dwell_time: float = Field(description="s inside any zone")
    dwell_s_per_zone: dict[str, float] = Field(description="'camera/zone' -> s")


class PersonDetails(PersonSummary):
    cameras: list[str]
    position_history: list[PositionRecord]
    movement_metrics: MovementMetrics


class Visit(BaseModel):
    camera: str
    track_id: int
    job_id: str | None
    video_id: str | None
    first_seen: str
    last_seen: str
    duration_s: float
    verdict: str = Field(description="how the track was linked: new, same_place, appearance")
    score: float | None
    events: list[dict[str, Any]]
    clips: list[dict[str, Any]]


class JourneyPublic(BaseModel):
    global_id: str
    visits: list[Visit]


class FocusState(BaseModel):
    focused_person_id: str | None
    focus_start_time: str | None = None
    person_details: PersonDetails | None = None


GroupOf = Callable[[str], "str | None"]


def _camera_groups(session: Session) -> dict[str, str | None]:
    return {c.id: c.camera_group for c in crud.list_cameras(session, limit=100_000)[0]}


def visible_cameras(session: Session, user: User) -> list[str] | None:
    """Camera ids `user` may see, or `None` when they may see every camera (stored or not, e.g. a bulk job's)."""
    groups = _camera_groups(session)
    # Only `user_can_see_camera` decides: a user who sees both a camera in no group and one in a group
    # nobody has is not limited to groups.
    if user_can_see_camera(user, None) and user_can_see_camera(user, "\0no-such-group"):
        return None
    return [cid for cid, g in groups.items() if user_can_see_camera(user, g)]


def visible_person(session: Session, user: User, global_id: str) -> Identity | None:
    """The person, or `None` when unknown or on no camera `user` may see."""
    person = repo.get_person(session, global_id)
    if person is None:
        return None
    groups = _camera_groups(session)
    links = repo.person_links(session, global_id)
    if not any(user_can_see_camera(user, groups.get(link.camera_id)) for link in links):
        return None
    return person


def summary(p: Identity) -> PersonSummary:
    return PersonSummary(global_id=p.global_id, site=p.site, job_id=p.job_id, first_detected=_iso(p.first_seen_s),
                         last_seen=_iso(p.last_seen_s), tracking_duration=round(p.last_seen_s - p.first_seen_s, 3),
                         current_camera=p.last_camera_id,
                         image_url=f"/api/v1/persons/{p.global_id}/image" if p.crop_key else None)


def _zones_of(session: Session, camera_id: str) -> dict[str, Any]:
    row = crud.get_camera(session, camera_id)
    if row is None:
        return {}
    try:
        return crud.camera_config(row).zones
    except ValueError:
        return {}


def details(session: Session, p: Identity, *, history_limit: int = 2000) -> PersonDetails:
    """Summary plus position history, movement metrics and dwell per zone."""
    rows = repo.person_positions(session, p.global_id, limit=history_limit)
    history = [PositionRecord(timestamp=_iso(r.t_s), t_s=r.t_s, camera=r.camera_id, track_id=r.track_id,
                              bbox=[round(v, 1) for v in (r.x1, r.y1, r.x2, r.y2)],
                              map_coords=None if r.map_x is None else [round(r.map_x, 3), round(r.map_y, 3)])
               for r in rows]
    t = np.array([r.t_s for r in rows], np.float64)
    xy = np.array([[np.nan if r.map_x is None else r.map_x, np.nan if r.map_y is None else r.map_y] for r in rows],
                  np.float64).reshape(-1, 2)
    metrics = movement_metrics(t, xy) if len(rows) else {"total_distance_m": 0.0, "average_speed_mps": 0.0}
    dwell: dict[str, float] = {}
    by_camera: dict[str, list[Any]] = {}
    for r in rows:
        by_camera.setdefault(r.camera_id, []).append(r)
    for camera_id, cam_rows in by_camera.items():
        sized = [r for r in cam_rows if r.frame_w and r.frame_h]
        zones = _zones_of(session, camera_id) if sized else {}
        if not zones:
            continue
        tt = np.array([r.t_s for r in sized])
        feet = foot_points([[r.x1, r.y1, r.x2, r.y2] for r in sized])
        sizes = np.array([(r.frame_w, r.frame_h) for r in sized])
        for name, zone in zones.items():
            inside = np.zeros(len(sized), bool)
            for wh in {tuple(x) for x in sizes.tolist()}:  # one raster per frame size
                sel = (sizes == wh).all(axis=1)
                inside[sel] = PolygonZone(name, zone, (int(wh[0]), int(wh[1]))).trigger(feet[sel])
            s = zone_dwell_s(tt, inside)
            if s > 0:
                dwell[f"{camera_id}/{name}"] = round(s, 2)
    cameras = list(dict.fromkeys(link.camera_id for link in repo.person_links(session, p.global_id)))
    return PersonDetails(**summary(p).model_dump(), cameras=cameras, position_history=history,
                         movement_metrics=MovementMetrics(average_speed=metrics["average_speed_mps"],
                                                          total_distance=metrics["total_distance_m"],
                                                          dwell_time=round(sum(dwell.values()), 2),
                                                          dwell_s_per_zone=dwell))


def journey(session: Session, p: Identity) -> JourneyPublic:
    """Camera visits in order, each with the person's events (and their clips) during it."""
    events = list(session.exec(select(Event).where(Event.global_id == p.global_id).order_by(Event.t_start_s)).all())
    clips: dict[str, list[Clip]] = {}
    if events:
        for c in session.exec(select(Clip).where(Clip.event_id.in_([e.id for e in events]))).all():
            clips.setdefault(c.event_id, []).append(c)
    visits = []
    for link in repo.person_links(session, p.global_id):
        mine = [e for e in events if e.camera_id.split(".")[-1] == link.camera_id.split(".")[-1]
                and e.track_id == link.track_id and (link.video_id is None or e.video_id == link.video_id)]
        visits.append(Visit(
            camera=link.camera_id, track_id=link.track_id, job_id=link.job_id, video_id=link.video_id,
            first_seen=_iso(link.first_seen_s), last_seen=_iso(link.last_seen_s),
            duration_s=round(link.last_seen_s - link.first_seen_s, 3), verdict=link.verdict, score=link.score,
            events=[{"id": e.id, "type": e.type, "rule": e.rule, "zone": e.zone, "t_start_s": e.t_start_s,
                     "t_end_s": e.t_end_s} for e in mine],
            clips=[{"event_id": c.event_id, "url": f"/api/v1/events/{c.event_id}/clip"} for e in mine
                   for c in clips.get(e.id, [])],
        ))
    return JourneyPublic(global_id=p.global_id, visits=visits)
