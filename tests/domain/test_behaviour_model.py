from contextlib import ExitStack as DoesNotRaise

import numpy as np
import pytest

from domain.behaviour_model import CLASSES, BehaviourModel, TrainingReport, normalize_label, split_by_clip
from domain.pose_features import FEATURE_NAMES

N_FEATURES = len(FEATURE_NAMES)
WAIST = FEATURE_NAMES.index("hand_at_waist_frac")
ABOVE = FEATURE_NAMES.index("hand_above_shoulder_frac")


def make_windows(counts: dict[str, int], *, seed: int = 0, nan_frac: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic separable windows: noise, plus a class-specific offset on one or two features."""
    rng = np.random.default_rng(seed)
    offsets = {"normal": {}, "pickup": {ABOVE: 4.0}, "concealment": {WAIST: 4.0}, "bypass": {ABOVE: 4.0, WAIST: 4.0}}
    xs, ys = [], []
    for cls, n in counts.items():
        x = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
        for col, off in offsets[cls].items():
            x[:, col] += off
        xs.append(x)
        ys += [cls] * n
    X = np.concatenate(xs) if xs else np.zeros((0, N_FEATURES), np.float32)
    if nan_frac:
        X[rng.random(X.shape) < nan_frac] = np.nan
    return X, np.array(ys)


@pytest.mark.parametrize(
    ("label", "expected", "exception"),
    [
        ("normal", "normal", DoesNotRaise()),  # a class as is
        (" Concealment ", "concealment", DoesNotRaise()),  # case and spaces
        ("shoplifting", "concealment", DoesNotRaise()),  # the documented alias
        ("", None, pytest.raises(ValueError, match="unknown behaviour label ''")),  # empty input
        ("theft", None, pytest.raises(ValueError, match="unknown behaviour label 'theft'")),  # unknown
    ],
)
def test_normalize_label(label, expected, exception) -> None:
    with exception:
        assert normalize_label(label) == expected


def test_fit_on_separable_features_is_accurate_and_report_is_consistent() -> None:
    X, y = make_windows({"normal": 120, "pickup": 60, "concealment": 60}, nan_frac=0.05)
    Xt, yt = make_windows({"normal": 40, "pickup": 20, "concealment": 20}, seed=1, nan_frac=0.05)
    model = BehaviourModel(n_estimators=100).fit(X, y)
    report = model.evaluate(Xt, yt, n_train=len(X))
    assert report.accuracy >= 0.9
    cm = np.array(report.confusion)
    assert report.labels == CLASSES == ("normal", "pickup", "concealment", "bypass")
    assert cm.shape == (4, 4) and cm.sum() == report.n_test == len(Xt)
    assert report.accuracy == pytest.approx(np.trace(cm) / cm.sum())
    assert [report.per_class[c].support for c in CLASSES] == cm.sum(axis=1).tolist() == [40, 20, 20, 0]
    assert report.per_class["bypass"].f1 == 0.0 and report.n_train == 240
    assert list(report.feature_importance) != [] and set(report.feature_importance) == set(FEATURE_NAMES)
    assert {name for name, _ in report.top_features(2)} == {"hand_at_waist_frac", "hand_above_shoulder_frac"}
    assert report.importance_method == "impurity"
    assert TrainingReport.from_dict(report.to_dict()) == report
    assert model.metrics == report.to_dict()


def test_predict_proba_has_fixed_class_order_and_zero_columns_for_absent_classes() -> None:
    X, y = make_windows({"concealment": 50, "normal": 50})  # concealment first: order must not follow the data
    model = BehaviourModel(n_estimators=50).fit(X, y)
    Xt, yt = make_windows({"normal": 10, "concealment": 10}, seed=3)
    proba = model.predict_proba(Xt)
    assert proba.shape == (20, 4) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert (proba[:, CLASSES.index("pickup")] == 0).all() and (proba[:, CLASSES.index("bypass")] == 0).all()
    assert (proba[:10, 0] > 0.5).mean() >= 0.9 and (proba[10:, 2] > 0.5).mean() >= 0.9
    assert model.predict(Xt).tolist()[:3] == ["normal"] * 3
    assert model.predict_proba(np.zeros((0, N_FEATURES))).shape == (0, 4)  # empty input
    assert model.predict_proba(np.full((2, N_FEATURES), np.nan)).shape == (2, 4)  # all-NaN rows are imputed


@pytest.mark.parametrize(
    ("X", "y", "exception"),
    [
        (np.zeros((0, N_FEATURES)), [], pytest.raises(ValueError, match="empty")),  # empty input
        (np.zeros((4, 20)), ["normal", "pickup"] * 2, pytest.raises(ValueError, match=r"shape \(N, 21\)")),  # 20 features
        (np.zeros((4, N_FEATURES)), ["normal"] * 4, pytest.raises(ValueError, match="at least two classes")),  # one class
        (np.zeros((4, N_FEATURES)), ["normal", "pickup"], pytest.raises(ValueError, match="one label per row")),  # lengths
        (np.full((2, N_FEATURES), np.inf), ["normal", "pickup"], pytest.raises(ValueError, match="infinite")),  # inf
        (np.zeros((2, N_FEATURES)), ["normal", "theft"], pytest.raises(ValueError, match="'theft'")),  # unknown label
        (np.zeros((2, N_FEATURES)), ["normal", "shoplifting"], DoesNotRaise()),  # alias accepted
    ],
)
def test_fit_rejects_bad_input(X, y, exception) -> None:
    with exception:
        BehaviourModel(n_estimators=5).fit(X, y)


def test_unfitted_model_refuses_to_predict_or_serialise() -> None:
    model = BehaviourModel()
    with pytest.raises(ValueError, match="not trained"):
        model.predict_proba(np.zeros((1, N_FEATURES)))
    with pytest.raises(ValueError, match="not trained"):
        model.to_bytes()


def test_serialisation_round_trip_keeps_predictions_and_provenance() -> None:
    X, y = make_windows({"normal": 40, "pickup": 40})
    model = BehaviourModel(n_estimators=30, seed=7).fit(X, y)
    model.evaluate(X, y)
    model.version, model.params = "v0042", {"window": 30}
    loaded = BehaviourModel.from_bytes(model.to_bytes())
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert (loaded.version, loaded.seed, loaded.params, loaded.metrics) == ("v0042", 7, {"window": 30}, model.metrics)
    assert loaded.feature_names == FEATURE_NAMES and loaded.classes == CLASSES
    assert loaded.trained_at == model.trained_at and loaded.sklearn_version and loaded.trained_at.endswith("+00:00")


def test_loading_a_model_with_other_feature_names_fails_clearly() -> None:
    X, y = make_windows({"normal": 20, "pickup": 20})
    model = BehaviourModel(n_estimators=5).fit(X, y)
    model.version = "v0001"
    expected = (*FEATURE_NAMES[:-1], "stillness_ratio")
    with pytest.raises(ValueError, match="v0001 was trained on 21 features that differ .*stillness_frac, stillness_ratio"):
        BehaviourModel.from_bytes(model.to_bytes(), feature_names=expected)
    with pytest.raises(ValueError, match="same names, different order"):
        BehaviourModel.from_bytes(model.to_bytes(), feature_names=FEATURE_NAMES[::-1])
    with pytest.raises(ValueError, match="not a behaviour model file"):
        BehaviourModel.from_bytes(b"not a joblib file")


@pytest.mark.parametrize(
    ("y", "groups", "expected_test_clips", "exception"),
    [
        ([], [], set(), DoesNotRaise()),  # empty input
        (["normal"] * 4 + ["pickup"] * 4, list("aabbccdd"), 2, DoesNotRaise()),  # one clip of each class held out
        (["normal"] * 6 + ["pickup"] * 3, list("aabbcc") + list("ddd"), 3, DoesNotRaise()),  # 2 of 3 normal clips; pickup's one clip split by window
        (["normal"] * 2, ["a"], None, pytest.raises(ValueError, match="same length")),  # lengths differ
    ],
)
def test_split_by_clip(y, groups, expected_test_clips, exception) -> None:
    with exception:
        train, test = split_by_clip(y, groups, test_fraction=0.5, seed=0)
        assert sorted(np.concatenate([train, test]).tolist()) == list(range(len(y)))
        if not y:
            assert len(train) == len(test) == 0
            return
        g, labels = np.array(groups), np.array(y)
        assert set(labels[test]) == set(labels[train]) == set(labels)  # stratified: every class on both sides
        assert len(set(g[test])) == expected_test_clips
        normal_clips_test, normal_clips_train = set(g[test][labels[test] == "normal"]), set(g[train][labels[train] == "normal"])
        assert not normal_clips_test & normal_clips_train  # a multi-clip class never shares a clip across the split


def test_split_by_clip_rejects_bad_fraction() -> None:
    with pytest.raises(ValueError, match=r"test_fraction must be in \(0, 1\)"):
        split_by_clip(["normal"], ["a"], test_fraction=1.0)
