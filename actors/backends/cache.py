"""The export cache: one export per (weights hash, backend, imgsz, precision, batch), on disk and in the object store.

Layout, under the cache root (`MODEL__EXPORT_DIR`, default `DATA_DIR/cache/exports`) and under
`models/exports/` in the object store:

    <slug>/manifest.json              the key, the artefact's name, every file's size and SHA-256
    <slug>/<stem>_openvino_model/…    the artefact (or <stem>.onnx, <stem>.engine), named after the weights

An entry is complete only once its manifest is written (last, atomically), so an export killed
halfway is never taken for a good one; an entry whose files no longer match their manifest
(truncated, edited, half-deleted) is reported as corrupt, removed, and rebuilt by the caller.
Builds of the same key on one node are serialised by a file lock; other nodes download the
entry from the object store instead of exporting again.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["ExportKey", "ExportCache", "CacheHit", "CorruptExportError", "file_sha256", "STORE_PREFIX"]

log = logging.getLogger(__name__)

STORE_PREFIX = "models/exports"
MANIFEST = "manifest.json"
_HASH_CHUNK = 1 << 20


class CorruptExportError(RuntimeError):
    """A cached export does not match its manifest."""


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class ExportKey:
    """What makes two exports interchangeable.

    Attributes:
        weights_sha256: SHA-256 of the source `.pt` file (its name does not matter: a copy under
            another name reuses the export).
        task: Ultralytics task (`pose`, `detect`, …).
        backend: `Backend` value (`openvino`, `onnx`, `tensorrt`).
        imgsz: export image size (px).
        precision: `Precision` value (`fp32`, `fp16`, `int8`).
        batch: export batch size (the maximum for TensorRT and static exports; 0 for dynamic
            OpenVINO / ONNX graphs, which take any batch).
        dynamic: dynamic input shapes.
        versions: `"ultralytics=…,openvino=…"`: a library upgrade makes a new entry.
        calibration: fingerprint of the INT8 calibration frames (empty otherwise).
    """

    weights_sha256: str
    task: str
    backend: str
    imgsz: int
    precision: str
    batch: int
    dynamic: bool
    versions: str
    calibration: str = ""

    @property
    def slug(self) -> str:
        """Folder / key name, e.g. `869e83fcdffd-openvino-fp32-1280-b1-9c1e…` (weights hash first)."""
        extra = hashlib.sha256(f"{self.task}|{self.dynamic}|{self.versions}|{self.calibration}".encode()).hexdigest()
        return f"{self.weights_sha256[:12]}-{self.backend}-{self.precision}-{self.imgsz}-b{self.batch}-{extra[:10]}"


@dataclass
class CacheHit:
    """A usable cache entry: the artefact's path and where it came from (`local`, `store`, `built`)."""

    artefact: Path
    source: str
    build_s: float = 0.0


