"""`witness up` / `witness down`: start and stop the live platform on Ray.

`up` makes sure Redis answers (starting a local `redis-server` for the embedded defaults), joins
`RAY_ADDRESS` or starts a detached local Ray head, stores the site file's cameras, deploys the Serve
application (ingress + detector), starts the event sink and the camera manager (which starts every
enabled camera), and creates a first admin when there is no user. Everything it starts outlives
the command; `down` stops it in reverse order.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cluster.runtime import open_database, open_store, prepare_environment
from cluster.services import ensure_redis, head_address, start_ray_head, stop_ray_head, stop_redis
from cluster.settings import Settings

__all__ = ["UpResult", "up", "down", "app_args", "NAMESPACE"]

NAMESPACE = "witness"


@dataclass
class UpResult:
    """What `up` started and how to reach it."""

    url: str
    cameras: list[str]
    admin_password: str | None
    ray_address: str


def _head_marker(settings: Settings) -> Path:
    return settings.data_dir.resolve() / "ray-head.address"


def app_args(settings: Settings) -> Any:
    """`AppArgs` of the Serve application, from the settings."""
    from deployments.app import AppArgs

    m = settings.model
    replica = dict(weights=m.weights, imgsz=m.imgsz, conf=m.conf, iou=m.iou, device=m.device, half=m.half,
                   batch_size=max(m.batch_size, 1), torch_threads=m.torch_threads or max(1, int(settings.detector.num_cpus)),
                   cache_dir=str(settings.data_dir.resolve() / "cache"))
    return AppArgs(
        database_url=settings.sqlalchemy_url, redis_url=settings.redis_url, namespace=NAMESPACE,
        api=settings.api.model_dump(), detector=settings.detector.model_dump(), replica=replica,
        store=_store_kwargs(settings), upload_dir=str(settings.data_dir.resolve() / "uploads"),
        job_runner=job_runner_config(settings), notify=settings.notify.model_dump(),
    )


def job_runner_config(settings: Settings) -> dict[str, Any]:
    """`deployments.jobs.JobRunnerConfig` fields for jobs submitted through the API."""
    return dict(
        database_url=settings.sqlalchemy_url, redis_url=settings.redis_url, store=_store_kwargs(settings),
        model=settings.model, tracker=settings.tracker, job=settings.job, clip=settings.clip,
        cache_dir=settings.data_dir.resolve() / "cache",
        intent=settings.intent.params().model_dump() if settings.intent.enabled else None,
        notify=settings.notify.model_dump(), behaviour=settings.behaviour, behaviour_model=settings.behaviour.model_version,
        behaviour_min_confidence=settings.behaviour.min_confidence, reliability=settings.reliability.model_dump(),
    )


def _store_kwargs(settings: Settings) -> dict[str, Any]:
    return dict(local_dir=str(settings.objects_dir), s3_endpoint=settings.s3_endpoint, s3_access_key=settings.s3_access_key,
                s3_secret_key=settings.s3_secret_key, s3_bucket=settings.s3_bucket, s3_secure=settings.s3_secure)


def up(settings: Settings, *, site: Any | None = None, wait_s: float = 300.0) -> UpResult:
    """Start the platform (see the module docstring). Idempotent: a running platform is updated.

    Raises:
        cluster.services.ServiceError: Redis or Ray could not be reached or started.
        TimeoutError: the application did not become healthy within `wait_s`.
    """
    import ray
    from ray import serve

    from actors.camera_manager import MANAGER_NAME, CameraManager
    from actors.event_sink import SINK_NAME, EventSink
    from deployments.app import APP_NAME, build_app
    from storage import crud
    from storage.db import session_scope

    prepare_environment(settings)
    engine = open_database(settings)
    ensure_redis(settings.redis_url, settings.data_dir)
    address = settings.ray_address
    if not address:
        marker = _head_marker(settings)
        address = head_address(marker)
        if not address or not _ray_alive(address):
            address = start_ray_head(num_cpus=settings.ray_num_cpus, env=settings.runtime_env_vars(), marker=marker)
    ray.init(address=address, namespace=NAMESPACE, log_to_driver=False, ignore_reinit_error=True,
             runtime_env={"env_vars": settings.runtime_env_vars()})
    if site is not None:
        with session_scope(engine) as s:
            crud.import_site_config(s, site)
    serve.start(http_options={"host": settings.api.host, "port": settings.api.port})
    serve.run(build_app(app_args(settings)), name=APP_NAME, route_prefix="/", blocking=False)
    _wait_healthy(settings, wait_s)
    intent = settings.intent.params().model_dump() if settings.intent.enabled else None
    EventSink.options(name=SINK_NAME, namespace=NAMESPACE, lifetime="detached", get_if_exists=True).remote(
        settings.sqlalchemy_url, settings.redis_url, intent=intent, settle_s=settings.intent.live_settle_s,
        notify=settings.notify.model_dump(), reliability=settings.reliability.model_dump(),
    )
    manager = CameraManager.options(
        name=MANAGER_NAME, namespace=NAMESPACE, lifetime="detached", get_if_exists=True
    ).remote(
        database_url=settings.sqlalchemy_url, redis_url=settings.redis_url, store=open_store(settings),
        namespace=NAMESPACE, tracker_params=settings.tracker, camera=settings.camera.model_dump(),
        clip=settings.clip.model_dump(), clips_dir=str(settings.data_dir.resolve() / "live-clips"),
        app_name=APP_NAME, intent=intent,
        behaviour={"model_version": settings.behaviour.model_version, "min_confidence": settings.behaviour.min_confidence},
        spool_dir=str(settings.data_dir.resolve() / "live-spool"), reliability=settings.reliability.model_dump(),
    )
    cameras = ray.get(manager.sync.remote(), timeout=120)
    admin_password = _first_admin(engine)
    return UpResult(f"http://{settings.api.host}:{settings.api.port}", cameras, admin_password, address)


def down(settings: Settings) -> list[str]:
    """Stop cameras, the Serve application, the sink and manager, then a Ray head / Redis that `up` started.

    Returns:
        What was stopped, in words.
    """
    import ray

    prepare_environment(settings)
    stopped: list[str] = []
    marker = _head_marker(settings)
    address = settings.ray_address or head_address(marker)
    if address and _ray_alive(address):
        from ray import serve

        from actors.camera_manager import MANAGER_NAME
        from actors.event_sink import SINK_NAME

        ray.init(address=address, namespace=NAMESPACE, log_to_driver=False, ignore_reinit_error=True)
        try:
            manager = ray.get_actor(MANAGER_NAME, namespace=NAMESPACE)
            for camera_id in ray.get(manager.running.remote(), timeout=30):
                ray.get(manager.stop.remote(camera_id), timeout=60)
                stopped.append(f"camera {camera_id}")
            ray.kill(manager, no_restart=True)
            stopped.append("camera manager")
        except ValueError:
            pass
        serve.shutdown()
        stopped.append("serve application")
        try:
            ray.kill(ray.get_actor(SINK_NAME, namespace=NAMESPACE), no_restart=True)
            stopped.append("event sink")
        except ValueError:
            pass
        ray.shutdown()
    if stop_ray_head(marker):
        stopped.append("local Ray head")
    if stop_redis(settings.data_dir):
        stopped.append("local Redis")
    return stopped


def _ray_alive(address: str) -> bool:
    import socket

    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=1):
            return True
    except (OSError, ValueError):
        return False


def _wait_healthy(settings: Settings, wait_s: float) -> None:
    import httpx

    url = f"http://{settings.api.host}:{settings.api.port}/health"
    deadline = time.monotonic() + wait_s
    last = ""
    while time.monotonic() < deadline:
        try:
            r = httpx.get(url, timeout=5)
            if r.status_code == 200:
                return
            last = f"{r.status_code} {r.text[:200]}"
        except httpx.HTTPError as exc:
            last = str(exc)
        time.sleep(1)
    raise TimeoutError(f"the API at {url} did not become healthy in {wait_s:.0f} s: {last}")


def _first_admin(engine: Any) -> str | None:
    """Create user `admin` with a random password when there is no user yet; returns the password."""
    from deployments.api.security import hash_password
    from storage import crud
    from storage.db import session_scope
    from storage.models import UserCreate, UserRole

    with session_scope(engine) as s:
        if crud.list_users(s, limit=1)[1] > 0:
            return None
        password = secrets.token_urlsafe(12)
        data = UserCreate(username="admin", role=UserRole.ADMIN, password=password)
        crud.create_user(s, data=data, password_hash=hash_password(password))
        return password
