"""Media: a live camera's latest frame, an event's evidence clip, a person crop from a stored video."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated
from urllib.parse import urlparse

import cv2
import numpy as np
import numpy.typing as npt
from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field
from starlette.requests import HTTPConnection

from deployments.api.control import CameraNotRunning, ControlDep
from deployments.api.deps import CurrentUser, ScopeDep, SessionDep, not_found, require
from deployments.api.permissions import Permission
from deployments.api.privacy import PrivacyDep, wants_original
from deployments.api.routes.cameras import CameraDep
from deployments.api.tags import Tags
from domain.custody import sha256_hex
from domain.privacy import face_boxes, mask_regions, masked_key
from storage import crud
from storage.models import TrackPoint
from storage import custody
from storage.objectstore import ObjectNotFoundError, ObjectStore, ObjectStoreError

__all__ = ["router", "StoreDep", "get_store", "FrameQuery", "ClipQuery", "CropQuery", "crop_person"]

router = APIRouter(tags=[Tags.MEDIA], dependencies=[Depends(require(Permission.READ))])
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
CROP_MARGIN = 0.10  # of the box's width / height, on every side


def get_store(conn: HTTPConnection) -> ObjectStore:
    """The object store given to `create_app(state={"store": ...})`."""
    return conn.app.state.store


StoreDep = Annotated[ObjectStore, Depends(get_store)]


_UNMASKED = Field(False, description="The original with faces visible (roles in PRIVACY__UNMASK_ROLES only; audited)")


class FrameQuery(BaseModel):
    overlay: bool = Field(True, description="Draw the zones and the tracked people")
    unmasked: bool = _UNMASKED


class ClipQuery(BaseModel):
    redirect: bool = Field(False, description="307 to a presigned URL when the store gives an http(s) one")
    unmasked: bool = _UNMASKED


class CropQuery(BaseModel):
    frame: int | None = Field(None, ge=0, description="Frame index (default: the track's middle detected frame)")
    unmasked: bool = _UNMASKED


@router.get("/cameras/{camera_id}/frame.jpg", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}}})  # fmt: skip
async def latest_frame(request: Request, session: SessionDep, user: CurrentUser, privacy: PrivacyDep,
                       control: ControlDep, camera: CameraDep, query: Annotated[FrameQuery, Depends()]) -> Response:
    """The camera's newest frame as JPEG, faces masked."""
    original = await run_in_threadpool(wants_original, request, session, user, privacy, query.unmasked,
                                       resource_type="camera", resource_id=camera.id)
    try:
        jpeg = await control.latest_frame(camera.id, query.overlay, mask_faces=not original)
    except CameraNotRunning:
        jpeg = b""
    if not jpeg:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "camera not running")
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


def _ranged(data: bytes, header: str | None, media_type: str) -> Response:
    """The whole body, or one `bytes=a-b` range of it (206; 416 when unsatisfiable)."""
    headers = {"Accept-Ranges": "bytes"}
    match = _RANGE.match(header.strip()) if header else None
    if match is None or match.groups() == ("", ""):
        return Response(data, media_type=media_type, headers=headers)
    first, last, size = match.group(1), match.group(2), len(data)
    start, end = (int(first), int(last) if last else size - 1) if first else (max(0, size - int(last)), size - 1)
    end = min(end, size - 1)
    if start > end:
        raise HTTPException(status.HTTP_416_RANGE_NOT_SATISFIABLE, "range not satisfiable",
                            headers={"Content-Range": f"bytes */{size}"})  # fmt: skip
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return Response(data[start : end + 1], status.HTTP_206_PARTIAL_CONTENT, media_type=media_type, headers=headers)


@router.get("/events/{event_id}/clip", response_class=Response, responses={200: {"content": {"video/mp4": {}}}})
def event_clip(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep, store: StoreDep,
               privacy: PrivacyDep, event_id: str, query: Annotated[ClipQuery, Depends()]) -> Response:  # fmt: skip
    """The event's evidence clip (MP4; byte ranges supported), faces masked."""
    event = crud.get_event(session, event_id)
    if event is None or not scope.sees_row(session, camera_id=event.camera_id, job_id=event.job_id):
        raise not_found("event")
    clips = crud.list_clips(session, event_id=event_id)
    if not clips:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "event has no clip")
    clip = clips[0]
    original = wants_original(request, session, user, privacy, query.unmasked, resource_type="clip", resource_id=clip.key)
    key = clip.key if original else masked_key(clip.key)
    if query.redirect:
        url = store.presigned_url(key)
        if url.startswith(("http://", "https://")):
            return RedirectResponse(url, status.HTTP_307_TEMPORARY_REDIRECT)
    try:
        data = store.get_bytes(key)
    except ObjectNotFoundError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "clip file missing" if original
                            else "no face-masked copy of this clip") from None  # fmt: skip
    except ObjectStoreError as exc:  # e.g. sealed with a key that is not configured
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"clip cannot be read: {exc}") from None
    if request.headers.get("range") is None:  # one custody entry per viewing, not per byte range
        custody.append(session, actor=user.username, action="access", object_key=key, sha256=sha256_hex(data),
                       size_bytes=len(data), detail={"event_id": event_id, "unmasked": original})
    return _ranged(data, request.headers.get("range"), clip.content_type)


