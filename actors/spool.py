"""A camera's disk spool: records (events, visits) kept on local disk until the event sink has them.

One file per record, written whole or not at all (a temporary file renamed into place), named so
that listing the folder gives the records in the order they were added, across restarts. A record
is anything `pickle` writes (the camera's own `domain.events.Event` objects and visit records).
"""

from __future__ import annotations

import logging
import os
import pickle
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["DiskSpool", "spool_key"]

log = logging.getLogger(__name__)

_SUFFIX = ".rec"


def spool_key(kind: str, ident: str) -> str:
    """A new record key: its creation time in nanoseconds (so keys sort by age), the kind and an id.

    Example:
        >>> spool_key("event", "e1").split("-", 1)[1]
        'event-e1'
    """
    return f"{time.time_ns():020d}-{kind}-{ident}"


class DiskSpool:
    """Records on disk under `directory`, bounded by `max_bytes` (thread-safe).

    Args:
        directory: the spool folder (created on first write).
        max_bytes: refuse new records once the folder holds this many bytes. Larger rides out a
            longer outage; what does not fit waits in the caller's (bounded) memory instead.

    A write that fails (disk full, folder unwritable, over `max_bytes`) returns `False` and leaves
    nothing behind; reads skip files that cannot be read or unpickled, logging each once.
    """

    def __init__(self, directory: str | Path, *, max_bytes: int = 256 << 20) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._sizes: dict[str, int] = {}
        self._lock = threading.Lock()
        self.write_errors = 0

    @property
    def nbytes(self) -> int:
        """Bytes held by the records this process wrote or loaded."""
        with self._lock:
            return sum(self._sizes.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._sizes)

    def put(self, key: str, record: Any) -> bool:
        """Write (or replace) the record `key`. Returns whether it is on disk now."""
        data = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            if sum(self._sizes.values()) - self._sizes.get(key, 0) + len(data) > self.max_bytes:
                self.write_errors += 1
                return False
        path = self.directory / f"{key}{_SUFFIX}"
        tmp = self.directory / f".{key}.tmp"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            self.write_errors += 1
            log.warning("spool %s: record %s not written (%s)", self.directory, key, exc)
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
            return False
        with self._lock:
            self._sizes[key] = len(data)
        return True

    def get(self, key: str) -> Any | None:
        """The record `key`, or `None` when it is not (or no longer) readable."""
        try:
            return pickle.loads((self.directory / f"{key}{_SUFFIX}").read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
            log.error("spool %s: record %s unreadable (%s)", self.directory, key, exc)
            return None

    def remove(self, key: str) -> None:
        """Delete the record `key` (a no-op when it is gone)."""
        try:
            (self.directory / f"{key}{_SUFFIX}").unlink(missing_ok=True)
        except OSError as exc:
            log.warning("spool %s: record %s not removed (%s)", self.directory, key, exc)
        with self._lock:
            self._sizes.pop(key, None)

    def keys(self) -> list[str]:
        """Keys of the records on disk, oldest first (left-over temporary files are removed)."""
        if not self.directory.is_dir():
            return []
        keys = []
        for path in self.directory.iterdir():
            if path.name.startswith(".") and path.name.endswith(".tmp"):
                path.unlink(missing_ok=True)  # a write interrupted by a crash
            elif path.name.endswith(_SUFFIX):
                key = path.name.removesuffix(_SUFFIX)
                keys.append(key)
                try:
                    size = path.stat().st_size
                except OSError:
                    size = 0
                with self._lock:
                    self._sizes[key] = size
        return sorted(keys)
