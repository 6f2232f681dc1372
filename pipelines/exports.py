"""Report and export jobs: run one to its end, publishing progress; the Ray and in-process runners.

`run_export(export_id, config)` takes a stored pending `ExportJob` (`storage.analytics_exports`),
writes its file in a temporary folder, uploads it to `exports/{id}/{filename}` and only then marks
the job done with the key, in one commit; on any failure the upload is deleted and the job fails
with the reason: nothing half-written is ever downloadable. Progress goes to the job's row and to
Redis channel `witness:exports:{id}`:

- `{"kind": "export_progress", "export_id", "progress" (0-1), "stage"}` at most every
  `progress_interval_s` (the first and the last always);
- `{"kind": "export_done", "export_id", "status", "error", "filename", "size_bytes"}` once.

Kinds: `analytics-report` (params: site, title, timezone, cameras, zones, from, to; format pdf,
xlsx, csv, json), `tracking-data` (params: job_id; format csv, json or mot: one file per video,
zipped), `video-with-overlays` (params: video_id, zones, lines, trails; or camera_id, from, to).
A scheduled report's params also carry `deliver` (`emails`, `webhook_urls`), sent through the
platform's notifier once the file is stored (`pipelines.reports_delivery`).
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
import time
import zipfile
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from domain.analytics import AnalyticsParams, TimeRange
from domain.analytics_report import ReportFormat
from domain.site import LineConfig, ZoneConfig
from storage import analytics_exports as repo
from storage.analytics_models import ExportJob, ExportKind, ExportStatus

__all__ = ["EXPORTS_PREFIX", "export_channel", "ExportRunnerConfig", "ExportRunner", "ThreadExportRunner",
           "RayExportRunner", "run_export", "export_key"]  # fmt: skip

log = logging.getLogger(__name__)

EXPORTS_PREFIX = "witness:exports:"


def export_channel(export_id: str) -> str:
    """Redis channel of one export job's progress messages."""
    return f"{EXPORTS_PREFIX}{export_id}"


def export_key(export_id: str, filename: str) -> str:
    """Object-store key of an export's file."""
    return f"exports/{export_id}/{filename}"


