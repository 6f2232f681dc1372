"""Lineage of a trained model: the content hash of its dataset and the code version that trained it."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = ["dataset_hash", "code_version"]


def dataset_hash(features: npt.ArrayLike, labels: Sequence[str], groups: Sequence[str]) -> str:
    """SHA-256 (hex) of a dataset's content: every window's features, label and source group, in order.

    Two datasets hash alike exactly when they hold the same windows with the same labels from the
    same sources in the same order, whatever the files or rows were called on the way.

    Args:
        features: `(N, F)` float window features (NaN allowed).
        labels: `N` class names.
        groups: `N` source ids (clip or visit) the split kept together.

    Raises:
        ValueError: if the lengths differ.
    """
    X = np.ascontiguousarray(np.asarray(features, dtype=np.float32))
    if not (len(X) == len(labels) == len(groups)):
        raise ValueError(f"features, labels and groups must have one row each, got {len(X)}, {len(labels)}, {len(groups)}")
    h = hashlib.sha256()
    h.update(str(X.shape).encode())
    h.update(np.nan_to_num(X, nan=np.float32(-1e30)).tobytes())
    for y, g in zip(labels, groups):
        h.update(f"\0{y}\0{g}".encode())
    return h.hexdigest()


@lru_cache(maxsize=1)
def code_version() -> str:
    """The code that runs: `git:<sha>` (with `-dirty` when the work tree has changes) or `pkg:<version>` when not in git."""
    root = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip()  # fmt: skip
        return f"git:{sha}{'-dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"pkg:{version('digital-witness')}"
        except PackageNotFoundError:
            return "unknown"
