"""Hot reload: live cameras follow the version a model stage (`production`, `staging`) uses, without restarting.

A promotion or rollback (`storage.model_stages`) is stored in the database, then `announce`d: the
stage's Redis key (`storage.model_stages.stage_key`) is set and a message goes out on
`STAGE_CHANNEL`. Each camera actor runs a `ModelWatch` thread that reads the key every
`BEHAVIOUR__RELOAD_POLL_S` seconds (one Redis GET; the database is read only when the key is
missing, e.g. after a Redis restart, and the key is then rewritten). When the version changed,
the new model is loaded on the watch thread, off the frame path, and swapped in with one
assignment: the camera keeps its session, its tracks and its frames.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from storage.model_stages import STAGE_CHANNEL, Stage, stage_key

__all__ = ["announce", "change_stage", "StageVersionReader", "ModelWatch"]

log = logging.getLogger(__name__)


def announce(client: Any, *, kind: str, stage: Stage | str, version: str | None) -> None:
    """Tell live cameras that `stage` of `kind` now uses `version` (set its Redis key, publish on `STAGE_CHANNEL`).

    Args:
        client: a `redis.Redis` client.

    Raises:
        redis.RedisError: Redis is unreachable (the change is stored; cameras pick it up once the
            key is rewritten, e.g. by the next announce, or after the key expires from Redis).
    """
    st = Stage(stage).value
    pipe = client.pipeline()
    pipe.set(stage_key(kind, st), version or "")
    pipe.publish(STAGE_CHANNEL, json.dumps({"kind": kind, "stage": st, "version": version}))
    pipe.execute()


def change_stage(session: Any, store: Any, client: Any, *, action: str, kind: str, stage: Stage | str, actor: str,
                 version: str | None = None) -> tuple[Any, bool]:  # fmt: skip
    """Promote `version` to `stage` or roll `stage` back, store it, and announce it to live cameras.

    What the CLI (`witness models promote / rollback`) and the API (`POST /models/behaviour/…`) call.

    Args:
        session: open session. store: the object store. client: a `redis.Redis` (`None`: do not announce).
        action: `"promote"` (needs `version`) or `"rollback"`.
        kind / stage / actor: see `storage.model_stages.promote`.

    Returns:
        `(change, announced)`: the stored `ModelStageChange`, and whether Redis was told (when not,
        cameras reading the stage's key keep the old version until it is announced again).

    Raises:
        ValueError, storage.model_registry.ModelNotFoundError: see `storage.model_stages.promote` / `rollback`.
    """
    import redis

    from storage.model_stages import promote, rollback

    if action == "promote":
        if not version:
            raise ValueError("promote needs a version")
        row = promote(session, store, kind=kind, version=version, stage=stage, actor=actor)
    elif action == "rollback":
        row = rollback(session, kind=kind, stage=stage, actor=actor)
    else:
        raise ValueError(f"unknown stage action {action!r}: expected promote or rollback")
    if client is None:
        return row, False
    try:
        announce(client, kind=kind, stage=row.stage, version=row.version)
    except redis.RedisError as exc:
        log.warning("%s %s %s stored but not announced (Redis: %s)", kind, row.stage, row.version, exc)
        return row, False
    return row, True


class StageVersionReader:
    """Picklable `() -> version | None`: the version a stage uses now (Redis key, the database when it is missing).

    Args:
        redis_url: the platform's Redis.
        database_url: SQLAlchemy URL of the database holding `model_stage_change` (`None`: Redis only).
        kind: model family (`behaviour`).
        stage: `production` or `staging`.

    Raises (on call):
        redis.RedisError, sqlalchemy.exc.SQLAlchemyError: neither could be read.
    """

    def __init__(self, redis_url: str, database_url: str | None, *, kind: str = "behaviour",
                 stage: Stage | str = Stage.PRODUCTION) -> None:  # fmt: skip
        self.redis_url, self.database_url, self.kind, self.stage = redis_url, database_url, kind, Stage(stage).value
        self._client: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_client": None}

    def __call__(self) -> str | None:
        """The stage's version now (`None`: nothing promoted)."""
        import redis

        if self._client is None:
            self._client = redis.Redis.from_url(self.redis_url, socket_timeout=2, socket_connect_timeout=2)
        key = stage_key(self.kind, self.stage)
        value = self._client.get(key)
        if value is not None:
            return value.decode() or None
        if self.database_url is None:
            return None
        version = self._from_database()
        self._client.set(key, version or "")
        return version

    def _from_database(self) -> str | None:
        from storage.db import make_engine, session_scope
        from storage.model_stages import current_version

        engine = make_engine(self.database_url, connect_timeout_s=5)
        try:
            with session_scope(engine) as s:
                return current_version(s, self.kind, self.stage)
        finally:
            engine.dispose()


class ModelWatch:
    """Follow a stage's version on a background thread and hand each newly loaded model to `apply`.

    Args:
        name: for logs (e.g. `"camera shop.cam production"`).
        read_version: `() -> version | None` (e.g. `StageVersionReader`).
        load: `(version) -> model` (e.g. a `classify_with` function); may raise (the old model stays).
        apply: `(model or None) -> None`, called on the watch thread with the new model (`None`
            when the stage was cleared).
        poll_s: seconds between two reads. Shorter: a promotion reaches the camera sooner, at one
            Redis GET per camera per poll.

    Attributes:
        version: the version applied now (`None`: none).
        reloads: how many times a new model was applied.
        last_error: the last failed read or load, in words (`None` after a success).
    """

    def __init__(self, name: str, read_version: Callable[[], str | None], load: Callable[[str], Any],
                 apply: Callable[[Any], None], *, poll_s: float = 2.0) -> None:  # fmt: skip
        if poll_s <= 0:
            raise ValueError(f"poll_s must be > 0, but got {poll_s}")
        self.name, self.read_version, self.load, self.apply, self.poll_s = name, read_version, load, apply, poll_s
        self.version: str | None = None
        self.reloads = 0
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> bool:
        """Read the stage's version once and, if it changed, load and apply it; returns whether it changed.

        A failed read or load is logged and leaves the current model in place.
        """
        try:
            version = self.read_version()
        except Exception as exc:  # noqa: BLE001  (Redis / database outage: keep the model in use)
            self.last_error = f"reading the version: {exc!r}"
            log.warning("%s: %s", self.name, self.last_error)
            return False
        if version == self.version:
            return False
        try:
            model = self.load(version) if version else None
        except Exception as exc:  # noqa: BLE001  (a missing or broken model must not stop the camera)
            self.last_error = f"loading {version}: {exc!r}"
            log.error("%s: %s; keeping %s", self.name, self.last_error, self.version)
            return False
        self.apply(model)
        log.info("%s: model %s -> %s", self.name, self.version, version)
        self.version, self.last_error = version, None
        self.reloads += 1
        return True

    def start(self) -> None:
        """Check now, then every `poll_s` on a daemon thread (idempotent)."""
        self.check()
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name=f"model-watch-{self.name}", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.check()

    def stop(self) -> None:
        """Stop the thread (the applied model stays in use)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.poll_s + 5.0)
