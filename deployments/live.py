"""What the live ingress adds to the API core: its routers, collaborators and metrics."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

__all__ = ["live_routers", "analytics_routers", "analytics_state", "live_state", "live_notifier", "finish_live_app", "mount_webui", "LazyCameraControl", "CameraGroups",
           "WEBUI_RESERVED"]

log = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[1]
WEBUI_RESERVED = frozenset({"api", "ws", "health", "metrics", "docs", "redoc", "openapi.json"})  # never the UI


def live_routers() -> list[Any]:
    """Routers mounted under `/api/v1` (token required)."""
    from deployments.api.routes import alerts, cameras, job_submit, media, notifications, pos, sites, system, ui, ws
    from deployments.api.routes import dead_letters, floorplan, persons, training
    from deployments.api.routes import reports
    from deployments.api.routes import retention as retention_routes

    return [sites.router, cameras.router, media.router, system.router, job_submit.router, ws.router, alerts.router,
            ui.router, ui.ws_router, pos.router, notifications.router, training.router, training.models_router,
            retention_routes.router, retention_routes.holds_router, reports.router, persons.router, persons.ws_router,
            floorplan.router, dead_letters.router, *analytics_routers()]


def analytics_routers() -> list[Any]:
    """The analytics, environments, exports / reports and playback routers (token required)."""
    from deployments.api.routes import analytics, exports, playback

    return [analytics.router, analytics.environments_router, analytics.ws_router, exports.reports_router,
            exports.router, exports.ws_router, playback.router]


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
    from deployments.api.inputs import InputPolicy
    from domain.site.sources import SourcePolicy
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
        **analytics_state(args, engine),
        "input_policy": InputPolicy.of(roots=getattr(args, "input_roots", ()), buckets=getattr(args, "input_buckets", ())),
        "source_policy": SourcePolicy.of(**args.source_policy) if getattr(args, "source_policy", None) else None,
        "privacy": _privacy(args),
        "retention": getattr(args, "retention", None) or {},
    }


def analytics_state(args: Any, engine: Any) -> dict[str, Any]:
    """The analytics collaborators: knobs, the Ray export runner, the periodic worker (rollups, scheduled reports)."""
    from domain.analytics import AnalyticsParams
    from pipelines.exports import ExportRunnerConfig, RayExportRunner
    from pipelines.reports_scheduler import AnalyticsWorker

    settings = dict(getattr(args, "analytics", None) or {})
    params = AnalyticsParams(**{k: v for k, v in settings.items() if k in AnalyticsParams.model_fields})
    runner_config = getattr(args, "export_runner", None)
    runner = RayExportRunner(ExportRunnerConfig.model_validate(runner_config)) if runner_config else None
    return {
        "analytics": params,
        "export_runner": runner,
        "analytics_worker": AnalyticsWorker(engine, params, runner, interval_s=float(settings.get("refresh_s", 60.0))),
        "analytics_interval_s": float(settings.get("realtime_interval_s", 2.0)),
        "report_max_days": float(settings.get("report_max_days", 400.0)),
    }


def _privacy(args: Any) -> Any:
    """The API's face-masking policy from `args.privacy` (`PrivacySettings` fields; defaults when absent)."""
    from deployments.api.privacy import PrivacyPolicy

    return PrivacyPolicy.model_validate(getattr(args, "privacy", None) or {})


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
    from deployments.api.deps import API_PREFIX, limit_per_ip
    from deployments.api.live_metrics import install_live_metrics
    from deployments.api.routes import analytics, exports, persons, playback, ui, ws
    from fastapi import Depends

    app.include_router(ws.router)
    app.include_router(ui.ws_router)
    app.include_router(persons.ws_router)
    app.include_router(analytics.ws_router)  # /ws/analytics/{site_id}
    app.include_router(exports.ws_router)  # /ws/exports/{export_id}
    app.include_router(playback.media_router, prefix=API_PREFIX, dependencies=[Depends(limit_per_ip)])  # signed URLs
    worker = getattr(app.state, "analytics_worker", None)
    if worker is not None:
        run_with_app(app, worker.start, worker.stop)
    install_live_metrics(app.state.metrics, redis_client)
    mount_webui(app, app.state.config.webui_dir)
    return app


def run_with_app(app: Any, start: Any, stop: Any) -> None:
    """Call `start()` when the app starts serving and `stop()` when it shuts down (wraps its lifespan)."""
    import contextlib

    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a: Any):  # noqa: ANN202
        start()
        try:
            async with inner(a) as state:
                yield state
        finally:
            stop()

    app.router.lifespan_context = lifespan


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
        try:
            file = (dist / path.lstrip("/")).resolve()
            found = file.is_file() and file.is_relative_to(dist) and file != index
        except (OSError, ValueError):  # a NUL byte (`/%00`) or a name the file system refuses: not a file
            return await http_exception_handler(request, exc)
        if found:
            cache = "public, max-age=31536000, immutable" if file.parent.name == "assets" else "no-cache"
            return FileResponse(file, headers={"Cache-Control": cache})
        if path.startswith("/assets/"):  # a missing bundle file is a 404, not the page
            return await http_exception_handler(request, exc)
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    app.add_exception_handler(404, spa_or_404)
    log.info("serving the web UI from %s at /", dist)
    return True
