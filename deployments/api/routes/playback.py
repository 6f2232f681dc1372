"""Playback of analysed footage in the browser: a job's video with its stored tracks, zones and events.

The browser plays the video itself (`<video>`: play, pause, seek with HTTP range requests) and draws
the stored boxes, ids, zones and lines on a canvas in sync with the frame on screen; the events
are a timeline to jump to. The video comes from its original source, which the platform reads but
does not copy, when the browser can decode it (H.264 / VP8 / VP9 / AV1 in MP4, MOV or WebM);
otherwise from a playable export (`POST /export/video-with-overlays` with `overlays: false`).

A `<video>` element cannot send an Authorization header, so `.../media-url` hands out a signed,
short-lived URL (`/api/v1/media/{token}`, HS256 with the API's secret, bound to one video or export
file and to the user) that the public `media_router` serves.

Server-driven playback (`/tracking/controls/{task_id}/play|pause|seek` with `playback_frame`
messages) is deliberately not built: it would decode and push every frame over a WebSocket per
viewer (CPU and bandwidth on the server, a round trip on every seek) to do what the browser's video
element does locally, and it adds nothing for stored footage, whose tracks are all known up front.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlparse

import jwt
import numpy as np
import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field
from sqlmodel import select

from deployments.api.analytics_scope import camera_visible
from deployments.api.deps import ConfigDep, CurrentUser, SessionDep, require
from deployments.api.permissions import Permission
from deployments.api.routes.media import StoreDep
from deployments.api.tags import Tags
from storage import analytics_exports as repo
from storage import crud
from storage.analytics_models import ExportKind, ExportStatus
from storage.analytics_rollup import camera_of_video, site_of_job
from storage.models import Event, EventPublic, Site, Track, Video, VideoStatus

__all__ = ["router", "media_router", "PLAYABLE_CODECS", "browser_playable", "MEDIA_TTL_S"]

router = APIRouter(prefix="/playback", tags=[Tags.PLAYBACK], dependencies=[Depends(require(Permission.READ))])
media_router = APIRouter(tags=[Tags.PLAYBACK])  # public: the signed URL is the credential
PLAYABLE_CODECS = frozenset({"avc1", "h264", "x264", "vp08", "vp80", "vp09", "vp90", "av01", "hev1", "hvc1"})
_PLAYABLE_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".webm"})
MEDIA_TTL_S = 6 * 3600
_AUDIENCE = "witness-media"


def browser_playable(video: Video) -> bool:
    """Whether a browser can play the video's original file (container and codec)."""
    codec = (video.codec or "").strip().lower()
    suffix = Path(urlparse(video.uri).path if "://" in video.uri else video.uri).suffix.lower()
    return codec in PLAYABLE_CODECS and suffix in _PLAYABLE_SUFFIXES


class ZonePublic(BaseModel):
    name: str
    kind: str
    polygon: list[list[float]] = Field(description="Normalized [x, y] vertices (0-1)")


class LinePublic(BaseModel):
    name: str
    start: list[float]
    end: list[float]


class PlanViewPublic(BaseModel):
    """Where a calibrated camera's video lies on the site's floor plan (for the map replay)."""

    extent_m: list[float] = Field(description="[x0, y0, x1, y1] of the plan area to draw (m)")
    field_of_view: list[list[float]] = Field(description="The camera's view on the floor, polygon (m)")


class PlaybackPublic(BaseModel):
    """What the player needs besides the tracks."""

    video_id: str
    job_id: str
    name: str
    camera_id: str
    fps: float
    frame_count: int
    duration_s: float
    resolution_wh: list[int]
    source_playable: bool = Field(description="The original file plays in a browser")
    playable_exports: list[dict[str, Any]] = Field(description="Done video exports of this video (id, overlays)")
    zones: list[ZonePublic]
    lines: list[LinePublic]
    events: list[EventPublic]
    plan: PlanViewPublic | None = Field(None, description="The camera's place on the floor plan; null: not calibrated")


class PlaybackTrackPublic(BaseModel):
    track_id: int
    global_id: str | None = None
    frames: list[int]
    xyxy: list[list[float]] = Field(description="Boxes at those frames, original pixels")
    map_xy: list[list[float] | None] | None = Field(
        None, description="Foot points on the floor plan at those frames (m; null above the horizon); "
        "null when the camera is not calibrated")


class PlaybackTracksPublic(BaseModel):
    video_id: str
    fps: float
    stride: int = Field(description="Frames between analysed frames: boxes in between are interpolated")
    tracks: list[PlaybackTrackPublic]


