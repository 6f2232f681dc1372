"""The backend layer: every model replica runs through it on the fastest correct runtime of its node.

`select_backend` decides (pure: CPU node → OpenVINO, NVIDIA GPU node → TensorRT FP16, else
PyTorch; a forced or pre-exported backend), `ExportCache` keeps one Ultralytics export per
(weights hash, backend, imgsz, precision, batch) on disk and in the object store, and
`load_model` puts them together, falling back to PyTorch (logged, `BackendHealth.fallback`)
when an export or its load fails.
"""

from actors.backends.agreement import Agreement, box_agreement
from actors.backends.benchmark import BackendRun, BenchmarkReport, benchmark_backends
from actors.backends.cache import STORE_PREFIX, CacheHit, CorruptExportError, ExportCache, ExportKey, file_sha256
from actors.backends.loader import (
    BackendHealth,
    LoadedModel,
    ModelSpec,
    load_model,
    read_calibration_frames,
    resolve_weights,
)
from actors.backends.node import probe_node, runtime_version
from actors.backends.selection import (
    BACKEND_REQUESTS,
    PRECISION_REQUESTS,
    Backend,
    BackendChoice,
    NodeInfo,
    Precision,
    check_request,
    fallback_to_torch,
    select_backend,
    weights_backend,
)

__all__ = [
    "Agreement", "BACKEND_REQUESTS", "PRECISION_REQUESTS", "STORE_PREFIX", "Backend", "BackendChoice", "BackendHealth",
    "BackendRun", "BenchmarkReport", "CacheHit", "CorruptExportError", "ExportCache", "ExportKey", "LoadedModel",
    "ModelSpec", "NodeInfo", "Precision", "benchmark_backends", "box_agreement", "check_request", "fallback_to_torch",
    "file_sha256", "load_model", "probe_node", "read_calibration_frames", "resolve_weights", "runtime_version",
    "select_backend", "weights_backend",
]
