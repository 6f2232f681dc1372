"""`witness plan` with CliRunner: the table, the JSON, the sources and the bad inputs."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from cluster.cli import app

runner = CliRunner()


def test_plan_prints_replicas_nodes_and_control_plane_with_sources() -> None:
    result = runner.invoke(app, ["plan", "--cameras", "600", "--fps", "5", "--imgsz", "960", "--gpu", "l4"])
    assert result.exit_code == 0, result.output
    for words in ("detector replicas", "GPUs", "worker nodes", "events/s", "identity lookups/s", "database writes/s",
                  "Redis messages/s", "published, unmeasured here", "measured: benchmarks/data_plane.py"):
        assert words in result.output, words
    plan = json.loads(runner.invoke(app, ["plan", "--cameras", "600", "--gpu", "cpu", "--json"]).stdout)
    assert plan["frames_per_s"] == 3000 and plan["detector_replicas"] == 154 and plan["gpu"] == "cpu"


def test_plan_refuses_bad_input() -> None:
    result = runner.invoke(app, ["plan", "--gpu", "tpu"])
    assert result.exit_code == 2 and "--gpu must be one of" in result.output
    assert runner.invoke(app, ["plan", "--cameras", "0"]).exit_code == 2