class MediaUrlPublic(BaseModel):
    url: str
    expires_at: datetime
    content_type: str


def _visible_video(session: Any, user: Any, video_id: str) -> tuple[Video, str]:
    video = crud.get_video(session, video_id)
    job = crud.get_job(session, video.job_id) if video is not None else None
    if video is None or job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "video not found")
    camera_id = camera_of_video(site_of_job(job), video)
    if not camera_visible(user, crud.get_camera(session, camera_id)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "video not found")
    return video, camera_id


@router.get("/videos/{video_id}")
def playback_info(session: SessionDep, user: CurrentUser, video_id: str) -> PlaybackPublic:
    """A job's video for the player: its facts, whether the source plays in a browser, its zones and events."""
    video, camera_id = _visible_video(session, user, video_id)
    if video.status is not VideoStatus.DONE:
        raise HTTPException(status.HTTP_409_CONFLICT, f"video '{video.name}' is not analysed yet")
    camera = crud.get_camera(session, camera_id)
    zones: list[ZonePublic] = []
    lines: list[LinePublic] = []
    plan: PlanViewPublic | None = None
    config = _camera_config(camera)
    if config is not None:
        zones = [ZonePublic(name=n, kind=z.kind.value, polygon=[list(p) for p in z.polygon]) for n, z in config.zones.items()]
        lines = [LinePublic(name=n, start=list(ln.start), end=list(ln.end)) for n, ln in config.lines.items()]
        if config.calibration is not None:
            fov = config.calibration.fitted.field_of_view()
            pts = np.concatenate([fov.reshape(-1, 2), np.asarray(config.calibration.map_points, np.float64)])
            site = session.get(Site, camera.site_id)
            fp = (site.floor_plan or {}) if site is not None else {}
            extent = ([0.0, 0.0, float(fp["width_m"]), float(fp["height_m"])] if fp.get("width_m") and fp.get("height_m")
                      else [min(0.0, float(pts[:, 0].min())), min(0.0, float(pts[:, 1].min())),
                            float(pts[:, 0].max()), float(pts[:, 1].max())])  # fmt: skip
            plan = PlanViewPublic(extent_m=extent, field_of_view=fov.round(3).tolist())
    events = session.exec(select(Event).where(Event.video_id == video.id).order_by(Event.t_start_s)).all()
    exports = [
        {"id": j.id, "overlays": bool(j.params.get("overlays", True)), "created_at": j.created_at.isoformat()}
        for j in repo.list_exports(session, limit=200)[0]
        if j.kind is ExportKind.VIDEO_WITH_OVERLAYS and j.status is ExportStatus.DONE and j.params.get("video_id") == video.id
    ]  # fmt: skip
    return PlaybackPublic(
        video_id=video.id, job_id=video.job_id, name=video.name, camera_id=camera_id, fps=float(video.fps or 0.0),
        frame_count=int(video.frame_count or 0), duration_s=float(video.duration_s or 0.0),
        resolution_wh=[int(video.width or 0), int(video.height or 0)], source_playable=browser_playable(video),
        playable_exports=exports, zones=zones, lines=lines, events=[EventPublic.model_validate(e) for e in events],
        plan=plan,
    )  # fmt: skip


def _camera_config(camera: Any) -> Any:
    """A stored camera's config, `None` when not stored or invalid."""
    if camera is None:
        return None
    try:
        return crud.camera_config(camera)
    except crud.ConfigInvalidError:
        return None


@router.get("/videos/{video_id}/tracks")
def playback_tracks(
    session: SessionDep, user: CurrentUser, video_id: str,
    from_s: Annotated[float | None, Query(ge=0, description="Only points at or after (s from the video start)")] = None,
    to_s: Annotated[float | None, Query(ge=0, description="Only points before (s)")] = None,
) -> PlaybackTracksPublic:
    """The stored tracks of a video, per track: frames, boxes (the player interpolates between them), the
    person's global id, and for a calibrated camera the foot points on the floor plan (the map replay)."""
    from pipelines.export import trajectories_of_video

    video, camera_id = _visible_video(session, user, video_id)
    if from_s is not None and to_s is not None and to_s <= from_s:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "to_s must be after from_s")
    trajectories, stride = trajectories_of_video(session, video.id)
    config = _camera_config(crud.get_camera(session, camera_id))
    calibration = config.calibration.fitted if config is not None and config.calibration is not None else None
    wh = (int(video.width or 0), int(video.height or 0))
    global_ids = dict(session.execute(sa.select(Track.track_id, Track.global_id).where(Track.video_id == video.id)).all())
    tracks = []
    for t in trajectories:
        keep = [i for i, ts in enumerate(t.t_s.tolist())
                if (from_s is None or ts >= from_s) and (to_s is None or ts < to_s)]  # fmt: skip
        if not keep:
            continue
        map_xy = None
        if calibration is not None and wh[0] > 0 and wh[1] > 0:
            plan = calibration.boxes_to_map(t.xyxy[keep], wh)
            map_xy = [[round(float(x), 3), round(float(y), 3)] if np.isfinite([x, y]).all() else None for x, y in plan]
        tracks.append(PlaybackTrackPublic(track_id=t.track_id, global_id=global_ids.get(t.track_id),
                                          frames=[int(t.frame_index[i]) for i in keep],
                                          xyxy=[[round(float(v), 1) for v in t.xyxy[i]] for i in keep], map_xy=map_xy))  # fmt: skip
    return PlaybackTracksPublic(video_id=video.id, fps=float(video.fps or 0.0), stride=stride, tracks=tracks)


