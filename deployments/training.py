"""Behaviour-model training runs started through the API: the `TrainingRunner` the routes call, and its Ray implementation.

`RayTrainingRunner.submit` checks the inputs (`pipelines.train_behaviour.find_clips`), stores
the run (pending, table `training_run`) and returns its id at once. A Ray task then runs
`train_behaviour`, keeps the run's row up to date, and publishes on Redis channel
`witness:training:{run_id}`:

- `{"kind": "training_progress", "run_id", "frames_done", "frames_total", "fps", "eta_s"}`, at most
  every `progress_interval_s` (the first and the last always go out);
- `{"kind": "training_done", "run_id", "status", "version", "report"}` or, on failure,
  `{"kind": "training_done", "run_id", "status": "failed", "error"}`, once at the end.

Progress on Redis is best effort; the row is the truth (`GET /training/runs/{id}`).
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any, Protocol

import ray
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["TRAINING_PREFIX", "training_channel", "TrainingRequest", "TrainingRunner", "TrainingRunnerConfig",
           "TrainingUnavailableError", "RayTrainingRunner", "run_training"]  # fmt: skip

log = logging.getLogger(__name__)

TRAINING_PREFIX = "witness:training:"


class TrainingUnavailableError(RuntimeError):
    """This deployment cannot train (it was started without behaviour settings)."""


def training_channel(run_id: str) -> str:
    """Redis channel of one training run's progress messages."""
    return f"{TRAINING_PREFIX}{run_id}"


class TrainingRequest(BaseModel):
    """What to train on; unset knobs take the `BEHAVIOUR__*` settings."""

    model_config = ConfigDict(extra="forbid")

    data_dir: str = Field(min_length=1, description="Folder (as the workers see it) or s3://bucket/prefix of labelled clips")
    labels_csv: str | None = Field(None, description="Labels CSV text (clip,t_start_s,t_end_s,label[,track_id]) "
                                   "instead of class folders")  # fmt: skip
    fps: float | None = Field(None, gt=0, description="Frame sampling rate (frames/s)")
    imgsz: int | None = Field(None, ge=320, le=3840, description="Pose inference size (px)")
    seed: int | None = Field(None, ge=0, description="Split and forest seed")
    window: int | None = Field(None, ge=2, description="Frames per window")
    stride: int | None = Field(None, ge=1, description="Frames between windows")


class TrainingRunner(Protocol):
    """Starts training runs for the API."""

    def submit(self, request: TrainingRequest, *, created_by: str | None) -> str:
        """Store a pending run, start it, and return its id without waiting.

        Raises:
            ValueError: bad inputs (missing / empty folder, unknown class folder, bad labels), named.
            TrainingUnavailableError: this deployment cannot train.
        """
        ...


class TrainingRunnerConfig(BaseModel):
    """What a run's Ray task needs, picklable. Built from the job runner's fields (extra ones are ignored).

    Attributes:
        database_url: SQLAlchemy URL of the migrated database.
        redis_url: where progress is published.
        store: `open_object_store` keyword arguments (models are saved there).
        model, tracker, job: `ModelSettings`, `TrackerSettings`, `JobSettings`.
        behaviour: `BehaviourSettings`; `None` when the platform was started without it (then
            training is refused: the runner cannot guess its defaults).
        cache_dir: local folder for downloads and weights.
        progress_interval_s: least time between two `training_progress` messages.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    database_url: str
    redis_url: str
    store: dict[str, Any]
    model: Any
    tracker: Any
    job: Any
    behaviour: Any = None
    cache_dir: Path
    progress_interval_s: float = Field(0.5, ge=0)


def _store(config: TrainingRunnerConfig) -> Any:
    from storage.objectstore import open_object_store

    kwargs = dict(config.store)
    kwargs["local_dir"] = Path(kwargs.get("local_dir") or "data/objects")
    kwargs.setdefault("s3_endpoint", None)
    return open_object_store(**kwargs)


class _Progress:
    """`train_behaviour`'s progress callback: throttled Redis messages and row updates."""

    def __init__(self, client: Any, engine: Any, run_id: str, interval_s: float) -> None:
        self.client, self.engine, self.run_id, self.interval_s = client, engine, run_id, interval_s
        self._t0: float | None = None
        self._last = float("-inf")
        self._last_db = float("-inf")

    def __call__(self, frames_done: int, frames_total: int) -> None:
        from storage.db import session_scope
        from storage.training import update_run_progress

        now = time.monotonic()
        self._t0 = now if self._t0 is None else self._t0
        final = frames_total > 0 and frames_done >= frames_total
        if final or now - self._last_db >= 2.0:
            with session_scope(self.engine) as s:
                update_run_progress(s, self.run_id, frames_done=frames_done, frames_total=frames_total)
            self._last_db = now
        if not final and self._last > float("-inf") and now - self._last < self.interval_s:
            return
        self._last = now
        elapsed = now - self._t0
        fps = frames_done / elapsed if elapsed > 0 and frames_done else 0.0
        eta = (frames_total - frames_done) / fps if fps > 0 else None
        self.send({"kind": "training_progress", "run_id": self.run_id, "frames_done": frames_done,
                   "frames_total": frames_total, "fps": round(fps, 2), "eta_s": None if eta is None else round(eta, 1)})  # fmt: skip

    def send(self, message: dict[str, Any]) -> None:
        """Publish one message; Redis outages are logged, never raised."""
        import redis

        try:
            self.client.publish(training_channel(self.run_id), json.dumps(message))
        except redis.RedisError as exc:
            log.warning("training run %s: could not publish %s: %s", self.run_id, message.get("kind"), exc)