class ExportCache:
    """Exports on this node's disk, shared through an object store.

    Args:
        root: local cache folder (created when needed).
        store: object store (`storage.objectstore.ObjectStore`) shared by the nodes, or `None`.
    """

    def __init__(self, root: Path, store: Any | None = None) -> None:
        self.root = Path(root)
        self.store = store

    def entry_dir(self, key: ExportKey) -> Path:
        """Local folder of `key`'s entry (it may not exist)."""
        return self.root / key.slug

    # ------------------------------------------------------------------ look-ups
    def verify(self, key: ExportKey) -> Path:
        """The artefact of `key`'s local entry, after checking every file against the manifest.

        Raises:
            FileNotFoundError: no complete local entry.
            CorruptExportError: the entry's files differ from its manifest (missing, resized or changed).
        """
        entry = self.entry_dir(key)
        manifest_path = entry / MANIFEST
        if not manifest_path.is_file():
            raise FileNotFoundError(f"no cached export {key.slug}")
        try:
            manifest = json.loads(manifest_path.read_text())
            files: dict[str, dict[str, Any]] = manifest["files"]
            artefact = entry / manifest["artefact"]
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptExportError(f"{manifest_path}: unreadable manifest ({exc})") from None
        if not files:
            raise CorruptExportError(f"{manifest_path}: lists no files")
        for rel, meta in files.items():
            path = entry / rel
            if not path.is_file():
                raise CorruptExportError(f"{entry}: {rel} is missing")
            if path.stat().st_size != meta["size"]:
                raise CorruptExportError(f"{entry}: {rel} has {path.stat().st_size} bytes, manifest says {meta['size']}")
            if file_sha256(path) != meta["sha256"]:
                raise CorruptExportError(f"{entry}: {rel} does not match its SHA-256")
        return artefact

    def invalidate(self, key: ExportKey, reason: str) -> None:
        """Remove `key`'s local entry (and the store's copy), e.g. after it failed to load."""
        log.warning("export cache: dropping %s: %s", key.slug, reason)
        shutil.rmtree(self.entry_dir(key), ignore_errors=True)
        if self.store is not None:
            try:
                self.store.delete_prefix(f"{STORE_PREFIX}/{key.slug}/")
            except Exception as exc:  # noqa: BLE001  (the store is a cache tier: never fatal)
                log.warning("export cache: could not delete %s from the object store: %s", key.slug, exc)

    def get_or_build(self, key: ExportKey, build: Callable[[Path], Path]) -> CacheHit:
        """The artefact of `key`: from this node's disk, else the object store, else `build` (then cached in both).

        Args:
            key: what to look up.
            build: `build(work_dir) -> artefact_path` makes the export inside the empty `work_dir`.

        Returns:
            The artefact's path and its source (`local`, `store` or `built`).

        Raises:
            Exception: whatever `build` raised (nothing is cached then).
        """
        with self._lock(key):
            try:
                return CacheHit(self.verify(key), "local")
            except FileNotFoundError:
                pass
            except CorruptExportError as exc:
                self.invalidate(key, f"corrupt: {exc}")
            if self._download(key):
                try:
                    return CacheHit(self.verify(key), "store")
                except (FileNotFoundError, CorruptExportError) as exc:
                    self.invalidate(key, f"corrupt in the object store: {exc}")
            started = time.perf_counter()
            artefact = self._build(key, build)
            hit = CacheHit(artefact, "built", time.perf_counter() - started)
            self._upload(key)
            return hit

    # ------------------------------------------------------------------ internals
    @contextmanager
    def _lock(self, key: ExportKey) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / f".{key.slug}.lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _build(self, key: ExportKey, build: Callable[[Path], Path]) -> Path:
        work = self.root / f".build-{key.slug}-{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            artefact = Path(build(work)).resolve()
            if not artefact.exists() or work.resolve() not in artefact.parents:
                raise RuntimeError(f"export produced no artefact inside {work} (got {artefact})")
            entry = self.entry_dir(key)
            shutil.rmtree(entry, ignore_errors=True)
            entry.mkdir(parents=True)
            rel = artefact.relative_to(work.resolve())
            shutil.move(str(artefact), str(entry / rel))
            self._write_manifest(key, entry, entry / rel)
            return entry / rel
        finally:
            shutil.rmtree(work, ignore_errors=True)

    @staticmethod
    def _write_manifest(key: ExportKey, entry: Path, artefact: Path) -> None:
        paths = [artefact] if artefact.is_file() else sorted(p for p in artefact.rglob("*") if p.is_file())
        files = {str(p.relative_to(entry)): {"size": p.stat().st_size, "sha256": file_sha256(p)} for p in paths}
        manifest = {"key": asdict(key), "artefact": str(artefact.relative_to(entry)), "files": files,
                    "created_at": time.time()}
        tmp = entry / f".{MANIFEST}.tmp"
        tmp.write_text(json.dumps(manifest, indent=1))
        os.replace(tmp, entry / MANIFEST)  # last: the entry counts only once this exists

    def _download(self, key: ExportKey) -> bool:
        if self.store is None:
            return False
        prefix = f"{STORE_PREFIX}/{key.slug}/"
        try:
            if not self.store.exists(prefix + MANIFEST):
                return False
            manifest = json.loads(self.store.get_bytes(prefix + MANIFEST))
            entry = self.entry_dir(key)
            shutil.rmtree(entry, ignore_errors=True)
            for rel in manifest["files"]:
                self.store.download(prefix + rel, entry / rel)
            (entry / MANIFEST).write_text(json.dumps(manifest, indent=1))
        except Exception as exc:  # noqa: BLE001  (a store hiccup means: export here instead)
            log.warning("export cache: could not fetch %s from the object store: %s", key.slug, exc)
            shutil.rmtree(self.entry_dir(key), ignore_errors=True)
            return False
        log.info("export cache: %s fetched from the object store", key.slug)
        return True

    def _upload(self, key: ExportKey) -> None:
        if self.store is None:
            return
        entry, prefix = self.entry_dir(key), f"{STORE_PREFIX}/{key.slug}/"
        try:
            manifest = json.loads((entry / MANIFEST).read_text())
            for rel in manifest["files"]:
                self.store.put_file(prefix + rel, entry / rel)
            self.store.put_file(prefix + MANIFEST, entry / MANIFEST, "application/json")  # last, as on disk
        except Exception as exc:  # noqa: BLE001  (the local entry still serves this node)
            log.warning("export cache: could not upload %s to the object store: %s", key.slug, exc)
