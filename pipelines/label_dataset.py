"""Operators' labels as a training dataset: Ray Data featurises each label's pose windows; the set is versioned by content.

Stages: the labels (`storage.labels.list_labels`, optionally `since`) → `ray.data.from_items` →
`map_batches(LabelFeaturizer)` (each worker reads the labelled person's pose from the database:
a bulk track's keypoints, or the windows a live camera attached to the alert; see
`storage.labels.pose_windows`) → rows of `(features, label, group)`.

`group` is the visit a window belongs to, the unit the train/test split keeps together, so no
window of one visit is on both sides: a bulk label's video and track (`video:{video_id}:{track_id}`),
a live label's camera, track and day (`live:{camera_id}:{track_id}:{YYYY-MM-DD}`; track ids restart
with each camera session, so two people can share one group, which only makes the split stricter).

`save_dataset` stores the windows under `datasets/behaviour/{hash}/` (`windows.npz` and
`manifest.json`: content hash, class balance, label and window counts), so a model's lineage
names exactly the data it saw.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from domain.behaviour_model import CLASSES
from domain.pose_features import FEATURE_NAMES
from pipelines.lineage import dataset_hash
from storage.objectstore import ObjectStore

__all__ = ["LabelWindows", "label_group", "LabelFeaturizer", "label_windows", "save_dataset"]


@dataclass
class LabelWindows:
    """Labelled pose windows.

    Attributes:
        features: `(N, 21)` float32, `FEATURE_NAMES` order.
        labels: `(N,)` str classes.
        groups: `(N,)` str visit ids (see the module doc).
        label_ids: `(N,)` str, the `TrainingLabel` each window came from.
        labels_used / labels_without_pose: labels that gave windows / gave none.
    """

    features: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros((0, len(FEATURE_NAMES)), np.float32))
    labels: npt.NDArray[np.str_] = field(default_factory=lambda: np.zeros(0, str))
    groups: npt.NDArray[np.str_] = field(default_factory=lambda: np.zeros(0, str))
    label_ids: npt.NDArray[np.str_] = field(default_factory=lambda: np.zeros(0, str))
    labels_used: int = 0
    labels_without_pose: int = 0

    def __len__(self) -> int:
        return len(self.labels)

    def class_balance(self) -> dict[str, int]:
        """Windows per class, in `CLASSES` order (absent classes left out)."""
        counts = Counter(self.labels.tolist())
        return {c: int(counts[c]) for c in CLASSES if counts[c]}


def label_group(*, video_id: str | None, camera_id: str | None, track_id: int | None, created_at: datetime) -> str:
    """The visit a label's windows belong to (see the module doc).

    Example:
        >>> label_group(video_id="v1", camera_id="s.c", track_id=3, created_at=datetime(2026, 1, 2))
        'video:v1:3'
    """
    if video_id is not None:
        return f"video:{video_id}:{track_id}"
    return f"live:{camera_id}:{track_id}:{created_at.date().isoformat()}"


class LabelFeaturizer:
    """Ray Data class UDF: label ids → their pose windows (one output row per window).

    Args:
        database_url: the database holding the labels and the poses.
        window / stride: frames per window and between windows.
    """

    def __init__(self, database_url: str, window: int, stride: int) -> None:
        from storage.db import make_engine

        self.engine = make_engine(database_url)
        self.window, self.stride = window, stride

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        """`batch["label_id"]` `(B,)` → `features` `(M, 21)`, `label`, `group`, `label_id` `(M,)` and `found` per input."""
        from sqlmodel import Session

        from storage.labels import pose_windows
        from storage.models import TrainingLabel

        feats, labels, groups, ids, empty = [], [], [], [], []
        with Session(self.engine) as s:
            for label_id in [str(x) for x in batch["label_id"]]:
                row = s.get(TrainingLabel, label_id)
                f = pose_windows(s, row, window=self.window, stride=self.stride)[0] if row is not None else np.zeros((0, 21))
                if len(f) == 0:
                    empty.append(label_id)
                    continue
                g = label_group(video_id=row.video_id, camera_id=row.camera_id, track_id=row.track_id,
                                created_at=row.created_at)  # fmt: skip
                feats.append(f.astype(np.float32))
                labels += [row.label] * len(f)
                groups += [g] * len(f)
                ids += [label_id] * len(f)
        X = np.concatenate(feats) if feats else np.zeros((0, len(FEATURE_NAMES)), np.float32)
        return {"features": X, "label": np.asarray(labels, dtype=object), "group": np.asarray(groups, dtype=object),
                "label_id": np.asarray(ids, dtype=object)}  # fmt: skip


def label_windows(database_url: str, *, window: int, stride: int, since: datetime | None = None,
                  batch_size: int = 64) -> LabelWindows:  # fmt: skip
    """Every operator label (given at or after `since`) featurised on Ray Data; Ray must be initialised.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database cannot be read.
    """
    import ray.data

    from storage.db import make_engine, session_scope
    from storage.labels import list_labels

    engine = make_engine(database_url)
    try:
        with session_scope(engine) as s:
            ids = [r.id for r in list_labels(s, since=since, limit=None)[0]]
    finally:
        engine.dispose()
    if not ids:
        return LabelWindows()
    ds = ray.data.from_items([{"label_id": i} for i in sorted(ids)])
    ds = ds.map_batches(LabelFeaturizer, fn_constructor_args=(database_url, window, stride), batch_size=batch_size,
                        concurrency=1, num_cpus=0.5)  # fmt: skip
    feats, labels, groups, label_ids = [], [], [], []
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
        if len(batch["label"]) == 0:
            continue
        feats.append(np.stack(list(batch["features"])).astype(np.float32))
        labels += [str(x) for x in batch["label"]]
        groups += [str(x) for x in batch["group"]]
        label_ids += [str(x) for x in batch["label_id"]]
    order = np.lexsort((np.arange(len(labels)), np.asarray(label_ids, dtype=str))) if labels else np.zeros(0, int)
    used = len(set(label_ids))
    return LabelWindows(
        np.concatenate(feats)[order] if feats else LabelWindows().features, np.asarray(labels, str)[order],
        np.asarray(groups, str)[order], np.asarray(label_ids, str)[order], used, len(ids) - used,
    )  # fmt: skip


def save_dataset(store: ObjectStore, features: npt.ArrayLike, labels: npt.ArrayLike, groups: npt.ArrayLike, *,
                 summary: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """Store a dataset version under its content hash; returns its manifest (the same content gives the same key).

    Args:
        features: `(N, 21)`. labels / groups: `(N,)`.
        summary: more facts for the manifest (sources, label counts, `since`).

    Returns:
        `{"hash", "key", "windows", "groups", "class_balance", **summary}`.

    Raises:
        ObjectStoreError: the store cannot be written.
    """
    X = np.asarray(features, np.float32)
    y, g = np.asarray(labels, str), np.asarray(groups, str)
    digest = dataset_hash(X, y.tolist(), g.tolist())
    prefix = f"datasets/behaviour/{digest[:16]}"
    counts = Counter(y.tolist())
    manifest = {"hash": digest, "key": f"{prefix}/windows.npz", "windows": int(len(y)), "groups": int(len(set(g.tolist()))),
                "class_balance": {c: int(counts[c]) for c in CLASSES if counts[c]}, **(summary or {})}  # fmt: skip
    if not store.exists(manifest["key"]):
        buf = io.BytesIO()
        np.savez_compressed(buf, features=X, labels=y, groups=g)
        store.put_bytes(manifest["key"], buf.getvalue(), "application/octet-stream")
    store.put_bytes(f"{prefix}/manifest.json", json.dumps(manifest, default=str).encode(), "application/json")
    return manifest
