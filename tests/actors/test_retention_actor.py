"""The scheduled purge on Ray: the detached `RetentionScheduler` actor runs `storage.retention.purge`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlmodel import Session, select

from storage.models import AuditLog


@pytest.fixture(scope="module")
def ray_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    import ray

    from cluster.runtime import init_ray
    from cluster.settings import Settings

    started = not ray.is_initialized()
    init_ray(Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("ray"), ray_num_cpus=2))
    yield
    if started:
        ray.shutdown()


def test_scheduler_runs_the_purge_on_ray(ray_local, pg_url, pg_engine, tmp_path) -> None:
    import ray

    from actors.retention_actor import RetentionScheduler

    name = f"retention-test-{uuid.uuid4().hex[:6]}"
    store = {"local_dir": str(tmp_path / "objects"), "s3_endpoint": None}
    scheduler = RetentionScheduler.options(name=name).remote(pg_url, store, {"audit_days": 36500}, 0.5, None)
    assert ray.get(scheduler.start.remote(), timeout=60) is True
    report = ray.get(scheduler.run_now.remote(dry_run=True), timeout=60)
    assert report["dry_run"] is True and set(report["rows"]) >= {"events", "clips", "audit"}
    import time

    deadline = time.monotonic() + 30
    while ray.get(scheduler.stats.remote())["runs"] < 2 and time.monotonic() < deadline:  # the schedule's own run
        time.sleep(0.2)
    stats = ray.get(scheduler.stats.remote())
    assert stats["runs"] >= 2 and stats["last"]["dry_run"] is False
    with Session(pg_engine) as s:
        audited = s.exec(select(AuditLog).where(AuditLog.action == "retention.purge")).all()
    assert len(audited) >= 2
    ray.kill(scheduler)
