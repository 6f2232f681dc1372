"""The deployment files: `ray-cluster.yaml` through Ray's cluster-config validation, the serve config and the
KubeRay RayService through Ray Serve's own schema, both rendered files up to date with `serve build`."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _launcher_config() -> dict:
    return yaml.safe_load((ROOT / "ray-cluster.yaml").read_text())


def test_cluster_launcher_config_passes_rays_validation() -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = _launcher_config()
    validate_config(prepare_config(copy.deepcopy(config)))  # raises on a schema error
    nodes = config["available_node_types"]
    assert config["head_node_type"] == "head" and "GPU" not in nodes["head"]["resources"]
    gpu = nodes["gpu_worker"]
    assert gpu["resources"]["GPU"] >= 1 and gpu["max_workers"] > gpu["min_workers"] >= 1  # an autoscaling GPU group
    assert config["idle_timeout_minutes"] > 0
    assert any("pip install" in c and "-e" in c for c in config["setup_commands"])  # installs the project

    broken = copy.deepcopy(config)
    broken["available_node_types"]["gpu_worker"]["max_worker"] = 3  # a typo
    with pytest.raises(Exception, match="max_worker"):
        validate_config(prepare_config(broken))


def test_serve_config_and_rayservice_pass_serves_schema() -> None:
    from ray.serve.schema import ServeDeploySchema

    from deployments.app import APP_NAME

    serve_config = ServeDeploySchema.model_validate(yaml.safe_load((ROOT / "deploy/serve-config.yaml").read_text()))
    (app,) = serve_config.applications
    assert app.name == APP_NAME and app.import_path == "cluster.serve_app:app" and app.route_prefix == "/"
    detector = next(d for d in app.deployments if d.name == "PoseDetector")
    auto = detector.autoscaling_config
    auto = auto if isinstance(auto, dict) else auto.model_dump()
    assert (auto["min_replicas"], auto["max_replicas"], auto["target_ongoing_requests"]) == (4, 160, 8.0)
    assert detector.ray_actor_options.num_gpus == 0.25
    assert detector.request_router_config["request_router_class"] == "deployments.routing.NodeLocalRouter"

    service = yaml.safe_load((ROOT / "deploy/rayservice.yaml").read_text())
    assert (service["apiVersion"], service["kind"]) == ("ray.io/v1", "RayService")
    embedded = ServeDeploySchema.model_validate(yaml.safe_load(service["spec"]["serveConfigV2"]))
    assert [a.model_dump() for a in embedded.applications] == [a.model_dump() for a in serve_config.applications]
    cluster = service["spec"]["rayClusterConfig"]
    assert cluster["enableInTreeAutoscaling"] is True and cluster["autoscalerOptions"]["version"] == "v2"
    assert cluster["gcsFaultToleranceOptions"]["redisAddress"]  # GCS state in an external Redis
    (workers,) = cluster["workerGroupSpecs"]
    assert workers["maxReplicas"] > workers["minReplicas"] >= 1
    limits = workers["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert int(limits["nvidia.com/gpu"]) >= 1


def test_rendered_files_are_up_to_date_with_serve_build() -> None:
    result = subprocess.run([sys.executable, "deploy/render.py", "--check"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr


def test_detector_autoscaling_comes_from_the_settings() -> None:
    from pydantic import ValidationError

    from cluster.settings import DetectorSettings
    from deployments.app import detector_autoscaling

    d = DetectorSettings(autoscale_min_replicas=2, autoscale_max_replicas=12, target_ongoing_requests=4,
                         upscale_delay_s=5, downscale_delay_s=60)
    assert detector_autoscaling(d.model_dump()) == {
        "min_replicas": 2, "max_replicas": 12, "initial_replicas": 2, "target_ongoing_requests": 4.0,
        "upscale_delay_s": 5.0, "downscale_delay_s": 60.0}
    with pytest.raises(ValidationError, match="DETECTOR__AUTOSCALE_MIN_REPLICAS"):
        DetectorSettings(autoscale_min_replicas=5, autoscale_max_replicas=2)