class ExportRunnerConfig(BaseModel):
    """What an export task needs, picklable (`cluster.live.export_runner_config` builds it from settings).

    Attributes:
        database_url: SQLAlchemy URL of the migrated database.
        redis_url: where progress is published (`None`: not published).
        store: `storage.objectstore.open_object_store` keyword arguments.
        analytics: `AnalyticsParams` fields.
        clip_max_width: videos wider than this are scaled down (px).
        clip_crf: x264 quality of exported videos.
        cache_dir: local folder for temporary files and downloaded sources.
        notify: `actors.notifier.NotifyConfig` fields (SMTP, webhook signing) for scheduled reports.
        num_cpus: CPUs of one Ray export task.
        progress_interval_s: least time between two `export_progress` messages.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    database_url: str
    redis_url: str | None = None
    store: dict[str, Any]
    analytics: dict[str, Any] = Field(default_factory=dict)
    clip_max_width: int = 960
    clip_crf: int = 26
    cache_dir: Path = Path("data/cache")
    notify: dict[str, Any] = Field(default_factory=dict)
    num_cpus: float = 0.5
    progress_interval_s: float = 0.5


class _Progress:
    """Throttled progress: the job's row and Redis."""

    def __init__(self, engine: Any, redis: Any, export_id: str, interval_s: float) -> None:
        self.engine, self.redis, self.export_id, self.interval_s = engine, redis, export_id, interval_s
        self._last = float("-inf")

    def __call__(self, fraction: float, stage: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval_s:
            return
        self._last = now
        from sqlmodel import Session

        with Session(self.engine) as s:
            repo.update_export_progress(s, self.export_id, progress=fraction, stage=stage)
        self.send({"kind": "export_progress", "export_id": self.export_id, "progress": round(fraction, 4),
                   "stage": stage})  # fmt: skip

    def send(self, message: dict[str, Any]) -> None:
        if self.redis is None:
            return
        from redis.exceptions import RedisError

        try:
            self.redis.publish(export_channel(self.export_id), json.dumps(message, default=str))
        except RedisError as exc:  # progress is best effort; the row is the truth
            log.warning("export %s: could not publish %s: %s", self.export_id, message.get("kind"), exc)


def _range(params: dict[str, Any]) -> TimeRange:
    return TimeRange(datetime.fromisoformat(params["from"]).timestamp(), datetime.fromisoformat(params["to"]).timestamp())


def _report(session: Any, job: ExportJob, config: ExportRunnerConfig, work: Path, progress: Any) -> tuple[Path, str, str]:
    from pipelines.reports import ReportScope, build_report
    from pipelines.reports_render import CONTENT_TYPES, EXTENSIONS, render_report
    from storage.analytics_rollup import rollup_pending

    p = job.params
    fmt = ReportFormat(job.format)
    progress(0.02, "rolling up new data", force=True)
    rollup_pending(session.get_bind(), AnalyticsParams(**config.analytics), live=False)
    scope = ReportScope(p["site"], p.get("title") or p["site"], p.get("timezone") or "UTC", tuple(p.get("cameras") or ()),
                        {k: tuple(v) for k, v in (p.get("zones") or {}).items()})  # fmt: skip
    report = build_report(session, scope, _range(p), AnalyticsParams(**config.analytics),
                          progress=lambda f, stage: progress(0.05 + 0.8 * f, stage))  # fmt: skip
    progress(0.88, f"writing {fmt.value}", force=True)
    stem = f"report-{p['site']}-{p['from'][:10]}-{p['to'][:10]}"
    path = render_report(report, fmt, work / f"{stem}.{EXTENSIONS[fmt]}")
    return path, path.name, CONTENT_TYPES[fmt]


def _tracking(session: Any, job: ExportJob, config: ExportRunnerConfig, work: Path, progress: Any) -> tuple[Path, str, str]:
    from pipelines.export import ExportFormat, export_tracks

    progress(0.1, "exporting tracks", force=True)
    files = export_tracks(session, job.params["job_id"], ExportFormat(job.format), work / "tracks")
    progress(0.8, "packing", force=True)
    out = work / f"tracks-{job.params['job_id']}-{job.format}.zip"
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for f in files:
            zf.write(f, f.name)
    return out, out.name, "application/zip"


def _video(session: Any, job: ExportJob, config: ExportRunnerConfig, work: Path, progress: Any,
           store: Any) -> tuple[Path, str, str]:  # fmt: skip
    from pipelines.exports_video import render_job_video, render_live_range

    p = job.params
    step = lambda f, stage: progress(0.02 + 0.95 * f, stage)  # noqa: E731
    if p.get("video_id"):
        out = work / f"video-{p['video_id']}-overlays.mp4"
        zones = {k: ZoneConfig.model_validate(v) for k, v in (p.get("zones") or {}).items()}
        lines = {k: LineConfig.model_validate(v) for k, v in (p.get("lines") or {}).items()}
        render_job_video(session, p["video_id"], out, store=store, zones=zones, lines=lines,
                         trails=bool(p.get("trails", True)), overlays=bool(p.get("overlays", True)),
                         max_width=config.clip_max_width, crf=config.clip_crf,
                         progress=step, work_dir=work)  # fmt: skip
        suffix = "overlays" if p.get("overlays", True) else "playable"
        name = f"{Path(p.get('video_name') or p['video_id']).stem}-{suffix}.mp4"
        return out, name, "video/mp4"
    rng = _range(p)
    out = work / "live-range.mp4"
    render_live_range(session, p["camera_id"], rng.t_from_s, rng.t_to_s, out, store=store, progress=step,
                      work_dir=work, max_width=config.clip_max_width, crf=config.clip_crf)  # fmt: skip
    return out, f"{p['camera_id']}-{p['from'][:19].replace(':', '')}.mp4", "video/mp4"


def run_export(export_id: str, config: ExportRunnerConfig) -> str:
    """Run a stored pending export job to its end (see the module docstring); returns its final status.

    Never raises for a failing export: the job's row says why (`error`), and `export_done` says so.
    """
    import redis as redis_lib
    from sqlmodel import Session

    from storage.db import make_engine
    from storage.objectstore import open_object_store

    engine = make_engine(config.database_url)
    client = redis_lib.Redis.from_url(config.redis_url) if config.redis_url else None
    progress = _Progress(engine, client, export_id, config.progress_interval_s)
    work = Path(tempfile.mkdtemp(prefix=f"export-{export_id}-", dir=_mkdir(config.cache_dir)))
    key: str | None = None
    store = None
    try:
        with Session(engine, expire_on_commit=False) as s:
            job = repo.start_export(s, export_id)
        progress(0.0, "starting", force=True)
        store_kwargs = dict(config.store)
        store_kwargs["local_dir"] = Path(store_kwargs.get("local_dir") or "data/objects")
        store_kwargs.setdefault("s3_endpoint", None)
        store = open_object_store(**store_kwargs)
        with Session(engine, expire_on_commit=False) as s:
            if job.kind is ExportKind.ANALYTICS_REPORT:
                path, filename, content_type = _report(s, job, config, work, progress)
            elif job.kind is ExportKind.TRACKING_DATA:
                path, filename, content_type = _tracking(s, job, config, work, progress)
            else:
                path, filename, content_type = _video(s, job, config, work, progress, store)
        progress(0.97, "uploading", force=True)
        key = export_key(export_id, filename)
        size = store.put_file(key, path, content_type)
        with Session(engine, expire_on_commit=False) as s:
            done = repo.finish_export(s, export_id, key=key, filename=filename, content_type=content_type, size_bytes=size)
        progress.send({"kind": "export_done", "export_id": export_id, "status": "done", "error": None,
                       "filename": filename, "size_bytes": size})  # fmt: skip
        _deliver(done, config, engine, client, store)
        return ExportStatus.DONE.value
    except Exception as exc:  # noqa: BLE001  (task boundary: the job must end failed, with the reason, and no file)
        log.exception("export %s failed", export_id)
        if key is not None and store is not None:
            try:
                store.delete(key)
            except Exception:  # noqa: BLE001
                log.warning("export %s: could not delete %s", export_id, key)
        error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, (ValueError, LookupError)) else str(exc)
        try:
            with Session(engine) as s:
                repo.fail_export(s, export_id, error)
        except Exception:  # noqa: BLE001
            log.exception("export %s: could not record the failure", export_id)
        progress.send({"kind": "export_done", "export_id": export_id, "status": "failed", "error": error})
        return ExportStatus.FAILED.value
    finally:
        shutil.rmtree(work, ignore_errors=True)
        engine.dispose()
        if client is not None:
            client.close()


