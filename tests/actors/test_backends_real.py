"""The backend layer with the real yolo11n-pose weights, the real exporters and real frames of vtest.avi.

Exports at imgsz 960 come from the run's shared cache (`model_export_dir`), so the suite pays for
each once; the cache tests use their own folders and small ONNX exports (about 3 s each).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from actors.backends import box_agreement, file_sha256
from actors.pose_replica import PoseReplica

pytestmark = pytest.mark.slow  # ~40 s: several real exports


@pytest.fixture(scope="module")
def frames(vtest_path: Path) -> list[np.ndarray]:
    """Three frames 5 s apart (several walkers each)."""
    cap = cv2.VideoCapture(str(vtest_path))
    out = []
    for index in (100, 150, 200):
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        out.append(cap.read()[1])
    cap.release()
    return out


@pytest.fixture(scope="module")
def crops(frames: list[np.ndarray]) -> list[np.ndarray]:
    """The upper-right quarter of each frame: people large enough for imgsz 320 (the cheap exports)."""
    return [np.ascontiguousarray(f[0:288, 384:768]) for f in frames]


@pytest.fixture(scope="module")
def torch_replica() -> PoseReplica:
    return PoseReplica(imgsz=960, backend="torch", torch_threads=2)


@pytest.mark.parametrize("backend", ["openvino", "onnx"])
def test_export_round_trip_agrees_with_pytorch(backend, frames, torch_replica, model_export_dir):
    replica = PoseReplica(imgsz=960, backend=backend, torch_threads=2, export_dir=model_export_dir)
    assert (replica.health.backend, replica.health.fallback) == (backend, False)
    assert replica.health.export in ("built", "local")
    reference, candidate = torch_replica.predict(frames), replica.predict(frames)
    total = None
    for ref, cand in zip(reference, candidate):
        strong_ref, strong_cand = ref[ref.confidence >= 0.3], cand[cand.confidence >= 0.3]
        agreement = box_agreement(strong_ref.xyxy, cand.xyxy)  # every confident PyTorch box is found ...
        assert agreement.recall >= 0.9, (backend, agreement)
        assert box_agreement(strong_cand.xyxy, ref.xyxy).recall >= 0.9  # ... and the other way round
        total = agreement if total is None else total + agreement
    assert total.reference >= 6 and total.mean_iou >= 0.9  # several people, boxes within a few pixels
    # Keypoints of the best-matching people agree within a few pixels.
    ref, cand = reference[0], candidate[0]
    for i in np.argsort(-ref.confidence)[:3]:
        j = int(np.argmax([_iou(ref.xyxy[i], b) for b in cand.xyxy]))
        visible = (ref.keypoints[i, :, 2] > 0.5) & (cand.keypoints[j, :, 2] > 0.5)
        assert np.abs(ref.keypoints[i, visible, :2] - cand.keypoints[j, visible, :2]).mean() < 4.0


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _entries(export_dir: Path) -> list[Path]:
    return sorted(p for p in export_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def test_second_start_reuses_the_export_and_another_imgsz_exports_again(tmp_path, crops):
    first = PoseReplica(imgsz=320, backend="onnx", export_dir=tmp_path)
    assert first.health.export == "built" and first.health.export_s > 0
    (entry,) = _entries(tmp_path)
    manifest = (entry / "manifest.json").read_text()
    second = PoseReplica(imgsz=320, backend="onnx", export_dir=tmp_path)
    assert (second.health.export, second.health.export_s, second.health.artefact) == ("local", 0.0, first.health.artefact)
    assert (entry / "manifest.json").read_text() == manifest  # not rewritten
    larger = PoseReplica(imgsz=416, backend="onnx", export_dir=tmp_path)
    assert larger.health.export == "built" and len(_entries(tmp_path)) == 2
    got = [len(d) for d in second.predict(crops)]
    assert got == [len(d) for d in first.predict(crops)] and sum(got) >= 6


def test_a_corrupt_cached_export_is_detected_and_rebuilt(tmp_path, crops, caplog):
    good = PoseReplica(imgsz=320, backend="onnx", export_dir=tmp_path)
    expected = good.predict(crops)
    artefact = Path(good.health.artefact)
    artefact.write_bytes(artefact.read_bytes()[: artefact.stat().st_size // 2])  # truncated on disk
    with caplog.at_level(logging.WARNING, logger="actors.backends.cache"):
        rebuilt = PoseReplica(imgsz=320, backend="onnx", export_dir=tmp_path)
    assert rebuilt.health.export == "built" and not rebuilt.health.fallback
    assert any("corrupt" in r.getMessage() for r in caplog.records)
    for a, b in zip(expected, rebuilt.predict(crops)):
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1e-3)

    # A file that matches its manifest but is no model (e.g. written by a broken exporter) fails to load: rebuilt too.
    entry = artefact.parent
    artefact.write_bytes(b"not an onnx graph" * 1000)
    manifest = json.loads((entry / "manifest.json").read_text())
    manifest["files"][artefact.name] = {"size": artefact.stat().st_size, "sha256": file_sha256(artefact)}
    (entry / "manifest.json").write_text(json.dumps(manifest))
    again = PoseReplica(imgsz=320, backend="onnx", export_dir=tmp_path)
    assert again.health.export == "built" and not again.health.fallback
    assert [len(d) for d in again.predict(crops)] == [len(d) for d in expected]


def test_a_failed_export_falls_back_to_pytorch_with_one_error_line(tmp_path, crops, caplog):
    blocked = tmp_path / "exports"
    blocked.write_text("a file where the export cache folder should be")
    with caplog.at_level(logging.ERROR, logger="actors.backends"):
        replica = PoseReplica(imgsz=320, backend="openvino", export_dir=blocked)
    h = replica.health
    assert (h.requested, h.backend, h.fallback) == ("openvino", "torch", True)
    assert h.reason.startswith("openvino failed (") and h.reason.endswith("running PyTorch instead")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "running PyTorch instead" in errors[0].getMessage()
    reference = PoseReplica(imgsz=320, backend="torch")
    for a, b in zip(reference.predict(crops), replica.predict(crops)):
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1e-3)
    assert replica.backend_label.startswith("torch fp32 (fallback: openvino failed")
