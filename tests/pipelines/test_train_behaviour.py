"""Training the behaviour classifier end to end on real footage (vtest.avi), on a local Ray instance.

No public labelled shoplifting footage is available, so the clips are cut from vtest.avi (people
walking down a corridor) and put into `normal/` and `concealment/` arbitrarily: the labels are
meaningless, and the tests check the pipeline's mechanics and the report's consistency, not
what the model learned.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack as DoesNotRaise
from contextlib import contextmanager
from pathlib import Path

import av
import numpy as np
import pytest

from actors.behaviour_replica import BehaviourReplica
from cluster.settings import BehaviourSettings, JobSettings, Settings, TrackerSettings
from domain.behaviour_model import CLASSES
from pipelines.train_behaviour import (
    LabelSpan,
    TrainOptions,
    assign_labels,
    find_clips,
    read_labels_csv,
    train_behaviour,
)
from storage.model_registry import ModelNotFoundError, list_models, load_model
from storage.objectstore import LocalObjectStore
from tests.factories import model_settings

pytestmark = pytest.mark.slow


def cut_clips(src: Path, plan: dict[str, tuple[int, int]], root: Path) -> dict[str, Path]:
    """Cut `{relative path: (first frame, frame count)}` from `src` into MPEG-4 files under `root` (PyAV)."""
    outs: dict[str, tuple[av.container.OutputContainer, av.VideoStream]] = {}
    with av.open(str(src)) as inp:
        in_stream = inp.streams.video[0]
        rate = in_stream.average_rate or 10
        for rel in plan:
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            out = av.open(str(path), "w")
            stream = out.add_stream("mpeg4", rate=rate)
            stream.width, stream.height, stream.pix_fmt = in_stream.width, in_stream.height, "yuv420p"
            outs[rel] = (out, stream)
        last = max(a + n for a, n in plan.values())
        for i, frame in enumerate(inp.decode(in_stream)):
            if i >= last:
                break
            for rel, (a, n) in plan.items():
                if a <= i < a + n:
                    out, stream = outs[rel]
                    out.mux(stream.encode(frame.reformat(format="yuv420p")))
    for out, stream in outs.values():
        out.mux(stream.encode(None))
        out.close()
    return {rel: root / rel for rel in plan}


@contextmanager
def local_ray(data_dir: Path) -> Iterator[None]:
    """A fresh local Ray with 2 CPUs (shut down at exit if this started it).

    `RAY_ADDRESS=local` while starting: without it `ray.init` joins the newest cluster that a
    `ray start` (e.g. another test's `witness up`) left on this machine.
    """
    import ray

    from cluster.runtime import init_ray

    started = not ray.is_initialized()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_ADDRESS", "local")
        init_ray(Settings(_env_file=None, data_dir=data_dir, ray_num_cpus=2, ray_address=None))
    try:
        yield
    finally:
        if started:
            ray.shutdown()


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with local_ray(tmp_path_factory.mktemp("ray")):
        yield


@pytest.fixture(scope="module")
def data_dir(vtest_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six 4 s clips (10 fps): three in normal/, three in concealment/ (arbitrary labels, see the module doc).

    Cut from frames 400-690, where one to three people are big enough for the pose model at imgsz 480.
    """
    root = tmp_path_factory.mktemp("train-data")
    plan = {f"{'normal' if k % 2 == 0 else 'concealment'}/clip{k}.mp4": (400 + k * 50, 40) for k in range(6)}
    cut_clips(vtest_path, plan, root)
    return root


def options(tmp_path: Path, **overrides) -> TrainOptions:
    return TrainOptions(
        model=model_settings(), tracker=TrackerSettings(), job=JobSettings(), behaviour=BehaviourSettings(n_estimators=50),
        cache_dir=tmp_path / "cache", **({"fps": 5, "imgsz": 480, "window": 10, "stride": 5} | overrides),
    )  # fmt: skip


@pytest.fixture(scope="module")
def trained(ray_cluster: None, data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("trained")
    store = LocalObjectStore(tmp / "objects")
    calls: list[tuple[int, int]] = []
    outcome = train_behaviour(data_dir, store=store, options=options(tmp), progress=lambda d, t: calls.append((d, t)))
    return outcome, store, calls


def test_training_reports_consistent_metrics(trained) -> None:
    outcome, _, calls = trained
    r = outcome.report
    cm = np.array(r.confusion)
    assert r.labels == CLASSES and cm.shape == (4, 4)
    assert cm.sum() == r.n_test > 0 and r.n_train > 0
    assert r.n_train + r.n_test == sum(outcome.windows_by_class.values()) == len(outcome.features)
    assert r.accuracy == pytest.approx(np.trace(cm) / cm.sum())
    assert set(outcome.windows_by_class) == {"normal", "concealment"}
    assert [r.per_class[c].support for c in CLASSES] == cm.sum(axis=1).tolist()
    assert cm[[1, 3]].sum() == 0  # no pickup / bypass windows in the data
    assert len(r.feature_importance) == 21 and r.importance_method == "impurity"
    assert outcome.clips == 6
    assert calls[0] == (0, 120) and calls[-1] == (120, 120)  # 6 clips × 4 s × 5 fps frames
    assert all(b[1] == 120 for b in calls) and [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_training_saves_a_version_with_metrics_and_params(trained) -> None:
    outcome, store, _ = trained
    assert outcome.version == "v0001" and outcome.key == "models/behaviour/v0001/model.joblib"
    assert store.exists(outcome.key) and outcome.uri == store.uri(outcome.key)
    data, meta = load_model(store)
    assert meta["version"] == "v0001" and meta["metrics"] == outcome.report.to_dict()
    assert meta["params"]["window"] == 10 and meta["params"]["fps"] == 5.0
    assert meta["data"]["clips_by_class"] == {"normal": 3, "concealment": 3}
    assert meta["data"]["test_clips"] and all(c.startswith(("normal/", "concealment/")) for c in meta["data"]["test_clips"])
    assert [m["version"] for m in list_models(store)] == ["v0001"]
    assert meta == outcome.meta


def test_saved_model_loads_in_the_replica_and_predicts_on_ray_data(trained) -> None:
    import ray.data

    outcome, store, _ = trained
    replica = BehaviourReplica(store, "latest")
    assert replica.version == "v0001" and replica.window == 10 and replica.stride == 5
    proba = replica.predict_proba(outcome.features)
    assert proba.shape == (len(outcome.features), 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert (proba[:, [1, 3]] == 0).all()  # classes absent from training
    ds = ray.data.from_items([{"features": f} for f in outcome.features]).map_batches(
        BehaviourReplica, fn_constructor_kwargs={"store": store, "version": "v0001"}, batch_size=16,
        compute=ray.data.ActorPoolStrategy(size=1), num_cpus=0.5,
    )  # fmt: skip
    rows = ds.take_all()
    assert len(rows) == len(outcome.features)
    got = np.stack([r["proba"] for r in rows])
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-5)
    assert {r["label"] for r in rows} <= {"normal", "concealment"}
    assert BehaviourReplica({"local_dir": str(store.root)}, "v0001").version == "v0001"  # a store spec (dict)
    assert BehaviourReplica(str(store.root)).meta == replica.meta  # a folder
    with pytest.raises(ModelNotFoundError, match="v0009 not found; stored versions: v0001"):
        BehaviourReplica(store, "v0009")
    with pytest.raises(TypeError, match="store must be an ObjectStore"):
        BehaviourReplica(42)


def test_clips_too_short_for_a_window_fail_clearly(ray_cluster: None, vtest_path: Path, tmp_path: Path) -> None:
    cut_clips(vtest_path, {"normal/a.mp4": (500, 10), "pickup/b.mp4": (550, 10)}, tmp_path / "d")
    store = LocalObjectStore(tmp_path / "objects")
    with pytest.raises(ValueError, match=r"no usable pose windows: 2 clips gave 0 tracks of at least 10 frames"):
        train_behaviour(tmp_path / "d", store=store, options=options(tmp_path))
    assert store.list_keys("") == []  # nothing saved


# ------------------------------------------------------------------------- inputs (no Ray)
def touch(root: Path, *rels: str) -> Path:
    for rel in rels:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"")
    return root


@pytest.mark.parametrize(
    ("files", "expected", "exception"),
    [
        ([], None, pytest.raises(ValueError, match="no video clips found")),  # empty input
        (["normal/a.mp4", "Shoplifting/b.AVI", "README.txt", ".hidden/x.mp4"],
         [("Shoplifting/b.AVI", "concealment"), ("normal/a.mp4", "normal")], DoesNotRaise()),  # alias, case, non-videos
        (["normal/a.mp4", "theft/b.mp4"], None, pytest.raises(ValueError, match="unknown class folder 'theft'")),
        (["normal/a.mp4", "b.mp4"], None, pytest.raises(ValueError, match="b.mp4 is not in a class folder")),
        (["normal/a.mp4", "normal/sub/b.mp4"], None, pytest.raises(ValueError, match="at least two classes, but all are 'normal'")),
    ],
)  # fmt: skip
def test_find_clips_in_class_folders(tmp_path: Path, files, expected, exception) -> None:
    root = touch(tmp_path / "data", *files)
    root.mkdir(exist_ok=True)
    with exception:
        clips, spans = find_clips(root)
        assert [(c.clip, c.label) for c in clips] == expected and spans == []
        assert all(Path(c.uri).is_file() for c in clips)


def test_find_clips_rejects_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=f"DATA_DIR {tmp_path / 'nope'}: no such folder"):
        find_clips(tmp_path / "nope")


def test_find_clips_with_a_labels_csv(tmp_path: Path) -> None:
    root = touch(tmp_path / "data", "cam1/a.mp4", "cam2/b.mp4", "cam2/unused.mp4")
    csv = tmp_path / "labels.csv"
    csv.write_text("clip,t_start_s,t_end_s,label,track_id\ncam1/a.mp4,0,2.5,pickup,\n./cam2/b.mp4,1,3,shoplifting,4\n\n")
    clips, spans = find_clips(root, labels=csv)
    assert [(c.clip, c.label) for c in clips] == [("cam1/a.mp4", None), ("cam2/b.mp4", None)]
    assert spans == [LabelSpan("cam1/a.mp4", 0.0, 2.5, "pickup"), LabelSpan("cam2/b.mp4", 1.0, 3.0, "concealment", 4)]
    csv.write_text("clip,t_start_s,t_end_s,label\ncam1/a.mp4,0,2.5,pickup\ncam9/z.mp4,0,1,normal\n")
    with pytest.raises(ValueError, match="clip\\(s\\) not found under DATA_DIR .*cam9/z.mp4"):
        find_clips(root, labels=csv)


@pytest.mark.parametrize(
    ("text", "exception"),
    [
        ("clip,t_start_s,t_end_s,label\n", pytest.raises(ValueError, match="no label rows")),  # empty input
        ("clip,start,end,label\na.mp4,0,1,normal\n", pytest.raises(ValueError, match="missing column\\(s\\) t_end_s, t_start_s")),
        ("clip,t_start_s,t_end_s,label\na.mp4,0,x,normal\n", pytest.raises(ValueError, match="line 2: could not convert")),
        ("clip,t_start_s,t_end_s,label\na.mp4,3,1,normal\n", pytest.raises(ValueError, match="line 2: need 0 <= t_start_s <= t_end_s")),
        ("clip,t_start_s,t_end_s,label\na.mp4,0,1,theft\n", pytest.raises(ValueError, match="line 2: unknown behaviour label 'theft'")),
        ("clip,t_start_s,t_end_s,label\na.mp4,0,1,normal\n", DoesNotRaise()),  # valid
    ],
)  # fmt: skip
def test_read_labels_csv_errors_name_file_and_line(tmp_path: Path, text: str, exception) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(text)
    with exception:
        assert read_labels_csv(path) == [LabelSpan("a.mp4", 0.0, 1.0, "normal")]


SPANS = [
    LabelSpan("a.mp4", 0.0, 4.0, "normal"),
    LabelSpan("a.mp4", 2.0, 3.0, "pickup", track_id=2),
    LabelSpan("a.mp4", 3.0, 6.0, "concealment"),
    LabelSpan("b.mp4", 0.0, 9.0, "bypass"),
]


@pytest.mark.parametrize(
    ("track_id", "centres", "expected"),
    [
        (1, [], []),  # empty input
        (1, [1.0, 2.5, 3.5, 5.0, 7.0], ["normal", "normal", "normal", "concealment", None]),  # first row wins; gaps dropped
        (2, [1.0, 2.5, 3.5], ["normal", "pickup", "normal"]),  # a track-specific span takes precedence
    ],
)
def test_assign_labels(track_id: int, centres: list[float], expected: list[str | None]) -> None:
    assert assign_labels(SPANS, "a.mp4", track_id, centres) == expected


def test_find_clips_on_s3(s3_store, local_store, tmp_path: Path) -> None:
    for rel in ("train/normal/a.mp4", "train/pickup/b.mp4", "train/notes.txt", "other/normal/c.mp4"):
        s3_store.put_bytes(rel, b"x")
    clips, _ = find_clips(f"s3://{s3_store.bucket}/train/", store=s3_store)
    assert [(c.clip, c.uri, c.label) for c in clips] == [
        ("normal/a.mp4", f"s3://{s3_store.bucket}/train/normal/a.mp4", "normal"),
        ("pickup/b.mp4", f"s3://{s3_store.bucket}/train/pickup/b.mp4", "pickup"),
    ]
    with pytest.raises(ValueError, match="no video clips found"):
        find_clips(f"s3://{s3_store.bucket}/nothing", store=s3_store)
    with pytest.raises(ValueError, match="must be in the configured store's bucket .*set S3_ENDPOINT"):
        find_clips(f"s3://{s3_store.bucket}/train", store=local_store)
