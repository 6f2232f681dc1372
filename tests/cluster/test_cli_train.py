"""`witness train behaviour` and `witness models list` with CliRunner, on real footage and a local Ray instance.

The clips are cut from vtest.avi (people walking); their labels in the CSV are arbitrary, since
no public labelled shoplifting footage is available. The test checks the command, not the model.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cluster.cli import app
from tests.pipelines.test_train_behaviour import cut_clips, local_ray

runner = CliRunner()


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with local_ray(tmp_path_factory.mktemp("ray")):
        yield


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh DATA_DIR with the embedded defaults (local object store), small training settings."""
    for name in ("S3_ENDPOINT", "DATABASE_URL", "OBJECT_STORE_DIR", "BEHAVIOUR__MODEL_VERSION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "witness"))
    monkeypatch.setenv("RAY_NUM_CPUS", "2")
    monkeypatch.setenv("BEHAVIOUR__N_ESTIMATORS", "50")
    return tmp_path


def test_train_with_a_labels_csv_prints_the_report_and_stores_a_version(
    ray_cluster: None, env: Path, vtest_path: Path
) -> None:
    data = env / "footage"
    cut_clips(vtest_path, {f"cam/clip{k}.mp4": (400 + k * 70, 40) for k in range(4)}, data)
    labels = env / "labels.csv"
    labels.write_text(
        "clip,t_start_s,t_end_s,label\n"
        "cam/clip0.mp4,0,4,normal\ncam/clip2.mp4,0,4,normal\n"
        "cam/clip1.mp4,0,4,pickup\ncam/clip3.mp4,0,4,shoplifting\n"
    )
    result = runner.invoke(app, ["train", "behaviour", str(data), "--labels", str(labels), "--fps", "5",
                                 "--imgsz", "480", "--window", "10", "--stride", "5", "--seed", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    for text in ("accuracy:", "per class (test set)", "confusion matrix", "top features (impurity importance)",
                 "saved behaviour model v0001", "models/behaviour/v0001/model.joblib"):  # fmt: skip
        assert text in result.output, result.output
    listed = runner.invoke(app, ["models", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    (meta,) = json.loads(listed.stdout)["data"]
    assert meta["version"] == "v0001" and meta["latest"] is True
    assert meta["params"]["seed"] == 1 and meta["params"]["imgsz"] == 480 and meta["data"]["labels"] == str(labels)
    assert set(meta["data"]["windows_by_class"]) == {"normal", "pickup", "concealment"}  # shoplifting → concealment
    cm = meta["metrics"]["confusion"]
    assert sum(map(sum, cm)) == meta["metrics"]["n_test"] > 0
    assert (env / "witness" / "objects" / "models" / "behaviour" / "v0001" / "model.joblib").is_file()
    table = runner.invoke(app, ["models", "list"])
    assert table.exit_code == 0 and "behaviour models (1)" in table.output and "v0001" in table.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "behaviour", "{tmp}/nope"], "no such folder"),  # missing DATA_DIR
        (["train", "behaviour", "{tmp}/empty"], "no video clips found"),  # empty DATA_DIR
        (["train", "behaviour", "{tmp}/bad"], "unknown class folder 'theft'"),  # unknown class
        (["train", "behaviour", "{tmp}/bad", "--labels", "{tmp}/none.csv"], "labels file"),  # missing labels file
        (["train", "behaviour", "{tmp}/bad", "--imgsz", "100"], "greater than or equal to 320"),  # out of range
        (["models", "list", "--kind", "Bad Kind"], "invalid model kind"),  # bad kind
    ],
)
def test_bad_input_exits_non_zero_before_starting_ray(env: Path, args: list[str], message: str) -> None:
    import ray

    (env / "empty").mkdir()
    for rel in ("bad/normal/a.mp4", "bad/theft/b.mp4"):
        (env / rel).parent.mkdir(parents=True, exist_ok=True)
        (env / rel).write_bytes(b"")
    was_running = ray.is_initialized()
    result = runner.invoke(app, [a.format(tmp=env) for a in args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert ray.is_initialized() == was_running
    assert not (env / "witness" / "objects" / "models").exists()


def test_models_list_on_an_empty_store(env: Path) -> None:
    result = runner.invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout) == {"count": 0, "data": []}
