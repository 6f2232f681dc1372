"""`witness train behaviour --from-labels`: operators' labels → Ray Data windows → a versioned dataset → a model
compared with production on the same held-out split; the split keeps every visit on one side."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from cluster.settings import BehaviourSettings, JobSettings, TrackerSettings
from domain.behaviour_model import split_by_clip
from pipelines.label_dataset import LabelWindows
from pipelines.train_behaviour import TrainOptions, train_behaviour
from storage import crud
from storage.model_stages import promote
from storage.models import ModelStageChange
from storage.objectstore import LocalObjectStore
from tests.domain.skeletons import Pose, box, keypoints
from tests.factories import make_trajectory, model_settings
from tests.model_factories import save_constant_model
from tests.pipelines.test_train_behaviour import local_ray


def test_strict_split_never_puts_one_visit_on_both_sides() -> None:
    y = ["normal"] * 6 + ["concealment"] * 3  # concealment: a single visit (group c)
    groups = list("aabbcc") + ["c"] * 3
    groups[4:6] = ["d", "d"]
    loose_train, loose_test = split_by_clip(y, groups, test_fraction=0.5, seed=0)
    g = np.asarray(groups)
    assert set(g[loose_train]) & set(g[loose_test]) == {"c"}  # the default split leaks the one-visit class
    train, test = split_by_clip(y, groups, test_fraction=0.5, seed=0, strict=True)
    assert set(g[train]).isdisjoint(g[test]) and "c" in set(g[train]) and len(test) > 0


def _windows(n_visits: int, per_visit: int, label: str, offset: float, seed: int) -> LabelWindows:
    rng = np.random.default_rng(seed)
    X = rng.normal(offset, 0.2, (n_visits * per_visit, 21)).astype(np.float32)
    groups = [f"video:v{seed}:{k}" for k in range(n_visits) for _ in range(per_visit)]
    return LabelWindows(X, np.asarray([label] * len(X)), np.asarray(groups), np.asarray(groups), n_visits, 0)


def _merge(*parts: LabelWindows) -> LabelWindows:
    return LabelWindows(np.concatenate([p.features for p in parts]), np.concatenate([p.labels for p in parts]),
                        np.concatenate([p.groups for p in parts]), np.concatenate([p.label_ids for p in parts]),
                        sum(p.labels_used for p in parts), 0)  # fmt: skip


def test_training_on_labels_alone_has_no_leakage_and_compares_with_the_baseline(tmp_path: Path, capsys) -> None:
    from actors.behaviour_replica import BehaviourReplica

    store = LocalObjectStore(tmp_path / "objects")
    production = BehaviourReplica(store, save_constant_model(store, "normal"))  # v0001: everything is normal
    extra = _merge(_windows(6, 5, "normal", 0.0, 1), _windows(5, 5, "concealment", 2.0, 2),
                   _windows(1, 4, "bypass", -2.0, 3))  # bypass: one visit only  # fmt: skip
    options = TrainOptions(model=model_settings(), tracker=TrackerSettings(), job=JobSettings(),
                           behaviour=BehaviourSettings(n_estimators=20, window=10, stride=5), cache_dir=tmp_path / "c",
                           trained_by="tests")  # fmt: skip
    out = train_behaviour(None, store=store, options=options, extra=extra, baseline=production)
    test = np.zeros(len(out.labels), bool)
    test[out.test_index] = True
    groups = out.clip_ids
    assert set(groups[test]).isdisjoint(groups[~test])  # no window of one visit on both sides
    assert test.any() and (~test).any() and "bypass" not in set(out.labels[test])  # its one visit stays in training
    assert out.version == "v0002" and out.meta["trained_by"] == "tests"
    assert out.dataset["class_balance"] == {"normal": 30, "concealment": 25, "bypass": 4}
    assert out.dataset["hash"] == out.meta["dataset_hash"] and store.exists(out.dataset["key"])
    cmp = out.comparison
    assert cmp["baseline_version"] == "v0001" and sum(map(sum, cmp["baseline"]["confusion"])) == out.report.n_test
    assert out.report.accuracy == pytest.approx(1.0) and cmp["baseline"]["per_class"]["concealment"]["recall"] == 0.0
    assert cmp["accuracy_delta"] == pytest.approx(out.report.accuracy - cmp["baseline"]["accuracy"])
    assert cmp["accuracy_delta"] > 0
    assert cmp["per_class_delta"]["concealment"]["recall"] == pytest.approx(1.0)
    assert out.meta["comparison"] == cmp and out.report.feature_importance
    from cluster.cli_train import _print_report

    _print_report(out)  # what `witness train behaviour` prints
    printed = capsys.readouterr().out
    for text in ("new vs v0001 on the same held-out windows", "concealment recall", "confusion matrix",
                 f"dataset {out.dataset['hash'][:16]}", "saved behaviour model v0002"):  # fmt: skip
        assert text in printed, printed


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with local_ray(tmp_path_factory.mktemp("ray")):
        yield


def _person(track_id: int, n: int, arm: float):
    kps = [keypoints(Pose(x=100.0 + 3 * i, l_arm=(arm, arm), r_arm=(-arm, -arm))) for i in range(n)]
    return make_trajectory(track_id, list(range(n)), [box(k).tolist() for k in kps], fps=5.0,
                           keypoints=[k.tolist() for k in kps])  # fmt: skip


def test_cli_trains_from_operator_labels(ray_cluster: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         pg_url: str, pg_engine: Engine, vtest_path: Path) -> None:  # fmt: skip
    from cluster.cli import app

    since = datetime.now(timezone.utc) - timedelta(seconds=1)
    store = LocalObjectStore(tmp_path / "objects")
    with Session(pg_engine, expire_on_commit=False) as s:
        s.execute(sa.delete(ModelStageChange))
        s.commit()
        promote(s, store, kind="behaviour", version=save_constant_model(store, "normal"), stage="production", actor="t")
        job = crud.create_job(s, params={}, inputs=[str(vtest_path)])
        video = crud.list_videos(s, job.id)[0]
        people = [_person(k, 30, 5.0 if k < 4 else 70.0) for k in range(8)]  # 4 arms down, 4 arms raised
        crud.save_video_results(s, video_id=video.id, trajectories=people, events=[], clips=[], frames_analysed=30,
                                people_count=8)  # fmt: skip
        for k in range(8):
            alert = crud.create_alert(s, score=0.7, severity="high", job_id=job.id, video_id=video.id, track_id=k,
                                      details={"visit": {"t_start_s": 0.0, "t_end_s": 6.0}, "behaviours": [
                                          {"class": "concealment", "confidence": 0.8, "t_start_s": 1, "t_end_s": 4}]})
            crud.apply_transition(s, alert.id, "dismiss" if k < 4 else "escalate", actor="ann", reason="checked")
    for name in ("S3_ENDPOINT", "BEHAVIOUR__MODEL_VERSION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "witness"))
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("OBJECT_STORE_DIR", str(store.root))
    monkeypatch.setenv("BEHAVIOUR__N_ESTIMATORS", "20")
    runner = CliRunner()
    result = runner.invoke(app, ["train", "behaviour", "--from-labels", "--since", since.isoformat(), "--window", "10",
                                 "--stride", "5", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["version"] == "v0002" and body["dataset"]["class_balance"] == {"normal": 20, "concealment": 20}
    assert body["dataset"]["groups"] == 8 and body["dataset"]["labels_used"] == 8  # 8 visits, 5 windows each
    assert body["comparison"]["baseline_version"] == "v0001" and body["report"]["n_test"] > 0
    assert body["dataset_hash"] == body["dataset"]["hash"] and body["code_version"].startswith(("git:", "pkg:"))
    for args in (["train", "behaviour"], ["train", "behaviour", "--since", "2026-01-01"],
                 ["train", "behaviour", "--from-labels", "--compare", "v0099"]):  # fmt: skip
        assert runner.invoke(app, args).exit_code == 2, args
