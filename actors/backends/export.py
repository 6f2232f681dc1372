"""Exporting `.pt` weights with Ultralytics' own exporter (OpenVINO, ONNX, TensorRT), INT8 calibration included."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from actors.backends.selection import Backend, Precision

__all__ = ["export_weights", "write_calibration_set"]

log = logging.getLogger(__name__)


def write_calibration_set(frames: Sequence[npt.NDArray[np.uint8]], folder: Path, *, task: str) -> Path:
    """Write calibration frames as an unlabelled Ultralytics dataset (what its INT8 exporter reads).

    Args:
        frames: BGR images, each `(H, W, 3)` uint8, from the user's own footage.
        folder: empty folder to write into.
        task: Ultralytics task; a pose dataset also declares COCO-17 keypoints.

    Returns:
        The dataset's YAML file (`val: images`, names `{0: person}`).

    Raises:
        ValueError: no frames.
    """
    import cv2
    import yaml

    if not frames:
        raise ValueError("INT8 calibration needs at least one frame of footage")
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        if not cv2.imwrite(str(images / f"{i:05d}.jpg"), frame):
            raise ValueError(f"calibration frame {i}: could not be written as JPEG (shape {frame.shape})")
    spec: dict = {"path": str(folder), "train": "images", "val": "images", "names": {0: "person"}}
    if task == "pose":
        spec |= {"kpt_shape": [17, 3], "flip_idx": [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]}
    path = folder / "calibration.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def export_weights(
    weights: Path, work_dir: Path, *, task: str, backend: Backend, precision: Precision, imgsz: int, batch: int,
    dynamic: bool, device: str, calibration: Sequence[npt.NDArray[np.uint8]] | None = None,
) -> Path:
    """Export `.pt` weights inside `work_dir` with `ultralytics.YOLO.export`.

    Args:
        weights: the source `.pt` file (copied into `work_dir` first: the exporter writes beside it).
        work_dir: empty folder; the artefact is created in it.
        task: Ultralytics task (`pose`, `detect`, …).
        backend: `openvino`, `onnx` or `tensorrt`.
        precision: `fp32`, `fp16` or `int8` (`int8` needs `calibration`).
        imgsz: export image size (px, long side).
        batch: export batch size (the maximum batch for dynamic TensorRT profiles).
        dynamic: dynamic input shapes (batch, height, width).
        device: export device (`cpu`; `cuda:0` for TensorRT).
        calibration: BGR frames of the user's footage for INT8 post-training quantisation (NNCF /
            TensorRT calibrator).

    Returns:
        The artefact: `<stem>_openvino_model/`, `<stem>.onnx` or `<stem>.engine` inside `work_dir`.

    Raises:
        ValueError: PyTorch has nothing to export; INT8 without calibration frames.
        Exception: whatever the exporter raises (a missing package, an unsupported op, …).
    """
    from ultralytics import YOLO

    fmt = backend.export_format
    if fmt is None:
        raise ValueError("PyTorch weights need no export")
    source = work_dir / weights.name
    shutil.copyfile(weights, source)
    kwargs: dict = dict(format=fmt, imgsz=imgsz, batch=batch, dynamic=dynamic, device=device, verbose=False)
    if precision is Precision.FP16:
        kwargs["quantize"] = 16
    elif precision is Precision.INT8:
        if not calibration:
            raise ValueError("MODEL__PRECISION=int8 needs calibration frames (MODEL__CALIBRATION: a video of your footage)")
        kwargs |= dict(quantize=8, data=str(write_calibration_set(calibration, work_dir / "calibration", task=task)),
                       fraction=1.0)
    if backend is Backend.ONNX:
        kwargs["simplify"] = True
    # The exporter reads YOLO_CONFIG_DIR, never downloads (YOLO_OFFLINE) and never pip-installs (YOLO_AUTOINSTALL=0).
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "0")
    log.info("exporting %s to %s %s at imgsz %d (batch %d%s)", weights.name, backend.value, precision.value, imgsz,
             batch, ", dynamic" if dynamic else "")
    artefact = Path(YOLO(str(source), task=task).export(**kwargs))
    source.unlink(missing_ok=True)
    shutil.rmtree(work_dir / "calibration", ignore_errors=True)
    return artefact
