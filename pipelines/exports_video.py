"""Videos with overlays: a bulk job's video with its stored tracks, zones, lines and events drawn, or a
live camera's stored evidence clips of a time range joined into one file. H.264 MP4 (browser-playable).

Drawing uses the annotators the evidence clips use (supervision's box and label annotators, plus its
trace annotator for trails) and encoding the clips' own writer (`actors.ring_buffer.encode_mp4`:
PyAV, libx264, yuv420p, faststart).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import supervision as sv
from sqlmodel import Session, col, select

from actors.ring_buffer import encode_mp4
from domain.site import LineConfig, ZoneConfig
from domain.tracks import Trajectory, densify
from pipelines.export import trajectories_of_video
from storage import crud
from storage.models import Clip, Event, Video, VideoStatus

__all__ = ["VideoExport", "VideoExportError", "render_job_video", "render_live_range", "local_video"]

Progress = Callable[[float, str], None]


class VideoExportError(ValueError):
    """A video export that cannot be made (names the video or camera and why)."""


@dataclass(frozen=True)
class VideoExport:
    """A written video: frames, frame rate and size."""

    path: Path
    frames: int
    fps: float
    width: int
    height: int


def local_video(video: Video, store: Any, work_dir: Path) -> Path:
    """A readable local path of a job's source video (downloading an `s3://` input into `work_dir`).

    Raises:
        VideoExportError: the source is gone or cannot be read.
    """
    uri = video.uri
    if uri.startswith("s3://"):
        download = getattr(store, "download_uri", None)
        if download is None:
            raise VideoExportError(f"{uri}: S3 sources need the S3 settings")
        dest = work_dir / "source" / Path(uri).name
        try:
            download(uri, dest)
        except Exception as exc:  # noqa: BLE001  (missing key, no access: the export fails with the reason)
            raise VideoExportError(f"{uri}: cannot read the source video: {exc}") from None
        return dest
    path = Path(uri.removeprefix("file://"))
    if not path.is_file():
        raise VideoExportError(f"{uri}: the source video is no longer there (the platform reads sources, it does "
                               "not copy them)")  # fmt: skip
    return path


def _boxes(trajectories: list[Trajectory], stride: int) -> dict[int, list[tuple[int, np.ndarray]]]:
    by_frame: dict[int, list[tuple[int, np.ndarray]]] = {}
    for traj in trajectories:
        frames, xyxy, _ = densify(traj, max_gap_frames=stride)
        for f, box in zip(frames.tolist(), xyxy):
            by_frame.setdefault(f, []).append((traj.track_id, box))
    return by_frame


def _event_labels(events: list[Event], fps: float) -> dict[int, list[str]]:
    labels: dict[int, list[str]] = {}
    for e in events:
        kind = str(getattr(e.type, "value", e.type))
        text = f"{kind} {e.zone or ''} #{e.track_id}" if e.track_id is not None else f"{kind} {e.zone or ''}"
        hold = int(max(1.0, fps))  # instantaneous events stay on screen for a second
        for f in range(e.frame_start, max(e.frame_end, e.frame_start + hold) + 1):
            labels.setdefault(f, []).append(text.strip())
    return labels


def render_job_video(
    session: Session, video_id: str, out_path: Path, *, store: Any, zones: Mapping[str, ZoneConfig] | None = None,
    lines: Mapping[str, LineConfig] | None = None, trails: bool = True, overlays: bool = True, max_width: int = 960,
    crf: int = 26, progress: Progress | None = None, work_dir: Path | None = None,
) -> VideoExport:  # fmt: skip
    """Write a job's video with its stored tracks (boxes, ids, optional trails), zones, lines and events drawn.

    Args:
        session: database session.
        video_id: the video.
        out_path: the `.mp4` to write.
        store: object store (for `s3://` sources).
        zones: zones to draw (normalized polygons), e.g. the camera's.
        lines: counting lines to draw.
        trails: draw each person's recent path.
        overlays: draw anything at all (`False`: a plain H.264 copy, e.g. for the browser player).
        max_width: wider videos are scaled down to this width (px).
        crf: x264 quality.
        progress: called with `(fraction, stage)`.
        work_dir: where a downloaded source goes (default: a temporary folder).

    Returns:
        What was written: as many frames as the source has, at its frame rate.

    Raises:
        VideoExportError: the video does not exist, is not analysed, or its source cannot be read.
    """
    video = crud.get_video(session, video_id)
    if video is None:
        raise VideoExportError(f"video {video_id!r} not found")
    if video.status is not VideoStatus.DONE:
        raise VideoExportError(f"video {video.name!r} is {getattr(video.status, 'value', video.status)}, not analysed")
    trajectories, stride = trajectories_of_video(session, video_id) if overlays else ([], 1)
    events = list(session.exec(select(Event).where(Event.video_id == video_id)).all()) if overlays else []
    if not overlays:
        zones, lines, trails = {}, {}, False
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        source = local_video(video, store, Path(tmp))
        cap = cv2.VideoCapture(str(source))
        if not cap.isOpened():
            raise VideoExportError(f"{video.uri}: not a readable video")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or video.fps or 10.0)
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or video.frame_count or 0)
        try:
            frames = _annotated(cap, trajectories, stride, events, fps, total, zones or {}, lines or {}, trails,
                                max_width, progress)  # fmt: skip
            count = encode_mp4(frames, fps, out_path, crf=crf)
        finally:
            cap.release()
    if count == 0:
        raise VideoExportError(f"{video.uri}: no frame could be decoded")
    cap = cv2.VideoCapture(str(out_path))
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    cap.release()
    return VideoExport(out_path, count, fps, w, h)


def _annotated(cap: Any, trajectories: list[Trajectory], stride: int, events: list[Event], fps: float, total: int,
               zones: Mapping[str, ZoneConfig], lines: Mapping[str, LineConfig], trails: bool, max_width: int,
               progress: Progress | None) -> Iterator[npt.NDArray[np.uint8]]:  # fmt: skip
    boxes = _boxes(trajectories, stride)
    labels = _event_labels(events, fps)
    box_annotator = sv.BoxAnnotator(thickness=2, color_lookup=sv.ColorLookup.TRACK)
    label_annotator = sv.LabelAnnotator(text_scale=0.5, text_padding=3, color_lookup=sv.ColorLookup.TRACK)
    trace = sv.TraceAnnotator(thickness=2, trace_length=int(3 * fps), position=sv.Position.BOTTOM_CENTER,
                              color_lookup=sv.ColorLookup.TRACK) if trails else None  # fmt: skip
    f = 0
    size_wh: tuple[int, int] | None = None
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        h, w = frame.shape[:2]
        img = frame
        for name, z in zones.items():
            poly = (np.asarray(z.polygon, dtype=np.float64) * [w, h]).astype(np.int32)
            img = sv.draw_polygon(img, poly, color=sv.Color.from_hex("#ffd400"), thickness=2)
            x, y = poly.min(axis=0)
            cv2.putText(img, name, (int(x) + 4, int(y) + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 212, 255), 1, cv2.LINE_AA)
        for name, ln in lines.items():
            a = (int(ln.start[0] * w), int(ln.start[1] * h))
            b = (int(ln.end[0] * w), int(ln.end[1] * h))
            cv2.line(img, a, b, (255, 0, 255), 2, cv2.LINE_AA)
            cv2.putText(img, name, (a[0] + 4, a[1] - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 0, 255), 1, cv2.LINE_AA)
        tracks = boxes.get(f, [])
        if tracks:
            dets = sv.Detections(xyxy=np.stack([b for _, b in tracks]).astype(np.float32),
                                 tracker_id=np.array([t for t, _ in tracks]), class_id=np.zeros(len(tracks), int))  # fmt: skip
            if trace is not None:
                img = trace.annotate(img, dets)
            img = box_annotator.annotate(img, dets)
            img = label_annotator.annotate(img, dets, labels=[f"#{t}" for t in dets.tracker_id])
        for i, text in enumerate(labels.get(f, [])[:4]):
            cv2.putText(img, text, (10, 24 + 20 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 255), 2, cv2.LINE_AA)
        if size_wh is None:
            scale = min(1.0, max_width / w)
            size_wh = (int(w * scale) // 2 * 2, int(h * scale) // 2 * 2)
        if (w, h) != size_wh:
            img = cv2.resize(img, size_wh, interpolation=cv2.INTER_AREA)
        yield img
        f += 1
        if progress and (f % 25 == 0 or f == total):
            progress(min(0.99, f / total) if total else 0.5, f"frame {f} of {total}")


def render_live_range(
    session: Session, camera_id: str, t_from_s: float, t_to_s: float, out_path: Path, *, store: Any,
    progress: Progress | None = None, work_dir: Path | None = None, max_width: int = 960, crf: int = 26,
) -> VideoExport:  # fmt: skip
    """Join a live camera's stored evidence clips of `[t_from_s, t_to_s)` (epoch s) into one MP4.

    Live cameras keep no full recording, only clips around events (already drawn with the tracks);
    each clip is stamped with its camera and wall-clock time.

    Raises:
        VideoExportError: no clip of the camera in the range.
    """
    rows = session.exec(
        select(Clip, Event).join(Event, col(Event.id) == col(Clip.event_id))
        .where(Event.camera_id == camera_id, col(Event.job_id).is_(None))
    ).all()  # fmt: skip
    clips = []
    for clip, event in rows:
        start = float((event.payload or {}).get("epoch_start_s", float("nan")))
        if t_from_s <= start < t_to_s:
            clips.append((start, clip))
    clips.sort(key=lambda c: c[0])
    if not clips:
        raise VideoExportError(f"camera '{camera_id}' has no stored evidence clip in the range (live cameras keep "
                               "only clips around events)")  # fmt: skip
    fps = float(clips[0][1].fps or 10.0)
    size: list[tuple[int, int]] = []

    def frames() -> Iterator[npt.NDArray[np.uint8]]:
        with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
            for i, (start, clip) in enumerate(clips):
                if progress:
                    progress(i / len(clips), f"clip {i + 1} of {len(clips)}")
                path = Path(tmp) / f"{i}.mp4"
                try:
                    store.download(clip.key, path)
                except Exception:  # noqa: BLE001  (a clip lost from the store is skipped, the rest still join)
                    continue
                cap = cv2.VideoCapture(str(path))
                k = 0
                while True:
                    ok, frame = cap.read()
                    if not ok:
                        break
                    if not size:
                        h, w = frame.shape[:2]
                        scale = min(1.0, max_width / w)
                        size.append((int(w * scale) // 2 * 2, int(h * scale) // 2 * 2))
                    if (frame.shape[1], frame.shape[0]) != size[0]:
                        frame = cv2.resize(frame, size[0], interpolation=cv2.INTER_AREA)
                    from datetime import datetime, timezone

                    stamp = datetime.fromtimestamp(start + k / fps, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
                    cv2.putText(frame, f"{camera_id}  {stamp}", (10, frame.shape[0] - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                                (255, 255, 255), 1, cv2.LINE_AA)  # fmt: skip
                    k += 1
                    yield frame
                cap.release()

    count = encode_mp4(frames(), fps, out_path, crf=crf)
    if count == 0:
        raise VideoExportError(f"camera '{camera_id}': none of its {len(clips)} clips could be read")
    return VideoExport(out_path, count, fps, size[0][0], size[0][1])
