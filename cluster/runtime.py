"""Process start-up: environment for offline Ultralytics, Ray initialisation, database and object store."""

from __future__ import annotations

import logging
import os
from typing import Any

from cluster.settings import Settings

__all__ = ["prepare_environment", "init_ray", "open_database", "open_store", "library_log_path"]


def library_log_path(settings: Settings):
    """Where the libraries' log lines of CLI runs go (`DATA_DIR/logs/witness.log`, appended)."""
    return settings.data_dir.resolve() / "logs" / "witness.log"


def _route_library_logs(settings: Settings) -> None:
    """Send Ray's Python loggers (Ray Data's has its own console handler) and Python warnings (e.g. Ray
    Data's deprecations, "Progress bars disabled") to `library_log_path` instead of the terminal, which
    keeps the CLI's own progress, summary and errors. Idempotent."""
    loggers = [logging.getLogger(name) for name in ("ray", "ray.data", "py.warnings")]
    todo = [lg for lg in loggers if not any(getattr(h, "_witness_file", False) for h in lg.handlers)]
    if not todo:
        return
    path = library_log_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler._witness_file = True  # type: ignore[attr-defined]
    logging.captureWarnings(True)
    for logger in todo:
        for old in [h for h in logger.handlers
                    if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)]:
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.propagate = False


def prepare_environment(settings: Settings) -> None:
    """Set the variables Ultralytics and Ray read at import time (call before importing them).

    Ultralytics must never download (`YOLO_OFFLINE`), never pip-install (`YOLO_AUTOINSTALL`) and
    keep its settings in a project-owned folder (`YOLO_CONFIG_DIR`).
    """
    settings.yolo_config_dir.mkdir(parents=True, exist_ok=True)
    for key, value in settings.runtime_env_vars().items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")


def init_ray(settings: Settings, *, verbose: bool = False) -> None:
    """Join `RAY_ADDRESS`, or start a local Ray instance sized by `RAY_NUM_CPUS` (idempotent).

    Args:
        settings: the platform settings.
        verbose: keep Ray's, the libraries' and the workers' logs on the terminal (INFO and up) instead
            of routing them to `library_log_path` (the CLI's `--verbose`).
    """
    prepare_environment(settings)
    import ray

    if ray.is_initialized():
        return
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    env_vars = settings.runtime_env_vars() | {"RAY_AUTH_MODE": os.environ["RAY_AUTH_MODE"]}
    kwargs: dict[str, Any] = dict(
        runtime_env={"env_vars": env_vars},
        logging_level=logging.INFO if verbose else logging.WARNING,
        log_to_driver=verbose,
        configure_logging=True,
    )
    if settings.ray_address:
        ray.init(address=settings.ray_address, **kwargs)
    else:  # a Ray of its own, even while another (e.g. the live platform's `ray start` head) runs on this machine
        ray.init(address="local", num_cpus=settings.ray_num_cpus, include_dashboard=False, **kwargs)
    import ray.data

    logging.getLogger("ray.data").setLevel(logging.INFO if verbose else logging.WARNING)
    if not verbose:
        _route_library_logs(settings)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # the CLI draws its own
    ctx.print_on_execution_start = False


def open_database(settings: Settings):
    """Engine for `settings.sqlalchemy_url`, migrated to the latest schema."""
    from storage.db import make_engine, migrate

    engine = make_engine(settings.sqlalchemy_url, connect_timeout_s=settings.reliability.db_connect_timeout_s,
                         statement_timeout_s=settings.reliability.db_statement_timeout_s)
    migrate(engine)
    return engine


def open_store(settings: Settings, actor: str = "cli"):
    """The object store in effect: S3 when `S3_ENDPOINT` is set, else the local folder; evidence
    (clips, case files) encrypted and custody-logged as `EVIDENCE__*` says, writes recorded as `actor`."""
    from storage.objectstore import open_object_store

    return open_object_store(
        local_dir=settings.objects_dir,
        s3_endpoint=settings.s3_endpoint,
        s3_access_key=settings.s3_access_key,
        s3_secret_key=settings.s3_secret_key,
        s3_bucket=settings.s3_bucket,
        s3_secure=settings.s3_secure,
        evidence=settings.evidence.store_kwargs(settings.sqlalchemy_url, actor=actor),
    )
