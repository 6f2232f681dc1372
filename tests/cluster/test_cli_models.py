"""`witness models benchmark` with CliRunner: the real model on real frames, each backend measured, auto explained."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cluster.cli import app

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh DATA_DIR on the embedded defaults; exports come from the run's shared cache (MODEL__EXPORT_DIR)."""
    for name in ("S3_ENDPOINT", "DATABASE_URL", "OBJECT_STORE_DIR", "MODEL__BACKEND", "MODEL__WEIGHTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "witness"))
    return tmp_path


def test_benchmark_prints_frames_per_second_per_backend_and_what_auto_chose(env: Path, vtest_path: Path):
    result = runner.invoke(app, ["models", "benchmark", "--backend", "torch", "--backend", "openvino", "--imgsz", "960",
                                 "--frames", "3", "--rounds", "2", "--threads", "2", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    runs = {r["backend"]: r for r in report["runs"]}
    assert list(runs) == ["torch", "openvino"] and report["imgsz"] == 960 and report["frames"] == 3
    for r in runs.values():
        assert r["fps"] > 0 and len(r["fps_rounds"]) == 2 and not r["fallback"]
    assert runs["openvino"]["ran"] == "openvino" and runs["openvino"]["export"] in ("built", "local")
    assert runs["openvino"]["box_recall_vs_torch"] >= 0.9 and runs["openvino"]["mean_iou_vs_torch"] >= 0.9
    assert runs["openvino"]["vs_torch"] == pytest.approx(runs["openvino"]["fps"] / runs["torch"]["fps"], rel=0.02)
    assert report["auto"] == {"backend": "openvino", "precision": "fp32", "device": "cpu", "reason": "auto: CPU node",
                              "fallback": False}

    text = runner.invoke(app, ["models", "benchmark", "--backend", "torch", "--imgsz", "960", "--frames", "2",
                               "--rounds", "1"])
    assert text.exit_code == 0, text.output
    assert "frames/s" in text.stdout and "auto chose openvino fp32 on cpu: auto: CPU node" in text.stdout
    assert "openvino was not measured" in text.stdout  # auto's pick is named even when left out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backend", "coreml"], "--backend 'coreml'"),  # not a backend
        (["--backend", "auto"], "--backend 'auto'"),  # auto is what is being explained, not measured
        (["--source", "/nowhere/cam.mp4"], "no such video file"),  # missing footage
        (["--imgsz", "100"], "greater than or equal to 320"),  # below the 320 px floor
    ],
)
def test_bad_options_exit_2_naming_the_input(env: Path, args: list[str], message: str):
    result = runner.invoke(app, ["models", "benchmark", *args])
    assert result.exit_code == 2
    assert message in result.output
