"""The backend decision as a table: CPU / GPU nodes, forced backends, pre-exported weights, failures (no Ray, no model)."""

from __future__ import annotations

from contextlib import ExitStack as DoesNotRaise

import pytest
from pydantic import ValidationError

from actors.backends import (
    Backend,
    BackendChoice,
    NodeInfo,
    Precision,
    check_request,
    fallback_to_torch,
    select_backend,
    weights_backend,
)
from cluster.settings import Settings

T, OV, ONNX, TRT = Backend.TORCH, Backend.OPENVINO, Backend.ONNX, Backend.TENSORRT
CPU_NODE = NodeInfo(cuda=False, runtimes=frozenset({T, OV, ONNX}))
BARE_CPU_NODE = NodeInfo(cuda=False, runtimes=frozenset({T}))  # no openvino / onnxruntime installed
GPU_NODE = NodeInfo(cuda=True, gpu_name="NVIDIA L4", runtimes=frozenset({T, OV, ONNX, TRT}))
GPU_NODE_NO_TRT = NodeInfo(cuda=True, gpu_name="NVIDIA L4", runtimes=frozenset({T, OV, ONNX}))


@pytest.mark.parametrize(
    ("request_", "node", "expected", "exception"),
    [
        # auto on a CPU node: OpenVINO, FP32 export, on the CPU
        (dict(backend="auto"), CPU_NODE, (OV, Precision.FP32, "cpu", True, False), DoesNotRaise()),
        # auto on a CPU node without openvino: PyTorch, flagged as a fallback
        (dict(backend="auto"), BARE_CPU_NODE, (T, Precision.FP32, "cpu", False, True), DoesNotRaise()),
        # auto on an NVIDIA node (device auto → cuda:0): a TensorRT FP16 engine
        (dict(backend="auto"), GPU_NODE, (TRT, Precision.FP16, "cuda:0", True, False), DoesNotRaise()),
        # auto on an NVIDIA node without the tensorrt extra: PyTorch on the GPU (not a fallback: nothing was forced)
        (dict(backend="auto"), GPU_NODE_NO_TRT, (T, Precision.FP32, "cuda:0", False, False), DoesNotRaise()),
        # auto on an NVIDIA node, PyTorch with MODEL__HALF: FP16
        (dict(backend="auto", half=True), GPU_NODE_NO_TRT, (T, Precision.FP16, "cuda:0", False, False), DoesNotRaise()),
        # auto with MODEL__DEVICE=cpu on a GPU node: the CPU rule (OpenVINO)
        (dict(backend="auto", device="cpu"), GPU_NODE, (OV, Precision.FP32, "cpu", True, False), DoesNotRaise()),
        # auto on Apple silicon: PyTorch on mps
        (dict(backend="auto", device="mps"), CPU_NODE, (T, Precision.FP32, "mps", False, False), DoesNotRaise()),
        # forced torch on a CPU node
        (dict(backend="torch"), CPU_NODE, (T, Precision.FP32, "cpu", False, False), DoesNotRaise()),
        # forced onnx on a CPU node: ONNX Runtime export
        (dict(backend="onnx"), CPU_NODE, (ONNX, Precision.FP32, "cpu", True, False), DoesNotRaise()),
        # forced onnx on a GPU node: exported and run on the GPU (CUDA execution provider)
        (dict(backend="onnx"), GPU_NODE, (ONNX, Precision.FP32, "cuda:0", True, False), DoesNotRaise()),
        # forced openvino on a GPU node: OpenVINO still runs on the CPU
        (dict(backend="openvino"), GPU_NODE, (OV, Precision.FP32, "cpu", True, False), DoesNotRaise()),
        # forced tensorrt on a CPU node: no GPU, so PyTorch stands in (fallback, no crash)
        (dict(backend="tensorrt"), CPU_NODE, (T, Precision.FP32, "cpu", False, True), DoesNotRaise()),
        # forced tensorrt on a GPU node without the package: PyTorch on the GPU, fallback
        (dict(backend="tensorrt"), GPU_NODE_NO_TRT, (T, Precision.FP32, "cuda:0", False, True), DoesNotRaise()),
        # forced openvino where it is not installed: fallback
        (dict(backend="openvino"), BARE_CPU_NODE, (T, Precision.FP32, "cpu", False, True), DoesNotRaise()),
        # INT8 on a CPU node: OpenVINO + NNCF
        (dict(backend="auto", precision="int8"), CPU_NODE, (OV, Precision.INT8, "cpu", True, False), DoesNotRaise()),
        # INT8 on a GPU node: TensorRT INT8
        (dict(backend="auto", precision="int8"), GPU_NODE, (TRT, Precision.INT8, "cuda:0", True, False), DoesNotRaise()),
        # FP16 OpenVINO IR on a CPU node
        (dict(backend="openvino", precision="fp16"), CPU_NODE, (OV, Precision.FP16, "cpu", True, False), DoesNotRaise()),
        # FP16 ONNX needs a GPU: fallback on a CPU node
        (dict(backend="onnx", precision="fp16"), CPU_NODE, (T, Precision.FP32, "cpu", False, True), DoesNotRaise()),
        # pre-exported ONNX weights: run as they are, no export
        (dict(backend="auto", weights="/m/store.onnx"), CPU_NODE, (ONNX, Precision.FP32, "cpu", False, False),
         DoesNotRaise()),
        # pre-exported OpenVINO folder (trailing slash), on a GPU node: OpenVINO on the CPU, no export
        (dict(backend="openvino", weights="s3://b/store_openvino_model/"), GPU_NODE,
         (OV, Precision.FP32, "cpu", False, False), DoesNotRaise()),
        # pre-exported TensorRT engine on a GPU node
        (dict(backend="auto", weights="/m/store.engine"), GPU_NODE, (TRT, Precision.FP32, "cuda:0", False, False),
         DoesNotRaise()),
        # a TensorRT engine on a CPU node cannot run at all (no .pt to fall back to)
        (dict(backend="auto", weights="/m/store.engine"), CPU_NODE, None, pytest.raises(ValueError, match="NVIDIA GPU")),
        # ONNX weights where onnxruntime is missing
        (dict(backend="auto", weights="/m/store.onnx"), BARE_CPU_NODE, None,
         pytest.raises(ValueError, match="onnxruntime")),
        # a forced backend that contradicts pre-exported weights
        (dict(backend="tensorrt", weights="/m/store.onnx"), GPU_NODE, None,
         pytest.raises(ValueError, match="does not match")),
        # INT8 cannot be asked of PyTorch
        (dict(backend="torch", precision="int8"), CPU_NODE, None, pytest.raises(ValueError, match="int8")),
        # unknown backend name
        (dict(backend="coreml"), CPU_NODE, None, pytest.raises(ValueError, match="MODEL__BACKEND='coreml'")),
        # empty backend name
        (dict(backend=""), CPU_NODE, None, pytest.raises(ValueError, match="MODEL__BACKEND=''")),
    ],
)
def test_select_backend(request_, node, expected, exception):
    with exception:
        choice = select_backend(node=node, **request_)
        assert (choice.backend, choice.precision, choice.device, choice.export, choice.fallback) == expected
        assert choice.reason  # every decision says why
        assert choice.requested == request_["backend"]


