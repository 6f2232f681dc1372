"""A live camera's identity stage: plan positions of its tracks, and their global ids from the registry.

Per analysed frame (`update`), on the camera's thread: each track's foot point goes through the
camera's calibration to the plan and a constant-velocity Kalman filter (`domain.floorplan`);
a track seen for `min_track_frames` frames (new) and then every `refresh_s` (its positions and,
when the crop is better than the ones sent before, a crop) is handed to a background thread,
which embeds the crops (the embedder deployment) and places the tracks (the site's
`IdentityRegistry` actor) in one call each for all waiting tracks. The answers are applied on
the next frames, so the camera never waits for the embedder or the registry: `update` returns
what is known now (a new track has no `global_id` for its first frames).

When the embedder reports that it has no model (a missing or wrong checkpoint) or the registry
cannot be reached, the stage keeps giving plan positions, marks itself off in `status()` (which
the camera's health carries) and tries again every `retry_s`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from domain.floorplan import KalmanParams, MapKalman
from domain.identity import crop_quality
from domain.site import CameraConfig

__all__ = ["IdentityStage", "TrackIdentity", "build_identity_stage"]

log = logging.getLogger(__name__)

EmbedFn = Callable[[list[npt.NDArray[np.uint8]]], npt.NDArray[np.float32]]
ObserveFn = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]
StatusFn = Callable[[], dict[str, Any]]


@dataclass
class TrackIdentity:
    """What the stage knows of one track: `global_id` (or `None` yet), smoothed `map_xy` (m) and timing."""

    global_id: str | None
    map_xy: tuple[float, float] | None
    first_seen_s: float
    tracking_duration_s: float

    @property
    def detection_time(self) -> str:
        """When the track was first seen, ISO 8601 UTC (the SpotOn plan's `detection_time`)."""
        import datetime as dt

        return dt.datetime.fromtimestamp(self.first_seen_s, dt.timezone.utc).isoformat(timespec="milliseconds").replace(
            "+00:00", "Z")


@dataclass
class _Track:
    first_s: float
    kalman: MapKalman
    frames: int = 0
    samples: list[tuple[float, list[float], list[float]]] = field(default_factory=list)
    last_sent_s: float = -np.inf
    best_quality: float = 0.0
    in_flight: bool = False
    global_id: str | None = None
    map_xy: tuple[float, float] | None = None
    last_seen_s: float = 0.0


class IdentityStage:
    """See the module docstring.

    Args:
        camera_id: the camera.
        camera: its config (calibration).
        session_key: unique per camera session (track keys are `live/{camera}/{session}/{track_id}`).
        embed: `(crops) -> (N, D)` embeddings (the embedder deployment's handle, wrapped), or `None`.
        observe: `(observations) -> answers` (the registry actor's `observe`, wrapped), or `None`.
        embedder_status: `() -> {"ok", "error", …}` of the embedder (checked before the first call).
        min_track_frames: analysed frames before a new track is identified.
        refresh_s: period of a track's updates to the registry (s).
        kalman: plan smoothing noise.
        lost_s: a track unseen this long is forgotten.
        retry_s: after a failure, seconds before the embedder / registry are tried again.
    """

    def __init__(
        self,
        camera_id: str,
        camera: CameraConfig,
        *,
        session_key: str,
        embed: EmbedFn | None,
        observe: ObserveFn | None,
        embedder_status: StatusFn | None = None,
        min_track_frames: int = 3,
        refresh_s: float = 1.0,
        kalman: KalmanParams | None = None,
        lost_s: float = 10.0,
        retry_s: float = 30.0,
    ) -> None:
        self.camera_id, self.session_key = camera_id, session_key
        self._calibration = camera.calibration.fitted if camera.calibration is not None else None
        self._embed, self._observe, self._embedder_status = embed, observe, embedder_status
        self.min_track_frames, self.refresh_s, self.lost_s, self.retry_s = min_track_frames, refresh_s, lost_s, retry_s
        self._kalman = kalman or KalmanParams()
        self._tracks: dict[int, _Track] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue()
        self._state = {"enabled": embed is not None and observe is not None, "error": None, "identified": 0,
                       "calls": 0, "calibrated": self._calibration is not None}
        if embed is None or observe is None:
            self._state["error"] = "identity off (no embedder or registry configured)"
        self._configured = embed is not None and observe is not None
        self._blocked_until = 0.0
        self._checked = False
        self._closed = False
        self._worker = threading.Thread(target=self._run, name=f"identity-{camera_id}", daemon=True)
        self._worker.start()

    # ------------------------------------------------------------------------------ camera thread
    def reconfigure(self, camera: CameraConfig) -> None:
        """Use a new calibration from the next frame (the plan filters restart)."""
        with self._lock:
            self._calibration = camera.calibration.fitted if camera.calibration is not None else None
            self._state["calibrated"] = self._calibration is not None
            for t in self._tracks.values():
                t.kalman.reset()

    def update(self, frame_bgr: npt.NDArray[np.uint8], t_s: float, track_id: npt.NDArray[np.int64],
               xyxy: npt.NDArray[np.float32], confidence: npt.NDArray[np.float32]) -> dict[int, TrackIdentity]:
        """Fold in one analysed frame; returns what is known of each of its tracks.

        Args:
            frame_bgr: `(H, W, 3)` the frame the boxes are in (crops are cut from it).
            t_s: capture time (epoch s).
            track_id: `(M,)` the frame's tracks.
            xyxy: `(M, 4)` their boxes in `frame_bgr`'s pixels.
            confidence: `(M,)` detector confidence.
        """
        h, w = frame_bgr.shape[:2]
        with self._lock:
            cal = self._calibration
        raw = cal.boxes_to_map(xyxy, (w, h)) if cal is not None and len(xyxy) else np.full((len(xyxy), 2), np.nan)
        out: dict[int, TrackIdentity] = {}
        jobs = []
        enabled = self._configured and time.monotonic() >= self._blocked_until
        with self._lock:
            for k, tid in enumerate(track_id.tolist()):
                tr = self._tracks.get(tid)
                if tr is None:
                    tr = self._tracks[tid] = _Track(first_s=t_s, kalman=MapKalman(self._kalman))
                tr.frames += 1
                tr.last_seen_s = t_s
                xy = tr.kalman.update(t_s, raw[k]) if np.isfinite(raw[k]).all() else None
                tr.map_xy = None if xy is None else (round(float(xy[0]), 3), round(float(xy[1]), 3))
                tr.samples.append((t_s, [float(v) for v in xyxy[k]],
                                   [np.nan, np.nan] if tr.map_xy is None else list(tr.map_xy)))
                out[tid] = TrackIdentity(tr.global_id, tr.map_xy, tr.first_s, round(t_s - tr.first_s, 3))
                due = tr.global_id is None and tr.frames >= self.min_track_frames or t_s - tr.last_sent_s >= self.refresh_s
                if enabled and due and not tr.in_flight and tr.frames >= self.min_track_frames:
                    q = crop_quality(xyxy[k], float(confidence[k]), (w, h))
                    crop = None
                    if tr.global_id is None or q > 1.1 * tr.best_quality:
                        x1, y1, x2, y2 = (int(round(v)) for v in xyxy[k])
                        crop = frame_bgr[max(0, y1):min(h, y2), max(0, x1):min(w, x2)].copy()
                        if crop.size == 0:
                            crop = None
                        else:
                            tr.best_quality = max(tr.best_quality, q)
                    tr.in_flight, tr.last_sent_s = True, t_s
                    samples, tr.samples = tr.samples, []
                    jobs.append((tid, samples, crop, q, (w, h)))
                elif len(tr.samples) > 200:  # identity off: keep memory bounded
                    tr.samples = tr.samples[-50:]
            for tid in [t for t, tr in self._tracks.items() if t_s - tr.last_seen_s > self.lost_s]:
                del self._tracks[tid]
        if jobs:
            self._queue.put(jobs)
        return out

    def global_id_of(self, track_id: int | None) -> str | None:
        """The track's global id, if known."""
        with self._lock:
            tr = self._tracks.get(track_id) if track_id is not None else None
            return tr.global_id if tr else None

    def status(self) -> dict[str, Any]:
        """`{"enabled", "error", "identified", "calls", "calibrated"}` for the camera's health."""
        return dict(self._state)

    def close(self) -> None:
        """Stop the background thread (pending work is dropped)."""
        self._closed = True
        self._queue.put(None)

    # ------------------------------------------------------------------------------ background
    def _fail(self, message: str) -> None:
        if self._state["error"] != message:
            log.warning("camera %s: %s", self.camera_id, message)
        self._state.update(enabled=False, error=message)
        self._blocked_until = time.monotonic() + self.retry_s

    def _release(self, jobs: list) -> None:
        with self._lock:
            for tid, samples, *_ in jobs:
                tr = self._tracks.get(tid)
                if tr is not None:
                    tr.in_flight = False
                    tr.samples = samples + tr.samples

    def _run(self) -> None:
        while not self._closed:
            jobs = self._queue.get()
            if jobs is None:
                return
            while not self._queue.empty():  # everything waiting goes in one call
                more = self._queue.get()
                if more is None:
                    return
                jobs += more
            try:
                self._process(jobs)
            except Exception as exc:  # noqa: BLE001  (a remote failure must not stop the camera)
                self._fail(f"identity unavailable: {type(exc).__name__}: {str(exc)[:300]}")
                self._release(jobs)

    def _process(self, jobs: list) -> None:
        if not self._checked and self._embedder_status is not None:
            st = self._embedder_status()
            if not st.get("ok"):
                self._fail(f"identity off: embedder not loaded: {st.get('error')}")
                self._release(jobs)
                return
            self._checked = True
        crops = [j[2] for j in jobs if j[2] is not None]
        embeddings = self._embed(crops) if crops else None
        observations, e = [], 0
        for tid, samples, crop, q, wh in jobs:
            t = np.array([s[0] for s in samples])
            obs: dict[str, Any] = {
                "camera_id": self.camera_id, "track_key": f"live/{self.camera_id}/{self.session_key}/{tid}",
                "track_id": int(tid), "t_s": t, "xyxy": np.array([s[1] for s in samples], np.float32),
                "map_xy": np.array([s[2] for s in samples], np.float64), "resolution_wh": wh,
            }
            if crop is not None and embeddings is not None:
                obs["embeddings"] = np.asarray(embeddings[e : e + 1], np.float32)
                obs["qualities"] = np.array([q], np.float32)
                ok, jpeg = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 85])
                if ok:
                    obs["crop_jpeg"], obs["crop_quality"] = jpeg.tobytes(), q
                e += 1
            observations.append(obs)
        answers = self._observe(observations)
        with self._lock:
            for (tid, *_), ans in zip(jobs, answers):
                tr = self._tracks.get(tid)
                if tr is None:
                    continue
                tr.in_flight = False
                if ans.get("global_id"):
                    if tr.global_id is None:
                        self._state["identified"] += 1
                    tr.global_id = ans["global_id"]
        self._state.update(enabled=True, error=None, calls=self._state["calls"] + 1)


