"""The analytics worker: every `refresh_s`, roll up new data (live events included) and start the
scheduled reports that are due.

One `AnalyticsWorker` runs in each ingress replica (a daemon thread started with the app). With
several replicas nothing happens twice: the rollup takes a PostgreSQL advisory lock, and a due
schedule is claimed with a compare-and-set on its `next_run_at` (`storage.analytics_exports.
claim_schedule`), so exactly one replica starts its report job. A report covers the period just
ended (the previous day, or seven days) of every camera of its site, and is delivered by the
notifier to the schedule's emails and webhooks once stored.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlmodel import Session

from domain.analytics import AnalyticsParams
from domain.analytics_report import ReportScheduleConfig, period_range
from pipelines.exports import ExportRunner
from storage import analytics_exports as repo
from storage import crud
from storage.analytics import site_cameras
from storage.analytics_models import ExportKind, ReportSchedule
from storage.analytics_rollup import RollupSummary, rollup_pending

__all__ = ["AnalyticsWorker", "TickResult", "start_scheduled_report", "site_report_params"]

log = logging.getLogger(__name__)


@dataclass
class TickResult:
    """What one tick did."""

    rollup: RollupSummary | None = None
    reports: list[str] = field(default_factory=list)  # export job ids started
    errors: list[str] = field(default_factory=list)


def site_report_params(session: Session, site: str) -> dict[str, Any]:
    """Title, time zone, every camera and its zones of a site (a scheduled report covers the whole site)."""
    row = crud.get_site_by_name(session, site)
    cameras = set(site_cameras(session, site=site))
    zones: dict[str, list[str]] = {}
    if row is not None:
        for camera in crud.list_cameras(session, site_id=row.id, limit=100_000)[0]:
            cameras.add(camera.id)
            try:
                zones[camera.id] = sorted(crud.camera_config(camera).zones)
            except crud.ConfigInvalidError:
                zones[camera.id] = []
    return {"site": site, "title": (row.friendly_name if row else None) or site, "timezone": row.timezone if row else "UTC",
            "cameras": sorted(cameras), "zones": zones}  # fmt: skip


def start_scheduled_report(session: Session, schedule: ReportSchedule, runner: ExportRunner, *, run_at: datetime) -> str:
    """Store and start the report job of one run of `schedule` (the period that ended before `run_at`)."""
    config = ReportScheduleConfig.model_validate(schedule.config)
    base = site_report_params(session, schedule.site)
    t_from, t_to = period_range(config, run_at=run_at, tz=base["timezone"])
    params = {**base, "from": t_from.isoformat(), "to": t_to.isoformat(),
              "deliver": {"emails": config.emails, "webhook_urls": config.webhook_urls}}  # fmt: skip
    job = repo.create_export(session, kind=ExportKind.ANALYTICS_REPORT, fmt=config.format.value, params=params,
                             site=schedule.site, created_by=schedule.created_by or f"schedule:{schedule.name}",
                             schedule_id=schedule.id)  # fmt: skip
    schedule.last_export_id = job.id
    session.add(schedule)
    session.commit()
    runner.submit(job.id)
    return job.id


class AnalyticsWorker:
    """Periodic rollups and scheduled reports (see the module docstring).

    Args:
        engine: migrated database engine.
        params: analytics knobs.
        runner: starts report jobs.
        interval_s: seconds between ticks. Shorter: fresher live analytics and punctual reports, more
            database work.
    """

    def __init__(self, engine: Any, params: AnalyticsParams, runner: ExportRunner | None, *,
                 interval_s: float = 60.0) -> None:  # fmt: skip
        self.engine, self.params, self.runner, self.interval_s = engine, params, runner, interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self, now: datetime | None = None) -> TickResult:
        """Roll up, then start every due schedule this worker claims."""
        result = TickResult()
        now = now or datetime.now(timezone.utc)
        try:
            result.rollup = rollup_pending(self.engine, self.params)
            result.errors += result.rollup.errors
        except Exception as exc:  # noqa: BLE001  (the worker keeps going; the next tick retries)
            log.exception("analytics rollup failed")
            result.errors.append(f"rollup: {type(exc).__name__}: {exc}")
        if self.runner is None:
            return result
        with Session(self.engine, expire_on_commit=False) as s:
            for schedule in repo.due_schedules(s, now=now):
                try:
                    tz = site_report_params(s, schedule.site)["timezone"]
                    run_at = repo.claim_schedule(s, schedule, tz=tz, now=now)
                    if run_at is None:
                        continue  # another replica took it
                    result.reports.append(start_scheduled_report(s, schedule, self.runner, run_at=run_at))
                except Exception as exc:  # noqa: BLE001
                    s.rollback()
                    log.exception("scheduled report %s failed to start", schedule.id)
                    result.errors.append(f"schedule {schedule.site}/{schedule.name}: {type(exc).__name__}: {exc}")
        return result

    def start(self) -> None:
        """Run `tick` every `interval_s` on a daemon thread (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="analytics-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the thread (after its current tick)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.tick()