def crop_person(video_path: Path, frame_index: int, xyxy: tuple[float, float, float, float], *,
                margin: float = CROP_MARGIN, jpeg_quality: int = 90, faces: npt.ArrayLike | None = None) -> bytes:  # fmt: skip
    """JPEG of one box of a video frame, grown by `margin` on every side and clipped to the frame.

    Args:
        video_path: a local video file.
        frame_index: 0-based frame to read.
        xyxy: the box `[x1, y1, x2, y2]` in the video's pixels.
        margin: fraction of the box's width (height) added left and right (top and bottom).
        jpeg_quality: 1–100.
        faces: `(F, 4)` face boxes (video pixels) masked on the frame before cropping; `None`: none.

    Returns:
        The JPEG bytes, or `b""` when the frame cannot be read or the box lies outside it.
    """
    cap = cv2.VideoCapture(str(video_path))
    try:
        cap.set(cv2.CAP_PROP_POS_FRAMES, frame_index)
        ok, frame = cap.read()
    finally:
        cap.release()
    if not ok or frame is None:
        return b""
    if faces is not None:
        frame = mask_regions(frame, faces)
    h, w = frame.shape[:2]
    x1, y1, x2, y2 = xyxy
    dx, dy = (x2 - x1) * margin, (y2 - y1) * margin
    box = np.array([x1 - dx, y1 - dy, x2 + dx, y2 + dy])
    left, top, right, bottom = np.clip(np.round(box), 0, [w, h, w, h]).astype(int).tolist()
    if right <= left or bottom <= top:
        return b""
    ok, buf = cv2.imencode(".jpg", frame[top:bottom, left:right], [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    return buf.tobytes() if ok else b""


def _local_path(uri: str) -> Path | None:
    """The local file a video URI names (a path or `file://`), `None` for remote ones (`s3://`)."""
    if uri.startswith("file://"):
        return Path(urlparse(uri).path)
    return None if "://" in uri else Path(uri)


def _pick_point(points: list[TrackPoint], frame: int | None) -> TrackPoint | None:
    if frame is not None:
        return next((p for p in points if p.frame_index == frame), None)
    detected = [p for p in points if not p.interpolated] or points
    return detected[len(detected) // 2] if detected else None


@router.get("/tracks/{video_id}/{track_id}/crop.jpg", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}}})  # fmt: skip
async def track_crop(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep, privacy: PrivacyDep,
                     video_id: str, track_id: int, query: Annotated[CropQuery, Depends()]) -> Response:  # fmt: skip
    """A person crop (box plus 10 % margin) of a track in a stored bulk-job video, as JPEG, faces masked."""
    video = await run_in_threadpool(crud.get_video, session, video_id)
    if video is None or not await run_in_threadpool(scope.sees_job, session, video.job_id):
        raise not_found("video")
    track = next((t for t in await run_in_threadpool(crud.list_tracks, session, video_id=video_id)
                  if t.track_id == track_id), None)  # fmt: skip
    if track is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "track not found")
    point = _pick_point(await run_in_threadpool(crud.get_track_points, session, track_pk=track.id), query.frame)
    if point is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "track has no box at this frame")
    path = _local_path(video.uri)
    if path is None or not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "video file not available")
    original = await run_in_threadpool(wants_original, request, session, user, privacy, query.unmasked,
                                       resource_type="track", resource_id=f"{video_id}/{track_id}")
    faces = None
    if not original:  # every person's face on that frame, not only this track's
        others = await run_in_threadpool(crud.track_points_at_frame, session, video_id=video_id,
                                         frame_index=point.frame_index)
        faces = face_boxes(
            np.array([p.keypoints or np.zeros((17, 3)) for p in others], np.float64).reshape(-1, 17, 3),
            np.array([[p.x1, p.y1, p.x2, p.y2] for p in others], np.float64).reshape(-1, 4))
    jpeg = await run_in_threadpool(crop_person, path, point.frame_index, (point.x1, point.y1, point.x2, point.y2),
                                   faces=faces)
    if not jpeg:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "frame not readable")
    return Response(jpeg, media_type="image/jpeg")
