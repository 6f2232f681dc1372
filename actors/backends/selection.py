"""Which runtime a model replica uses: a pure decision over the request, the weights and the node.

No Ray, no imports of the runtimes themselves: the node is described by a `NodeInfo` (see
`actors.backends.node.probe_node`), so every row of the decision is a plain table test.

The rule (`MODEL__BACKEND=auto`, the default):

| node | weights | backend | precision |
| --- | --- | --- | --- |
| device `cpu` | `.pt` | OpenVINO | FP32 IR, run at the CPU plugin's default precision |
| device `cuda*`, NVIDIA GPU and `tensorrt` installed | `.pt` | TensorRT engine | FP16 |
| device `cuda*` without `tensorrt`, or `mps` | `.pt` | PyTorch | FP32 (FP16 with `MODEL__HALF`) |
| any | `.onnx` / `*_openvino_model/` / `.engine` | that file's runtime, no export | as exported |

OpenVINO is the CPU default because it runs the same weights 3x faster than PyTorch on this
project's 2-core x86 machines with the same detections (README, "Inference backends").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from pathlib import PurePosixPath

__all__ = [
    "Backend",
    "Precision",
    "NodeInfo",
    "BackendChoice",
    "BACKEND_REQUESTS",
    "PRECISION_REQUESTS",
    "weights_backend",
    "check_request",
    "select_backend",
    "fallback_to_torch",
]


class Backend(str, Enum):
    """An inference runtime."""

    TORCH = "torch"
    OPENVINO = "openvino"
    ONNX = "onnx"
    TENSORRT = "tensorrt"

    @property
    def export_format(self) -> str | None:
        """Ultralytics' `export(format=…)` name, `None` for PyTorch (no export)."""
        return {"openvino": "openvino", "onnx": "onnx", "tensorrt": "engine"}.get(self.value)

    @property
    def package(self) -> str:
        """The Python package that provides the runtime."""
        return {"torch": "torch", "openvino": "openvino", "onnx": "onnxruntime", "tensorrt": "tensorrt"}[self.value]


class Precision(str, Enum):
    """Numeric precision of an export."""

    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"


BACKEND_REQUESTS = ("auto", *(b.value for b in Backend))
PRECISION_REQUESTS = ("auto", *(p.value for p in Precision))


@dataclass(frozen=True)
class NodeInfo:
    """What the node a replica runs on offers.

    Attributes:
        cuda: an NVIDIA GPU is visible to this process (`torch.cuda.is_available()`).
        gpu_name: its name, e.g. `"NVIDIA L4"`, when `cuda`.
        runtimes: backends whose Python package imports here (`Backend.TORCH` always).
    """

    cuda: bool = False
    gpu_name: str | None = None
    runtimes: frozenset[Backend] = frozenset({Backend.TORCH})


@dataclass(frozen=True)
class BackendChoice:
    """The outcome of `select_backend`.

    Attributes:
        backend: the runtime to use.
        precision: the export's precision.
        device: torch device string for Ultralytics (`"cpu"`, `"cuda:0"`, …).
        export: `True` when the `.pt` weights must be exported for `backend` (cached); `False` for
            PyTorch and for weights that already are an export.
        reason: one line saying why, for logs, health and `witness models benchmark`.
        fallback: `True` when this is PyTorch standing in for the runtime asked for.
        requested: the `MODEL__BACKEND` value asked for.
    """

    backend: Backend
    precision: Precision
    device: str
    export: bool
    reason: str
    fallback: bool = False
    requested: str = "auto"

    def describe(self) -> str:
        """E.g. `"openvino fp32 on cpu (auto: CPU node)"`."""
        extra = ", FALLBACK" if self.fallback else ""
        return f"{self.backend.value} {self.precision.value} on {self.device} ({self.reason}{extra})"


