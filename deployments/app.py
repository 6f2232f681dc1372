"""The Serve application: the FastAPI ingress and the detection + pose deployment, composed by binding.

`build_app(AppArgs)` is what `witness up` deploys (and what a serve config's `import_path` can
point at: `deployments.app:build_app`). Everything the replicas need arrives in `AppArgs`, a plain
pydantic model built from the process settings, so replicas on any node build the same app.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from ray import serve
from ray.serve import Application
from ray.serve.handle import DeploymentHandle

from deployments.detector import PoseDetector

__all__ = ["AppArgs", "build_app", "detector_autoscaling", "make_fastapi", "APP_NAME"]

APP_NAME = "witness"


class AppArgs(BaseModel):
    """Arguments of the Serve application (sections of `cluster.settings.Settings`, as dicts)."""

    database_url: str
    redis_url: str
    namespace: str = "witness"
    api: dict[str, Any] = Field(default_factory=dict, description="ApiSettings fields")
    detector: dict[str, Any] = Field(default_factory=dict, description="DetectorSettings fields")
    replica: dict[str, Any] = Field(default_factory=dict, description="PoseReplica keyword arguments")
    store: dict[str, Any] = Field(default_factory=dict, description="open_object_store keyword arguments")
    upload_dir: str = "data/uploads"
    job_runner: dict[str, Any] = Field(default_factory=dict, description="`deployments.jobs.JobRunnerConfig` fields")
    notify: dict[str, Any] = Field(default_factory=dict, description="NotifySettings fields")
    analytics: dict[str, Any] = Field(default_factory=dict, description="AnalyticsSettings fields")
    export_runner: dict[str, Any] = Field(default_factory=dict, description="`pipelines.exports.ExportRunnerConfig` fields")
    input_roots: list[str] = Field(default_factory=list, description="Folders bulk jobs named by path may read")
    input_buckets: list[str] = Field(default_factory=list, description="Buckets bulk jobs named by s3:// may read")
    source_policy: dict[str, Any] = Field(
        default_factory=dict, description="`domain.site.sources.SourcePolicy.of` arguments (camera hosts, media roots)")
    privacy: dict[str, Any] = Field(default_factory=dict, description="PrivacySettings fields")
    retention: dict[str, Any] = Field(default_factory=dict, description="RetentionPolicy fields (RETENTION__*)")
    embedder: dict[str, Any] | None = Field(
        default=None, description="EmbedderSettings fields (None: no embedder deployment, no global person ids)")


def make_fastapi(args: AppArgs):
    """Build the ingress's FastAPI app with its collaborators (runs inside each ingress replica)."""
    from pathlib import Path

    import redis

    from deployments.api.config import ApiConfig
    from deployments.api.main import create_app
    from deployments.live import finish_live_app, live_routers, live_state
    from storage.db import make_engine

    reliability = args.job_runner.get("reliability", {})
    engine = make_engine(args.database_url, connect_timeout_s=int(reliability.get("db_connect_timeout_s", 5)),
                         statement_timeout_s=float(reliability.get("db_statement_timeout_s", 0.0)))
    client = redis.Redis.from_url(args.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
    Path(args.upload_dir).mkdir(parents=True, exist_ok=True)
    app = create_app(
        engine=engine, redis=client, config=ApiConfig(**args.api), extra_routers=live_routers(),
        state=live_state(args, engine),
    )
    return finish_live_app(app, client)


def detector_autoscaling(detector: dict[str, Any]) -> dict[str, Any]:
    """The detector's Serve `autoscaling_config` from `DetectorSettings` fields (`autoscale_max_replicas` > 0).

    Raises:
        ValueError: `autoscale_min_replicas` above `autoscale_max_replicas`.
    """
    low, high = int(detector.get("autoscale_min_replicas", 1)), int(detector["autoscale_max_replicas"])
    if low > high:
        raise ValueError(f"DETECTOR__AUTOSCALE_MIN_REPLICAS ({low}) must not exceed DETECTOR__AUTOSCALE_MAX_REPLICAS ({high})")
    return {"min_replicas": low, "max_replicas": high, "initial_replicas": max(low, 1),
            "target_ongoing_requests": float(detector.get("target_ongoing_requests", 8.0)),
            "upscale_delay_s": float(detector.get("upscale_delay_s", 10.0)),
            "downscale_delay_s": float(detector.get("downscale_delay_s", 120.0))}


def build_app(args: AppArgs | dict[str, Any]) -> Application:
    """The application graph: `Ingress.bind(PoseDetector.bind(...))`."""
    args = args if isinstance(args, AppArgs) else AppArgs.model_validate(args)
    d = args.detector
    options: dict[str, Any] = dict(
        ray_actor_options={"num_cpus": d.get("num_cpus", 1.0), "num_gpus": d.get("num_gpus", 0.0)},
        user_config={"max_batch_size": d.get("max_batch_size", 8), "batch_wait_timeout_s": d.get("batch_wait_timeout_s", 0.02)},
    )
    if d.get("autoscale_max_replicas"):
        options["autoscaling_config"] = detector_autoscaling(d)
    else:
        options["num_replicas"] = d.get("num_replicas", 1)
    detector = PoseDetector.options(**options).bind(args.replica, args.redis_url, args.store or None)
    embedder = None
    if args.embedder is not None:
        from deployments.embedder import PersonEmbedder

        e = args.embedder
        embedder = PersonEmbedder.options(
            num_replicas=e.get("num_replicas", 1),
            ray_actor_options={"num_cpus": e.get("num_cpus", 0.25), "num_gpus": e.get("num_gpus", 0.0)},
            user_config={"max_batch_size": e.get("max_batch_size", 8),
                         "batch_wait_timeout_s": e.get("batch_wait_timeout_s", 0.01)},
        ).bind({k: e[k] for k in ("kind", "weights", "arch", "color_weight", "device", "batch_size", "torch_threads",
                                   "cache_dir") if k in e})

    def asgi_builder():
        return make_fastapi(args)

    @serve.deployment(name="Ingress")
    @serve.ingress(asgi_builder)
    class Ingress:
        """The REST / WebSocket ingress. Binding the detector here deploys it with the application;
        camera actors reach it through their own handles."""

        def __init__(self, detector: DeploymentHandle, embedder: DeploymentHandle | None = None) -> None:
            self.detector, self.embedder = detector, embedder

    api = args.api
    return Ingress.options(
        num_replicas=api.get("replicas", 1), ray_actor_options={"num_cpus": api.get("num_cpus", 0.25)}
    ).bind(detector, embedder)
