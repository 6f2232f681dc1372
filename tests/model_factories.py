"""Test data for the model registry: tiny behaviour models saved to a store, each always voting one class."""

from __future__ import annotations

import numpy as np

from domain.behaviour_model import BehaviourModel
from domain.pose_features import FEATURE_NAMES
from storage.model_registry import save_model
from storage.objectstore import ObjectStore


def save_constant_model(store: ObjectStore, label: str, *, window: int = 10, stride: int = 5) -> str:
    """Save a 5-tree forest that gives `label` to every window with features above -50 (all real ones); returns its version.

    It is trained on 40 windows of `label` near 0 and 40 of another class near -100, so its split
    lies near -50 and real pose features (ratios and speeds, never below -50) all get `label`.
    """
    rng = np.random.default_rng(0)
    other = "normal" if label != "normal" else "bypass"
    X = np.concatenate([rng.normal(0.5, 0.3, (40, len(FEATURE_NAMES))), rng.normal(-100, 1, (40, len(FEATURE_NAMES)))])
    y = [label] * 40 + [other] * 40
    model = BehaviourModel(n_estimators=5, seed=0).fit(X.astype(np.float32), y)
    report = model.evaluate(X.astype(np.float32), y, n_train=len(y))
    meta = {"metrics": report.to_dict(), "params": {"window": window, "stride": stride}, "data": {"label": label},
            "dataset_hash": "test", "code_version": "test", "trained_by": "tests"}  # fmt: skip
    return save_model(store, model.to_bytes(), meta, "behaviour")