def weights_backend(weights: str) -> Backend | None:
    """The runtime a pre-exported weights path or URI needs, or `None` for PyTorch `.pt` weights.

    Args:
        weights: a path or `s3://` URI, e.g. `"m.onnx"`, `"m_openvino_model/"`, `"m_openvino_model/m.xml"`.

    Returns:
        `Backend.ONNX`, `Backend.OPENVINO`, `Backend.TENSORRT`, or `None` (`.pt`).

    Raises:
        ValueError: the suffix is none of `.pt`, `.onnx`, `.engine`, `_openvino_model` (or its `.xml`).

    Example:
        >>> weights_backend("s3://models/store_openvino_model/")
        <Backend.OPENVINO: 'openvino'>
    """
    path = PurePosixPath(weights.rstrip("/"))
    name = path.name.lower()
    if name.endswith(".pt"):
        return None
    if name.endswith(".onnx"):
        return Backend.ONNX
    if name.endswith(".engine"):
        return Backend.TENSORRT
    if name.endswith("_openvino_model") or (name.endswith(".xml") and path.parent.name.endswith("_openvino_model")):
        return Backend.OPENVINO
    raise ValueError(
        f"weights {weights!r}: unsupported format; expected a .pt, .onnx or .engine file or an "
        "Ultralytics *_openvino_model/ folder"
    )


def check_request(backend: str, precision: str, weights: str | None) -> None:
    """Reject settings that can never work, whatever the node (called when the settings are read).

    Args:
        backend: `MODEL__BACKEND`, one of `BACKEND_REQUESTS`.
        precision: `MODEL__PRECISION`, one of `PRECISION_REQUESTS`.
        weights: `MODEL__WEIGHTS` (`None`: the bundled `.pt`).

    Raises:
        ValueError: unknown value; a forced backend that differs from a pre-exported file's; a
            precision the backend cannot export to.
    """
    if backend not in BACKEND_REQUESTS:
        raise ValueError(f"MODEL__BACKEND={backend!r}: expected one of {', '.join(BACKEND_REQUESTS)}")
    if precision not in PRECISION_REQUESTS:
        raise ValueError(f"MODEL__PRECISION={precision!r}: expected one of {', '.join(PRECISION_REQUESTS)}")
    own = weights_backend(weights) if weights else None
    if own is not None:
        if backend not in ("auto", own.value):
            raise ValueError(
                f"MODEL__BACKEND={backend} does not match MODEL__WEIGHTS={weights} (already a {own.value} "
                f"export); set MODEL__BACKEND=auto or {own.value}, or give .pt weights to export"
            )
        if precision != "auto":
            raise ValueError(
                f"MODEL__PRECISION={precision} cannot apply to MODEL__WEIGHTS={weights}: it is already exported; "
                "set MODEL__PRECISION=auto"
            )
        return
    if precision == "int8" and backend in ("torch", "onnx"):
        raise ValueError(f"MODEL__PRECISION=int8 needs MODEL__BACKEND=auto, openvino or tensorrt, not {backend}")


def _device(device: str, node: NodeInfo) -> str:
    if device == "auto":
        return "cuda:0" if node.cuda else "cpu"
    if device == "cuda":
        return "cuda:0"
    return device


