"""Live-camera health: a small state machine plus rolling rates, fed by the camera loop.

Pure logic: every method takes the current time as an argument (epoch seconds), so the tracker runs
the same under a real clock and in a table-driven unit test.

States (`CameraState`)::

    starting ──first frame──▶ streaming ──source lost──▶ reconnecting ──frame──▶ streaming
        │                                                     │
        └──open fails──▶ reconnecting   N failures in a row ──▶ error ──frame──▶ streaming
    any ──permanent failure (bad URI)──▶ error (stays)       any ──stop──▶ stopped
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from enum import Enum

__all__ = ["CameraState", "CameraHealth", "HealthChange", "HealthTracker"]


class CameraState(str, Enum):
    """Where a live camera stands."""

    STARTING = "starting"
    STREAMING = "streaming"
    RECONNECTING = "reconnecting"
    ERROR = "error"
    STOPPED = "stopped"


@dataclass(frozen=True)
class CameraHealth:
    """A snapshot of one camera's health.

    Attributes:
        camera_id: camera (site-file key).
        state: current state.
        fps_in: decoded frames per second over the rolling window.
        fps_out: analysed (detected + tracked) frames per second over the rolling window.
        lag_s: seconds between the capture of the last analysed frame and the end of its
            analysis (`None` before the first one).
        last_frame_at: epoch seconds of the last decoded frame (`None` before the first one).
        reconnects: times the source was lost after streaming and reopening began.
        dropped_frames: decoded frames not analysed (sampled away to the detection fps).
        error: last source error message (`None` once frames flow again).
    """

    camera_id: str
    state: CameraState
    fps_in: float = 0.0
    fps_out: float = 0.0
    lag_s: float | None = None
    last_frame_at: float | None = None
    reconnects: int = 0
    dropped_frames: int = 0
    error: str | None = None

    def as_dict(self) -> dict:
        """JSON-ready dict (the state as its string value).

        Example:
            >>> CameraHealth("c", CameraState.STARTING).as_dict()["state"]
            'starting'
        """
        return {
            "camera_id": self.camera_id,
            "state": self.state.value,
            "fps_in": round(self.fps_in, 3),
            "fps_out": round(self.fps_out, 3),
            "lag_s": None if self.lag_s is None else round(self.lag_s, 4),
            "last_frame_at": self.last_frame_at,
            "reconnects": self.reconnects,
            "dropped_frames": self.dropped_frames,
            "error": self.error,
        }


@dataclass(frozen=True)
class HealthChange:
    """A state transition, to publish as a camera-health event.

    Attributes:
        camera_id: camera (site-file key).
        previous: state before.
        state: state after.
        at_s: epoch seconds of the transition.
        error: the source error behind it, if any.
    """

    camera_id: str
    previous: CameraState
    state: CameraState
    at_s: float
    error: str | None = None


class _Rate:
    """Events per second over the last `window_s` seconds (from `since_s` while that is shorter).

    Locked: the camera loop adds while another thread (a status call) reads.
    """

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def add(self, t_s: float) -> None:
        with self._lock:
            self._times.append(t_s)
            while self._times[0] <= t_s - self.window_s:
                self._times.popleft()

    def per_s(self, now_s: float, since_s: float | None) -> float:
        if since_s is None:
            return 0.0
        with self._lock:
            count = sum(1 for t in self._times if t > now_s - self.window_s)
        span = min(self.window_s, now_s - since_s)
        return count / span if span > 0 else 0.0


class HealthTracker:
    """Counts one camera's frames and source failures and runs its state machine.

    Transition methods return a `HealthChange` when the state changed, else `None`.

    Args:
        camera_id: camera (site-file key).
        window_s: rolling window for `fps_in` / `fps_out`. Longer is steadier but slower to show
            a stall; shorter reacts faster but jitters.
        error_after_failures: consecutive failed reconnect attempts after which the state turns
            `error` (retries go on; a frame brings it back to `streaming`). Lower alerts operators
            sooner; higher avoids flagging cameras that only reboot.

    Raises:
        ValueError: if `window_s <= 0` or `error_after_failures < 1`.

    Example:
        >>> h = HealthTracker("c")
        >>> h.frame_decoded(0.1).state.value
        'streaming'
        >>> h.source_lost(0.5, "timeout").state.value
        'reconnecting'
    """

    def __init__(self, camera_id: str, *, window_s: float = 5.0,
                 error_after_failures: int = 10) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s must be > 0, but got {window_s}")
        if error_after_failures < 1:
            raise ValueError(f"error_after_failures must be >= 1, but got {error_after_failures}")
        self.camera_id = camera_id
        self.error_after_failures = error_after_failures
        self.state = CameraState.STARTING
        self._since_s: float | None = None  # first frame: rates count from here until the window fills
        self._in = _Rate(window_s)
        self._out = _Rate(window_s)
        self._lag_s: float | None = None
        self._last_frame_at: float | None = None
        self._reconnects = 0
        self._dropped = 0
        self._failures = 0
        self._error: str | None = None
        self._permanent = False

    def _to(self, state: CameraState, now_s: float) -> HealthChange | None:
        if state is self.state:
            return None
        change = HealthChange(self.camera_id, self.state, state, now_s, self._error)
        self.state = state
        return change

    def frame_decoded(self, now_s: float) -> HealthChange | None:
        """A frame came from the source: streaming again, failures forgotten."""
        if self._permanent or self.state is CameraState.STOPPED:
            return None
        self._in.add(now_s)
        if self._since_s is None:
            self._since_s = now_s
        self._last_frame_at = now_s
        self._failures = 0
        self._error = None
        return self._to(CameraState.STREAMING, now_s)

    def frame_dropped(self) -> None:
        """A decoded frame was not analysed (sampling)."""
        self._dropped += 1

    def frame_analysed(self, now_s: float, captured_s: float) -> None:
        """A frame captured at `captured_s` finished analysis at `now_s` (sets the lag)."""
        self._out.add(now_s)
        self._lag_s = max(0.0, now_s - captured_s)

    def source_lost(self, now_s: float, error: str) -> HealthChange | None:
        """A read or an open failed; the loop will back off and reopen."""
        if self._permanent or self.state is CameraState.STOPPED:
            return None
        self._error = error
        if self.state is CameraState.STREAMING:
            self._reconnects += 1
            self._failures = 0
        else:
            self._failures += 1
        if self._failures >= self.error_after_failures:
            return self._to(CameraState.ERROR, now_s)
        if self.state is CameraState.ERROR:
            return None
        return self._to(CameraState.RECONNECTING, now_s)

    def source_broken(self, now_s: float, error: str) -> HealthChange | None:
        """A permanent failure (e.g. an unsupported URI scheme): `error` for good."""
        if self.state is CameraState.STOPPED:
            return None
        self._permanent = True
        self._error = error
        return self._to(CameraState.ERROR, now_s)

    def stopped(self, now_s: float) -> HealthChange | None:
        """The loop stopped."""
        return self._to(CameraState.STOPPED, now_s)

    def snapshot(self, now_s: float) -> CameraHealth:
        """The health as of `now_s` (rates decay to 0 when frames stop)."""
        return CameraHealth(
            camera_id=self.camera_id,
            state=self.state,
            fps_in=self._in.per_s(now_s, self._since_s),
            fps_out=self._out.per_s(now_s, self._since_s),
            lag_s=self._lag_s,
            last_frame_at=self._last_frame_at,
            reconnects=self._reconnects,
            dropped_frames=self._dropped,
            error=self._error,
        )
