"""`witness up` / `witness down`: start and stop the live platform on Ray.

`up` makes sure Redis answers (starting a local `redis-server` for the embedded defaults), joins
`RAY_ADDRESS` or starts a detached local Ray head, stores the site file's cameras, deploys the Serve
application (ingress + detector), starts the event sink and the camera manager (which starts every
enabled camera), and creates a first admin when there is no user. Everything it starts outlives
the command; `down` stops it in reverse order.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cluster.runtime import open_database, open_store, prepare_environment
from cluster.services import ServiceError, ensure_redis, head_address, start_ray_head, stop_ray_head, stop_redis
from cluster.settings import Settings

__all__ = ["UpResult", "up", "down", "app_args", "export_runner_config", "jwt_secret", "source_policy_args", "check_site_sources", "NAMESPACE"]

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


def jwt_secret(settings: Settings) -> str:
    """The API's JWT signing secret: `API__JWT_SECRET` when set, else `DATA_DIR/jwt-secret`, which the
    first start creates (48 random bytes, URL-safe, mode 0600) and every later start reuses, so tokens
    survive restarts and nobody runs with a secret that is written in the source.

    Raises:
        ServiceError: the given or stored secret is the old public placeholder or under 32 characters.
    """
    from deployments.api.config import ApiConfig
    from deployments.api.main import check_secret

    secret = settings.api.jwt_secret
    path = settings.data_dir.resolve() / "jwt-secret"
    if not secret:
        if path.exists():
            os.chmod(path, 0o600)
            secret = path.read_text().strip()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            secret = secrets.token_urlsafe(48)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secret + "\n")
    try:
        check_secret(ApiConfig(jwt_secret=secret))
    except ValueError as exc:
        where = "API__JWT_SECRET" if settings.api.jwt_secret else str(path)
        raise ServiceError(f"{where}: {exc}") from None
    return secret


def app_args(settings: Settings) -> Any:
    """`AppArgs` of the Serve application, from the settings."""
    from actors.pose_replica import pose_replica_kwargs
    from deployments.app import AppArgs

    m = settings.model
    # One Serve batch (frames of every camera waiting) is one forward pass: the replica batches as many.
    replica = pose_replica_kwargs(m, torch_threads=m.torch_threads or max(1, int(settings.detector.num_cpus)),
                                  batch_size=max(m.batch_size, settings.detector.max_batch_size),
                                  cache_dir=str(settings.data_dir.resolve() / "cache"))
    return AppArgs(
        database_url=settings.sqlalchemy_url, redis_url=settings.redis_url, namespace=NAMESPACE,
        api=settings.api.model_dump() | {"jwt_secret": jwt_secret(settings)}, detector=settings.detector.model_dump(),
        replica=replica, input_roots=[str(settings.data_dir.resolve() / "uploads"), *settings.job.input_roots],
        input_buckets=list(settings.job.input_buckets),
        store=_store_kwargs(settings), upload_dir=str(settings.data_dir.resolve() / "uploads"),
        job_runner=job_runner_config(settings), notify=settings.notify.model_dump(),
        analytics=settings.analytics.model_dump(), export_runner=export_runner_config(settings),
        source_policy=source_policy_args(settings),
        privacy=settings.privacy.model_dump(), retention=settings.retention.policy(),
        embedder=settings.embedder.model_dump() | {"cache_dir": str(settings.data_dir.resolve() / "cache")}
        if settings.identity.enabled else None,
    )


def export_runner_config(settings: Settings) -> dict[str, Any]:
    """`pipelines.exports.ExportRunnerConfig` fields for report and export jobs."""
    return dict(
        database_url=settings.sqlalchemy_url, redis_url=settings.redis_url, store=_store_kwargs(settings),
        analytics=settings.analytics.params().model_dump(), clip_max_width=settings.clip.max_width,
        clip_crf=settings.clip.crf, cache_dir=str(settings.data_dir.resolve() / "cache"),
        notify=settings.notify.model_dump(), num_cpus=settings.analytics.export_num_cpus,
    )


def source_policy_args(settings: Settings) -> dict[str, Any]:
    """`SourcePolicy.of` arguments from `CAMERA__ALLOWED_HOSTS` and `CAMERA__MEDIA_ROOT` (plus DATA_DIR/media)."""
    roots = [*settings.camera.media_root, str(settings.data_dir.resolve() / "media")]
    return {"allowed_hosts": list(settings.camera.allowed_hosts), "media_roots": [os.path.realpath(r) for r in roots]}


def check_site_sources(settings: Settings, site: Any) -> None:
    """Refuse a site file whose camera sources lie outside the source policy (before anything starts).

    Raises:
        ServiceError: naming each refused camera and why.
    """
    from domain.site.sources import SourcePolicy

    policy = SourcePolicy.of(**source_policy_args(settings))
    problems = []
    for key, camera in site.cameras.items():
        if camera.source is None:
            continue
        source = camera.source
        if "://" not in source or source.startswith("file://"):
            source = os.path.realpath(source.removeprefix("file://"))
        try:
            policy.check(source)
        except ValueError as exc:
            problems.append(f"cameras.{key}.source: {exc}")
    if problems:
        raise ServiceError("the site file's camera sources are not allowed:\n  " + "\n  ".join(problems))


def job_runner_config(settings: Settings) -> dict[str, Any]:
    """`deployments.jobs.JobRunnerConfig` fields for jobs submitted through the API."""
    return dict(
        database_url=settings.sqlalchemy_url, redis_url=settings.redis_url, store=_store_kwargs(settings),
        model=settings.model, tracker=settings.tracker, job=settings.job, clip=settings.clip,
        cache_dir=settings.data_dir.resolve() / "cache",
        intent=settings.intent.params().model_dump() if settings.intent.enabled else None,
        notify=settings.notify.model_dump(), behaviour=settings.behaviour, behaviour_model=settings.behaviour.model_version,
        behaviour_min_confidence=settings.behaviour.min_confidence, reliability=settings.reliability.model_dump(),
        fall_model=settings.safety.classifier_kwargs(settings.model), mask_faces=settings.privacy.mask_faces,
        identity=settings.identity, embedder=settings.embedder,
    )


def identity_config(settings: Settings) -> dict[str, Any] | None:
    """The camera manager's `identity` argument (global person ids), or `None` when `IDENTITY__ENABLED` is off."""
    i = settings.identity
    if not i.enabled:
        return None
    from deployments.app import APP_NAME
    from deployments.embedder import EMBEDDER_DEPLOYMENT

    params = {k: getattr(i, k) for k in ("min_similarity", "colocated_min_similarity", "colocation_radius_m",
                                         "two_places_m", "max_speed_mps", "max_gap_s", "time_slack_s")}
    options = {k: getattr(i, k) for k in ("gallery_size", "top_k", "index", "hnsw_from", "retention_s",
                                          "checkpoint_interval_s")}
    return {
        "app_name": APP_NAME, "embedder_deployment": EMBEDDER_DEPLOYMENT, "min_track_frames": i.min_track_frames,
        "refresh_s": i.refresh_s, "accel_noise_mps2": i.accel_noise_mps2, "measurement_noise_m": i.measurement_noise_m,
        "registry": {"database_url": settings.sqlalchemy_url, "store": open_store(settings), "params": params,
                     "options": options, "num_cpus": i.num_cpus},
    }


