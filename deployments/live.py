"""What the live ingress adds to the API core: its routers, collaborators and metrics."""

from __future__ import annotations

import time
from typing import Any

__all__ = ["live_routers", "live_state", "finish_live_app", "LazyCameraControl", "CameraGroups"]


def live_routers() -> list[Any]:
    """Routers mounted under `/api/v1` (token required)."""
    from deployments.api.routes import alerts, cameras, job_submit, media, sites, system, ws

    return [sites.router, cameras.router, media.router, system.router, job_submit.router, ws.router, alerts.router]


class LazyCameraControl:
    """`RayCameraControl` over the camera manager, looked up by name at each call.

    The ingress starts before the manager (the manager needs the detector deployment), and the
    manager may be restarted by Ray, so the handle is resolved per call instead of at start-up.
    """

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace

    def _control(self):
        from actors.camera_manager import MANAGER_NAME
        from deployments.api.control import RayCameraControl

        return RayCameraControl.from_name(MANAGER_NAME, namespace=self.namespace)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._control(), name)


class CameraGroups:
    """`camera_id -> camera_group` from the database, cached for `ttl_s` (for WebSocket scoping)."""

    def __init__(self, engine: Any, ttl_s: float = 30.0) -> None:
        self.engine, self.ttl_s = engine, ttl_s
        self._cache: dict[str, str | None] = {}
        self._loaded = 0.0

    def __call__(self, camera_id: str) -> str | None:
        if time.monotonic() - self._loaded > self.ttl_s:
            from storage import crud
            from storage.db import session_scope

            with session_scope(self.engine) as s:
                self._cache = {c.id: c.camera_group for c in crud.list_cameras(s, limit=100_000)[0]}
            self._loaded = time.monotonic()
        return self._cache.get(camera_id)


def live_state(args: Any, engine: Any) -> dict[str, Any]:
    """Collaborators of the live routes, put on `app.state`."""
    from pathlib import Path

    from deployments.api.hub import Hub
    from deployments.jobs import JobRunnerConfig, RayJobRunner
    from storage.objectstore import open_object_store

    store_kwargs = dict(args.store)
    store_kwargs["local_dir"] = Path(store_kwargs["local_dir"])
    return {
        "control": LazyCameraControl(args.namespace),
        "store": open_object_store(**store_kwargs),
        "hub": Hub(args.redis_url),
        "upload_dir": Path(args.upload_dir),
        "job_runner": RayJobRunner(JobRunnerConfig.model_validate(args.job_runner)),
        "camera_group_of": CameraGroups(engine),
    }


def finish_live_app(app: Any, redis_client: Any) -> Any:
    """Mount the WebSockets at the root too (`/ws/...`) and add the live Prometheus metrics."""
    from deployments.api.live_metrics import install_live_metrics
    from deployments.api.routes import ws

    app.include_router(ws.router)
    install_live_metrics(app.state.metrics, redis_client)
    return app
