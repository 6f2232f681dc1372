"""Behaviour classifier replica: a trained `BehaviourModel` from the object store, for live cameras and bulk jobs.

Like `PoseReplica` it knows nothing of cameras or jobs: pose-window features in, class
probabilities out. It is used as a Ray Data class UDF
(`ds.map_batches(BehaviourReplica, fn_constructor_kwargs={"store": store, "version": "latest"})`)
or held by a camera actor / Serve deployment. The store travels to Ray workers by pickling:
`S3ObjectStore` pickles as its constructor call, `LocalObjectStore` as its folder, and a dict
spec is opened with `open_object_store` on the worker.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from domain.assessment import classifier_events
from domain.behaviour import BehaviourEvent
from domain.behaviour_model import CLASSES, BehaviourModel
from domain.pose_features import FEATURE_NAMES, window_features
from domain.tracks import Trajectory
from storage.model_registry import load_model
from storage.objectstore import LocalObjectStore, ObjectStore, open_object_store

__all__ = ["BehaviourReplica", "open_store_spec", "classify_with", "trajectory_classifier"]


def open_store_spec(store: ObjectStore | dict[str, Any] | str | Path) -> ObjectStore:
    """An object store from a store, a folder path, or `open_object_store` keyword arguments.

    Args:
        store: an `ObjectStore`; a local folder (`str` / `Path`); or a dict such as
            `{"local_dir": "data/objects", "s3_endpoint": "minio:9000", "s3_access_key": …, "s3_secret_key": …, "s3_bucket": "witness"}`.

    Raises:
        TypeError: for any other type.
        ValueError, ObjectStoreError: from `open_object_store`.
    """
    if isinstance(store, dict):
        spec = dict(store)
        spec.setdefault("s3_endpoint", None)
        spec["local_dir"] = Path(spec.get("local_dir") or "data/objects")
        return open_object_store(**spec)
    if isinstance(store, (str, Path)):
        return LocalObjectStore(Path(store))
    if isinstance(store, ObjectStore):
        return store
    raise TypeError(f"store must be an ObjectStore, a folder path or a dict spec, but got {type(store).__name__}")


class BehaviourReplica:
    """Class probabilities for pose windows from a stored, versioned behaviour model.

    Args:
        store: where models live (see `open_store_spec`).
        version: `"latest"` or e.g. `"v0003"`.
        kind: model family in the registry.

    Attributes:
        version: the concrete version loaded (`"v0003"`, also for `"latest"`).
        meta: the version's `meta.json` (metrics, training `params` such as `window`, `stride`, `fps`).
        classes: probability column order (`CLASSES`).
        window: frames per window the model was trained with (use the same at inference).
        stride: training window stride (frames).

    Raises:
        ModelNotFoundError: if the version (or, for `latest`, any model) is not stored.
        ValueError: if the version string is malformed, the file is corrupt, or the model's
            feature names differ from `FEATURE_NAMES`.
    """

    def __init__(self, store: ObjectStore | dict[str, Any] | str | Path, version: str = "latest", *,
                 kind: str = "behaviour") -> None:  # fmt: skip
        data, meta = load_model(open_store_spec(store), kind, version)
        self.model = BehaviourModel.from_bytes(data, feature_names=FEATURE_NAMES)
        self.meta = meta
        self.version: str = meta["version"]
        self.classes: tuple[str, ...] = CLASSES
        params = meta.get("params") or {}
        self.window = int(params.get("window", 30))
        self.stride = int(params.get("stride", 15))

    def __repr__(self) -> str:
        return f"BehaviourReplica(version={self.version!r})"

    def predict_proba(self, features: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Probabilities per window.

        Args:
            features: `(N, 21)` float pose-window features in `FEATURE_NAMES` order (NaN allowed; a
                row of all NaN, a window without a visible torso, gets the model's guess for
                median features, so drop such rows first).

        Returns:
            `(N, 4)` float32 in `CLASSES` order, rows summing to 1.

        Raises:
            ValueError: if `features` is not `(N, 21)` or holds inf.
        """
        return self.model.predict_proba(features)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Ray Data UDF: `batch["features"]` `(B, 21)` → adds `proba` `(B, 4)` float32 and `label` `(B,)` str.

        `features` may also be an object array of `(21,)` rows (as Ray Data hands ragged columns).
        """
        feats = batch["features"]
        X = np.stack(list(feats)).astype(np.float32) if len(feats) else np.zeros((0, len(FEATURE_NAMES)), np.float32)
        proba = self.predict_proba(X)
        batch["proba"] = proba
        batch["label"] = np.array(self.classes, dtype=object)[proba.argmax(axis=1)].astype(str) if len(proba) else np.zeros(0, str)
        return batch


def classify_with(replica: Any, *, min_confidence: float, window: int | None = None,
                  stride: int | None = None) -> Callable[[Trajectory], list[BehaviourEvent]]:
    """Per-trajectory behaviour events from a loaded model (what bulk jobs and live cameras call).

    Each trajectory's pose windows (`window_features`, with the window and stride the model was
    trained with unless given) are classified; windows without features are skipped; consecutive
    windows of one non-normal class become one event (`domain.assessment.classifier_events`).

    The returned function carries `model_version`, `window` and `stride` attributes.

    Args:
        replica: a `BehaviourReplica` (or anything with `predict_proba((N, 21)) -> (N, C)`,
            `classes`, `version`, `window`, `stride`).
        min_confidence: least class probability for a window to count.
        window / stride: override the model's own (frames).
    """
    w, st = window or replica.window, stride or replica.stride

    def classify(traj: Trajectory) -> list[BehaviourEvent]:
        """The trajectory's behaviour events (see `classify_with`)."""
        if traj.keypoints is None or len(traj) < w:
            return []
        features, bounds = window_features(traj.keypoints, traj.t_s, traj.xyxy, window=w, stride=st)
        ok = np.isfinite(features).any(axis=1)
        proba = np.full((len(features), len(replica.classes)), np.nan, dtype=np.float64)
        if ok.any():
            proba[ok] = replica.predict_proba(features[ok])
        return classifier_events(traj, proba, bounds, replica.classes, min_confidence=min_confidence,
                                 model_version=replica.version)

    classify.model_version = replica.version  # type: ignore[attr-defined]  # recorded on the alerts it informs
    classify.window, classify.stride = w, st  # type: ignore[attr-defined]
    return classify


def trajectory_classifier(store: ObjectStore | dict[str, Any] | str | Path, version: str, *, min_confidence: float,
                          window: int | None = None, stride: int | None = None) -> Callable[[Trajectory], list[BehaviourEvent]]:
    """Load the stored behaviour model `version` (`"latest"`, `"v0003"`) and wrap it with `classify_with`.

    Raises:
        storage.model_registry.ModelNotFoundError: no such version in the object store.
    """
    return classify_with(BehaviourReplica(store, version), min_confidence=min_confidence, window=window, stride=stride)