def test_fallback_reasons_name_the_missing_piece():
    assert "TensorRT needs an NVIDIA GPU" in select_backend("tensorrt", node=CPU_NODE).reason
    assert "openvino package is not installed" in select_backend("auto", node=BARE_CPU_NODE).reason
    assert "tensorrt package is not installed" in select_backend("auto", node=GPU_NODE_NO_TRT).reason


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        # an OpenVINO export that failed on a CPU node: PyTorch FP32 on the CPU
        (BackendChoice(OV, Precision.FP32, "cpu", export=True, reason="auto: CPU node"), (T, Precision.FP32, "cpu")),
        # a TensorRT FP16 build that failed on a GPU: PyTorch FP16 on the same GPU
        (BackendChoice(TRT, Precision.FP16, "cuda:0", export=True, reason="auto: NVIDIA GPU"),
         (T, Precision.FP16, "cuda:0")),
        # a failed INT8 export: PyTorch FP32
        (BackendChoice(OV, Precision.INT8, "cpu", export=True, reason="auto: CPU node"), (T, Precision.FP32, "cpu")),
    ],
)
def test_export_failure_falls_back_to_torch(choice, expected):
    fallback = fallback_to_torch(choice, "RuntimeError: unsupported op")
    assert (fallback.backend, fallback.precision, fallback.device) == expected
    assert fallback.fallback and not fallback.export
    assert fallback.reason == f"{choice.backend.value} failed (RuntimeError: unsupported op); running PyTorch instead"


@pytest.mark.parametrize(
    ("weights", "expected", "exception"),
    [
        ("yolo11n-pose.pt", None, DoesNotRaise()),  # PyTorch weights: exported per backend
        ("s3://models/store.PT", None, DoesNotRaise()),  # case-insensitive, S3 key
        ("/m/store.onnx", ONNX, DoesNotRaise()),  # ONNX
        ("/m/store.engine", TRT, DoesNotRaise()),  # TensorRT engine
        ("/m/store_openvino_model", OV, DoesNotRaise()),  # OpenVINO folder
        ("/m/store_openvino_model/store.xml", OV, DoesNotRaise()),  # its .xml
        ("/m/store.tflite", None, pytest.raises(ValueError, match="unsupported format")),  # not ours
        ("", None, pytest.raises(ValueError, match="unsupported format")),  # empty
    ],
)
def test_weights_backend(weights, expected, exception):
    with exception:
        assert weights_backend(weights) == expected


@pytest.mark.parametrize(
    ("env", "exception"),
    [
        ({}, DoesNotRaise()),  # defaults: auto / auto
        ({"MODEL__BACKEND": "openvino", "MODEL__PRECISION": "int8"}, DoesNotRaise()),  # INT8 OpenVINO
        ({"MODEL__BACKEND": "gpu"}, pytest.raises(ValidationError, match="MODEL__BACKEND|backend")),  # unknown value
        ({"MODEL__BACKEND": "openvino", "MODEL__WEIGHTS": "/m/x.onnx"},
         pytest.raises(ValidationError, match="does not match")),  # contradicts the weights
        ({"MODEL__PRECISION": "fp16", "MODEL__WEIGHTS": "/m/x.engine"},
         pytest.raises(ValidationError, match="already exported")),  # an export's precision is fixed
    ],
)
def test_settings_reject_impossible_backend_requests(monkeypatch, env, exception):
    for key in ("MODEL__BACKEND", "MODEL__PRECISION", "MODEL__WEIGHTS"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with exception:
        s = Settings(_env_file=None)
        check_request(s.model.backend, s.model.precision, s.model.weights)
