"""Live-camera control as the API sees it: the `CameraControl` protocol and its two implementations.

- `RayCameraControl` adapts the cluster's `CameraManager` actor (named `witness-camera-manager`).
- `LocalCameraControl` is in-process control for single-process use and tests: each camera is an
  `actors.camera.CameraLoop` on a thread of this process.

Handlers reach the instance given to `create_app(state={"control": ...})` through `ControlDep`.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Annotated, Any, Protocol, runtime_checkable

from fastapi import Depends
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.requests import HTTPConnection

from actors.camera import CameraLoop, DetectFn
from domain.site import CameraConfig
from storage import crud

__all__ = [
    "CAMERA_MANAGER_NAME",
    "CameraNotRunning",
    "CameraControl",
    "RayCameraControl",
    "LocalCameraControl",
    "get_control",
    "ControlDep",
]

CAMERA_MANAGER_NAME = "witness-camera-manager"


class CameraNotRunning(LookupError):
    """The camera is not running (no status, frame or live config to act on)."""


@runtime_checkable
class CameraControl(Protocol):
    """Start, stop, inspect and live-reconfigure cameras stored in the database."""

    async def start(self, camera_id: str) -> dict:
        """Start the camera (idempotent); returns its status dict."""
        ...

    async def stop(self, camera_id: str) -> dict:
        """Stop the camera; returns its final status dict. Raises CameraNotRunning."""
        ...

    async def status(self, camera_id: str | None = None) -> dict | list[dict]:
        """One camera's status dict (raises CameraNotRunning), or every running camera's."""
        ...

    async def reconfigure(self, camera_id: str) -> dict:
        """Reload the camera's config from the database and apply it live. Raises CameraNotRunning."""
        ...

    async def latest_frame(self, camera_id: str, overlay: bool, mask_faces: bool = True) -> bytes:
        """The newest frame as JPEG (faces masked unless `mask_faces` is False), `b""` when none yet.
        Raises CameraNotRunning."""
        ...

    async def cluster(self) -> dict:
        """Compute resources: `{"resources": {...}, "available": {...}, ...}`."""
        ...


def get_control(conn: HTTPConnection) -> CameraControl:
    """The `CameraControl` given to `create_app(state={"control": ...})`."""
    return conn.app.state.control


ControlDep = Annotated[CameraControl, Depends(get_control)]


# ------------------------------------------------------------------------------------------ Ray
class RayCameraControl:
    """`CameraControl` over the `CameraManager` Ray actor.

    The manager's methods (`start`, `stop`, `status`, `reconfigure`, `latest_frame`) return plain
    dicts / bytes; one raising a `LookupError` (e.g. `KeyError`) for a camera that is not running
    surfaces here as `CameraNotRunning` (Ray re-raises actor errors as instances of their cause).

    Args:
        manager: the actor handle, e.g. `ray.get_actor(CAMERA_MANAGER_NAME)`.
    """

    def __init__(self, manager: Any) -> None:
        self._manager = manager

    @classmethod
    def from_name(cls, name: str = CAMERA_MANAGER_NAME, namespace: str | None = None) -> RayCameraControl:
        """Look the manager up by name (Ray must be initialised)."""
        import ray

        return cls(ray.get_actor(name, namespace=namespace))

    async def _call(self, method: str, *args: Any) -> Any:
        try:
            return await getattr(self._manager, method).remote(*args)
        except LookupError as exc:
            raise CameraNotRunning(str(exc)) from None

    async def start(self, camera_id: str) -> dict:
        return await self._call("start", camera_id)

    async def stop(self, camera_id: str) -> dict:
        return await self._call("stop", camera_id)

    async def status(self, camera_id: str | None = None) -> dict | list[dict]:
        return await self._call("status", camera_id)

    async def reconfigure(self, camera_id: str) -> dict:
        return await self._call("reconfigure", camera_id)

    async def latest_frame(self, camera_id: str, overlay: bool, mask_faces: bool = True) -> bytes:
        return await self._call("latest_frame", camera_id, overlay, mask_faces)

    async def cluster(self) -> dict:
        import ray

        def read() -> dict:
            nodes = [n for n in ray.nodes() if n.get("Alive")]
            return {"resources": ray.cluster_resources(), "available": ray.available_resources(), "nodes": len(nodes)}

        return await asyncio.to_thread(read)


