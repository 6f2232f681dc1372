"""Bulk jobs submitted through the API: the `JobRunner` the routes call, and its Ray implementation.

`RayJobRunner.submit` stores the job (pending) and returns its id at once; a Ray task then runs
`pipelines.bulk.run_job` on that job and publishes on Redis channel `witness:jobs:{id}`:

- `{"kind": "job_progress", "job_id", "frames_done", "frames_total", "fps", "eta_s"}` at most
  every `progress_interval_s` (the first and the last always);
- `{"kind": "job_done", "job_id", "status", "elapsed_s", "videos": [...]}` once, at the end.

Cancelling the job (`POST /jobs/{id}/cancel`) marks its row; `run_job` notices between batches.
If it has not stopped `cancel_grace_s` later (a batch that takes long, a worker crashing and being
retried), the runner ends its Ray task by force (with the Ray Data workers it owns) and fails the
videos it left unfinished. The runner's reaper (`RayJobRunner(reaper=True)`, in the ingress) fails
jobs whose driver stopped beating its heartbeat (killed, or lost with an ingress redeploy) or whose
deadline passed, on start and every `reaper_interval_s`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import ray
from pydantic import BaseModel, ConfigDict, Field

from deployments.api.hub import job_channel

__all__ = ["JobRunner", "JobRunnerConfig", "RayJobRunner", "ProgressPublisher", "PosUpload", "job_options",
           "run_submitted_job"]

log = logging.getLogger(__name__)


class PosUpload(BaseModel):
    """A POS file sent with a job: its name (`.json` / `.csv`), text and the videos' start time."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1, max_length=255)
    text: str
    video_start: datetime | None = Field(None, description="Wall-clock time of the videos' first frame")


class JobRunner(Protocol):
    """Starts bulk jobs for the API."""

    def submit(self, inputs: list[str], *, site_yaml: str | None, fps: float | None, imgsz: int | None,
               pos: PosUpload | None = None) -> str:  # fmt: skip
        """Store a pending job over `inputs`, start it, and return its id without waiting for it.

        Raises:
            SiteConfigError: if `site_yaml` is not a valid site file.
            domain.pos.PosFileError: if the POS file is invalid (names the line).
        """
        ...


class JobRunnerConfig(BaseModel):
    """Everything a job's Ray task needs, picklable (`cluster.live.job_runner_config` builds it from settings).

    Attributes:
        database_url: SQLAlchemy URL of the (migrated) results database.
        redis_url: where progress is published.
        store: keyword arguments of `storage.objectstore.open_object_store`.
        model: model settings (`ModelSettings`).
        tracker: tracker settings (`TrackerSettings`).
        job: bulk-job settings (`JobSettings`).
        clip: clip settings (`ClipSettings`).
        cache_dir: local folder for downloaded inputs and weights.
        progress_interval_s: least time between two `job_progress` messages.
        intent: `domain.assessment.AssessmentParams` fields; `None` = no intent assessment.
        notify: `actors.notifier.NotifyConfig` fields for the alerts' notifications.
        behaviour_model: trained behaviour model version (`""` = heuristics only).
        behaviour_min_confidence: least window probability of a classifier behaviour.
        identity: `IdentitySettings` (global person ids across the job's videos); `None` = off.
        embedder: `EmbedderSettings` for those ids.
        reliability: `ReliabilitySettings` fields (heartbeat, deadline, retries, reaper); defaults when empty.
    """

    model_config = ConfigDict(frozen=True)

    database_url: str
    redis_url: str
    store: dict[str, Any]
    model: Any
    tracker: Any
    job: Any
    clip: Any
    cache_dir: Path
    progress_interval_s: float = Field(0.5, ge=0)
    intent: dict[str, Any] | None = None
    identity: Any = None
    embedder: Any = None
    notify: dict[str, Any] = Field(default_factory=dict)
    behaviour_model: str = ""
    behaviour_min_confidence: float = 0.6
    fall_model: dict[str, Any] = Field(default_factory=dict)  # actors.fall_model.FallClassifier keywords
    mask_faces: bool = True  # PRIVACY__MASK_FACES: store face-masked copies of clips
    reliability: dict[str, Any] = Field(default_factory=dict)


