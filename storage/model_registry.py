"""Versioned model files in the object store (local folder or S3).

Layout, per model kind (e.g. `behaviour`):

    models/<kind>/v0001/model.joblib   the model bytes
    models/<kind>/v0001/meta.json      what it is: version, metrics, training parameters, sha256
    models/<kind>/latest.json          {"version": "v0001"}: the newest complete version

A version is complete once its `meta.json` exists: `save_model` writes the model first, then
`meta.json`, then `latest.json`, and removes what it wrote if a step fails. Listing and
loading ignore versions without `meta.json`. Two trainers saving at the same moment may pick
the same number; the second is refused (`ModelExistsError`) rather than overwriting the first
(the check and the write are not atomic on S3).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone
from typing import Any

from storage.objectstore import ObjectNotFoundError, ObjectStore

__all__ = [
    "ModelNotFoundError", "ModelExistsError", "model_key", "meta_key", "latest_key", "next_version",
    "save_model", "load_model", "load_meta", "list_models", "resolve_version",
]

_KIND = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_VERSION = re.compile(r"^v(\d{4,})$")


class ModelNotFoundError(LookupError):
    """No such model version (or no model at all) in the store; the message lists what exists."""


class ModelExistsError(ValueError):
    """A model version being saved already exists."""


def _check_kind(kind: str) -> str:
    if not isinstance(kind, str) or not _KIND.match(kind):
        raise ValueError(f"invalid model kind {kind!r}: expected lowercase letters, digits, '_' or '-'")
    return kind


def _check_version(version: str, *, allow_latest: bool = True) -> str:
    if allow_latest and version == "latest":
        return version
    if not isinstance(version, str) or not _VERSION.match(version):
        expected = "'latest' or " if allow_latest else ""
        raise ValueError(f"invalid model version {version!r}: expected {expected}'v' and at least 4 digits, e.g. 'v0003'")
    return version


def model_key(kind: str, version: str) -> str:
    """Object key of a version's model file, e.g. `models/behaviour/v0003/model.joblib`."""
    return f"models/{_check_kind(kind)}/{_check_version(version, allow_latest=False)}/model.joblib"


def meta_key(kind: str, version: str) -> str:
    """Object key of a version's `meta.json`."""
    return f"models/{_check_kind(kind)}/{_check_version(version, allow_latest=False)}/meta.json"


def latest_key(kind: str) -> str:
    """Object key of the kind's `latest.json` pointer."""
    return f"models/{_check_kind(kind)}/latest.json"


def _versions(store: ObjectStore, kind: str) -> list[str]:
    """Complete versions (with a `meta.json`), oldest first."""
    prefix = f"models/{_check_kind(kind)}/"
    found = set()
    for key in store.list_keys(prefix):
        parts = key[len(prefix):].split("/")
        if len(parts) == 2 and parts[1] == "meta.json" and _VERSION.match(parts[0]):
            found.add(parts[0])
    return sorted(found, key=lambda v: int(v[1:]))


def next_version(store: ObjectStore, kind: str = "behaviour") -> str:
    """The version number a new model of `kind` gets: one above the highest stored (`v0001` first).

    Any stored `model.joblib` counts, complete or not, so an abandoned upload's number is not reused.
    """
    prefix = f"models/{_check_kind(kind)}/"
    numbers = [0]
    for key in store.list_keys(prefix):
        m = _VERSION.match(key[len(prefix):].split("/")[0])
        if m:
            numbers.append(int(m.group(1)))
    return f"v{max(numbers) + 1:04d}"


