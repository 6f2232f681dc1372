"""Live frame sources (RTSP, HTTP MJPEG/HLS, local files) and the backoff used to reopen them.

Network sources are read through OpenCV's FFmpeg backend. Before the first network source opens,
`OPENCV_FFMPEG_CAPTURE_OPTIONS` is set in the process environment (unless already set) to
`rtsp_transport;tcp|analyzeduration;500000|probesize;32768`: RTSP over TCP (no UDP loss or NAT
trouble) and a short probe so a stream starts in well under a second. FFmpeg reads the variable at
every open, so it affects every capture in the process; set it yourself beforehand to override.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

import cv2
import numpy as np
import numpy.typing as npt

__all__ = [
    "FFMPEG_CAPTURE_OPTIONS",
    "Backoff",
    "CaptureSource",
    "FileSource",
    "FrameRead",
    "FrameSource",
    "Reconnector",
    "SourceError",
    "check_source_uri",
    "open_source",
]

FFMPEG_CAPTURE_OPTIONS = "rtsp_transport;tcp|analyzeduration;500000|probesize;32768"
_NETWORK_SCHEMES = ("rtsp", "rtsps", "http", "https")
_options_lock = threading.Lock()

FrameRead = tuple[npt.NDArray[np.uint8], float, int]  # (BGR (H, W, 3) uint8, capture epoch s, frame index)


class SourceError(RuntimeError):
    """A source could not be opened or read; the caller backs off and reopens."""


class FrameSource(Protocol):
    """What the camera loop reads frames from."""

    @property
    def fps(self) -> float:
        """The stream's nominal frame rate (frames/s; a guess of 25 when the stream gives none)."""
        ...

    def read(self) -> FrameRead | None:
        """The next frame: `(bgr, captured_at_s, frame_index)`.

        `bgr` is `(H, W, 3)` uint8, `captured_at_s` the epoch seconds it was read (`time.time()`),
        `frame_index` 0-based from this source's open. `None` at the end of a file that does not
        loop.

        Raises:
            SourceError: the read failed (the source is then released; open a new one).
        """
        ...

    def close(self) -> None:
        """Release the capture (idempotent)."""
        ...


def _nominal_fps(cap: cv2.VideoCapture) -> float:
    fps = cap.get(cv2.CAP_PROP_FPS)
    return float(fps) if 0 < fps <= 240 else 25.0