class ProgressPublisher:
    """`run_job`'s `progress` callback publishing `job_progress` messages, throttled.

    Args:
        publish: `publish(channel, text)`, e.g. a Redis client's `publish`.
        job_id: the job.
        interval_s: least time between two messages (the first and the last always go out).
    """

    def __init__(self, publish: Any, job_id: str, interval_s: float = 0.5) -> None:
        self.publish = publish
        self.job_id = job_id
        self.interval_s = interval_s
        self._t0: float | None = None
        self._last = float("-inf")

    def __call__(self, frames_done: int, frames_total: int) -> None:
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        final = frames_total > 0 and frames_done >= frames_total
        if not final and self._last > float("-inf") and now - self._last < self.interval_s:
            return
        self._last = now
        elapsed = now - self._t0
        fps = frames_done / elapsed if elapsed > 0 and frames_done else 0.0
        eta = (frames_total - frames_done) / fps if fps > 0 else None
        self.send({"kind": "job_progress", "job_id": self.job_id, "frames_done": frames_done,
                   "frames_total": frames_total, "fps": round(fps, 2), "eta_s": None if eta is None else round(eta, 1)})  # fmt: skip

    def send(self, message: dict[str, Any]) -> None:
        """Publish one message on the job's channel; Redis outages are logged, never raised."""
        import redis

        try:
            self.publish(job_channel(self.job_id), json.dumps(message))
        except redis.RedisError as exc:  # progress is best effort; the job's row is the truth
            log.warning("job %s: could not publish %s: %s", self.job_id, message.get("kind"), exc)


def job_options(config: JobRunnerConfig, engine: Any, store: Any, *, fps: float | None, imgsz: int | None,
                pos: PosUpload | None) -> Any:  # fmt: skip
    """`pipelines.bulk.JobOptions` for a job of the API: intent params, POS data (parsed against the
    stored catalog) and the behaviour model from `config`.

    Raises:
        domain.pos.PosFileError: the POS file is invalid.
    """
    from domain.assessment import AssessmentParams
    from pipelines.bulk import JobOptions
    from pipelines.intent import parse_pos_file, trajectory_classifier
    from storage.db import session_scope
    from storage.pos import load_catalog

    from storage.model_stages import resolve_model_version

    with session_scope(engine) as s:
        catalog = load_catalog(s)
        version = resolve_model_version(s, "behaviour", config.behaviour_model) if config.behaviour_model else ""
    job_pos = None if pos is None else parse_pos_file(pos.text, pos.name, catalog=catalog, video_start=pos.video_start)
    classify = None
    if config.behaviour_model and store is not None:
        classify = trajectory_classifier(store, version, min_confidence=config.behaviour_min_confidence)
    return JobOptions(model=config.model, tracker=config.tracker, job=config.job, clip=config.clip,
                      cache_dir=config.cache_dir, fps=fps, imgsz=imgsz,
                      intent=None if config.intent is None else AssessmentParams(**config.intent), pos=job_pos,
                      catalog=catalog, classify=classify, fall_model=dict(config.fall_model),
                      mask_faces=config.mask_faces, identity=_identity(config),
                      reliability=config.reliability or None)  # fmt: skip


def _identity(config: JobRunnerConfig) -> Any:
    """`pipelines.identity.IdentityOptions` when the config carries identity settings (else `None`)."""
    if config.identity is None or config.embedder is None or not config.identity.enabled:
        return None
    from pipelines.identity import IdentityOptions

    return IdentityOptions(config.identity, config.embedder)


