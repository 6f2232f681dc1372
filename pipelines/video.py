"""Video inputs of bulk jobs: probing, validation and the chunk / sampling plan."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2

__all__ = ["VideoError", "VideoInfo", "Chunk", "probe_video", "sampling_stride", "plan_chunks"]


class VideoError(ValueError):
    """An input video is missing, unreadable, not a video, or truncated. The message names the input."""


@dataclass(frozen=True)
class VideoInfo:
    """What probing a video found.

    Attributes:
        path: local file path.
        fps: frames per second.
        frame_count: number of frames the container declares.
        resolution_wh: `(width, height)` in pixels.
        codec: FourCC, e.g. `"XVID"`, `"avc1"`.
        size_bytes: file size.
    """

    path: str
    fps: float
    frame_count: int
    resolution_wh: tuple[int, int]
    codec: str
    size_bytes: int

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.frame_count / self.fps


def probe_video(path: str | Path, *, name: str | None = None) -> VideoInfo:
    """Open `path`, read its properties and decode its first frame.

    Args:
        path: local video file.
        name: how to call the input in messages (e.g. the original `s3://` URI); default `path`.

    Returns:
        The video's `VideoInfo`.

    Raises:
        VideoError: the file is missing, empty, not a video OpenCV/FFmpeg can decode, or declares no
            frames or frame rate.
    """
    p = Path(path)
    label = name or str(path)
    if not p.exists():
        raise VideoError(f"{label}: no such file")
    if not p.is_file():
        raise VideoError(f"{label}: not a file")
    size = p.stat().st_size
    if size == 0:
        raise VideoError(f"{label}: file is empty")
    cap = cv2.VideoCapture(str(p))
    try:
        if not cap.isOpened():
            raise VideoError(f"{label}: not a video, or a format/codec this build cannot decode")
        ok, frame = cap.read()
        if not ok or frame is None:
            raise VideoError(f"{label}: no decodable frame (corrupt or truncated video)")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        fourcc = int(cap.get(cv2.CAP_PROP_FOURCC) or 0)
    finally:
        cap.release()
    if not math.isfinite(fps) or fps <= 0 or fps > 1000:
        raise VideoError(f"{label}: invalid frame rate {fps!r}")
    if count <= 0:
        count = _count_frames(p)
    codec = "".join(chr((fourcc >> (8 * i)) & 0xFF) for i in range(4)).strip("\x00 ") or "unknown"
    h, w = frame.shape[:2]
    return VideoInfo(str(p), fps, count, (w, h), codec, size)


def _count_frames(path: Path) -> int:
    """Count frames by grabbing them all (for containers without a frame count)."""
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.grab():
        n += 1
    cap.release()
    return n


def sampling_stride(video_fps: float, target_fps: float) -> int:
    """Analyse every `stride`-th frame: the largest stride that still gives about `target_fps` or more.

    "About": a rate within 5 % of a whole stride counts (29.97 fps at 10 → stride 3).

    At or above the video's own rate every frame is analysed.

    Example:
        >>> sampling_stride(25.0, 5.0), sampling_stride(10.0, 10.0), sampling_stride(10.0, 30.0), sampling_stride(15.0, 10.0)
        (5, 1, 1, 1)
    """
    if target_fps <= 0:
        raise ValueError(f"target fps must be > 0, got {target_fps}")
    return max(1, int(video_fps / target_fps + 0.05))


@dataclass(frozen=True)
class Chunk:
    """A slice of one video analysed as one unit of parallel work.

    Frames `start <= f < end` with `f % stride == 0` are analysed; chunk `k+1` starts `overlap`
    frames before chunk `k` ends, so the tracks of both can be matched in the overlap.
    """

    video_id: str
    path: str
    index: int
    start: int
    end: int
    stride: int
    fps: float

    @property
    def frame_indices(self) -> range:
        """Analysed frame indices (over every decoded frame of the video)."""
        first = -(-self.start // self.stride) * self.stride
        return range(first, self.end, self.stride)


def plan_chunks(
    video_id: str, info: VideoInfo, *, stride: int, chunk_s: float, overlap_s: float
) -> list[Chunk]:
    """Split a video into chunks of about `chunk_s` seconds that overlap by `overlap_s`.

    Example:
        >>> info = VideoInfo("v.avi", 10.0, 250, (768, 576), "XVID", 1)
        >>> [(c.start, c.end) for c in plan_chunks("v", info, stride=1, chunk_s=10, overlap_s=2)]
        [(0, 120), (100, 220), (200, 250)]
    """
    length = max(stride, round(chunk_s * info.fps) // stride * stride)
    overlap = round(overlap_s * info.fps) // stride * stride
    chunks = []
    for k, start in enumerate(range(0, info.frame_count, length)):
        end = min(info.frame_count, start + length + overlap)
        chunks.append(Chunk(video_id, info.path, k, start, end, stride, info.fps))
        if end >= info.frame_count:
            break
    return chunks
