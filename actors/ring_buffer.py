"""A camera's recent frames, JPEG-compressed in memory, and the MP4 writer that turns them into clips.

Measured on a 768×576 vtest.avi frame (raw BGR: 1.33 MB): JPEG quality 60 / 70 / 80 / 90 gives
52 / 61 / 76 / 111 kB at PSNR 34.3 / 35.4 / 36.9 / 39.7 dB, encoding in ~1.3 ms and decoding in
~1.6 ms. Quality 80 is the default: clean evidence at 1/17 of the raw size, so 20 s at 10 fps holds
in ~15 MB per camera.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import numpy.typing as npt

from domain.privacy import mask_regions

__all__ = ["BufferedFrame", "ClipScheduler", "FrameRingBuffer", "encode_mp4", "masked_clip_path", "write_clip"]

log = logging.getLogger(__name__)


@dataclass
class BufferedFrame:
    """One buffered frame.

    Attributes:
        frame_index: the camera loop's frame index.
        t_s: capture time, epoch seconds.
        jpeg: the frame, JPEG-encoded.
        track_id: `(N,)` int64 ids of the tracks analysed on this frame (`None`: not analysed).
        xyxy: `(N, 4)` float32 `[x1, y1, x2, y2]` boxes in this frame's (buffered) pixels.
        faces: `(F, 4)` float64 face boxes in buffered pixels (`domain.privacy.face_boxes`), `None`
            when not analysed; a clip with any gets a face-masked copy (`write_clip`).
    """

    frame_index: int
    t_s: float
    jpeg: bytes
    track_id: npt.NDArray[np.int64] | None = None
    xyxy: npt.NDArray[np.float32] | None = field(default=None, repr=False)
    faces: npt.NDArray[np.float64] | None = field(default=None, repr=False)

    def decode(self) -> npt.NDArray[np.uint8]:
        """The frame as BGR `(H, W, 3)` uint8."""
        return cv2.imdecode(np.frombuffer(self.jpeg, np.uint8), cv2.IMREAD_COLOR)


class FrameRingBuffer:
    """Bounded buffer of the most recent frames, by duration and by bytes (thread-safe).

    Args:
        max_s: keep frames captured within this many seconds of the newest. Must cover the clip
            pre-roll plus the post-roll (plus the event's own length for long events).
        max_bytes: also drop the oldest frames beyond this many JPEG bytes. Raising either costs
            memory per camera; lowering them shortens the clips that can be cut.
        jpeg_quality: 0–100. 80 is visually clean for evidence; lower saves memory but smears faces
            and hands.

    Raises:
        ValueError: on non-positive bounds or a quality outside 1–100.
    """

    def __init__(self, *, max_s: float = 20.0, max_bytes: int = 64 << 20, jpeg_quality: int = 80) -> None:
        if max_s <= 0 or max_bytes <= 0:
            raise ValueError(f"max_s and max_bytes must be > 0, but got {max_s}, {max_bytes}")
        if not 1 <= jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be in 1–100, but got {jpeg_quality}")
        self.max_s, self.max_bytes = max_s, max_bytes
        self._params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]
        self._frames: deque[BufferedFrame] = deque()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def nbytes(self) -> int:
        """JPEG bytes held."""
        return self._bytes

    @property
    def newest_t_s(self) -> float | None:
        """Capture time of the newest frame, `None` when empty."""
        with self._lock:
            return self._frames[-1].t_s if self._frames else None

    def push(self, frame_index: int, t_s: float, bgr: npt.NDArray[np.uint8]) -> BufferedFrame:
        """JPEG-encode and append a frame, dropping the oldest beyond the bounds.

        Args:
            frame_index: the loop's frame index.
            t_s: capture time (epoch seconds, non-decreasing).
            bgr: `(H, W, 3)` uint8.

        Returns:
            The stored entry (its `track_id`/`xyxy` may be set later via `annotate`).
        """
        ok, buf = cv2.imencode(".jpg", bgr, self._params)
        if not ok:
            raise ValueError(f"JPEG encoding failed for a frame of shape {bgr.shape}")
        entry = BufferedFrame(frame_index, t_s, buf.tobytes())
        with self._lock:
            self._frames.append(entry)
            self._bytes += len(entry.jpeg)
            while self._frames and (
                self._bytes > self.max_bytes or entry.t_s - self._frames[0].t_s > self.max_s
            ):
                self._bytes -= len(self._frames.popleft().jpeg)
        return entry

    @staticmethod
    def annotate(entry: BufferedFrame, track_id: npt.NDArray[np.int64], xyxy: npt.NDArray[np.float32]) -> None:
        """Attach the tracks analysed on `entry`'s frame (boxes in buffered pixels)."""
        entry.xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
        entry.track_id = np.asarray(track_id, np.int64)

    def window(self, t_from: float, t_to: float) -> list[BufferedFrame]:
        """Frames captured in `[t_from, t_to]` (epoch seconds), oldest first."""
        with self._lock:
            return [f for f in self._frames if t_from <= f.t_s <= t_to]

    def clear(self) -> None:
        """Drop everything."""
        with self._lock:
            self._frames.clear()
            self._bytes = 0


def encode_mp4(frames: Iterable[npt.NDArray[np.uint8]], fps: float, path: Path, *, crf: int = 26) -> int:
    """Write BGR frames as a browser-playable H.264 MP4 (yuv420p, faststart) with PyAV.

    Args:
        frames: `(H, W, 3)` uint8 BGR images, all the size of the first; odd sizes are cropped to even.
        fps: frame rate of the file.
        path: the `.mp4` to write (parent folders are created).
        crf: x264 quality, 0–51 (lower is better and larger).

    Returns:
        Frames written (0 writes no file).
    """
    container = None
    stream = None
    count = 0
    try:
        for bgr in frames:
            if container is None:
                h, w = (bgr.shape[0] // 2) * 2, (bgr.shape[1] // 2) * 2
                path.parent.mkdir(parents=True, exist_ok=True)
                container = av.open(str(path), mode="w", options={"movflags": "+faststart"})
                stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
                stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
                stream.options = {"crf": str(crf), "preset": "veryfast"}
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(bgr[: stream.height, : stream.width]), format="bgr24")
            for packet in stream.encode(frame):
                container.mux(packet)
            count += 1
    finally:
        if container is not None:
            for packet in stream.encode():
                container.mux(packet)
            container.close()
    return count


def _draw(bgr: npt.NDArray[np.uint8], track_id, xyxy, highlight: int | None) -> npt.NDArray[np.uint8]:
    for tid, box in zip(track_id.tolist(), xyxy.astype(int).tolist()):
        color = (0, 0, 255) if tid == highlight else (0, 200, 0)
        cv2.rectangle(bgr, tuple(box[:2]), tuple(box[2:]), color, 3 if tid == highlight else 2)
        cv2.putText(bgr, f"#{tid}", (box[0], max(12, box[1] - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, color, 1)
    return bgr


def write_clip(frames: list[BufferedFrame], path: Path, *, fps: float, crf: int = 26,
               highlight_track: int | None = None) -> int:
    """Decode buffered frames and write them as an MP4, with the tracks drawn.

    Boxes of the last analysed frame are held on the frames after it until the next analysed one;
    `highlight_track` is drawn in red, others in green.

    Args:
        frames: buffered frames, oldest first (from `FrameRingBuffer.window`).
        path: the `.mp4` to write.
        fps: frame rate of the clip (the rate the frames were buffered at).
        crf: x264 quality.
        highlight_track: track id of the event's person, if any.

    When any frame carries face boxes, a face-masked copy is written beside it as
    `<stem>.masked.mp4` (faces held like boxes until the next analysed frame).

    Returns:
        Frames written (0: nothing to write, no file). The file appears whole or not at all: it is
        written under a temporary name and renamed, so a crash never leaves half a clip at `path`.
    """
    tmp = path.with_name(f".{path.stem}.part{path.suffix}")

    def images(mask: bool):
        held, faces = None, None
        for entry in frames:
            if entry.track_id is not None:
                held, faces = (entry.track_id, entry.xyxy), entry.faces
            bgr = entry.decode()
            if mask and faces is not None and len(faces):
                bgr = mask_regions(bgr, faces)
            yield _draw(bgr, *held, highlight_track) if held is not None and len(held[0]) else bgr

    masked = masked_clip_path(path)
    tmp_masked = masked.with_name(f".{masked.stem}.part{masked.suffix}")
    try:
        if any(e.faces is not None for e in frames):  # the masked copy first: it is whole when the clip appears
            if encode_mp4(images(True), fps, tmp_masked, crf=crf):
                tmp_masked.replace(masked)
        count = encode_mp4(images(False), fps, tmp, crf=crf)
        if count:
            tmp.replace(path)
        return count
    finally:
        tmp.unlink(missing_ok=True)
        tmp_masked.unlink(missing_ok=True)


def masked_clip_path(path: Path) -> Path:
    """Where `write_clip` puts the face-masked copy of the clip at `path`: `<stem>.masked.mp4` beside it."""
    return path.with_name(f"{path.stem}.masked.mp4")


def _clip_fps(frames: list[BufferedFrame]) -> float:
    """The rate frames were buffered at, from their capture times (1–60 fps)."""
    if len(frames) < 2 or frames[-1].t_s <= frames[0].t_s:
        return 10.0
    return float(np.clip((len(frames) - 1) / (frames[-1].t_s - frames[0].t_s), 1.0, 60.0))


@dataclass
class _Pending:
    key: str
    t_from: float
    t_to: float
    payload: object
    highlight_track: int | None


class ClipScheduler:
    """Cuts clips from a ring buffer once their post-roll has arrived, on a background thread.

    The camera loop calls `schedule` when an event fires and `poll` on every step; `poll` starts
    the clips whose window is complete (or overdue) and returns those finished since. Decoding and
    H.264 encoding run on one worker thread so the loop never waits on them.

    Args:
        buffer: the camera's ring buffer.
        clips_dir: where clips go, as `{key}.mp4`.
        pre_s: seconds before the event's start.
        post_s: seconds after its end.
        crf: x264 quality.
        grace_s: when no frame reached `t_end + post_s` this long after it (the source stalled),
            cut with what is there.
    """

    def __init__(self, buffer: FrameRingBuffer, clips_dir: Path, *, pre_s: float = 3.0, post_s: float = 3.0,
                 crf: int = 26, grace_s: float = 2.0) -> None:
        self.buffer, self.clips_dir = buffer, Path(clips_dir)
        self.pre_s, self.post_s, self.crf, self.grace_s = pre_s, post_s, crf, grace_s
        self._pending: list[_Pending] = []
        self._writing: list[tuple[str, object, Future[int]]] = []
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clip-writer")

    def __len__(self) -> int:
        """Clips scheduled or being written."""
        return len(self._pending) + len(self._writing)

    def path_for(self, key: str) -> Path:
        """Where the clip `key` is (or will be) written."""
        return self.clips_dir / f"{key}.mp4"

    def schedule(self, key: str, t_start_s: float, t_end_s: float, payload: object,
                 highlight_track: int | None = None) -> None:
        """Ask for the clip `[t_start_s - pre_s, t_end_s + post_s]` (epoch seconds) as `{key}.mp4`."""
        self._pending.append(_Pending(key, t_start_s - self.pre_s, t_end_s + self.post_s, payload, highlight_track))

    def poll(self, now_s: float, *, flush: bool = False) -> list[tuple[str, object, Path | None]]:
        """Start the ready clips; return `(key, payload, path)` of those finished (`path=None`: no frames
        or writing failed). `flush=True` starts every pending clip now and waits for all of them."""
        newest = self.buffer.newest_t_s
        for p in list(self._pending):
            if flush or (newest is not None and newest >= p.t_to) or now_s >= p.t_to + self.grace_s:
                self._pending.remove(p)
                frames = self.buffer.window(p.t_from, p.t_to)
                path = self.clips_dir / f"{p.key}.mp4"
                future = self._pool.submit(
                    write_clip, frames, path, fps=_clip_fps(frames), crf=self.crf, highlight_track=p.highlight_track
                )
                self._writing.append((p.key, p.payload, future))
        done = []
        for item in list(self._writing):
            key, payload, future = item
            if not (flush or future.done()):
                continue
            self._writing.remove(item)
            path: Path | None = self.clips_dir / f"{key}.mp4"
            try:
                if future.result() == 0:
                    path = None
            except (OSError, ValueError, av.FFmpegError) as exc:
                log.warning("clip %s could not be written: %s", key, exc)
                path = None
            done.append((key, payload, path))
        return done

    def close(self) -> list[tuple[str, object, Path | None]]:
        """Write every pending clip with the frames there are, wait, and stop the worker."""
        done = self.poll(float("inf"), flush=True)
        self._pool.shutdown(wait=True)
        return done