def select_backend(
    backend: str, *, precision: str = "auto", device: str = "auto", weights: str | None = None, half: bool = False,
    node: NodeInfo,
) -> BackendChoice:
    """Decide the runtime, precision and device of one replica (the table in the module docstring).

    A forced backend this node cannot run (TensorRT without an NVIDIA GPU, a runtime whose
    package is missing) becomes PyTorch with `fallback=True` and the reason, never an error.

    Args:
        backend: `MODEL__BACKEND`: `auto`, `torch`, `openvino`, `onnx` or `tensorrt`.
        precision: `MODEL__PRECISION`: `auto`, `fp32`, `fp16` or `int8`.
        device: `MODEL__DEVICE`: `auto` (CUDA when visible, else CPU), `cpu`, `cuda`, `cuda:N`, `mps`, …
        weights: `MODEL__WEIGHTS` path or URI (`None`: the bundled `.pt`).
        half: `MODEL__HALF` (FP16 PyTorch on a GPU).
        node: what this node offers.

    Returns:
        The choice, with a one-line `reason`.

    Raises:
        ValueError: settings `check_request` rejects; pre-exported weights whose runtime this node
            lacks (there is no `.pt` to fall back to).
    """
    check_request(backend, precision, weights)
    dev = _device(device, node)
    gpu = dev.startswith("cuda")
    own = weights_backend(weights) if weights else None
    if own is not None:
        if own is Backend.TENSORRT and not (gpu and node.cuda):
            raise ValueError(f"MODEL__WEIGHTS={weights} is a TensorRT engine: it needs an NVIDIA GPU (MODEL__DEVICE=cuda)")
        if own not in node.runtimes:
            raise ValueError(f"MODEL__WEIGHTS={weights} needs the {own.package} package, which is not installed here")
        return BackendChoice(own, Precision.FP32, "cpu" if own is Backend.OPENVINO else dev, export=False,
                             reason=f"pre-exported {own.value} weights", requested=backend)

    def torch(reason: str, *, fallback: bool = False) -> BackendChoice:
        fp16 = gpu and (half or precision == "fp16")
        return BackendChoice(Backend.TORCH, Precision.FP16 if fp16 else Precision.FP32, dev, export=False,
                             reason=reason, fallback=fallback, requested=backend)

    def exported(b: Backend, reason: str) -> BackendChoice:
        if b is Backend.TENSORRT and not (gpu and node.cuda):
            why = "no NVIDIA GPU is visible" if not node.cuda else f"MODEL__DEVICE={device} is not a GPU"
            return torch(f"{reason}, but TensorRT needs an NVIDIA GPU and {why}", fallback=True)
        if b not in node.runtimes:
            return torch(f"{reason}, but the {b.package} package is not installed", fallback=True)
        if precision == "auto":
            p = Precision.FP16 if b is Backend.TENSORRT else Precision.FP32
        else:
            p = Precision(precision)
        if p is Precision.INT8 and b not in (Backend.OPENVINO, Backend.TENSORRT):
            return torch(f"{reason}, but {b.value} has no INT8 export here", fallback=True)
        if p is Precision.FP16 and b is Backend.ONNX and not gpu:
            return torch(f"{reason}, but FP16 ONNX needs a GPU", fallback=True)
        return BackendChoice(b, p, "cpu" if b is Backend.OPENVINO else dev, export=True, reason=reason,
                             requested=backend)

    if backend == "torch":
        return torch("MODEL__BACKEND=torch")
    if backend != "auto":
        return exported(Backend(backend), f"MODEL__BACKEND={backend}")
    if gpu:
        if node.cuda and Backend.TENSORRT in node.runtimes:
            return exported(Backend.TENSORRT, f"auto: NVIDIA GPU ({node.gpu_name or 'CUDA'})")
        why = "no NVIDIA GPU is visible" if not node.cuda else "the tensorrt package is not installed"
        return torch(f"auto: device {dev} but {why}")
    if dev == "cpu":
        if Backend.OPENVINO in node.runtimes:
            return exported(Backend.OPENVINO, "auto: CPU node")
        return torch("auto: CPU node, but the openvino package is not installed", fallback=True)
    return torch(f"auto: device {dev} has no faster runtime here")


def fallback_to_torch(choice: BackendChoice, error: str) -> BackendChoice:
    """The PyTorch choice that stands in when `choice`'s export or load failed.

    Args:
        choice: the choice that failed (its device is kept).
        error: what failed, one line.

    Returns:
        A PyTorch `BackendChoice` with `fallback=True` and a reason naming the failed backend and the error.
    """
    gpu = choice.device.startswith("cuda")
    precision = Precision.FP16 if gpu and choice.precision is Precision.FP16 else Precision.FP32
    return replace(choice, backend=Backend.TORCH, precision=precision, export=False, fallback=True,
                   reason=f"{choice.backend.value} failed ({error}); running PyTorch instead")
