"""Export jobs and report schedules in storage (SQLite and PostgreSQL): only done jobs have a file; the
site file's `reports:` become schedules; a due run is claimed once."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import Session

from domain.analytics_report import ReportScheduleConfig
from domain.site import parse_site_yaml
from storage import analytics_exports as repo
from storage import crud
from storage.analytics_models import ExportKind, ExportStatus

SITE = """
site: {name: shop, timezone: Europe/Paris}
reports:
  daily: {period: daily, at: "06:30", format: pdf, emails: [boss@example.com]}
"""
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)


def test_an_export_gets_its_file_only_when_done(db_engine) -> None:
    with Session(db_engine, expire_on_commit=False) as s:
        job = repo.create_export(s, kind=ExportKind.ANALYTICS_REPORT, fmt="pdf", params={"site": "shop"}, site="shop")
        with pytest.raises(ValueError, match="must be pending"):
            repo.start_export(s, job.id) and repo.start_export(s, job.id)
        repo.update_export_progress(s, job.id, progress=0.5, stage="half way")
        s.expire_all()
        assert repo.get_export(s, job.id).progress == 0.5
        failed = repo.fail_export(s, job.id, "disk full")
        assert (failed.status, failed.key, failed.error) == (ExportStatus.FAILED, None, "disk full")
        other = repo.create_export(s, kind=ExportKind.TRACKING_DATA, fmt="csv", params={}, created_by="ann")
        repo.start_export(s, other.id)
        done = repo.finish_export(s, other.id, key="exports/x/t.zip", filename="t.zip", content_type="application/zip",
                                  size_bytes=10)  # fmt: skip
        assert done.status is ExportStatus.DONE and done.key and done.progress == 1.0
        assert [j.id for j in repo.list_exports(s, created_by="ann")[0]] == [other.id]


def test_site_file_reports_become_schedules(db_engine) -> None:
    with Session(db_engine, expire_on_commit=False) as s:
        crud.import_site_config(s, parse_site_yaml(SITE, source="shop.yaml"))
        (row,) = repo.list_schedules(s, sites=["shop"])
        assert (row.name, row.origin, row.config["emails"]) == ("daily", "site_file", ["boss@example.com"])
        local = row.next_run_at.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris"))
        assert (local.hour, local.minute) == (6, 30)
        api = repo.put_schedule(s, site="shop", name="weekly", config=ReportScheduleConfig(period="weekly"), tz="UTC")
        crud.import_site_config(s, parse_site_yaml("site: {name: shop}\n", source="shop.yaml"))
        assert [r.id for r in repo.list_schedules(s, sites=["shop"])] == [api.id]  # the file's one is gone


def test_a_due_run_is_claimed_once(db_engine) -> None:
    with Session(db_engine, expire_on_commit=False) as s:
        row = repo.put_schedule(s, site="shop", name="d", config=ReportScheduleConfig(), tz="UTC", now=NOW)
        assert repo.due_schedules(s, now=NOW) == []
        first_run = row.next_run_at
        later = first_run + timedelta(seconds=1)
        (due,) = repo.due_schedules(s, now=later)
        with Session(db_engine, expire_on_commit=False) as other_worker:
            (stale,) = repo.due_schedules(other_worker, now=later)
            assert repo.claim_schedule(s, due, tz="UTC", now=later) == first_run
            assert repo.claim_schedule(other_worker, stale, tz="UTC", now=later) is None  # the second worker loses
        s.expire_all()
        assert repo.get_schedule(s, row.id).next_run_at == first_run + timedelta(days=1)