class _ServeEmbedder:
    """The embedder deployment's handle, resolved on first use (Serve may start after the camera)."""

    def __init__(self, deployment: str, app_name: str, timeout_s: float) -> None:
        self.deployment, self.app_name, self.timeout_s = deployment, app_name, timeout_s
        self._handle: Any = None

    def _h(self) -> Any:
        if self._handle is None:
            from ray import serve

            self._handle = serve.get_deployment_handle(self.deployment, app_name=self.app_name).options(
                _prefer_local_routing=True)
        return self._handle

    def __call__(self, crops: list) -> npt.NDArray[np.float32]:
        return np.asarray(self._h().embed.remote(crops).result(timeout_s=self.timeout_s), np.float32)

    def status(self) -> dict[str, Any]:
        return self._h().status.remote().result(timeout_s=self.timeout_s)


class _RegistryClient:
    """The site's registry actor (created on first use when it does not exist)."""

    def __init__(self, site: str, namespace: str, registry: dict[str, Any], timeout_s: float) -> None:
        self.site, self.namespace, self.registry, self.timeout_s = site, namespace, registry, timeout_s
        self._actor: Any = None

    def __call__(self, observations: list[dict[str, Any]]) -> list[dict[str, Any]]:
        import ray

        from actors.identity_registry import registry_handle

        if self._actor is None:
            self._actor = registry_handle(self.site, namespace=self.namespace, **dict(self.registry))
        try:
            return ray.get(self._actor.observe.remote(observations), timeout=self.timeout_s)
        except ray.exceptions.RayError:
            self._actor = None  # looked up again next time
            raise


