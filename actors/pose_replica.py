"""Detection + pose model replica: the one class bulk jobs (Ray Data `map_batches`) and live cameras use.

It knows nothing about jobs, videos or cameras: frames in, per-frame detections out.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from actors.backends import BackendHealth, ModelSpec, load_model
from domain.appearance import EMBEDDING_DIM, color_embeddings
from storage.objectstore import LocalObjectStore

__all__ = ["FrameDetections", "PoseReplica", "pose_replica_kwargs"]

log = logging.getLogger(__name__)

PERSON_CLASS_ID = 0  # COCO "person": the only class a pose model emits


@dataclass
class FrameDetections:
    """Detections of one frame, in the frame's pixels.

    Attributes:
        xyxy: `(N, 4)` float32 `[x1, y1, x2, y2]`.
        confidence: `(N,)` float32, 0–1.
        keypoints: `(N, 17, 3)` float32 COCO-17 `[x, y, visibility]`.
        feats: `(N, D)` float32 L2-normalised appearance vectors (`domain.appearance`), `D = 0` if off.
        landmarks: `(N, 33, 3)` float32 MediaPipe landmarks (`actors.mediapipe_pose`), `None` otherwise.
    """

    xyxy: npt.NDArray[np.float32]
    confidence: npt.NDArray[np.float32]
    keypoints: npt.NDArray[np.float32]
    feats: npt.NDArray[np.float32]
    landmarks: npt.NDArray[np.float32] | None = None

    @classmethod
    def empty(cls, feat_dim: int = 0) -> FrameDetections:
        """No detections, with the right dtypes and shapes."""
        return cls(
            np.zeros((0, 4), np.float32),
            np.zeros((0,), np.float32),
            np.zeros((0, 17, 3), np.float32),
            np.zeros((0, feat_dim), np.float32),
        )

    def __len__(self) -> int:
        return len(self.confidence)

    def __getitem__(self, index: int | slice | npt.NDArray[np.bool_] | npt.NDArray[np.integer]) -> FrameDetections:
        """The detections selected by an int, a slice, an index array or a bool mask, e.g. `d[d.confidence > 0.5]`."""
        if isinstance(index, (int, np.integer)):
            index = slice(int(index), int(index) + 1 or None)
        return FrameDetections(self.xyxy[index], self.confidence[index], self.keypoints[index], self.feats[index])


def pose_replica_kwargs(model: Any, **overrides: Any) -> dict[str, Any]:
    """`PoseReplica` keyword arguments from a `cluster.settings.ModelSettings` (any object with its fields).

    Args:
        model: the `MODEL__*` section.
        **overrides: e.g. `imgsz`, `torch_threads`, `cache_dir`, `fetch`, `store`, `calibration`.
    """
    kwargs = dict(
        weights=model.weights, imgsz=model.imgsz, conf=model.conf, iou=model.iou, device=model.device,
        half=model.half, batch_size=model.batch_size, torch_threads=model.torch_threads, backend=model.backend,
        precision=model.precision, export_dir=model.export_dir, calibration=model.calibration,
        calibration_frames=model.calibration_frames, cpu_precision_hint=model.cpu_precision_hint,
    )
    return kwargs | overrides


class PoseReplica:
    """Ultralytics YOLO pose inference over batches of frames.

    Used as a Ray Data class UDF (`ds.map_batches(PoseReplica, fn_constructor_kwargs=…)`) and, for live
    cameras, inside a Serve deployment. Each output row keeps every input column except `image` and
    adds the detection columns. The model runs through the backend layer (`actors.backends`): on a
    CPU node an OpenVINO export of the weights (made once, cached), on an NVIDIA GPU node a
    TensorRT FP16 engine, else PyTorch; `self.health` says which and why.

    Args:
        weights: `.pt` / `.onnx` / `.engine` path, `*_openvino_model/` folder, `s3://bucket/key`, or
            `None` for the bundled yolo11n-pose.
        imgsz: inference size in pixels (long side).
        conf: confidence floor (0–1).
        iou: NMS IoU threshold.
        device: `auto`, `cpu`, `cuda`, `cuda:N`, …
        half: FP16 PyTorch (GPU only).
        batch_size: frames per forward pass (exports are made for it).
        torch_threads: inference threads of whichever runtime (0 leaves the runtime's default).
        with_appearance: also return each detection's appearance vector (`domain.appearance`).
        cache_dir: download cache for `s3://` weights (and, by default, the export cache).
        fetch: `s3://` downloader `(uri, dest) -> Path` (the object store's `download_uri`).
        backend: `auto`, `torch`, `openvino`, `onnx` or `tensorrt` (see `actors.backends.select_backend`).
        precision: `auto`, `fp32`, `fp16` or `int8`.
        export_dir: export cache folder (`None`: `cache_dir/exports`).
        store: object store that shares exports between nodes (`None`, or the embedded local-folder
            store: this node's export cache only).
        calibration: video of the user's footage for INT8 calibration.
        calibration_frames: frames taken from it.
        cpu_precision_hint: OpenVINO CPU compute precision (`"auto"`: plugin default; `"f32"`).

    Raises:
        FileNotFoundError: the weights do not exist.
        ValueError: impossible settings (see `actors.backends.check_request`).
    """

    def __init__(
        self,
        *,
        weights: str | None = None,
        imgsz: int = 1280,
        conf: float = 0.1,
        iou: float = 0.7,
        device: str = "auto",
        half: bool = False,
        batch_size: int = 1,
        torch_threads: int = 0,
        with_appearance: bool = True,
        cache_dir: str | Path = "data/cache",
        fetch: Any = None,
        backend: str = "auto",
        precision: str = "auto",
        export_dir: str | Path | None = None,
        store: Any = None,
        calibration: str | None = None,
        calibration_frames: int = 300,
        cpu_precision_hint: str = "auto",
    ) -> None:
        import torch

        if torch_threads > 0:
            torch.set_num_threads(torch_threads)
            os.environ["OMP_NUM_THREADS"] = str(torch_threads)
        spec = ModelSpec(
            weights=weights, task="pose", backend=backend, precision=precision, device=device, half=half, imgsz=imgsz,
            batch=batch_size, threads=torch_threads, cache_dir=Path(cache_dir),
            export_dir=Path(export_dir) if export_dir else None, calibration=calibration,
            calibration_frames=calibration_frames, cpu_precision_hint=cpu_precision_hint,
        )
        if isinstance(store, LocalObjectStore):
            store = None  # a local folder is this node's disk already: the export cache there is enough
        loaded = load_model(spec, fetch=fetch, store=store)
        self.model = loaded.model
        self.health: BackendHealth = loaded.health
        self.predict_args: dict[str, Any] = dict(imgsz=imgsz, conf=conf, iou=iou, verbose=False) | loaded.predict_args
        self.batch_size = batch_size
        self.forward_passes = 0  # model calls so far (each of up to `batch_size` frames)
        self.with_appearance = with_appearance
        self.feat_dim = EMBEDDING_DIM if with_appearance else 0

    def predict(self, frames: list[npt.NDArray[np.uint8]]) -> list[FrameDetections]:
        """Detect people and their keypoints.

        Args:
            frames: BGR images, each `(H, W, 3)` uint8.

        Returns:
            One `FrameDetections` per frame, in the frame's own pixels.
        """
        out: list[FrameDetections] = []
        for start in range(0, len(frames), self.batch_size):
            batch = frames[start : start + self.batch_size]
            results = self.model.predict(batch, **self.predict_args)
            self.forward_passes += 1
            out.extend(self._to_detections(r, frame) for r, frame in zip(results, batch))
        return out

    def _to_detections(self, result: Any, frame: npt.NDArray[np.uint8]) -> FrameDetections:
        boxes = result.boxes
        n = len(boxes)
        if n == 0:
            return FrameDetections.empty(self.feat_dim)
        kpts = result.keypoints
        keypoints = (
            kpts.data.cpu().numpy().astype(np.float32)
            if kpts is not None and kpts.data.shape[-1] == 3
            else np.zeros((n, 17, 3), np.float32)
        )
        xyxy = boxes.xyxy.cpu().numpy().astype(np.float32)
        feats = color_embeddings(frame, xyxy) if self.with_appearance else np.zeros((n, 0), np.float32)
        return FrameDetections(
            xyxy=xyxy, confidence=boxes.conf.cpu().numpy().astype(np.float32), keypoints=keypoints, feats=feats
        )

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Ray Data UDF: `batch["image"]` `(B, H, W, 3)` uint8 BGR → detection columns, image dropped.

        Added columns (object arrays of length B): `xyxy` `(N, 4)`, `confidence` `(N,)`,
        `keypoints` `(N, 17, 3)`, `feats` `(N, D)`; and `backend` (`backend_label`, one string per row).
        """
        images = batch.pop("image")
        dets = self.predict(list(images))
        for name in ("xyxy", "confidence", "keypoints", "feats"):
            col = np.empty(len(dets), dtype=object)
            col[:] = [getattr(d, name) for d in dets]
            batch[name] = col
        batch["backend"] = np.array([self.backend_label] * len(dets))
        return batch

    @property
    def backend_label(self) -> str:
        """E.g. `"openvino fp32 (bf16 compute)"`, or `"torch fp32 (fallback: …)"` when PyTorch stands in."""
        h = self.health
        compute = f" ({h.compute} compute)" if h.compute and h.compute != h.precision.replace("fp", "f") else ""
        return f"{h.backend} {h.precision}{compute}" + (f" (fallback: {h.reason})" if h.fallback else "")