class CaptureSource:
    """A network stream (`rtsp(s)://`, `http(s)://` MJPEG or HLS) through OpenCV's FFmpeg backend.

    Args:
        uri: the stream URL (credentials in it are never logged or put in errors).
        open_timeout_ms: give up opening after this long. Longer tolerates slow cameras; shorter
            notices a dead one sooner.
        read_timeout_ms: a read that waits longer fails (the stream is considered lost).

    Raises:
        SourceError: the stream could not be opened.
    """

    def __init__(self, uri: str, *, open_timeout_ms: int = 10_000, read_timeout_ms: int = 5_000) -> None:
        with _options_lock:
            os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", FFMPEG_CAPTURE_OPTIONS)
        self._name = _redact(uri)
        self._cap = cv2.VideoCapture(
            uri,
            cv2.CAP_FFMPEG,
            [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, open_timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, read_timeout_ms],
        )
        if not self._cap.isOpened():
            self._cap.release()
            raise SourceError(f"cannot open {self._name}")
        self._fps = _nominal_fps(self._cap)
        self._index = 0

    @property
    def fps(self) -> float:
        return self._fps

    def read(self) -> FrameRead | None:
        if self._cap is None:
            raise SourceError(f"{self._name} is closed")
        ok, frame = self._cap.read()
        if not ok or frame is None:
            self.close()
            raise SourceError(f"lost {self._name} (read failed or timed out)")
        index = self._index
        self._index += 1
        return frame, time.time(), index

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class FileSource:
    """A local video file played at its own frame rate (sleeping to real time), looped if asked.

    Args:
        path: the video file.
        loop: start again at the end (the frame index keeps counting); else `read` returns `None`.
        realtime: sleep so frames come at the file's rate; `False` reads as fast as decoding goes.
        sleep: `time.sleep`-like function (injectable for tests).

    Raises:
        SourceError: the file is missing or not decodable.
    """

    def __init__(self, path: str | Path, *, loop: bool = True, realtime: bool = True,
                 sleep: Callable[[float], object] = time.sleep) -> None:
        self._path = str(path)
        if not Path(self._path).is_file():
            raise SourceError(f"video file not found: {self._path}")
        self._cap: cv2.VideoCapture | None = cv2.VideoCapture(self._path, cv2.CAP_FFMPEG)
        if not self._cap.isOpened():
            self._cap.release()
            raise SourceError(f"cannot decode video file {self._path}")
        self._fps = _nominal_fps(self._cap)
        self._loop, self._realtime, self._sleep = loop, realtime, sleep
        self._index = 0
        self._t0: float | None = None

    @property
    def fps(self) -> float:
        return self._fps

    def read(self) -> FrameRead | None:
        if self._cap is None:
            raise SourceError(f"{self._path} is closed")
        ok, frame = self._cap.read()
        if not ok and self._loop and self._index > 0:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self._cap.read()
        if not ok or frame is None:
            if not self._loop and self._index > 0:
                return None
            self.close()
            raise SourceError(f"cannot read a frame from {self._path}")
        if self._realtime:
            now = time.monotonic()
            if self._t0 is None:
                self._t0 = now
            due = self._t0 + self._index / self._fps
            if due > now:
                self._sleep(due - now)
            elif now - due > 1.0:  # fell far behind (a slow consumer): do not burst to catch up
                self._t0 = now - self._index / self._fps
        index = self._index
        self._index += 1
        return frame, time.time(), index

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def _redact(uri: str) -> str:
    """`uri` without a password: `rtsp://user:***@host/x`."""
    parts = urlparse(uri)
    if parts.password is None:
        return uri
    return uri.replace(f":{parts.password}@", ":***@", 1)


def open_source(uri: str, *, loop_files: bool = True, realtime_files: bool = True,
                open_timeout_ms: int = 10_000, read_timeout_ms: int = 5_000) -> FrameSource:
    """Open a camera source from its URI.

    Args:
        uri: `rtsp://` / `rtsps://`, `http(s)://` (MJPEG or HLS `.m3u8`), `file:///path` or a path.
        loop_files: loop local files (a file then behaves like an endless camera).
        realtime_files: play local files at their own frame rate.
        open_timeout_ms: network open timeout, see `CaptureSource`.
        read_timeout_ms: network read timeout, see `CaptureSource`.

    Returns:
        An open `FrameSource`.

    Raises:
        ValueError: the scheme is not supported (a permanent configuration error).
        SourceError: the source could not be opened now (retry later).

    Example:
        >>> open_source("ftp://cam/x")
        Traceback (most recent call last):
        ...
        ValueError: unsupported camera source scheme 'ftp' in 'ftp://cam/x'; use rtsp://, http(s):// or a file path
    """
    scheme = check_source_uri(uri)
    if scheme in _NETWORK_SCHEMES:
        return CaptureSource(uri, open_timeout_ms=open_timeout_ms, read_timeout_ms=read_timeout_ms)
    if scheme == "file":
        return FileSource(urlparse(uri).path, loop=loop_files, realtime=realtime_files)
    return FileSource(uri, loop=loop_files, realtime=realtime_files)


def check_source_uri(uri: str) -> str:
    """Validate a source URI's scheme without connecting.

    Args:
        uri: see `open_source`.

    Returns:
        The lower-case scheme (`""` for a plain path).

    Raises:
        ValueError: the scheme is not supported.
    """
    scheme = urlparse(uri).scheme.lower()
    if scheme in (*_NETWORK_SCHEMES, "file", "") or (len(scheme) == 1 and os.name == "nt"):  # C:\ paths
        return scheme
    raise ValueError(
        f"unsupported camera source scheme '{scheme}' in '{_redact(uri)}'; use rtsp://, http(s):// or a file path"
    )