def _deliver(job: ExportJob, config: ExportRunnerConfig, engine: Any, client: Any, store: Any) -> None:
    deliver = (job.params or {}).get("deliver")
    if not deliver:
        return
    from pipelines.reports_delivery import deliver_report

    from dataclasses import asdict

    from sqlmodel import Session

    try:
        outcome = deliver_report(job, store=store, engine=engine, redis=client, notify=config.notify,
                                 emails=deliver.get("emails") or [], webhook_urls=deliver.get("webhook_urls") or [])  # fmt: skip
        with Session(engine) as s:
            repo.record_delivery(s, job.id, asdict(outcome))
    except Exception:  # noqa: BLE001  (a stored report stays downloadable even if delivery broke)
        log.exception("export %s: delivery failed", job.id)


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


# ---------------------------------------------------------------------------------------- runners
class ExportRunner(Protocol):
    """Starts stored pending export jobs."""

    def submit(self, export_id: str) -> None:
        """Start the job; return at once."""
        ...


class ThreadExportRunner:
    """Runs export jobs on this process's worker threads (the CLI, a single-process deployment).

    Args:
        config: database, store and settings of the jobs.
        max_workers: jobs at once.
    """

    def __init__(self, config: ExportRunnerConfig, max_workers: int = 1) -> None:
        self.config = config
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="export")
        self._futures: dict[str, Future] = {}
        self._lock = threading.Lock()

    def submit(self, export_id: str) -> None:
        with self._lock:
            self._futures[export_id] = self._pool.submit(run_export, export_id, self.config)

    def wait(self, export_id: str, timeout_s: float | None = None) -> str:
        """Block until a job started here ends; returns its status."""
        return self._futures[export_id].result(timeout=timeout_s)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class RayExportRunner:
    """Runs each export job as a Ray task (`num_cpus` from the config) on the connected cluster."""

    def __init__(self, config: ExportRunnerConfig) -> None:
        self.config = config
        self._running: dict[str, Any] = {}

    def submit(self, export_id: str) -> None:
        import ray

        task = ray.remote(num_cpus=self.config.num_cpus, max_retries=0)(run_export)
        self._running = {k: r for k, r in self._running.items() if not ray.wait([r], timeout=0)[0]}
        self._running[export_id] = task.remote(export_id, self.config)

    def wait(self, export_id: str, timeout_s: float | None = None) -> str:
        """Block until a job started here ends; returns its status (for tests and tools)."""
        import ray

        return ray.get(self._running[export_id], timeout=timeout_s)
