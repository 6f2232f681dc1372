"""`CameraActor`: the Ray shell around one `CameraLoop`, which runs on a background thread.

The actor owns the lifecycle (start, stop, restart by Ray) and adapts its collaborators: a detector
(a Ray actor handle or a Serve `DeploymentHandle`), a `publisher` for tracking updates and health,
and an `on_event` sink. A restart (`max_restarts=-1`) reruns `__init__`: a new session, new tracks;
with `autostart=True` (the default) it streams again without anyone calling `start()`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray

from actors.camera import CameraLoop, DetectFn
from actors.pose_replica import FrameDetections
from domain.events import Event
from domain.health import CameraHealth
from domain.site import CameraConfig

__all__ = ["CameraActor", "detect_via"]

log = logging.getLogger(__name__)


def _load_classifier(camera_id: str, behaviour: dict[str, Any]) -> Any:
    """The trained behaviour model for this camera, or `None` (heuristics only) when it cannot be loaded.

    Args:
        behaviour: `store` (the object store), `model_version`, `min_confidence`.
    """
    from actors.behaviour_replica import trajectory_classifier

    try:
        return trajectory_classifier(behaviour["store"], behaviour["model_version"],
                                     min_confidence=behaviour.get("min_confidence", 0.6))
    except Exception as exc:  # noqa: BLE001  (a missing or broken model must not stop the camera)
        log.error("camera %s: behaviour model %s not loaded (%s); using the heuristics", camera_id,
                  behaviour["model_version"], exc)
        return None


def detect_via(detector: Any, *, timeout_s: float = 30.0, source: str = "") -> DetectFn:
    """A blocking detect function over a detector of any of the supported kinds.

    Args:
        detector: one of
            - a Serve `DeploymentHandle` (`.predict.remote(frames)` returns a `DeploymentResponse`,
              read with `.result(timeout_s=…)`);
            - a Ray actor handle (`.predict.remote(frames)` returns an `ObjectRef`, read with `ray.get`);
            - an object with a plain `.predict(frames)` (a local `PoseReplica`);
            - a plain callable `(frames) -> list[FrameDetections]`.
        timeout_s: longest wait for one call; a slower one raises (the frame is skipped).
        source: the calling camera's id, passed to a Serve detector (`PoseDetector.predict`) so its
            cross-camera batches can be reported per camera.

    Returns:
        `(frames) -> list[FrameDetections]`.

    Raises:
        TypeError: `detector` is none of the above.
    """
    predict = getattr(detector, "predict", None)
    remote = getattr(predict, "remote", None)
    if remote is None:
        if callable(predict):
            return predict  # e.g. a local PoseReplica (whose __call__ is the Ray Data UDF)
        if callable(detector):
            return detector
        raise TypeError(f"detector must be a Serve/actor handle with .predict.remote or a callable, got {type(detector).__name__}")

    from ray.serve.handle import DeploymentHandle

    kwargs = {"source": source} if source and isinstance(detector, DeploymentHandle) else {}

    def detect(frames: list) -> list[FrameDetections]:
        response = remote(frames, **kwargs)
        if isinstance(response, ray.ObjectRef):
            return ray.get(response, timeout=timeout_s)
        return response.result(timeout_s=timeout_s)

    return detect


@ray.remote(num_cpus=0.25, max_restarts=-1, max_task_retries=2)
class CameraActor:
    """One live camera as a Ray actor.

    Args:
        camera_id: camera (site-file key).
        camera: its config, as a `CameraConfig` or its dict (`model_dump()`).
        detector: see `detect_via`.
        publisher: `publisher(kind, payload)` with `kind` `"tracking_update"` (the payload of
            `CameraLoop`'s `on_tracking`) or `"camera_health"` (`CameraHealth.as_dict()` plus
            `"changed"` and `"session_id"`); e.g. a Redis publish. Errors it raises are logged.
        on_event: `on_event(event_id, event, clip_path)`, e.g. a function calling an EventSink
            actor's method `.remote(...)`; `clip_path` is on THIS node's disk.
        autostart: start streaming in the constructor (so a restarted actor resumes).
        **loop_kwargs: passed to `CameraLoop`: `identity` (a dict for `actors.identity_stage.build_identity_stage`),
            `tracker_params` (required, e.g. `settings.tracker`),
            `detection_fps`, `max_width`, `clip_pre_s`, `clip_post_s`, `clips_dir`, `source`, …;
            `detect_timeout_s` (default 30) bounds each detector call.
    """

    def __init__(
        self,
        camera_id: str,
        camera: CameraConfig | dict,
        detector: Any,
        *,
        publisher: Callable[[str, dict], Any] | None = None,
        on_event: Callable[[str, Event, Path | None], Any] | None = None,
        autostart: bool = True,
        **loop_kwargs: Any,
    ) -> None:
        self.camera_id = camera_id
        self._publisher = publisher
        self._on_event = on_event
        config = camera if isinstance(camera, CameraConfig) else CameraConfig.model_validate(camera)
        # Visits go through the event forwarder's queue, behind their evidence events.
        self._on_visit = loop_kwargs.pop("on_visit", None) or getattr(on_event, "visit", None)
        behaviour = loop_kwargs.pop("behaviour", None)
        identity = loop_kwargs.pop("identity", None)  # IdentityStage config (actors.identity_stage.build_identity_stage)
        if identity:
            import uuid

            from actors.identity_stage import build_identity_stage

            loop_kwargs["identity"] = build_identity_stage(camera_id, config, identity, session_key=uuid.uuid4().hex[:12])
        if behaviour and behaviour.get("model_version") and loop_kwargs.get("intent") is not None:
            loop_kwargs["classify"] = _load_classifier(camera_id, behaviour)
        self._loop = CameraLoop(
            camera_id, config, detect_via(detector, timeout_s=loop_kwargs.pop("detect_timeout_s", 30.0), source=camera_id),
            on_tracking=self._publish_tracking, on_event=self._event, on_health=self._publish_health,
            on_visit=self._on_visit, **loop_kwargs,
        )  # fmt: skip
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        if autostart:
            self.start()

    def _publish(self, kind: str, payload: dict) -> None:
        if self._publisher is None:
            return
        try:
            self._publisher(kind, payload)
        except Exception as exc:  # noqa: BLE001  (a publisher outage must not stop the camera)
            log.warning("camera %s: publishing %s failed: %r", self.camera_id, kind, exc)

    def _publish_tracking(self, update: dict) -> None:
        self._publish("tracking_update", update)

    def _identity_status(self) -> dict:
        stage = getattr(getattr(self, "_loop", None), "_identity", None)
        return {"identity": stage.status() if stage is not None else {"enabled": False, "error": "identity off"}}

    def _publish_health(self, health: CameraHealth, changed: bool) -> None:
        self._publish("camera_health", health.as_dict() | {"changed": changed, "session_id": self._loop.session_id}
                      | self._identity_status())

    def _event(self, eid: str, event: Event, clip_path: Path | None) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(eid, event, clip_path)
        except Exception as exc:  # noqa: BLE001  (the sink retries idempotently; the camera goes on)
            log.warning("camera %s: event %s not delivered: %r", self.camera_id, eid, exc)

    def start(self) -> bool:
        """Start the loop thread (idempotent). Returns whether it is running."""
        if self._thread is None or not self._thread.is_alive():
            if self._stop.is_set():
                return False  # a stopped loop does not restart: create a new actor
            self._thread = threading.Thread(
                target=self._loop.run, args=(self._stop,), name=f"camera-{self.camera_id}", daemon=True
            )
            self._thread.start()
        return True

    def stop(self, timeout_s: float = 30.0) -> dict:
        """Stop the loop, write pending clips and wait for the thread; returns the final `status()`."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        else:
            self._loop.close()
        return self.status()

    def status(self) -> dict:
        """Health (`CameraHealth.as_dict()`) plus `session_id` and `running`."""
        running = self._thread is not None and self._thread.is_alive()
        return self._loop.health().as_dict() | {"session_id": self._loop.session_id, "running": running} | self._identity_status()

    def reconfigure(self, camera: CameraConfig | dict) -> None:
        """Swap zones/lines/rules/fps at the next frame; tracks are kept.

        Validated here (raises `pydantic.ValidationError`). A changed `source` needs a new actor.
        """
        config = camera if isinstance(camera, CameraConfig) else CameraConfig.model_validate(camera)
        self._loop.reconfigure(config)

    def latest_frame(self, overlay: bool = False, mask_faces: bool = True) -> bytes:
        """The newest frame as JPEG (`b""` before the first frame); `overlay` draws tracks and zones;
        faces are masked unless `mask_faces` is False."""
        return self._loop.latest_frame(overlay, mask_faces=mask_faces)
