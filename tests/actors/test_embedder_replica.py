"""The embedder replica with real weights: the packaged MobileNetV2, a user's TorchScript / OpenCLIP file, bad checkpoints."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from actors.embedder_replica import EmbedderLoadError, EmbedderReplica, mobilenetv2_weights


@pytest.fixture(scope="module")
def crops(vtest_path: Path) -> list[np.ndarray]:
    """Two regions of frame 0 of vtest.avi and the same two regions of frame 3."""
    cap = cv2.VideoCapture(str(vtest_path))
    frames = [cap.read()[1] for _ in range(4)]
    boxes = [(362, 280, 402, 380), (96, 218, 136, 318)]
    return [f[y1:y2, x1:x2].copy() for f in (frames[0], frames[3]) for x1, y1, x2, y2 in boxes]


@pytest.fixture(scope="module")
def fusion() -> EmbedderReplica:
    return EmbedderReplica(kind="fusion", torch_threads=1)


def test_fusion_embeds_with_the_packaged_weights(fusion: EmbedderReplica, crops) -> None:
    out = fusion.embed(crops + [np.zeros((0, 0, 3), np.uint8)])
    assert out.shape == (5, 96 + 1280) and fusion.dim == 1376
    assert np.allclose(np.linalg.norm(out[:4], axis=1), 1.0, atol=1e-5)
    assert not out[4].any()  # an empty crop gives zeros, not an error
    sims = out[:4] @ out[:4].T
    # the same region three frames later is more similar than the other region
    assert sims[0, 2] > sims[0, 1] and sims[1, 3] > sims[1, 0]
    assert fusion.embed([]).shape == (0, 1376)  # empty input


def test_ray_data_udf_columns(fusion: EmbedderReplica, crops) -> None:
    col = np.empty(2, dtype=object)
    col[:] = crops[:2]
    batch = fusion({"crop": col, "track_id": np.array([1, 2])})
    assert "crop" not in batch and batch["embedding"].shape == (2, 1376) and batch["track_id"].tolist() == [1, 2]


def test_users_torchscript_model_and_s3_key(tmp_path: Path, crops, s3_store) -> None:
    import torch

    class Tiny(torch.nn.Module):
        def forward(self, x):
            return x.mean(dim=(2, 3)) * torch.tensor([1.0, 2.0, 3.0])

    path = tmp_path / "reid.pt"
    torch.jit.script(Tiny()).save(str(path))
    rep = EmbedderReplica(kind="torchscript", weights=str(path))
    assert rep.dim == 3 and rep.embed(crops[:1]).shape == (1, 3)
    s3_store.put_file("models/reid.pt", path)
    uri = f"s3://{s3_store.bucket}/models/reid.pt"
    from_s3 = EmbedderReplica(kind="torchscript", weights=uri, cache_dir=tmp_path / "cache", fetch=s3_store.download_uri)
    assert np.allclose(from_s3.embed(crops[:1]), rep.embed(crops[:1]))


def test_openclip_architecture_and_checkpoint(tmp_path: Path, crops) -> None:
    import open_clip
    import torch

    # A checkpoint of the real ViT-S-32 architecture (random weights: nothing can be downloaded here).
    path = tmp_path / "vit-s-32.pt"
    torch.save(open_clip.create_model("ViT-S-32").state_dict(), path)
    rep = EmbedderReplica(kind="openclip", arch="ViT-S-32", weights=str(path))
    out = rep.embed(crops[:2])
    assert out.shape == (2, rep.dim) and rep.dim > 0
    with pytest.raises(EmbedderLoadError, match="is not a checkpoint of OpenCLIP ViT-B-32"):
        EmbedderReplica(kind="openclip", arch="ViT-B-32", weights=str(path))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "mobilenetv2", "weights": "/no/such/file.pt"}, "embedder weights not found: /no/such/file.pt"),
        ({"kind": "openclip", "arch": "ViT-B-32"}, "needs EMBEDDER__ARCH"),
        ({"kind": "openclip", "arch": "No-Such-Arch", "weights": str(mobilenetv2_weights())}, "unknown OpenCLIP architecture"),
        ({"kind": "torchscript", "weights": str(mobilenetv2_weights())}, "is not a TorchScript model"),
        ({"kind": "mobilenetv2", "weights": "s3://bucket/key.pt"}, "no object store was configured"),
        ({"kind": "resnet"}, "unknown embedder kind 'resnet'"),
    ],
)
def test_bad_checkpoints_fail_at_start_with_a_clear_error(kwargs, message) -> None:
    with pytest.raises(EmbedderLoadError, match=message):
        EmbedderReplica(**kwargs)


def test_wrong_architecture_for_mobilenetv2(tmp_path: Path) -> None:
    import torch

    path = tmp_path / "other.pt"
    torch.save({"fc.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(EmbedderLoadError, match="is not a MobileNetV2 bottleneck checkpoint"):
        EmbedderReplica(kind="mobilenetv2", weights=str(path))