def run_submitted_job(job_id: str, *, site_yaml: str | None, fps: float | None, imgsz: int | None,
                      config: JobRunnerConfig, pos: PosUpload | None = None) -> str:  # fmt: skip
    """Run a stored pending job to its end, publishing progress and `job_done`; returns its status.

    The body of `RayJobRunner`'s Ray task (a plain function, so it can run anywhere).
    """
    import redis

    from actors.notifier import Notifier
    from actors.rule_alerts import notify_alerts
    from domain.site import SiteConfig, parse_site_yaml
    from pipelines.bulk import run_job
    from storage import crud
    from storage.db import make_engine, session_scope
    from storage.objectstore import open_object_store

    client = redis.Redis.from_url(config.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
    publisher = ProgressPublisher(client.publish, job_id, config.progress_interval_s)
    engine = make_engine(config.database_url, connect_timeout_s=int(config.reliability.get("db_connect_timeout_s", 5)),
                         statement_timeout_s=float(config.reliability.get("db_statement_timeout_s", 0.0)))
    notifier = None
    try:
        site = parse_site_yaml(site_yaml, source="site.yaml") if site_yaml else SiteConfig.default()
        store = open_object_store(**config.store)
        options = job_options(config, engine, store, fps=fps, imgsz=imgsz, pos=pos)
        notifier = Notifier(engine, client, config.notify)

        def on_alerts(ids: list[str]) -> None:
            with session_scope(engine) as s:
                alerts = [a for a in (crud.get_alert(s, i) for i in ids) if a is not None]
            notify_alerts(notifier, alerts)  # intent alerts, and rule alerts whose rule says notify

        options.on_alerts = on_alerts
        outcome = run_job([], site=site, engine=engine, store=store, options=options, progress=publisher, job_id=job_id)
    except Exception as exc:  # noqa: BLE001  (task boundary: whatever broke, the job must not stay "running")
        from storage.reliability import retry_transient

        log.exception("job %s failed", job_id)
        reason = f"job failed: {type(exc).__name__}: {exc}"

        def fail() -> None:
            with session_scope(engine) as s:
                crud.fail_job(s, job_id, reason)

        retry_transient(fail, budget_s=float(config.reliability.get("db_retry_s", 90.0)), what=f"failing job {job_id}")
        publisher.send({"kind": "job_done", "job_id": job_id, "status": "failed", "error": str(exc), "videos": []})
        return "failed"
    else:
        publisher.send({"kind": "job_done", "job_id": job_id, "status": outcome.status,
                        "elapsed_s": round(outcome.elapsed_s, 2), "videos": [asdict(v) for v in outcome.videos]})  # fmt: skip
        return outcome.status
    finally:
        if notifier is not None:
            notifier.close()
        engine.dispose()
        client.close()


_run_remote = ray.remote(num_cpus=0.1, max_retries=0)(run_submitted_job)


class RayJobRunner:
    """`JobRunner` running each job as a Ray task on the cluster this process is connected to.

    Args:
        config: database, Redis, object store and model settings of the jobs.
        engine: engine on `config.database_url` (default: one made from it).
        reaper: run the reaper (`reap`) now and every `reaper_interval_s` on a thread.
        cancel_grace_s: how long a cancelled job may take to stop by itself before its task is ended.
    """

    def __init__(self, config: JobRunnerConfig, engine: Any = None, *, reaper: bool = False,
                 cancel_grace_s: float = 5.0) -> None:  # fmt: skip
        from storage.db import make_engine

        self.config = config
        self.engine = engine if engine is not None else make_engine(config.database_url)
        self.cancel_grace_s = cancel_grace_s
        self._running: dict[str, ray.ObjectRef] = {}
        self._lock = threading.Lock()
        self._reaper: threading.Thread | None = None
        if reaper:
            self._reaper = threading.Thread(target=self._reap_loop, name="job-reaper", daemon=True)
            self._reaper.start()

    def _setting(self, name: str, default: float) -> float:
        return float(self.config.reliability.get(name, default))

    def _reap_loop(self) -> None:
        while True:
            try:
                self.reap()
            except Exception:  # noqa: BLE001  (the database may be down: try again next round)
                log.exception("job reaper failed")
            time.sleep(self._setting("reaper_interval_s", 30.0))

    def reap(self) -> list[tuple[str, str]]:
        """Fail running jobs whose heartbeat stopped or whose deadline passed, and jobs pending too long
        (`storage.reliability.reap_jobs`); a reaped job's Ray task, if this runner started it, is ended.

        Returns:
            `(job_id, reason)` of each job failed now.
        """
        from storage.db import session_scope
        from storage.reliability import reap_jobs

        with session_scope(self.engine) as s:
            reaped = reap_jobs(s, stale_s=self._setting("job_stale_s", 60.0),
                               pending_timeout_s=self._setting("job_pending_timeout_s", 3600.0))
        for job_id, _ in reaped:
            with self._lock:
                ref = self._running.pop(job_id, None)
            if ref is not None:
                ray.cancel(ref, force=True, recursive=True)
        return reaped

    def cancel(self, job_id: str) -> bool:
        """After a job's row was marked cancelled: make sure its work stops (see the module docstring).

        Returns at once; `True` when this runner runs the job (it watches it stop).
        """
        with self._lock:
            ref = self._running.get(job_id)
        if ref is None:
            return False
        threading.Thread(target=self._stop_cancelled, args=(job_id, ref), name=f"cancel-{job_id}", daemon=True).start()
        return True

    def _stop_cancelled(self, job_id: str, ref: ray.ObjectRef) -> None:
        from pipelines.bulk import CANCELLED
        from storage import crud
        from storage.db import session_scope
        from storage.models import VideoStatus

        deadline = None
        while not ray.wait([ref], timeout=0.5)[0]:
            with session_scope(self.engine) as s:
                job = crud.get_job(s, job_id)
                started = job is not None and job.started_at is not None
            if not started:
                continue  # cancelled before its driver began: the driver sees it at start and returns
            deadline = deadline or time.monotonic() + self.cancel_grace_s
            if time.monotonic() < deadline:
                continue  # give it the grace to stop by itself between batches
            log.warning("job %s did not stop within %.0f s of its cancellation: ending its task", job_id,
                        self.cancel_grace_s)  # fmt: skip
            ray.cancel(ref, force=True, recursive=True)
            try:
                ray.get(ref, timeout=30)
            except Exception:  # noqa: BLE001  (TaskCancelledError / WorkerCrashedError expected)
                pass
            with session_scope(self.engine) as s:
                for video in crud.list_videos(s, job_id):
                    if video.status in (VideoStatus.PENDING, VideoStatus.RUNNING):
                        crud.fail_video(s, video.id, CANCELLED)
                crud.finish_job(s, job_id)
            return

    def submit(self, inputs: list[str], *, site_yaml: str | None, fps: float | None, imgsz: int | None,
               pos: PosUpload | None = None) -> str:  # fmt: skip
        """Store a pending job and start its Ray task; returns the job id at once.

        Raises:
            SiteConfigError: if `site_yaml` is not a valid site file (nothing is stored).
            domain.pos.PosFileError: if the POS file is invalid (nothing is stored).
            ValueError: if `inputs` is empty.
        """
        from domain.site import SiteConfig, parse_site_yaml
        from pipelines.bulk import job_params
        from storage import crud
        from storage.db import session_scope

        site = parse_site_yaml(site_yaml, source="site.yaml") if site_yaml else SiteConfig.default()
        options = job_options(self.config, self.engine, None, fps=fps, imgsz=imgsz, pos=pos)  # validates the POS file
        with session_scope(self.engine) as s:
            job_id = crud.create_job(s, params=job_params(site, options), inputs=inputs).id
        with self._lock:
            self._running = {k: ref for k, ref in self._running.items() if not _ready(ref)}
            self._running[job_id] = _run_remote.remote(job_id, site_yaml=site_yaml, fps=fps, imgsz=imgsz,
                                                       config=self.config, pos=pos)  # fmt: skip
        return job_id

    def wait(self, job_id: str, timeout_s: float | None = None) -> str:
        """Block until a job started here ends; returns its final status (for tests and tools)."""
        from storage import crud
        from storage.db import session_scope

        try:
            return ray.get(self._running[job_id], timeout=timeout_s)
        except (ray.exceptions.TaskCancelledError, ray.exceptions.WorkerCrashedError):  # ended by `cancel` / `reap`
            with session_scope(self.engine) as s:
                return crud.get_job(s, job_id).status.value


def _ready(ref: ray.ObjectRef) -> bool:
    done, _ = ray.wait([ref], timeout=0)
    return bool(done)
