"""The trained behaviour classifier: a scikit-learn pipeline over the 21 pose-window features.

Model choice: `SimpleImputer(median)` + `RandomForestClassifier(class_weight="balanced")`.
- Labelled shoplifting footage is scarce, so training sets are small (tens to a few thousand
  windows) and imbalanced. A random forest is robust there with no tuning, and
  `class_weight="balanced"` stops the common "normal" class from drowning out the rare ones.
  Gradient boosting wins on large sets but overfits small ones unless it is tuned.
- A feature is NaN when its keypoints were never visible in the window (see
  `domain.pose_features`). The imputer fills it with the training median, and
  `keep_empty_features=True` keeps the 21 columns, and so the importances, aligned even when a
  feature is NaN in every training row.
- The forest gives impurity-based importances per feature, so a report can say which cues
  drove the model. `evaluate` falls back to permutation importance on the test rows for an
  estimator without them.

Probabilities always come in the fixed order `CLASSES`, and a class absent from training gets a
column of zeros. Serialised models are joblib (pickle) bytes: load them only from your own
object store, never from an untrusted source.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import numpy.typing as npt

from domain.behaviour import BehaviourClass
from domain.pose_features import FEATURE_NAMES

__all__ = [
    "CLASSES", "LABEL_ALIASES", "FORMAT_VERSION", "ClassMetrics", "TrainingReport", "BehaviourModel",
    "normalize_label", "split_by_clip",
]

CLASSES: tuple[str, ...] = tuple(c.value for c in BehaviourClass)  # ("normal", "pickup", "concealment", "bypass")
LABEL_ALIASES: dict[str, str] = {"shoplifting": BehaviourClass.CONCEALMENT.value}
FORMAT_VERSION = 1  # layout of the serialised payload; bump when it changes

Features = npt.NDArray[np.float32]  # (N, 21), FEATURE_NAMES order, NaN allowed


def normalize_label(label: str) -> str:
    """A class name from a folder name or a CSV label: case-insensitive, with aliases resolved.

    `shoplifting` is an alias of `concealment`: public "shoplifting" clips show an item being
    hidden, which is the concealment class here.

    Args:
        label: e.g. `"Pickup"`, `"shoplifting"`.

    Returns:
        One of `CLASSES`.

    Raises:
        ValueError: if the label is neither a class nor an alias.

    Example:
        >>> normalize_label(" Shoplifting ")
        'concealment'
    """
    key = str(label).strip().lower()
    key = LABEL_ALIASES.get(key, key)
    if key not in CLASSES:
        known = ", ".join([*CLASSES, *LABEL_ALIASES])
        raise ValueError(f"unknown behaviour label {label!r}: expected one of {known}")
    return key


def _check_features(X: npt.ArrayLike, name: str = "X") -> Features:
    arr = np.asarray(X, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != len(FEATURE_NAMES):
        raise ValueError(f"{name} must have shape (N, {len(FEATURE_NAMES)}), but got shape {arr.shape}")
    if np.isinf(arr).any():
        raise ValueError(f"{name} contains infinite values (NaN is allowed, inf is not)")
    return arr


def _check_labels(y: Sequence[str] | npt.ArrayLike, n: int) -> npt.NDArray[np.str_]:
    labels = np.array([normalize_label(v) for v in np.asarray(y, dtype=object).ravel()], dtype=object)
    if len(labels) != n:
        raise ValueError(f"y must have one label per row of X ({n}), but got {len(labels)}")
    return labels.astype(str)


@dataclass(frozen=True)
class ClassMetrics:
    """Test-set metrics of one class (0 where undefined, e.g. precision of a never-predicted class)."""

    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class TrainingReport:
    """How a trained model did on held-out windows.

    Attributes:
        accuracy: fraction of test windows classified right (= trace / sum of `confusion`).
        per_class: metrics per class name, in `labels` order.
        confusion: `(C, C)` counts, rows = true class, columns = predicted class, in `labels` order.
        labels: the class order of `confusion` and `per_class` (`CLASSES`).
        feature_importance: importance per feature name, largest first.
        importance_method: `"impurity"` (the forest's) or `"permutation"` (accuracy drop on the test rows).
        n_train: training windows.
        n_test: test windows (= sum of `confusion`).
        macro_f1: unweighted mean F1 over the classes present in the test set.
    """

    accuracy: float
    per_class: dict[str, ClassMetrics]
    confusion: list[list[int]]
    labels: tuple[str, ...]
    feature_importance: dict[str, float]
    importance_method: str
    n_train: int
    n_test: int
    macro_f1: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (round-trips through `from_dict`)."""
        d = asdict(self)
        d["labels"] = list(self.labels)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainingReport:
        """Inverse of `to_dict`."""
        return cls(
            accuracy=float(d["accuracy"]),
            per_class={k: ClassMetrics(**v) for k, v in d["per_class"].items()},
            confusion=[[int(x) for x in row] for row in d["confusion"]],
            labels=tuple(d["labels"]),
            feature_importance={k: float(v) for k, v in d["feature_importance"].items()},
            importance_method=str(d["importance_method"]),
            n_train=int(d["n_train"]),
            n_test=int(d["n_test"]),
            macro_f1=float(d["macro_f1"]),
        )

    def top_features(self, k: int = 5) -> list[tuple[str, float]]:
        """The `k` most important features as `(name, importance)`."""
        return list(self.feature_importance.items())[:k]


@dataclass
class BehaviourModel:
    """A behaviour classifier over pose-window features, with its provenance.

    Args:
        n_estimators: trees in the forest. More trees give steadier probabilities, but training,
            the model file and prediction all grow linearly.
        min_samples_leaf: smallest leaf. Raising it smooths probabilities and resists label
            noise, but blurs rare, distinctive windows.
        seed: random state, so the same data gives the same model.

    Attributes:
        version: registry version (`"v0003"`), `""` until saved.
        feature_names: the feature order the model was trained on (`FEATURE_NAMES`).
        classes: the probability column order (`CLASSES`).
        trained_at: UTC ISO-8601 time of `fit`, `""` before.
        sklearn_version: scikit-learn version that trained it.
        metrics: the `TrainingReport.to_dict()` of its evaluation, `{}` if none.
        params: anything else worth keeping (window, stride, fps, data summary).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(40, 21)).astype(np.float32); X[20:, 10] += 5
        >>> m = BehaviourModel(n_estimators=20).fit(X, ["normal"] * 20 + ["concealment"] * 20)
        >>> m.predict_proba(X[:1]).shape
        (1, 4)
    """

    n_estimators: int = 300
    min_samples_leaf: int = 1
    seed: int = 0
    version: str = ""
    feature_names: tuple[str, ...] = FEATURE_NAMES
    classes: tuple[str, ...] = CLASSES
    trained_at: str = ""
    sklearn_version: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    pipeline: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.n_estimators < 1 or self.min_samples_leaf < 1:
            raise ValueError(
                f"n_estimators and min_samples_leaf must be >= 1, but got {self.n_estimators}, {self.min_samples_leaf}"
            )

    def _build(self) -> Any:
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import Pipeline

        return Pipeline([
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("forest", RandomForestClassifier(
                n_estimators=self.n_estimators, min_samples_leaf=self.min_samples_leaf,
                class_weight="balanced", random_state=self.seed, n_jobs=1,
            )),
        ])  # fmt: skip

    @property
    def is_fitted(self) -> bool:
        """Whether `fit` ran (or a fitted model was loaded)."""
        return self.pipeline is not None

    def fit(self, X: npt.ArrayLike, y: Sequence[str] | npt.ArrayLike) -> BehaviourModel:
        """Train on windows `X` with labels `y` (class names or aliases).

        Args:
            X: `(N, 21)` float features in `FEATURE_NAMES` order; NaN allowed, rows of all NaN too
                (they carry no information, better drop them).
            y: `(N,)` class names (`"normal"`, `"pickup"`, `"concealment"`, `"bypass"`, or `"shoplifting"`).

        Returns:
            `self`, fitted.

        Raises:
            ValueError: on a wrong shape, an inf value, an unknown label, no rows, or fewer than two classes.
        """
        import sklearn

        X_ = _check_features(X)
        y_ = _check_labels(y, len(X_))
        if len(X_) == 0:
            raise ValueError("cannot train on an empty set: X has no rows")
        present = sorted(set(y_.tolist()), key=CLASSES.index)
        if len(present) < 2:
            raise ValueError(f"training needs windows of at least two classes, but every label is {present[0]!r}")
        pipe = self._build()
        pipe.fit(X_, y_)
        self.pipeline = pipe
        self.trained_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.sklearn_version = sklearn.__version__
        return self

    def _require_fitted(self) -> None:
        if self.pipeline is None:
            raise ValueError("the behaviour model is not trained: call fit() or load one first")

    def predict_proba(self, X: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Class probabilities per window.

        Args:
            X: `(N, 21)` features in `FEATURE_NAMES` order (NaN allowed).

        Returns:
            `(N, 4)` float32 in `CLASSES` order; each row sums to 1; classes absent from
            training are 0. `(0, 4)` for no rows.

        Raises:
            ValueError: if the model is not fitted, or `X` has a wrong shape or inf values.
        """
        self._require_fitted()
        X_ = _check_features(X)
        out = np.zeros((len(X_), len(CLASSES)), np.float32)
        if len(X_) == 0:
            return out
        proba = self.pipeline.predict_proba(X_)
        for j, cls in enumerate(self.pipeline.classes_):
            out[:, CLASSES.index(str(cls))] = proba[:, j]
        return out

    def predict(self, X: npt.ArrayLike) -> npt.NDArray[np.str_]:
        """`(N,)` most probable class name per window (see `predict_proba`)."""
        proba = self.predict_proba(X)
        return np.array(CLASSES, dtype=object)[proba.argmax(axis=1)].astype(str) if len(proba) else np.zeros(0, str)

    def evaluate(self, X: npt.ArrayLike, y: Sequence[str] | npt.ArrayLike, *, n_train: int = 0) -> TrainingReport:
        """Score the model on held-out windows; also stores the report in `metrics`.

        Args:
            X: `(N, 21)` test features.
            y: `(N,)` true class names.
            n_train: how many windows it was trained on (recorded in the report).

        Returns:
            The `TrainingReport` (confusion over all four `CLASSES`, so it sums to `N`).

        Raises:
            ValueError: if not fitted, on bad shapes or labels, or if `X` is empty.
        """
        from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

        self._require_fitted()
        X_ = _check_features(X)
        y_ = _check_labels(y, len(X_))
        if len(X_) == 0:
            raise ValueError("cannot evaluate on an empty test set")
        pred = self.predict(X_)
        labels = list(CLASSES)
        cm = confusion_matrix(y_, pred, labels=labels)
        p, r, f, s = precision_recall_fscore_support(y_, pred, labels=labels, zero_division=0)
        per_class = {c: ClassMetrics(float(p[i]), float(r[i]), float(f[i]), int(s[i])) for i, c in enumerate(labels)}
        present = [i for i in range(len(labels)) if s[i] > 0]
        importance, method = self._importance(X_, y_)
        report = TrainingReport(
            accuracy=float(np.trace(cm) / cm.sum()),
            per_class=per_class,
            confusion=cm.astype(int).tolist(),
            labels=tuple(labels),
            feature_importance=importance,
            importance_method=method,
            n_train=int(n_train),
            n_test=int(len(X_)),
            macro_f1=float(np.mean([f[i] for i in present])) if present else 0.0,
        )
        self.metrics = report.to_dict()
        return report

    def _importance(self, X: Features, y: npt.NDArray[np.str_]) -> tuple[dict[str, float], str]:
        est = self.pipeline[-1]
        values = getattr(est, "feature_importances_", None)
        method = "impurity"
        if values is None:
            from sklearn.inspection import permutation_importance

            values = permutation_importance(self.pipeline, X, y, n_repeats=5, random_state=self.seed).importances_mean
            method = "permutation"
        pairs = sorted(zip(self.feature_names, (float(v) for v in values)), key=lambda kv: -kv[1])
        return {k: (0.0 if math.isnan(v) else v) for k, v in pairs}, method

    # ----------------------------------------------------------------------------- persistence
    def to_bytes(self) -> bytes:
        """Serialise the fitted model and its provenance (joblib, compressed).

        Raises:
            ValueError: if the model is not fitted.
        """
        import joblib

        self._require_fitted()
        payload = {
            "format": FORMAT_VERSION, "pipeline": self.pipeline, "version": self.version,
            "feature_names": list(self.feature_names), "classes": list(self.classes),
            "sklearn_version": self.sklearn_version, "trained_at": self.trained_at, "metrics": self.metrics,
            "params": self.params, "n_estimators": self.n_estimators, "min_samples_leaf": self.min_samples_leaf,
            "seed": self.seed,
        }  # fmt: skip
        buf = io.BytesIO()
        joblib.dump(payload, buf, compress=3)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, *, feature_names: Sequence[str] = FEATURE_NAMES) -> BehaviourModel:
        """Load a model written by `to_bytes` (trusted bytes only: this unpickles).

        Args:
            data: the serialised model.
            feature_names: the feature order the caller will feed; must equal the model's.

        Returns:
            The fitted model. A different scikit-learn version than the training one makes
            scikit-learn warn (`InconsistentVersionWarning`); the model still loads.

        Raises:
            ValueError: if the bytes are not a behaviour model, its format is newer than this code,
                its feature names differ from `feature_names`, or its classes differ from `CLASSES`.
        """
        import pickle

        import joblib

        try:
            payload = joblib.load(io.BytesIO(data))
        except (pickle.UnpicklingError, EOFError, ValueError, KeyError, TypeError, AttributeError, ImportError) as exc:
            raise ValueError(f"not a behaviour model file: {type(exc).__name__}: {exc}") from None
        if not isinstance(payload, dict) or "pipeline" not in payload or "feature_names" not in payload:
            raise ValueError("not a behaviour model file: missing pipeline / feature_names")
        if int(payload.get("format", 0)) > FORMAT_VERSION:
            raise ValueError(
                f"behaviour model format {payload['format']} is newer than this code supports ({FORMAT_VERSION})"
            )
        names = tuple(payload["feature_names"])
        if names != tuple(feature_names):
            diff = sorted(set(names) ^ set(feature_names)) or ["(same names, different order)"]
            raise ValueError(
                f"behaviour model {payload.get('version') or '(unversioned)'} was trained on {len(names)} features "
                f"that differ from the {len(feature_names)} expected ones: {', '.join(diff[:6])}"
            )
        classes = tuple(payload.get("classes", CLASSES))
        if classes != CLASSES:
            raise ValueError(f"behaviour model classes {classes} differ from {CLASSES}")
        return cls(
            n_estimators=int(payload.get("n_estimators", 300)), min_samples_leaf=int(payload.get("min_samples_leaf", 1)),
            seed=int(payload.get("seed", 0)), version=str(payload.get("version", "")), feature_names=names,
            classes=classes, trained_at=str(payload.get("trained_at", "")),
            sklearn_version=str(payload.get("sklearn_version", "")), metrics=dict(payload.get("metrics") or {}),
            params=dict(payload.get("params") or {}), pipeline=payload["pipeline"],
        )  # fmt: skip


def split_by_clip(
    y: Sequence[str] | npt.ArrayLike, groups: Sequence[str] | npt.ArrayLike, *, test_fraction: float = 0.25, seed: int = 0,
    strict: bool = False,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Train/test split that keeps each clip's windows together, stratified by class where possible.

    Overlapping windows of one clip are near duplicates; splitting them across train and test
    would inflate the test score. So each clip is assigned to its majority class, and for each
    class with at least two clips, `round(test_fraction · clips)` of them (at least 1, at most
    all but one) go to the test set. A class seen in a single clip cannot be split by clip:
    its windows are split at random instead (leaky, but it keeps the class in both sets), unless
    `strict`: then its one clip stays whole in the training set, so no group is ever on both sides.

    Args:
        y: `(N,)` class names per window.
        groups: `(N,)` clip id per window.
        test_fraction: share of clips (or windows) held out, in (0, 1).
        seed: shuffling seed.
        strict: never split a group (see above).

    Returns:
        `(train_index, test_index)`, int64 indices into `y`, sorted, disjoint, covering every row.

    Raises:
        ValueError: if lengths differ or `test_fraction` is not in (0, 1).

    Example:
        >>> tr, te = split_by_clip(["normal"] * 4 + ["pickup"] * 4, list("aabbccdd"), test_fraction=0.5)
        >>> len(tr), len(te)
        (4, 4)
    """
    y_ = np.asarray(y, dtype=object).astype(str)
    g_ = np.asarray(groups, dtype=object).astype(str)
    if y_.shape != g_.shape or y_.ndim != 1:
        raise ValueError(f"y and groups must be 1-D of the same length, but got {y_.shape} and {g_.shape}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), but got {test_fraction}")
    rng = np.random.default_rng(seed)
    clips = sorted(set(g_.tolist()))
    majority: dict[str, str] = {}
    for clip in clips:
        values, counts = np.unique(y_[g_ == clip], return_counts=True)
        majority[clip] = str(values[counts.argmax()])
    test = np.zeros(len(y_), bool)
    for cls in sorted(set(majority.values())):
        mine = [c for c in clips if majority[c] == cls]
        if len(mine) >= 2:
            k = min(len(mine) - 1, max(1, round(test_fraction * len(mine))))
            for clip in rng.permutation(mine)[:k]:
                test |= g_ == clip
        elif not strict:
            rows = np.flatnonzero(g_ == mine[0])
            k = min(len(rows) - 1, max(1, round(test_fraction * len(rows)))) if len(rows) >= 2 else 0
            test[rng.permutation(rows)[:k]] = True
    return np.flatnonzero(~test).astype(np.int64), np.flatnonzero(test).astype(np.int64)