def build_identity_stage(camera_id: str, camera: CameraConfig, config: dict[str, Any], *, session_key: str) -> IdentityStage:
    """An `IdentityStage` wired to the embedder deployment and the site's registry actor.

    Args:
        camera_id: `"{site}.{key}"`.
        camera: its config.
        config: `site`, `namespace`, `app_name`, `embedder_deployment`, `registry` (`IdentityRegistry`
            keyword arguments), `min_track_frames`, `refresh_s`, `accel_noise_mps2`, `measurement_noise_m`,
            `timeout_s`.
        session_key: the camera session.
    """
    timeout_s = float(config.get("timeout_s", 30.0))
    embedder = _ServeEmbedder(config.get("embedder_deployment", "PersonEmbedder"), config.get("app_name", "witness"),
                              timeout_s)
    registry = _RegistryClient(config["site"], config["namespace"], config.get("registry", {}), timeout_s)
    return IdentityStage(
        camera_id, camera, session_key=session_key, embed=embedder, observe=registry, embedder_status=embedder.status,
        min_track_frames=int(config.get("min_track_frames", 3)), refresh_s=float(config.get("refresh_s", 1.0)),
        kalman=KalmanParams(accel_noise_mps2=config.get("accel_noise_mps2", 1.0),
                            measurement_noise_m=config.get("measurement_noise_m", 0.3)),
    )