def save_model(
    store: ObjectStore, model_bytes: bytes, meta: dict[str, Any], kind: str = "behaviour", *, version: str | None = None,
) -> str:
    """Store a new model version and make it `latest`.

    Args:
        store: the object store.
        model_bytes: the serialised model (e.g. `BehaviourModel.to_bytes()`).
        meta: JSON-serialisable description (metrics, parameters, data summary). `version`,
            `kind`, `key`, `size_bytes`, `sha256` and `saved_at` are added (and override).
        kind: model family, lowercase (`behaviour`).
        version: the number to use (from `next_version`, when the bytes must carry it); default the next free one.

    Returns:
        The version, e.g. `"v0003"`.

    Raises:
        ValueError: for an invalid kind or version, empty bytes, or a `meta` that is not JSON-serialisable.
        ModelExistsError: if that version already exists.
        ObjectStoreError: if the store fails (what was written is removed).
    """
    if not isinstance(model_bytes, (bytes, bytearray)) or not model_bytes:
        raise ValueError("model_bytes must be non-empty bytes")
    version = _check_version(version, allow_latest=False) if version is not None else next_version(store, kind)
    mkey, jkey = model_key(kind, version), meta_key(kind, version)
    if store.exists(mkey) or store.exists(jkey):
        raise ModelExistsError(f"model {kind} {version} already exists in the store ({mkey})")
    full = dict(meta) | {
        "version": version, "kind": kind, "key": mkey, "size_bytes": len(model_bytes),
        "sha256": hashlib.sha256(model_bytes).hexdigest(),
        "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }  # fmt: skip
    try:
        meta_json = json.dumps(full, indent=2, sort_keys=True, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"model meta is not JSON-serialisable: {exc}") from None
    try:
        store.put_bytes(mkey, bytes(model_bytes), "application/octet-stream")
        store.put_bytes(jkey, meta_json, "application/json")
    except BaseException:
        store.delete(jkey)
        store.delete(mkey)
        raise
    store.put_bytes(latest_key(kind), json.dumps({"version": version}).encode(), "application/json")
    return version


def resolve_version(store: ObjectStore, kind: str = "behaviour", version: str = "latest") -> str:
    """The concrete version `version` names (`"latest"` → the newest complete one).

    Raises:
        ValueError: for an invalid kind or version.
        ModelNotFoundError: if no such version is stored (or none at all for `latest`).
    """
    _check_version(version)
    available = _versions(store, kind)
    if version == "latest":
        try:
            pointed = json.loads(store.get_bytes(latest_key(kind))).get("version", "")
        except (ObjectNotFoundError, ValueError, AttributeError):
            pointed = ""
        version = pointed if pointed in available else (available[-1] if available else "")
        if not version:
            raise ModelNotFoundError(f"no {kind} model has been trained yet (nothing under models/{kind}/)")
    if version not in available:
        shown = ", ".join(available[-10:]) or "none"
        raise ModelNotFoundError(f"{kind} model {version} not found; stored versions: {shown}")
    return version


def load_meta(store: ObjectStore, kind: str = "behaviour", version: str = "latest") -> dict[str, Any]:
    """A version's `meta.json` (see `resolve_version` for the errors)."""
    version = resolve_version(store, kind, version)
    return json.loads(store.get_bytes(meta_key(kind, version)))


def load_model(store: ObjectStore, kind: str = "behaviour", version: str = "latest") -> tuple[bytes, dict[str, Any]]:
    """A version's model bytes and meta.

    Args:
        store: the object store.
        kind: model family.
        version: `"latest"` or e.g. `"v0003"`.

    Returns:
        `(model_bytes, meta)`.

    Raises:
        ValueError: for an invalid kind or version, or bytes whose sha256 differs from the meta's.
        ModelNotFoundError: if the version (or any model, for `latest`) is missing.
        ObjectStoreError: if the store cannot be read.
    """
    meta = load_meta(store, kind, version)
    try:
        data = store.get_bytes(model_key(kind, meta["version"]))
    except ObjectNotFoundError:
        raise ModelNotFoundError(f"{kind} model {meta['version']}: meta.json exists but model.joblib is missing") from None
    digest = hashlib.sha256(data).hexdigest()
    if meta.get("sha256") and digest != meta["sha256"]:
        raise ValueError(f"{kind} model {meta['version']} is corrupt: sha256 {digest} != {meta['sha256']} in meta.json")
    return data, meta


def list_models(store: ObjectStore, kind: str = "behaviour") -> list[dict[str, Any]]:
    """Every complete version's meta, oldest first (empty if none); `latest` marks the current one.

    Raises:
        ValueError: for an invalid kind.
        ObjectStoreError: if the store cannot be read.
    """
    versions = _versions(store, kind)
    if not versions:
        return []
    current = resolve_version(store, kind, "latest")
    out = []
    for v in versions:
        try:
            meta = json.loads(store.get_bytes(meta_key(kind, v)))
        except ObjectNotFoundError:  # deleted between listing and reading
            continue
        out.append(meta | {"latest": v == current})
    return out
