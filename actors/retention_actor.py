"""The scheduled retention purge on Ray: one detached actor that runs `storage.retention.purge` every interval.

`witness up` starts it (named `witness-retention`) when `RETENTION__PURGE_INTERVAL_S` > 0; `witness
down` stops it. Each run is audited by the purge itself; a failed run is logged and retried at the
next interval.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import ray

__all__ = ["RetentionScheduler", "RETENTION_NAME"]

log = logging.getLogger(__name__)

RETENTION_NAME = "witness-retention"


@ray.remote(num_cpus=0.05, max_restarts=-1, max_task_retries=-1)
class RetentionScheduler:
    """Runs the purge every `interval_s` (the first run `interval_s` after start).

    Args:
        database_url: the results database.
        store: `storage.objectstore.open_object_store` keyword arguments.
        default: `domain.retention.RetentionPolicy` fields (the `RETENTION__*` days).
        interval_s: seconds between runs.
        upload_dir: the API's upload folder, or `None`.
    """

    def __init__(self, database_url: str, store: dict[str, Any], default: dict[str, Any], interval_s: float,
                 upload_dir: str | None = None) -> None:  # fmt: skip
        from domain.retention import RetentionPolicy
        from storage.db import make_engine
        from storage.objectstore import open_object_store

        kwargs = dict(store)
        kwargs["local_dir"] = Path(kwargs["local_dir"])
        self.engine = make_engine(database_url)
        self.store = open_object_store(**kwargs)
        self.default = RetentionPolicy(**default)
        self.interval_s = interval_s
        self.upload_dir = Path(upload_dir) if upload_dir else None
        self.runs = 0
        self.last: dict[str, Any] | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> bool:
        """Begin the schedule (idempotent)."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop())
        return True

    async def run_now(self, dry_run: bool = False) -> dict[str, Any]:
        """One purge now; returns its report."""
        return await asyncio.to_thread(self._run, dry_run)

    async def stats(self) -> dict[str, Any]:
        """Runs so far and the last report."""
        return {"runs": self.runs, "last": self.last, "interval_s": self.interval_s}

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await asyncio.to_thread(self._run, False)
            except Exception:  # noqa: BLE001  (a failed run must not stop the schedule)
                log.exception("retention purge failed; next try in %.0f s", self.interval_s)

    def _run(self, dry_run: bool) -> dict[str, Any]:
        from storage.retention import purge

        report = purge(self.engine, self.store, default=self.default, dry_run=dry_run, upload_dir=self.upload_dir)
        self.runs += 1
        self.last = report.as_dict()
        return self.last
