"""Model registry: versioned models in the object store, on a local folder and on real S3 (SeaweedFS)."""

from __future__ import annotations

import json
from contextlib import ExitStack as DoesNotRaise

import pytest

from storage.model_registry import (
    ModelExistsError,
    ModelNotFoundError,
    list_models,
    load_model,
    model_key,
    next_version,
    save_model,
)
from storage.objectstore import ObjectStore


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest) -> ObjectStore:
    return request.getfixturevalue(f"{request.param}_store")


def test_save_load_and_list_versions(store: ObjectStore) -> None:
    assert list_models(store, "behaviour") == []  # empty store
    assert next_version(store) == "v0001"
    v1 = save_model(store, b"model-one", {"metrics": {"accuracy": 0.7}})
    v2 = save_model(store, b"model-two", {"metrics": {"accuracy": 0.8}}, kind="behaviour")
    assert (v1, v2) == ("v0001", "v0002")
    assert store.list_keys("models/behaviour/") == [
        "models/behaviour/latest.json",
        "models/behaviour/v0001/meta.json", "models/behaviour/v0001/model.joblib",
        "models/behaviour/v0002/meta.json", "models/behaviour/v0002/model.joblib",
    ]  # fmt: skip
    assert json.loads(store.get_bytes("models/behaviour/latest.json")) == {"version": "v0002"}
    data, meta = load_model(store)
    assert data == b"model-two" and meta["version"] == "v0002" and meta["metrics"] == {"accuracy": 0.8}
    assert meta["key"] == model_key("behaviour", "v0002") == "models/behaviour/v0002/model.joblib"
    assert meta["size_bytes"] == 9 and len(meta["sha256"]) == 64 and meta["saved_at"]
    assert load_model(store, "behaviour", "v0001")[0] == b"model-one"
    listed = list_models(store, "behaviour")
    assert [(m["version"], m["latest"], m["metrics"]["accuracy"]) for m in listed] == [("v0001", False, 0.7),
                                                                                       ("v0002", True, 0.8)]
    assert list_models(store, "reid") == []  # kinds are separate
    assert save_model(store, b"reid", {}, kind="reid") == "v0001"


def test_explicit_version_and_conflicts(store: ObjectStore) -> None:
    assert save_model(store, b"m", {}, version="v0007") == "v0007"
    assert next_version(store) == "v0008"
    with pytest.raises(ModelExistsError, match="v0007 already exists"):
        save_model(store, b"other", {}, version="v0007")
    assert load_model(store, version="v0007")[0] == b"m"  # not overwritten


@pytest.mark.parametrize(
    ("version", "exception"),
    [
        ("latest", pytest.raises(ModelNotFoundError, match="no behaviour model has been trained yet")),  # empty store
        ("v0009", pytest.raises(ModelNotFoundError, match="v0009 not found; stored versions: none")),  # missing
        ("3", pytest.raises(ValueError, match="invalid model version '3'")),  # malformed
        ("../x", pytest.raises(ValueError, match="invalid model version")),  # path tricks
    ],
)
def test_load_errors_on_an_empty_store(store: ObjectStore, version: str, exception) -> None:
    with exception:
        load_model(store, "behaviour", version)


@pytest.mark.parametrize(
    ("model_bytes", "meta", "kind", "exception"),
    [
        (b"ok", {"a": 1}, "behaviour", DoesNotRaise()),  # valid
        (b"", {}, "behaviour", pytest.raises(ValueError, match="non-empty bytes")),  # empty input
        (b"ok", {"when": object()}, "behaviour", pytest.raises(ValueError, match="not JSON-serialisable")),  # meta
        (b"ok", {"nan": float("nan")}, "behaviour", pytest.raises(ValueError, match="not JSON-serialisable")),  # NaN
        (b"ok", {}, "Bad Kind", pytest.raises(ValueError, match="invalid model kind 'Bad Kind'")),  # kind
    ],
)
def test_save_rejects_bad_input_and_writes_nothing(store: ObjectStore, model_bytes, meta, kind, exception) -> None:
    with exception:
        save_model(store, model_bytes, meta, kind)
    if not isinstance(exception, DoesNotRaise):
        assert store.list_keys("models/") == []


def test_missing_version_lists_the_stored_ones_and_corruption_is_detected(store: ObjectStore) -> None:
    save_model(store, b"one", {})
    save_model(store, b"two", {})
    with pytest.raises(ModelNotFoundError, match="v0005 not found; stored versions: v0001, v0002"):
        load_model(store, version="v0005")
    store.put_bytes("models/behaviour/v0001/model.joblib", b"tampered")
    with pytest.raises(ValueError, match="v0001 is corrupt: sha256"):
        load_model(store, version="v0001")
    store.put_bytes("models/behaviour/v0003/model.joblib", b"half-written: no meta.json")
    assert [m["version"] for m in list_models(store)] == ["v0001", "v0002"]  # incomplete versions are ignored
    assert load_model(store)[1]["version"] == "v0002"
    assert next_version(store) == "v0004"  # ... but their number is not reused