# ---------------------------------------------------------------------------------------- local
class LocalCameraControl:
    """In-process control for single-process use and tests: each camera a `CameraLoop` on a thread.

    Configs are read from the database at `start` and `reconfigure`; a changed `source` restarts
    the loop (a new session), anything else is swapped in at the next frame with tracks kept.

    Args:
        engine: the database holding the cameras.
        detect: `(frames) -> detections` shared by every camera (see `CameraLoop`).
        tracker_params: a `cluster.settings.TrackerSettings`.
        stop_timeout_s: longest wait for a loop thread to end on `stop`.
        **loop_kwargs: more `CameraLoop` arguments (`detection_fps`, `clips_dir`, `on_event`, …).
    """

    def __init__(self, engine: Engine, detect: DetectFn, *, tracker_params: Any, stop_timeout_s: float = 30.0,
                 **loop_kwargs: Any) -> None:  # fmt: skip
        self._engine, self._detect = engine, detect
        self._loop_kwargs = {"tracker_params": tracker_params, **loop_kwargs}
        self._stop_timeout_s = stop_timeout_s
        self._runs: dict[str, tuple[CameraLoop, threading.Thread]] = {}
        self._lock = threading.Lock()

    def _load(self, camera_id: str) -> CameraConfig:
        with Session(self._engine) as session:
            camera = crud.get_camera(session, camera_id)
            if camera is None:
                raise crud.NotFoundError(f"camera {camera_id!r} not found")
            return crud.camera_config(camera)

    def _run(self, camera_id: str) -> tuple[CameraLoop, threading.Thread]:
        run = self._runs.get(camera_id)
        if run is None or not run[1].is_alive():
            raise CameraNotRunning(f"camera {camera_id!r} is not running")
        return run

    @staticmethod
    def _status(loop: CameraLoop, thread: threading.Thread) -> dict:
        return loop.health().as_dict() | {"session_id": loop.session_id, "running": thread.is_alive()}

    def _start(self, camera_id: str) -> dict:
        with self._lock:
            run = self._runs.get(camera_id)
            if run is None or not run[1].is_alive():
                loop = CameraLoop(camera_id, self._load(camera_id), self._detect, **self._loop_kwargs)
                thread = threading.Thread(target=loop.run, name=f"camera-{camera_id}", daemon=True)
                thread.start()
                run = self._runs[camera_id] = (loop, thread)
            return self._status(*run)

    def _stop(self, camera_id: str) -> dict:
        with self._lock:
            loop, thread = self._run(camera_id)
            del self._runs[camera_id]
        loop.stop()
        thread.join(self._stop_timeout_s)
        return self._status(loop, thread)

    def _reconfigure(self, camera_id: str) -> dict:
        loop, thread = self._run(camera_id)
        config = self._load(camera_id)
        if config.source != loop.camera.source:
            self._stop(camera_id)
            return self._start(camera_id)
        loop.reconfigure(config)
        return self._status(loop, thread)

    async def start(self, camera_id: str) -> dict:
        return await asyncio.to_thread(self._start, camera_id)

    async def stop(self, camera_id: str) -> dict:
        return await asyncio.to_thread(self._stop, camera_id)

    async def status(self, camera_id: str | None = None) -> dict | list[dict]:
        if camera_id is not None:
            return self._status(*self._run(camera_id))
        return [self._status(*run) for _, run in sorted(self._runs.items()) if run[1].is_alive()]

    async def reconfigure(self, camera_id: str) -> dict:
        return await asyncio.to_thread(self._reconfigure, camera_id)

    async def latest_frame(self, camera_id: str, overlay: bool, mask_faces: bool = True) -> bytes:
        loop, _ = self._run(camera_id)
        return await asyncio.to_thread(loop.latest_frame, overlay, mask_faces=mask_faces)

    async def cluster(self) -> dict:
        cpus = float(os.cpu_count() or 1)
        return {"mode": "local", "resources": {"CPU": cpus}, "available": {"CPU": cpus}, "nodes": 1}

    def running_config(self, camera_id: str) -> CameraConfig:
        """The config the running loop uses now (a reconfigure shows here after the next frame)."""
        return self._run(camera_id)[0].camera

    def close(self) -> None:
        """Stop every camera (blocking)."""
        for camera_id in list(self._runs):
            try:
                self._stop(camera_id)
            except CameraNotRunning:
                pass

