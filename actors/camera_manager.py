"""The camera manager: one named actor that runs a `CameraActor` per enabled camera.

Its state is rebuilt from storage: the constructor (first start, or Ray's restart after a crash)
starts every enabled camera of the database, so cameras resume by themselves. Each camera actor
is itself restarted by Ray when it dies (`max_restarts=-1`); a restarted camera reads its config
from the database again (not the one it was first started with) and re-sends the events its disk
spool holds (`spool_dir/{camera_id}`). Routes call `start`, `stop` (which waits, bounded, for the
camera's events to be stored), `status`, `reconfigure` (reload the camera's config from the
database and apply it live, without a restart) and `latest_frame`.

Placement (multi-node clusters): with a Serve detector, each camera actor is started on a node that
hosts a detector replica (`domain.placement`: spread by load, in detection frames/s per replica; new
nodes take new cameras), and calls the replica on its own node (prefer-local routing), so frames never
cross the network. A watch thread re-checks every `CAMERA__PLACEMENT_CHECK_S`: cameras whose node died
or lost its replicas are stopped and started again on a node that has one (`moves()` lists each move
with the time it took). Events still in a dead node's disk spool are lost with the node.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import ray

from actors.camera_actor import CameraActor, CameraConfigLoader
from actors.event_sink import sink_for_camera
from actors.live_io import EventForwarder, RedisPublisher
from actors.placement import CAMERA_ACTOR_PREFIX, camera_nodes, cluster_view, node_strategy
from actors.sources import Backoff, open_source
from domain.assessment import AssessmentParams
from domain.placement import place_cameras

__all__ = ["CameraManager", "MANAGER_NAME", "CameraManagerConfig"]

log = logging.getLogger(__name__)

MANAGER_NAME = "witness-camera-manager"


class _Opener:
    """Picklable `open_source` with the configured timeouts."""

    def __init__(self, open_timeout_ms: int, read_timeout_ms: int) -> None:
        self.open_timeout_ms, self.read_timeout_ms = open_timeout_ms, read_timeout_ms

    def __call__(self, uri: str):
        return open_source(uri, open_timeout_ms=self.open_timeout_ms, read_timeout_ms=self.read_timeout_ms)


class CameraManagerConfig(dict):
    """Plain settings the manager needs (a dict, so it pickles): see `CameraManager`."""


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)
class CameraManager:
    """Runs and supervises the camera actors.

    Args:
        database_url: where cameras (and their zones / rules) are stored.
        redis_url: tracking updates, health and metrics.
        store: object store for event clips (picklable).
        namespace: Ray namespace of the platform's named actors.
        detector: the detector (a Serve `DeploymentHandle`); `None` looks up the deployment
            `detector_deployment` of Serve application `app_name`.
        tracker_params: `TrackerSettings` fields.
        camera: `CameraSettings` fields.
        clip: `ClipSettings` fields.
        clips_dir: local folder where camera actors write clips before upload.
        autostart: start every enabled camera now.
        intent: `domain.assessment.AssessmentParams` fields; cameras with shelf / checkout / exit
            zones then watch for pickups, concealment and bypass (`None` = off).
        behaviour: `model_version` ("" = heuristics only) and `min_confidence` of the trained
            behaviour model the cameras load from `store`.
        identity: global person ids: `actors.identity_stage.build_identity_stage` config without
            `site` (`registry` holds the `IdentityRegistry` arguments without `topology`); `None` = off.
        spool_dir: local folder of the cameras' event spools (`{spool_dir}/{camera_id}`); `None`:
            `clips_dir/../live-spool`.
        reliability: `cluster.settings.ReliabilitySettings` fields (spool bounds, retry delays, drain
            timeout); defaults when absent.
    """

    def __init__(
        self,
        *,
        database_url: str,
        redis_url: str,
        store: Any,
        namespace: str,
        tracker_params: Any,
        camera: dict[str, Any],
        clip: dict[str, Any],
        clips_dir: str,
        detector: Any = None,
        app_name: str = "witness",
        detector_deployment: str = "PoseDetector",
        autostart: bool = True,
        intent: dict[str, Any] | None = None,
        behaviour: dict[str, Any] | None = None,
        identity: dict[str, Any] | None = None,
        spool_dir: str | None = None,
        reliability: dict[str, Any] | None = None,
    ) -> None:
        from storage.db import make_engine

        self.reliability = reliability or {}
        self.database_url = database_url
        self.engine = make_engine(database_url, connect_timeout_s=int(self.reliability.get("db_connect_timeout_s", 5)),
                                  statement_timeout_s=float(self.reliability.get("db_statement_timeout_s", 0.0)))
        self.spool_dir = spool_dir or str(Path(clips_dir).parent / "live-spool")
        self.redis_url, self.store, self.namespace = redis_url, store, namespace
        self.tracker_params, self.camera_opts, self.clip_opts = tracker_params, camera, clip
        self.clips_dir = clips_dir
        self.intent = intent
        self.behaviour = behaviour or {}
        self.identity = identity
        self._detector, self.app_name, self.detector_deployment = detector, app_name, detector_deployment
        self._local_handle: Any = None
        self.actors: dict[str, Any] = {}
        self.versions: dict[str, int] = {}
        self.nodes: dict[str, str] = {}  # camera id -> the node it was placed on (or found on)
        self.weights: dict[str, float] = {}  # camera id -> its detection frames/s (the placement's load)
        self._moves: list[dict[str, Any]] = []
        self._lock = threading.RLock()
        self._placing = camera.get("placement", "spread") == "spread" and (detector is None or hasattr(detector, "deployment_name"))
        self._watch_stop = threading.Event()
        if autostart:
            self.sync()
        if self._placing and float(camera.get("placement_check_s", 2.0)) > 0:
            threading.Thread(target=self._watch, name="camera-placement", daemon=True).start()

    # ------------------------------------------------------------------------------ lifecycle
    def sync(self) -> list[str]:
        """Start every enabled camera of the database that is not running; stop disabled ones."""
        from storage import crud
        from storage.db import session_scope

        with session_scope(self.engine) as s:
            cameras = {c.id: c.enabled for c in crud.list_cameras(s, limit=100_000)[0]}
        for camera_id, enabled in cameras.items():
            if enabled and camera_id not in self.actors:
                try:
                    self.start(camera_id)
                except (LookupError, ValueError) as exc:
                    log.warning("camera %s not started: %s", camera_id, exc)
            elif not enabled and camera_id in self.actors:
                self.stop(camera_id)
        for camera_id in set(self.actors) - set(cameras):
            self.stop(camera_id)
        return sorted(self.actors)

    def start(self, camera_id: str) -> dict[str, Any]:
        """Start a camera (no-op when running) on the node the placement picks. Raises LookupError for an unknown camera."""
        with self._lock:
            if camera_id in self.actors:
                return self.status(camera_id)
            self._start(camera_id)
        return self.status(camera_id)

    def _start(self, camera_id: str) -> None:
        row, config = self._load(camera_id)
        c, clip, r = self.camera_opts, self.clip_opts, self.reliability
        forwarder = EventForwarder(
            self.store, self.namespace, spool_dir=str(Path(self.spool_dir) / camera_id),
            spool_max_bytes=int(r.get("spool_max_mb", 256)) << 20, memory_max=int(r.get("memory_queue_max", 1000)),
            retry_initial_s=float(r.get("retry_initial_s", 0.25)), retry_max_s=float(r.get("retry_max_s", 2.0)),
            batch_max=int(r.get("sink_batch_max", 200)),
            sink_name=sink_for_camera(camera_id, int(r.get("sink_partitions", 1))),
            linger_s=float(r.get("sink_linger_s", 0.0)),
        )
        self.weights[camera_id] = float(config.fps or c["detection_fps"])
        node_id = self._place(camera_id)
        actor = CameraActor.options(
            name=f"{CAMERA_ACTOR_PREFIX}{camera_id}", namespace=self.namespace, num_cpus=c["num_cpus"],
            get_if_exists=True, scheduling_strategy=node_strategy(node_id),
        ).remote(
            camera_id,
            config.model_dump(mode="json"),
            self._detector_handle(),
            publisher=RedisPublisher(self.redis_url, camera_id),
            on_event=forwarder,
            config_loader=CameraConfigLoader(self.database_url, camera_id, int(r.get("db_connect_timeout_s", 5))),
            config_version=row.version,
            drain_timeout_s=float(r.get("drain_timeout_s", 15.0)),
            tracker_params=self.tracker_params,
            detection_fps=config.fps or c["detection_fps"],
            max_width=c["max_width"],
            source=row.source,
            opener=_Opener(c["open_timeout_ms"], c["read_timeout_ms"]),
            backoff=Backoff(initial_s=c["backoff_initial_s"], max_s=c["backoff_max_s"]),
            error_after_failures=c["error_after_failures"],
            buffer_max_bytes=c["buffer_max_mb"] << 20,
            clip_pre_s=clip["pre_s"], clip_post_s=clip["post_s"], clip_max_width=clip["max_width"],
            clip_crf=clip["crf"], clips_dir=str(Path(self.clips_dir) / camera_id),
            detect_timeout_s=c["detect_timeout_s"],
            intent=None if self.intent is None else AssessmentParams(**self.intent),
            behaviour={**self.behaviour, "store": self.store, "redis_url": self.redis_url, "database_url": self.database_url}
            if self.behaviour.get("model_version") or self.behaviour.get("shadow") else None,
            identity=self._identity_config(row),
        )
        self.actors[camera_id] = actor
        self.versions[camera_id] = row.version
        if node_id is not None:
            self.nodes[camera_id] = node_id

    def stop(self, camera_id: str) -> dict[str, Any]:
        """Stop a camera and end its actor (no-op when not running)."""
        with self._lock:
            actor = self.actors.pop(camera_id, None)
            self.versions.pop(camera_id, None)
            self.nodes.pop(camera_id, None)
            self.weights.pop(camera_id, None)
        if actor is None:
            return {"camera_id": camera_id, "state": "stopped"}
        try:
            final = ray.get(actor.stop.remote(), timeout=30 + float(self.reliability.get("drain_timeout_s", 15.0)))
        except ray.exceptions.RayError:
            final = {"camera_id": camera_id, "state": "stopped"}
        ray.kill(actor, no_restart=True)
        return final

    def reconfigure(self, camera_id: str) -> dict[str, Any]:
        """Reload a camera's zones / lines / rules from the database and apply them to the running camera."""
        actor = self.actors.get(camera_id)
        if actor is None:
            return {"camera_id": camera_id, "state": "stopped"}
        row, config = self._load(camera_id)
        ray.get(actor.reconfigure.remote(config.model_dump(mode="json"), row.version), timeout=30)
        self.versions[camera_id] = row.version
        return self.status(camera_id)

    # ------------------------------------------------------------------------------ queries
    def status(self, camera_id: str | None = None) -> Any:
        """One camera's status dict, or a list of all running cameras' statuses."""
        if camera_id is None:
            return [self.status(cid) for cid in sorted(self.actors)]
        actor = self.actors.get(camera_id)
        if actor is None:
            return {"camera_id": camera_id, "state": "stopped"}
        try:
            st = ray.get(actor.status.remote(), timeout=10)
        except ray.exceptions.RayError as exc:
            st = {"camera_id": camera_id, "state": "error", "error": f"camera actor unreachable: {exc}"}
        # The actor's own version: after a restart it is what it loaded, which the API must not guess.
        return {"config_version": self.versions.get(camera_id), "node_id": self.nodes.get(camera_id)} | st

    def latest_frame(self, camera_id: str, overlay: bool = True, mask_faces: bool = True) -> bytes:
        """The camera's latest frame as JPEG, faces masked unless `mask_faces` is False (`b""` when it is
        not running or has none yet)."""
        actor = self.actors.get(camera_id)
        if actor is None:
            return b""
        return ray.get(actor.latest_frame.remote(overlay, mask_faces), timeout=10)

    def running(self) -> list[str]:
        """Ids of running cameras."""
        return sorted(self.actors)

    # ------------------------------------------------------------------------------ placement
    def placement(self) -> dict[str, str]:
        """Camera id -> node id (hex) of every placed camera, as the manager last saw it."""
        with self._lock:
            return dict(self.nodes)

    def moves(self) -> list[dict[str, Any]]:
        """Cameras moved off a dead node (or one without a replica), oldest first: `camera_id`, `from_node`,
        `to_node`, `at` (epoch s), `restart_s` (stop of the old actor to the new one started)."""
        with self._lock:
            return list(self._moves)

    def rebalance(self) -> list[str]:
        """Move cameras whose node died or lost its detector replicas onto nodes that have one (what the watch
        thread runs every `CAMERA__PLACEMENT_CHECK_S`). Returns the cameras moved."""
        if not self._placing:
            return []
        with self._lock:
            view = cluster_view(self.app_name, self.detector_deployment)
            found = camera_nodes()
            for camera_id in self.actors:
                if camera_id in found:  # where the actor really runs (soft affinity, or started by an earlier manager)
                    self.nodes[camera_id] = found[camera_id]
            plan = place_cameras(sorted(self.actors), view, current=self.nodes, weights=self.weights,
                                 max_load_per_replica=float(self.camera_opts.get("max_fps_per_replica", 0)) or None)
            for camera_id in plan.moved:
                self._move(camera_id)
            return plan.moved

    def _move(self, camera_id: str) -> None:
        started = time.monotonic()
        old_node = self.nodes.pop(camera_id, None)
        actor = self.actors.pop(camera_id)
        try:
            ray.kill(actor, no_restart=True)
        except ray.exceptions.RayError:
            pass
        name = f"{CAMERA_ACTOR_PREFIX}{camera_id}"
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline:  # the name is free once Ray has the old actor dead
            try:
                ray.get_actor(name, namespace=self.namespace)
            except ValueError:
                break
            time.sleep(0.1)
        try:
            self._start(camera_id)
        except (LookupError, ValueError) as exc:
            log.warning("camera %s not restarted after its node left: %s", camera_id, exc)
            return
        move = {"camera_id": camera_id, "from_node": old_node, "to_node": self.nodes.get(camera_id),
                "at": time.time(), "restart_s": round(time.monotonic() - started, 3)}
        self._moves = [*self._moves[-99:], move]
        log.warning("camera %s moved from node %s to %s (%.1f s)", camera_id, old_node, move["to_node"], move["restart_s"])

    def _place(self, camera_id: str) -> str | None:
        """The node to start `camera_id` on (`None`: no node hosts a replica yet, or placement is off)."""
        if not self._placing:
            return None
        try:
            view = cluster_view(self.app_name, self.detector_deployment)
        except Exception as exc:  # noqa: BLE001  (the GCS tables are an optimisation; Ray's default placement works)
            log.warning("cluster view unavailable, camera %s placed by Ray: %r", camera_id, exc)
            return None
        others = {c: n for c, n in self.nodes.items() if c != camera_id}
        plan = place_cameras([*others, camera_id], view, current=others, weights=self.weights,
                             max_load_per_replica=float(self.camera_opts.get("max_fps_per_replica", 0)) or None)
        return plan.assignments.get(camera_id)

    def _watch(self) -> None:
        period_s = float(self.camera_opts.get("placement_check_s", 2.0))
        while not self._watch_stop.wait(period_s):
            try:
                self.rebalance()
            except Exception as exc:  # noqa: BLE001  (the watch must outlive a transient GCS error)
                log.warning("camera placement check failed: %r", exc)

    # ------------------------------------------------------------------------------ helpers
    def _load(self, camera_id: str):
        from storage import crud
        from storage.db import session_scope

        with session_scope(self.engine) as s:
            row = crud.get_camera(s, camera_id)
            if row is None:
                raise LookupError(f"no camera {camera_id!r}")
            s.expunge(row)
            return row, crud.camera_config(row)

    def _identity_config(self, row: Any) -> dict[str, Any] | None:
        """The camera's identity-stage config: its site's registry, with the site's camera topology."""
        if not self.identity:
            return None
        from storage import crud
        from storage.db import session_scope

        with session_scope(self.engine) as s:
            site = crud.get_site(s, row.site_id)
            cameras = [c for c in crud.list_cameras(s, limit=100_000)[0] if c.site_id == row.site_id]
            topology = {}
            for c in cameras:
                config = crud.camera_config(c)
                if config.neighbours:
                    topology[c.id] = {crud.camera_id_for(site.name, n): list(cfg.transit_s)
                                      for n, cfg in config.neighbours.items()}
        registry = {**self.identity.get("registry", {}), "topology": topology}
        return {**self.identity, "site": site.name, "namespace": self.namespace, "registry": registry}

    def _detector_handle(self) -> Any:
        """The detector handle given to camera actors (one handle, initialised once)."""
        if self._local_handle is None:
            handle = self._detector
            if handle is None:
                from ray import serve

                handle = serve.get_deployment_handle(self.detector_deployment, app_name=self.app_name)
            # Prefer-local routing is set where the handle is used (`actors.camera_actor.detect_via`): a
            # handle's init options do not travel with it to the camera actor.
            self._local_handle = handle
        return self._local_handle
