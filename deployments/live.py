"""What the live ingress adds to the API core: its routers, collaborators and metrics."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

__all__ = ["live_routers", "live_state", "live_notifier", "finish_live_app", "mount_webui", "LazyCameraControl", "CameraGroups",
           "WEBUI_RESERVED"]

log = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[1]
WEBUI_RESERVED = frozenset({"api", "ws", "health", "metrics", "docs", "redoc", "openapi.json"})  # never the UI


def live_routers() -> list[Any]:
    """Routers mounted under `/api/v1` (token required)."""
    from deployments.api.routes import alerts, cameras, job_submit, media, notifications, pos, sites, system, ui, ws
    from deployments.api.routes import dead_letters, training

    return [sites.router, cameras.router, media.router, system.router, job_submit.router, ws.router, alerts.router,
            ui.router, ui.ws_router, pos.router, notifications.router, training.router, training.models_router,
            dead_letters.router]


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
        "job_runner": RayJobRunner(JobRunnerConfig.model_validate(args.job_runner), reaper=True),
        "training_runner": _training_runner(args),
        "camera_group_of": CameraGroups(engine),
        "notifier": live_notifier(args, engine),
    }


def _training_runner(args: Any) -> Any:
    """The API's `RayTrainingRunner`, from the job runner's fields (its `behaviour` field: `BehaviourSettings`)."""
    from deployments.training import RayTrainingRunner, TrainingRunnerConfig

    return RayTrainingRunner(TrainingRunnerConfig.model_validate(args.job_runner))


def live_notifier(args: Any, engine: Any) -> Any:
    """The ingress's `actors.notifier.Notifier` (it re-sends dead letters), from `args.notify`
    (`NotifySettings` fields as a dict; the defaults while `args` has none)."""
    import redis

    from actors.notifier import Notifier

    client = redis.Redis.from_url(args.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
    return Notifier(engine, client, args.notify, poll_s=1.0)


def finish_live_app(app: Any, redis_client: Any) -> Any:
    """Mount the WebSockets at the root too (`/ws/...`), add the live Prometheus metrics and serve the web UI."""
    from deployments.api.live_metrics import install_live_metrics
    from deployments.api.routes import ui, ws

    app.include_router(ws.router)
    app.include_router(ui.ws_router)
    install_live_metrics(app.state.metrics, redis_client)
    mount_webui(app, app.state.config.webui_dir)
    return app


def mount_webui(app: Any, webui_dir: str | Path) -> bool:
    """Serve the built web UI at `/`: its files, and `index.html` for every other GET (the SPA's routes).

    Only requests no route answered (404) reach the UI, and never paths under `WEBUI_RESERVED`
    (`/api`, `/ws`, `/health`, `/metrics`, `/docs`, `/openapi.json`): those keep their JSON 404.

    Args:
        app: the FastAPI app (after every router is included).
        webui_dir: the `npm run build` output; relative paths are resolved against the repository root.

    Returns:
        Whether the UI is served (`False`, with a log line, when `webui_dir/index.html` is missing).
    """
    from fastapi.exception_handlers import http_exception_handler
    from starlette.responses import FileResponse

    dist = Path(webui_dir)
    dist = (dist if dist.is_absolute() else REPO_ROOT / dist).resolve()
    index = dist / "index.html"
    if not index.is_file():
        log.info("no web UI at %s (build it with `npm ci && npm run build` in webui/); serving the API only", dist)
        return False

    async def spa_or_404(request: Any, exc: Any) -> Any:
        path = request.url.path
        if request.method not in ("GET", "HEAD") or path.lstrip("/").split("/", 1)[0] in WEBUI_RESERVED:
            return await http_exception_handler(request, exc)
        if getattr(exc, "detail", "Not Found") != "Not Found":  # a handler's own 404 ("camera not found")
            return await http_exception_handler(request, exc)
        file = (dist / path.lstrip("/")).resolve()
        if file.is_file() and file.is_relative_to(dist) and file != index:
            cache = "public, max-age=31536000, immutable" if file.parent.name == "assets" else "no-cache"
            return FileResponse(file, headers={"Cache-Control": cache})
        if path.startswith("/assets/"):  # a missing bundle file is a 404, not the page
            return await http_exception_handler(request, exc)
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    app.add_exception_handler(404, spa_or_404)
    log.info("serving the web UI from %s at /", dist)
    return True