def _labels_file(text: str | None, folder: Path) -> Path | None:
    if text is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "labels.csv"
    path.write_text(text, encoding="utf-8")
    return path


def run_training(run_id: str, *, config: TrainingRunnerConfig) -> str:
    """Run a stored pending training run to its end; returns its final status (`done` / `failed`).

    The body of `RayTrainingRunner`'s Ray task (a plain function, so it can run anywhere Ray is up).
    A failure of any kind marks the run failed with its reason; nothing is left half-saved.
    """
    import redis

    from pipelines.train_behaviour import TrainOptions, train_behaviour
    from storage.db import make_engine, session_scope
    from storage.training import fail_run, finish_run, get_run, start_run

    client = redis.Redis.from_url(config.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
    engine = make_engine(config.database_url)
    progress = _Progress(client, engine, run_id, config.progress_interval_s)
    work = Path(tempfile.mkdtemp(prefix=f"training-{run_id}-"))
    try:
        with session_scope(engine) as s:
            run = start_run(s, run_id)
            data_dir, params, created_by = run.data_dir, dict(run.params), run.created_by
        if config.behaviour is None:
            raise ValueError("the platform was started without behaviour settings (BEHAVIOUR__*)")
        options = TrainOptions(
            model=config.model, tracker=config.tracker, job=config.job, behaviour=config.behaviour,
            cache_dir=Path(config.cache_dir), **{k: params.get(k) for k in ("fps", "imgsz", "seed", "window", "stride")},
            trained_by=created_by,
        )  # fmt: skip
        labels = _labels_file(params.get("labels_csv"), work)
        outcome = train_behaviour(data_dir, store=_store(config), options=options, labels=labels, progress=progress)
    except Exception as exc:  # noqa: BLE001  (task boundary: whatever broke, the run must not stay "running")
        log.exception("training run %s failed", run_id)
        error = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
        with session_scope(engine) as s:
            if get_run(s, run_id) is not None:
                fail_run(s, run_id, error)
        progress.send({"kind": "training_done", "run_id": run_id, "status": "failed", "error": error})
        return "failed"
    else:
        report = outcome.report.to_dict()
        with session_scope(engine) as s:
            finish_run(s, run_id, version=outcome.version, report=report)
        progress.send({"kind": "training_done", "run_id": run_id, "status": "done", "version": outcome.version,
                       "report": report})  # fmt: skip
        return "done"
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
        engine.dispose()
        client.close()


_run_remote = ray.remote(num_cpus=0.1, max_retries=0)(run_training)


class RayTrainingRunner:
    """`TrainingRunner` running each training run as a Ray task on the cluster this process is connected to.

    Args:
        config: database, Redis, object store and settings of the runs.
        engine: engine on `config.database_url` (default: one made from it).
    """

    def __init__(self, config: TrainingRunnerConfig, engine: Any = None) -> None:
        from storage.db import make_engine

        self.config = config
        self.engine = engine if engine is not None else make_engine(config.database_url)
        self._running: dict[str, ray.ObjectRef] = {}

    def submit(self, request: TrainingRequest, *, created_by: str | None) -> str:
        """Check the inputs, store a pending run and start its Ray task; returns the run id at once.

        Raises:
            ValueError: missing or empty `data_dir`, unknown class folder, a bad labels CSV, or fewer
                than two classes (nothing is stored).
            TrainingUnavailableError: the platform was started without behaviour settings.
        """
        from pipelines.train_behaviour import find_clips
        from storage.db import session_scope
        from storage.training import create_run

        if self.config.behaviour is None:
            raise TrainingUnavailableError("training is not available: the platform was started without behaviour settings")
        with tempfile.TemporaryDirectory(prefix="training-check-") as tmp:
            labels = _labels_file(request.labels_csv, Path(tmp))
            find_clips(request.data_dir, labels=labels, store=_store(self.config))
        params = request.model_dump(exclude={"data_dir"})
        with session_scope(self.engine) as s:
            run_id = create_run(s, data_dir=request.data_dir, params=params, created_by=created_by).id
        self._running = {k: ref for k, ref in self._running.items() if not _ready(ref)}
        self._running[run_id] = _run_remote.remote(run_id, config=self.config)
        return run_id

    def wait(self, run_id: str, timeout_s: float | None = None) -> str:
        """Block until a run started here ends; returns its final status (for tests and tools)."""
        return ray.get(self._running[run_id], timeout=timeout_s)


def _ready(ref: ray.ObjectRef) -> bool:
    done, _ = ray.wait([ref], timeout=0)
    return bool(done)