class Backoff:
    """Exponential backoff with jitter between reconnect attempts.

    Delays run `initial_s, initial_s·factor, …` up to `max_s`, each spread by ±`jitter` (a fraction)
    so many cameras that dropped together do not reconnect in lockstep. `reset()` after a
    successful read starts over.

    Args:
        initial_s: first delay. Shorter recovers brief glitches faster; longer spares a camera
            that is rebooting.
        factor: growth per failure (> 1).
        max_s: ceiling of the delay. Higher spares dead cameras and the network; lower notices a
            returning camera sooner.
        jitter: relative spread, 0–1 (0.1 → ±10 %).
        rng: `random.Random` to draw jitter from (seed it for reproducible tests).

    Raises:
        ValueError: on non-positive delays, `factor <= 1` or `jitter` outside 0–1.

    Example:
        >>> b = Backoff(jitter=0.0)
        >>> [b.next_delay() for _ in range(8)]
        [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    """

    def __init__(self, *, initial_s: float = 0.5, factor: float = 2.0, max_s: float = 30.0,
                 jitter: float = 0.1, rng: random.Random | None = None) -> None:
        if initial_s <= 0 or max_s < initial_s:
            raise ValueError(f"need 0 < initial_s <= max_s, but got initial_s={initial_s}, max_s={max_s}")
        if factor <= 1:
            raise ValueError(f"factor must be > 1, but got {factor}")
        if not 0 <= jitter <= 1:
            raise ValueError(f"jitter must be in [0, 1], but got {jitter}")
        self.initial_s, self.factor, self.max_s, self.jitter = initial_s, factor, max_s, jitter
        self._rng = rng or random.Random()
        self.failures = 0

    def next_delay(self) -> float:
        """Seconds to wait before the next attempt (counts one more failure)."""
        base = min(self.max_s, self.initial_s * self.factor**self.failures)
        self.failures += 1
        spread = base * self.jitter * (2 * self._rng.random() - 1)
        return max(0.0, base + spread)

    def reset(self) -> None:
        """A read succeeded: the next failure waits `initial_s` again."""
        self.failures = 0


class Reconnector:
    """Keeps a source open: after a failure, waits the backoff delay, then reopens on the next read.

    A failure is raised at once (so the caller can report it) and the wait happens at the start of
    the next `read`, through the injectable `sleep` (e.g. `stop_event.wait`, so a stop interrupts
    it).

    Args:
        opener: opens a fresh source (`lambda: open_source(uri)`); raises `SourceError` when it
            cannot.
        backoff: the delay policy (default `Backoff()`).
        sleep: `time.sleep`-like; a truthy return (as `Event.wait` gives when set) skips the open.
    """

    def __init__(self, opener: Callable[[], FrameSource], *, backoff: Backoff | None = None,
                 sleep: Callable[[float], object] = time.sleep) -> None:
        self._opener = opener
        self.backoff = backoff or Backoff()
        self._sleep = sleep
        self._source: FrameSource | None = None
        self._wait_s = 0.0

    @property
    def fps(self) -> float | None:
        """The open source's nominal fps, `None` while closed."""
        return None if self._source is None else self._source.fps

    def read(self) -> FrameRead | None:
        """The next frame, opening the source first if needed.

        Returns:
            See `FrameSource.read`; also `None` if the backoff wait was interrupted by `sleep`.

        Raises:
            SourceError: opening or reading failed (the next call waits, then reopens).
        """
        if self._source is None:
            if self._wait_s > 0:
                if self._sleep(self._wait_s):
                    return None
                self._wait_s = 0.0
            try:
                self._source = self._opener()
            except SourceError:
                self._wait_s = self.backoff.next_delay()
                raise
        try:
            item = self._source.read()
        except SourceError:
            self.close()
            self._wait_s = self.backoff.next_delay()
            raise
        if item is not None:
            self.backoff.reset()
        return item

    def close(self) -> None:
        """Release the current source (the next `read` reopens at once)."""
        if self._source is not None:
            self._source.close()
            self._source = None