def _sign(config: Any, user_id: str, resource: str) -> tuple[str, datetime]:
    exp = int(time.time()) + MEDIA_TTL_S
    token = jwt.encode({"sub": user_id, "res": resource, "aud": _AUDIENCE, "exp": exp}, config.jwt_secret, "HS256")
    return token, datetime.fromtimestamp(exp, tz=timezone.utc)


@router.get("/videos/{video_id}/media-url")
def video_media_url(session: SessionDep, user: CurrentUser, config: ConfigDep, video_id: str) -> MediaUrlPublic:
    """A signed URL of the video's original file for the `<video>` element (409 when a browser cannot play it)."""
    video, _ = _visible_video(session, user, video_id)
    if not browser_playable(video):
        raise HTTPException(status.HTTP_409_CONFLICT, f"'{video.name}' ({video.codec or 'unknown codec'}) does not play "
                            "in a browser: make a playable copy with POST /api/v1/export/video-with-overlays")  # fmt: skip
    token, exp = _sign(config, user.id, f"video:{video.id}")
    return MediaUrlPublic(url=f"/api/v1/media/{token}", expires_at=exp, content_type="video/mp4")


@router.get("/exports/{export_id}/media-url")
def export_media_url(session: SessionDep, user: CurrentUser, config: ConfigDep, export_id: str) -> MediaUrlPublic:
    """A signed URL of a done video export for the `<video>` element."""
    from deployments.api.routes.exports import _visible_job

    job = _visible_job(session, user, export_id)
    if job.status is not ExportStatus.DONE or job.kind is not ExportKind.VIDEO_WITH_OVERLAYS:
        raise HTTPException(status.HTTP_409_CONFLICT, "not a finished video export")
    token, exp = _sign(config, user.id, f"export:{job.id}")
    return MediaUrlPublic(url=f"/api/v1/media/{token}", expires_at=exp, content_type=job.content_type or "video/mp4")


@media_router.get("/media/{token}", response_class=Response, responses={200: {"content": {"video/mp4": {}}}})
def media(request: Request, session: SessionDep, config: ConfigDep, store: StoreDep, token: str) -> Response:
    """A video file by signed URL (byte ranges supported)."""
    try:
        claims = jwt.decode(token, config.jwt_secret, algorithms=["HS256"], audience=_AUDIENCE)
    except jwt.InvalidTokenError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "media not found") from None
    user = crud.get_user(session, str(claims.get("sub")))
    kind, _, ident = str(claims.get("res", "")).partition(":")
    if user is None or not user.is_active:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "media not found")
    if kind == "video":
        video, _ = _visible_video(session, user, ident)
        path = Path(video.uri.removeprefix("file://"))
        if video.uri.startswith("s3://") or not path.is_file():
            raise HTTPException(status.HTTP_404_NOT_FOUND, "the source video is no longer there")
        return FileResponse(path, media_type="video/webm" if path.suffix == ".webm" else "video/mp4")
    if kind == "export":
        from deployments.api.routes.exports import _visible_job

        job = _visible_job(session, user, ident)
        if job.status is not ExportStatus.DONE or not job.key:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "media not found")
        url = store.presigned_url(job.key)
        if url.startswith("file://"):
            return FileResponse(unquote(urlparse(url).path), media_type=job.content_type)
        from deployments.api.routes.media import _ranged

        return _ranged(store.get_bytes(job.key), request.headers.get("range"), job.content_type or "video/mp4")
    raise HTTPException(status.HTTP_404_NOT_FOUND, "media not found")
