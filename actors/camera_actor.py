"""`CameraActor`: the Ray shell around one `CameraLoop`, which runs on a background thread.

The actor owns the lifecycle (start, stop, restart by Ray) and adapts its collaborators: a detector
(a Ray actor handle or a Serve `DeploymentHandle`), a `publisher` for tracking updates and health,
and an `on_event` sink. A restart (`max_restarts=-1`) reruns `__init__` with the arguments of the
first start: a new session, new tracks; with `config_loader` the camera's config is read again
from the database (so zones and rules edited since are kept), and with a spooling `on_event`
(`actors.live_io.EventForwarder`) the events an earlier run had not delivered are sent again.
With `autostart=True` (the default) it streams again without anyone calling `start()`.
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

__all__ = ["CameraActor", "CameraConfigLoader", "detect_via"]

log = logging.getLogger(__name__)


STAGES = ("production", "staging")  # BEHAVIOUR__MODEL_VERSION values that follow a stage (hot reload)


def _classifier_loader(behaviour: dict[str, Any]) -> Callable[[str], Any]:
    """`(version) -> classify` loading a stored behaviour model (raises when it cannot)."""
    from actors.behaviour_replica import trajectory_classifier

    def load(version: str) -> Any:
        return trajectory_classifier(behaviour["store"], version, min_confidence=behaviour.get("min_confidence", 0.6))

    return load


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


class CameraConfigLoader:
    """Picklable `() -> (CameraConfig, version)`: a camera's stored config, read from the database.

    Args:
        database_url: SQLAlchemy URL of the database the cameras are stored in.
        camera_id: the camera.
        connect_timeout_s: PostgreSQL connect timeout.
    """

    def __init__(self, database_url: str, camera_id: str, connect_timeout_s: int = 5) -> None:
        self.database_url, self.camera_id, self.connect_timeout_s = database_url, camera_id, connect_timeout_s

    def __call__(self) -> tuple[CameraConfig, int]:
        """The stored config and its version.

        Raises:
            LookupError: the camera is not stored (any more).
            sqlalchemy.exc.SQLAlchemyError: the database is unreachable.
        """
        from storage import crud
        from storage.db import make_engine, session_scope

        engine = make_engine(self.database_url, connect_timeout_s=self.connect_timeout_s)
        try:
            with session_scope(engine) as s:
                row = crud.get_camera(s, self.camera_id)
                if row is None:
                    raise LookupError(f"no camera {self.camera_id!r}")
                return crud.camera_config(row), int(row.version)
        finally:
            engine.dispose()


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
    if isinstance(detector, DeploymentHandle) and not detector.is_initialized:
        # Frames must not cross the network: route to the detector replica on this process's node when
        # there is one. Init options stay with the process that sets them (a pickled handle arrives
        # uninitialised), so it is set here, in the camera actor; `_init` is how Ray 2.60 sets it.
        detector._init(_prefer_local_routing=True)

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
            `CameraLoop`'s `on_tracking`), `"camera_health"` (`CameraHealth.as_dict()` plus
            `"changed"` and `"session_id"`) or `"shadow_verdict"` (`actors.intent_watch.shadow_verdict`);
            e.g. a Redis publish. Errors it raises are logged.
        on_event: `on_event(event_id, event, clip_path)`, e.g. a function calling an EventSink
            actor's method `.remote(...)`; `clip_path` is on THIS node's disk.
        autostart: start streaming in the constructor (so a restarted actor resumes).
        config_loader: `() -> (CameraConfig, version)` (e.g. `CameraConfigLoader`), read in the
            constructor so a restarted actor runs the config stored NOW, not the one it was first
            started with; when it fails, `camera` is used and the failure logged.
        config_version: the version of `camera` (reported by `status()` as `config_version`).
        drain_timeout_s: longest `stop()` waits for `on_event.drain` (undelivered events stay spooled).
        **loop_kwargs: `behaviour` (a dict: `store`, `model_version` (`""`, `latest`, `v0003`, or
            `production` / `staging` to follow that stage with hot reload), `min_confidence`,
            `redis_url`, `database_url`, `reload_poll_s`, `shadow` (run staging in shadow),
            `window` / `stride` of the pose windows attached to visits); the rest is passed to `CameraLoop`: `identity` (a dict for `actors.identity_stage.build_identity_stage`),
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
        config_loader: Callable[[], tuple[CameraConfig, int]] | None = None,
        config_version: int | None = None,
        drain_timeout_s: float = 15.0,
        **loop_kwargs: Any,
    ) -> None:
        self.camera_id = camera_id
        self._publisher = publisher
        self._on_event = on_event
        self._drain_timeout_s = drain_timeout_s
        config = camera if isinstance(camera, CameraConfig) else CameraConfig.model_validate(camera)
        self.config_version = config_version
        if config_loader is not None:
            try:
                config, self.config_version = config_loader()
            except Exception as exc:  # noqa: BLE001  (an unreachable database must not keep the camera down)
                log.error("camera %s: stored config not loaded (%r); running the config it was started with (version %s)",
                          camera_id, exc, config_version)  # fmt: skip
        start_forwarder = getattr(on_event, "start", None)
        if callable(start_forwarder):
            start_forwarder()  # re-sends what an earlier run of this camera left in its spool
        loop_kwargs.setdefault("on_pending", getattr(on_event, "pending", None))
        # Visits go through the event forwarder's queue, behind their evidence events.
        self._on_visit = loop_kwargs.pop("on_visit", None) or getattr(on_event, "visit", None)
        behaviour = loop_kwargs.pop("behaviour", None)
        identity = loop_kwargs.pop("identity", None)  # IdentityStage config (actors.identity_stage.build_identity_stage)
        if identity:
            import uuid

            from actors.identity_stage import build_identity_stage

            loop_kwargs["identity"] = build_identity_stage(camera_id, config, identity, session_key=uuid.uuid4().hex[:12])
        follow: list[tuple[str, bool]] = []  # (stage, shadow) to follow with a ModelWatch
        if behaviour and loop_kwargs.get("intent") is not None:
            version = behaviour.get("model_version") or ""
            if version in STAGES:
                follow.append((version, False))
            elif version:
                loop_kwargs["classify"] = _load_classifier(camera_id, behaviour)
            if behaviour.get("shadow"):
                follow.append(("staging", True))
                loop_kwargs["on_shadow"] = self._publish_shadow
            if behaviour.get("window") and behaviour.get("stride"):
                loop_kwargs["pose_window"] = (int(behaviour["window"]), int(behaviour["stride"]))
        self._loop = CameraLoop(
            camera_id, config, detect_via(detector, timeout_s=loop_kwargs.pop("detect_timeout_s", 30.0), source=camera_id),
            on_tracking=self._publish_tracking, on_event=self._event, on_health=self._publish_health,
            on_visit=self._on_visit, **loop_kwargs,
        )  # fmt: skip
        if follow and not (behaviour or {}).get("redis_url"):
            log.error("camera %s: BEHAVIOUR__MODEL_VERSION follows a stage but no redis_url was given; heuristics only",
                      camera_id)  # fmt: skip
            follow = []
        self._watches = [self._model_watch(behaviour, stage, shadow) for stage, shadow in follow]
        for watch in self._watches:
            watch.start()  # the first check loads the stage's model now, before the first frame
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        if autostart:
            self.start()

    def _model_watch(self, behaviour: dict[str, Any], stage: str, shadow: bool) -> Any:
        """A `ModelWatch` swapping the loop's production (or shadow) classifier when `stage`'s version changes."""
        from actors.model_watch import ModelWatch, StageVersionReader

        reader = StageVersionReader(behaviour["redis_url"], behaviour.get("database_url"), stage=stage)
        return ModelWatch(f"camera {self.camera_id} {stage}{' (shadow)' if shadow else ''}", reader,
                          _classifier_loader(behaviour), lambda model: self._loop.set_classifier(model, shadow=shadow),
                          poll_s=float(behaviour.get("reload_poll_s") or 2.0))  # fmt: skip

    def _publish_shadow(self, record: dict) -> None:
        self._publish("shadow_verdict", record)

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
        """Stop the loop, write pending clips, wait for the thread, then up to `drain_timeout_s` for the
        events to be stored; returns the final `status()` (`drained`: whether nothing is left unsent)."""
        self._stop.set()
        for watch in getattr(self, "_watches", []):
            watch.stop()
        if self._thread is not None:
            self._thread.join(timeout_s)
        else:
            self._loop.close()
        drain = getattr(self._on_event, "drain", None)
        drained = drain(self._drain_timeout_s) if callable(drain) else True
        return self.status() | {"drained": drained}

    def status(self) -> dict:
        """Health (`CameraHealth.as_dict()`) plus `session_id`, `running`, `config_version`, `node_id` (the Ray node
        it runs on) and, with a
        spooling `on_event`, its counters under `delivery` (`EventForwarder.stats`)."""
        running = self._thread is not None and self._thread.is_alive()
        extra: dict[str, Any] = {"session_id": self._loop.session_id, "running": running,
                                 "config_version": self.config_version,
                                 "node_id": ray.get_runtime_context().get_node_id(),
                                 "behaviour_models": self._loop.classifier_versions()}  # fmt: skip
        stats = getattr(self._on_event, "stats", None)
        if callable(stats):
            extra["delivery"] = stats()
        return self._loop.health().as_dict() | extra | self._identity_status()

    def reconfigure(self, camera: CameraConfig | dict, version: int | None = None) -> None:
        """Swap zones/lines/rules/fps at the next frame; tracks are kept.

        Validated here (raises `pydantic.ValidationError`). A changed `source` needs a new actor.
        `version` is the stored config's version, reported by `status()`.
        """
        config = camera if isinstance(camera, CameraConfig) else CameraConfig.model_validate(camera)
        self._loop.reconfigure(config)
        if version is not None:
            self.config_version = version

    def config(self) -> dict:
        """The config the camera runs now (or will from the next frame, after `reconfigure`), as JSON data."""
        return self._loop.current_config().model_dump(mode="json")

    def latest_frame(self, overlay: bool = False, mask_faces: bool = True) -> bytes:
        """The newest frame as JPEG (`b""` before the first frame); `overlay` draws tracks and zones;
        faces are masked unless `mask_faces` is False."""
        return self._loop.latest_frame(overlay, mask_faces=mask_faces)