def _store_kwargs(settings: Settings) -> dict[str, Any]:
    return dict(local_dir=str(settings.objects_dir), s3_endpoint=settings.s3_endpoint, s3_access_key=settings.s3_access_key,
                s3_secret_key=settings.s3_secret_key, s3_bucket=settings.s3_bucket, s3_secure=settings.s3_secure,
                evidence=settings.evidence.store_kwargs(settings.sqlalchemy_url))


def up(settings: Settings, *, site: Any | None = None, wait_s: float = 300.0, deploy_serve: bool = True) -> UpResult:
    """Start the platform (see the module docstring). Idempotent: a running platform is updated.

    With `deploy_serve=False` the Serve application is left to whoever owns it (a KubeRay RayService
    deploys `cluster.serve_app:app` from its serveConfigV2); `up` still waits for it to be healthy.

    Raises:
        cluster.services.ServiceError: Redis or Ray could not be reached or started.
        TimeoutError: the application did not become healthy within `wait_s`.
    """
    import ray
    from ray import serve

    from actors.camera_manager import MANAGER_NAME, CameraManager
    from actors.event_sink import EventSink, sink_actor_name
    from actors.placement import HEAD_NODE_OPTIONS
    from deployments.app import APP_NAME, build_app
    from storage import crud
    from storage.db import session_scope

    prepare_environment(settings)
    if site is not None:
        check_site_sources(settings, site)
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
    if deploy_serve:
        serve.start(http_options={"host": settings.api.host, "port": settings.api.port})
        serve.run(build_app(app_args(settings)), name=APP_NAME, route_prefix="/", blocking=False)
    _wait_healthy(settings, wait_s)
    intent = settings.intent.params().model_dump() if settings.intent.enabled else None
    for partition in range(settings.reliability.sink_partitions):
        EventSink.options(name=sink_actor_name(partition), namespace=NAMESPACE, lifetime="detached",
                          get_if_exists=True).remote(
            settings.sqlalchemy_url, settings.redis_url, intent=intent, settle_s=settings.intent.live_settle_s,
            notify=settings.notify.model_dump(), reliability=settings.reliability.model_dump(), partition=partition,
        )
    manager = CameraManager.options(
        name=MANAGER_NAME, namespace=NAMESPACE, lifetime="detached", get_if_exists=True, **HEAD_NODE_OPTIONS
    ).remote(
        database_url=settings.sqlalchemy_url, redis_url=settings.redis_url, store=open_store(settings, actor="camera"),
        namespace=NAMESPACE, tracker_params=settings.tracker, camera=settings.camera.model_dump(),
        clip=settings.clip.model_dump(), clips_dir=str(settings.data_dir.resolve() / "live-clips"),
        app_name=APP_NAME, intent=intent,
        behaviour={"model_version": settings.behaviour.model_version, "min_confidence": settings.behaviour.min_confidence,
                   "reload_poll_s": settings.behaviour.reload_poll_s, "shadow": settings.behaviour.shadow,
                   "window": settings.behaviour.window, "stride": settings.behaviour.stride},
        identity=identity_config(settings),
        spool_dir=str(settings.data_dir.resolve() / "live-spool"), reliability=settings.reliability.model_dump(),
    )
    cameras = ray.get(manager.sync.remote(), timeout=120)
    _start_retention(settings)
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
        sinks = sorted(a["name"] for a in ray.util.list_named_actors(all_namespaces=True)  # every partition
                       if a["namespace"] == NAMESPACE and (a["name"] == SINK_NAME or a["name"].startswith(f"{SINK_NAME}-")))
        for name in sinks:
            try:
                ray.kill(ray.get_actor(name, namespace=NAMESPACE), no_restart=True)
                stopped.append(f"event sink {name}")
            except ValueError:  # gone since it was listed
                pass
        try:
            from actors.retention_actor import RETENTION_NAME

            ray.kill(ray.get_actor(RETENTION_NAME, namespace=NAMESPACE), no_restart=True)
            stopped.append("retention schedule")
        except ValueError:
            pass
        from actors.identity_registry import REGISTRY_PREFIX

        for actor in ray.util.list_named_actors(all_namespaces=True):
            if actor.get("namespace") == NAMESPACE and actor.get("name", "").startswith(REGISTRY_PREFIX):
                try:  # checkpoint what is pending, then stop
                    registry = ray.get_actor(actor["name"], namespace=NAMESPACE)
                    ray.get(registry.flush.remote(), timeout=30)
                    ray.kill(registry, no_restart=True)
                    stopped.append(f"identity registry {actor['name'].removeprefix(REGISTRY_PREFIX)}")
                except (ValueError, ray.exceptions.RayError):
                    pass
        ray.shutdown()
    if stop_ray_head(marker):
        stopped.append("local Ray head")
    if stop_redis(settings.data_dir):
        stopped.append("local Redis")
    return stopped


def _start_retention(settings: Settings) -> None:
    """The scheduled retention purge (`actors.retention_actor`), unless `RETENTION__PURGE_INTERVAL_S` is 0."""
    from actors.retention_actor import RETENTION_NAME, RetentionScheduler

    if settings.retention.purge_interval_s <= 0:
        return
    scheduler = RetentionScheduler.options(
        name=RETENTION_NAME, namespace=NAMESPACE, lifetime="detached", get_if_exists=True
    ).remote(settings.sqlalchemy_url, _store_kwargs(settings), settings.retention.policy(),
             settings.retention.purge_interval_s, str(settings.data_dir.resolve() / "uploads"))
    scheduler.start.remote()


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
