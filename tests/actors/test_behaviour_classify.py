"""A trained behaviour model in the intent chain: saved in the object store, loaded by name, its
concealment windows feeding a live camera's visit and the score."""

from __future__ import annotations

import numpy as np
import pytest

from actors.behaviour_replica import trajectory_classifier
from actors.intent_watch import LiveIntentWatcher
from domain.assessment import AssessmentParams, assess_visit
from domain.behaviour import BehaviourClass
from domain.behaviour_model import BehaviourModel
from domain.pose_features import window_features
from storage.model_registry import ModelNotFoundError, save_model
from storage.objectstore import LocalObjectStore
from tests.actors.test_intent_watch import CAMERA, SCOPE, WH, feed
from tests.domain.test_assessment import DOOR, person

R, W = "rest", "waist"


def windows(arms: list[str]) -> np.ndarray:
    traj = person((300.0, arms))
    features, _ = window_features(traj.keypoints, traj.t_s, traj.xyxy, window=10, stride=5)
    return features


@pytest.fixture
def store(tmp_path) -> LocalObjectStore:
    """A model that tells a hand held at the belly (concealment) from a hand at rest (normal)."""
    still, held = windows([R] * 60), windows([W] * 60)
    X = np.concatenate([still, held])
    y = ["normal"] * len(still) + ["concealment"] * len(held)
    model = BehaviourModel(n_estimators=20, seed=0).fit(X, y)
    s = LocalObjectStore(tmp_path / "objects")
    save_model(s, model.to_bytes(), {"params": {"window": 10, "stride": 5}})
    return s


def test_the_stored_model_classifies_trajectories(store: LocalObjectStore) -> None:
    classify = trajectory_classifier(store, "latest", min_confidence=0.6)
    events = classify(person((300.0, [R] * 20 + [W] * 30)))
    assert [e.class_ for e in events] == [BehaviourClass.CONCEALMENT]
    assert events[0].t_start_s >= 1.0 and "behaviour model v0001" in events[0].explanation
    assert classify(person((300.0, [R] * 50))) == []
    assert classify(person((300.0, [W] * 5))) == []  # shorter than one window


def test_a_live_camera_scores_the_models_concealment(store: LocalObjectStore) -> None:
    classify = trajectory_classifier(store, "v0001", min_confidence=0.6)
    w = LiveIntentWatcher("shop.cam", SCOPE, AssessmentParams(), lost_s=2.0, every_s=0.5, classify=classify)
    w.configure(CAMERA, WH)
    # a shopper reaches into the shelf, holds the hand at the belly for 3 s, and leaves by the door
    events, visits, _ = feed(w, person((300.0, [R] * 5 + ["reach"] * 3 + [R] * 2 + [W] * 30), DOOR))
    assert "concealment" in {e.type.value for e in events}
    evidence = visits[0]["evidence"]
    assert any("behaviour model v0001" in e.explanation for e in evidence.concealment)
    score = assess_visit(evidence, [], AssessmentParams())
    assert score.intent.components["concealment"].value >= 0.6 and score.should_alert


def test_an_unknown_version_is_a_clear_error(store: LocalObjectStore) -> None:
    with pytest.raises(ModelNotFoundError, match="v0042"):
        trajectory_classifier(store, "v0042", min_confidence=0.6)
