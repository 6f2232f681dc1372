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

from domain.appearance import EMBEDDING_DIM, color_embeddings

__all__ = ["FrameDetections", "PoseReplica", "load_pose_model"]

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


def load_pose_model(weights: str | None, *, cache_dir: Path, fetch: Any = None):
    """Load an Ultralytics pose model from a local path or an `s3://bucket/key`.

    Args:
        weights: `.pt` / `.onnx` / `.engine` path, `s3://bucket/key`, or `None` for the bundled yolo11n-pose.
        cache_dir: where `s3://` weights are downloaded to (kept between runs, keyed by bucket/key).
        fetch: callable `(uri, dest_path) -> Path` that downloads an `s3://` URI (the object store's).

    Returns:
        `ultralytics.YOLO` in predict mode.

    Raises:
        FileNotFoundError: the weights file does not exist.
        ValueError: an `s3://` URI is given but no `fetch` callable.
    """
    from cluster.settings import default_weights  # settings knows where the bundled file is
    from ultralytics import YOLO

    path = weights or default_weights()
    if path.startswith("s3://"):
        if fetch is None:
            raise ValueError(f"weights {path!r} are on S3 but no object store was configured")
        local = cache_dir / "weights" / path.removeprefix("s3://")
        if not local.exists():
            local.parent.mkdir(parents=True, exist_ok=True)
            fetch(path, local)
        path = str(local)
    if not Path(path).exists():
        raise FileNotFoundError(f"model weights not found: {path}")
    return YOLO(path, task="pose")


class PoseReplica:
    """Ultralytics YOLO pose inference over batches of frames.

    Used as a Ray Data class UDF (`ds.map_batches(PoseReplica, fn_constructor_kwargs=…)`) and, for live
    cameras, inside a Serve deployment. Each output row keeps every input column except `image` and
    adds the detection columns.

    Args:
        weights: see `load_pose_model`.
        imgsz: inference size in pixels (long side).
        conf: confidence floor (0–1).
        iou: NMS IoU threshold.
        device: torch device string.
        half: FP16 (GPU only).
        batch_size: frames per forward pass.
        torch_threads: intra-op threads (0 leaves torch's default).
        with_appearance: also return each detection's appearance vector (`domain.appearance`).
        cache_dir: download cache for `s3://` weights.
        fetch: `s3://` downloader, see `load_pose_model`.
    """

    def __init__(
        self,
        *,
        weights: str | None = None,
        imgsz: int = 1280,
        conf: float = 0.1,
        iou: float = 0.7,
        device: str = "cpu",
        half: bool = False,
        batch_size: int = 1,
        torch_threads: int = 0,
        with_appearance: bool = True,
        cache_dir: str | Path = "data/cache",
        fetch: Any = None,
    ) -> None:
        import torch

        if torch_threads > 0:
            torch.set_num_threads(torch_threads)
            os.environ["OMP_NUM_THREADS"] = str(torch_threads)
        self.model = load_pose_model(weights, cache_dir=Path(cache_dir), fetch=fetch)
        self.predict_args: dict[str, Any] = dict(imgsz=imgsz, conf=conf, iou=iou, device=device, verbose=False)
        if half:
            self.predict_args["half"] = True
        self.batch_size = batch_size
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
        `keypoints` `(N, 17, 3)`, `feats` `(N, D)`.
        """
        images = batch.pop("image")
        dets = self.predict(list(images))
        for name in ("xyxy", "confidence", "keypoints", "feats"):
            col = np.empty(len(dets), dtype=object)
            col[:] = [getattr(d, name) for d in dets]
            batch[name] = col
        return batch
