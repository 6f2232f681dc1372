"""The detection + pose replica with the real yolo11n-pose weights on real frames of vtest.avi."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from actors.backends import resolve_weights
from actors.pose_replica import PoseReplica
from cluster.settings import default_weights


@pytest.fixture(scope="module")
def frames(vtest_path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(vtest_path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 100)
    out = [cap.read()[1] for _ in range(2)]
    cap.release()
    return out


@pytest.fixture(scope="module")
def replica(model_export_dir: Path) -> PoseReplica:
    return PoseReplica(imgsz=960, torch_threads=2, export_dir=model_export_dir)  # the default backend


def test_predict_finds_people_with_keypoints_and_appearance(replica, frames):
    dets = replica.predict(frames)
    assert len(dets) == 2
    for d in dets:
        assert len(d) >= 3  # vtest frame 100 shows several walkers
        assert d.xyxy.shape == (len(d), 4) and d.keypoints.shape == (len(d), 17, 3)
        assert (d.xyxy[:, 2] > d.xyxy[:, 0]).all() and (d.xyxy[:, 3] > d.xyxy[:, 1]).all()
        assert d.xyxy[:, [0, 2]].max() <= 768 + 1 and d.xyxy[:, [1, 3]].max() <= 576 + 1
        assert ((d.confidence > 0) & (d.confidence <= 1)).all()
        np.testing.assert_allclose(np.linalg.norm(d.feats, axis=1), 1.0, atol=1e-4)
        # A standing person's ankles (COCO 15, 16) are below their shoulders (5, 6).
        visible = d.keypoints[:, [5, 6, 15, 16], 2].min(axis=1) > 0.5
        assert (d.keypoints[visible][:, [15, 16], 1].mean(1) > d.keypoints[visible][:, [5, 6], 1].mean(1)).all()


def test_ray_data_udf_replaces_image_with_detection_columns(replica, frames):
    batch = {"frame_index": np.array([100, 101]), "image": np.stack(frames)}
    out = replica(batch)
    assert "image" not in out
    assert list(out["frame_index"]) == [100, 101]
    assert len(out["xyxy"]) == 2 and out["xyxy"][0].shape[1] == 4
    assert out["keypoints"][1].shape[1:] == (17, 3)


def test_a_users_own_weights_file_loads(tmp_path, frames, replica, model_export_dir):
    own = tmp_path / "store-model-v3.pt"
    shutil.copy(default_weights(), own)
    mine = PoseReplica(weights=str(own), imgsz=960, export_dir=model_export_dir)
    assert mine.health.backend == replica.health.backend
    np.testing.assert_allclose(mine.predict(frames[:1])[0].xyxy, replica.predict(frames[:1])[0].xyxy, atol=1.0)


def test_weights_from_s3_are_downloaded_once_and_load(tmp_path, s3_store, frames, model_export_dir):
    s3_store.put_file("models/pose-v1.pt", Path(default_weights()))
    uri = f"s3://{s3_store.bucket}/models/pose-v1.pt"
    mine = PoseReplica(weights=uri, imgsz=960, cache_dir=tmp_path, fetch=s3_store.download_uri, store=s3_store,
                       export_dir=model_export_dir)
    assert len(mine.predict(frames[:1])[0]) >= 3
    cached = tmp_path / "weights" / s3_store.bucket / "models" / "pose-v1.pt"
    assert cached.is_file()
    s3_store.delete("models/pose-v1.pt")  # a second load must use the cache, not S3
    assert resolve_weights(uri, cache_dir=tmp_path, fetch=s3_store.download_uri) == cached


@pytest.mark.parametrize(
    ("weights", "fetch", "error", "match"),
    [
        ("/nowhere/model.pt", None, FileNotFoundError, "/nowhere/model.pt"),  # missing local file
        ("s3://bucket/model.pt", None, ValueError, "no object store"),  # S3 weights without a store
    ],
)
def test_bad_weights_raise_naming_the_input(tmp_path, weights, fetch, error, match):
    with pytest.raises(error, match=match):
        PoseReplica(weights=weights, cache_dir=tmp_path, fetch=fetch)


def test_batched_forward_passes_give_the_per_frame_results(frames, replica, model_export_dir):
    batched = PoseReplica(imgsz=960, torch_threads=2, batch_size=2, export_dir=model_export_dir)
    four = frames + frames[::-1]
    passes_before = batched.forward_passes
    got = batched.predict(four)
    assert batched.forward_passes - passes_before == 2  # 4 frames, 2 per forward pass
    for one, many in zip(replica.predict(four), got):
        assert len(one) == len(many)
        np.testing.assert_allclose(one.xyxy, many.xyxy, atol=2.0)


def test_pre_exported_weights_run_without_another_export(tmp_path, frames, replica):
    exported = Path(replica.health.artefact)  # the default backend's export of the bundled weights (OpenVINO here)
    assert replica.health.export in ("built", "local") and exported.exists()
    own = tmp_path / exported.name
    shutil.copytree(exported, own) if exported.is_dir() else shutil.copy(exported, own)
    mine = PoseReplica(weights=str(own), imgsz=960, export_dir=tmp_path / "exports")
    assert (mine.health.backend, mine.health.export, mine.health.reason) == (
        replica.health.backend, "none", f"pre-exported {replica.health.backend} weights")
    assert not (tmp_path / "exports").exists()  # nothing exported
    np.testing.assert_allclose(mine.predict(frames[:1])[0].xyxy, replica.predict(frames[:1])[0].xyxy, atol=1.0)
