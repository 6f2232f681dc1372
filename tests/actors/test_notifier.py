"""The notifier against real services: PostgreSQL, Redis, an HTTP webhook receiver and an SMTP server.

The webhook receiver (`WebhookReceiver`, also used by the API tests) is a real HTTP server on
127.0.0.1 that checks every request's signature with `domain.notifications.verify`; the SMTP
server is aiosmtpd's `Controller`.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pydantic
import pytest
import redis as redis_lib
from aiosmtpd.controller import Controller
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy.engine import Engine
from sqlmodel import Session

from actors.notifier import (
    ALERTS_CHANNEL,
    DELIVERY_HEADER,
    DeliveryNotDeadError,
    Notifier,
    NotifyConfig,
)
from domain.notifications import SIGNATURE_HEADER, SignatureError, verify
from domain.scoring import REVIEW_DISCLAIMER, Severity
from storage import crud
from storage import notifications as repo
from storage.crud import NotFoundError
from storage.models import (
    Alert,
    CameraCreate,
    DeliveryStatus,
    NotificationPreferenceUpdate,
    SiteCreate,
    User,
    UserCreate,
    UserRole,
    WebhookDelivery,
    utcnow,
)

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
SECRET = "webhook-test-secret-0123456789"


# ------------------------------------------------------------------------------- webhook receiver
class WebhookReceiver:
    """A real HTTP server on 127.0.0.1 recording signed POSTs; `status_for(n)` answers the n-th (1-based).

    Every request's signature is verified against `secret`; `requests` holds
    `(headers, body, signature_ok)`. `hold` (when set) makes the handler wait until it is released.
    """

    def __init__(self, status_for: Callable[[int], int], secret: str = SECRET) -> None:
        self.status_for, self.secret = status_for, secret
        self.requests: list[tuple[dict[str, str], bytes, bool]] = []
        self.hold: threading.Event | None = None
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    verify(receiver.secret, body, self.headers.get(SIGNATURE_HEADER, ""))
                    ok = True
                except SignatureError:
                    ok = False
                with receiver._lock:
                    receiver.requests.append((dict(self.headers.items()), body, ok))
                    n = len(receiver.requests)
                if receiver.hold is not None:
                    receiver.hold.wait(10)
                code = receiver.status_for(n) if ok else 401
                payload = b"ok" if code < 300 else f"failure {n}".encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()


def fail_first(n: int) -> Callable[[int], int]:
    """Answer 500 to the first `n` requests, 200 afterwards."""
    return lambda i: 500 if i <= n else 200


# ------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def redis_client() -> Iterator[redis_lib.Redis]:
    client = redis_lib.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis_lib.RedisError as exc:
        pytest.fail(f"Redis is unreachable ({exc}); start redis-server or set TEST_REDIS_URL", pytrace=False)
    yield client
    client.close()


@pytest.fixture
def key_prefix(redis_client: redis_lib.Redis) -> Iterator[str]:
    prefix = f"witness-test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    keys = list(redis_client.scan_iter(match=f"{prefix}*"))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture
def make_notifier(pg_engine: Engine, redis_client: redis_lib.Redis, key_prefix: str) -> Iterator[Callable[..., Notifier]]:
    """`make_notifier(**config)`: a notifier with tiny backoffs, closed after the test."""
    made: list[Notifier] = []

    def make(**config: Any) -> Notifier:
        values: dict[str, Any] = {"webhook_secret": SECRET, "backoff_base_s": 0.01, "backoff_factor": 2.0,
                                  "max_attempts": 5, "timeout_s": 5.0, "redis_key_prefix": key_prefix} | config  # fmt: skip
        made.append(Notifier(pg_engine, redis_client, NotifyConfig(**values)))
        return made[-1]

    yield make
    for notifier in made:
        notifier.close(timeout_s=5)


def new_alert(engine: Engine, *, camera_id: str | None = None, track_id: int | None = 7,
              severity: Severity = Severity.HIGH, score: float = 0.72) -> Alert:  # fmt: skip
    """Store an alert on a camera unique to the call (unless given)."""
    with Session(engine, expire_on_commit=False) as session:
        return crud.create_alert(
            session, score=score, severity=severity, camera_id=camera_id or f"site.cam-{uuid.uuid4().hex[:8]}",
            track_id=track_id, explanation=f"2 of 3 picked-up item(s) were not billed. {REVIEW_DISCLAIMER}",
            components={"discrepancy": {"value": 0.67, "weight": 0.4, "contribution": 0.27}},
        )  # fmt: skip


def new_user(engine: Engine, *, username: str | None = None, role: UserRole = UserRole.OPERATOR,
             camera_groups: list[str] | None = None, is_active: bool = True) -> User:  # fmt: skip
    data = UserCreate(username=username or f"user-{uuid.uuid4().hex[:8]}", password="x" * 12, role=role,
                      camera_groups=camera_groups or [], all_cameras=not camera_groups, is_active=is_active)  # fmt: skip
    with Session(engine, expire_on_commit=False) as session:
        return crud.create_user(session, data=data, password_hash="not-a-real-hash")


def set_prefs(engine: Engine, user: User, channels: list[str], min_severity: str, email: str | None = None) -> None:
    with Session(engine, expire_on_commit=False) as session:
        repo.set_preference(session, user_id=user.id, data=NotificationPreferenceUpdate(
            channels=channels, min_severity=min_severity, email=email))  # fmt: skip


# ------------------------------------------------------------------------------------- webhooks
def test_webhook_retried_with_backoff_until_delivered(make_notifier: Callable[..., Notifier], pg_engine: Engine) -> None:
    with WebhookReceiver(fail_first(2)) as receiver:
        notifier = make_notifier(webhook_urls=[receiver.url])
        alert = new_alert(pg_engine)
        outcome = notifier.notify(alert)
        assert not outcome.duplicate and len(outcome.webhooks) == 1
        result = outcome.webhooks[0].result(timeout=10)
    assert (result.status, result.attempts, result.last_error) == (DeliveryStatus.DELIVERED, 3, None)
    assert len(receiver.requests) == 3 and all(ok for _, _, ok in receiver.requests)  # every attempt signed
    assert {h[DELIVERY_HEADER] for h, _, _ in receiver.requests} == {result.delivery_id}  # one id for all attempts
    body = json.loads(receiver.requests[-1][1])
    assert body["kind"] == "alert" and body["camera_id"] == alert.camera_id
    assert body["alert"]["id"] == alert.id and body["alert"]["severity"] == "high" and body["alert"]["score"] == 0.72
    with Session(pg_engine) as session:
        row = repo.get_delivery(session, result.delivery_id)
        assert row is not None and (row.status, row.attempts, row.alert_id) == (DeliveryStatus.DELIVERED, 3, alert.id)


def test_webhook_dead_letter_then_manual_retry(make_notifier: Callable[..., Notifier], pg_engine: Engine) -> None:
    healthy = threading.Event()
    with WebhookReceiver(lambda n: 200 if healthy.is_set() else 503) as receiver:
        notifier = make_notifier(webhook_urls=[receiver.url], max_attempts=3)
        alert = new_alert(pg_engine)
        result = notifier.notify(alert).webhooks[0].result(timeout=10)
        assert (result.status, result.attempts) == (DeliveryStatus.DEAD, 3)
        assert result.last_error == "HTTP 503: failure 3"
        with Session(pg_engine) as session:
            dead, _ = repo.list_deliveries(session, alert_id=alert.id)
        assert [d.id for d in dead] == [result.delivery_id] and dead[0].payload["alert"]["id"] == alert.id

        still_dead = notifier.retry(result.delivery_id)  # the receiver is still down
        assert (still_dead.status, still_dead.attempts, still_dead.last_error) == (DeliveryStatus.DEAD, 4, "HTTP 503: failure 4")
        healthy.set()
        delivered = notifier.retry(result.delivery_id)
        assert (delivered.status, delivered.attempts, delivered.last_error) == (DeliveryStatus.DELIVERED, 5, None)
        assert len(receiver.requests) == 5 and all(ok for _, _, ok in receiver.requests)
        with pytest.raises(DeliveryNotDeadError, match="is delivered, not dead"):
            notifier.retry(result.delivery_id)
    with pytest.raises(NotFoundError):
        notifier.retry("no-such-delivery")


def test_notify_does_not_wait_for_webhooks(make_notifier: Callable[..., Notifier], pg_engine: Engine) -> None:
    with WebhookReceiver(lambda n: 200) as receiver:
        receiver.hold = threading.Event()
        notifier = make_notifier(webhook_urls=[receiver.url, receiver.url + "?second"])
        outcome = notifier.notify(new_alert(pg_engine))
        deadline = time.monotonic() + 5
        while len(receiver.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(receiver.requests) == 2  # both URLs are being posted to, in parallel ...
        assert not any(f.done() for f in outcome.webhooks)  # ... and notify() already returned
        assert notifier.flush(timeout_s=0.05) is False
        receiver.hold.set()
        assert notifier.flush(timeout_s=10) is True
    assert [f.result().status for f in outcome.webhooks] == [DeliveryStatus.DELIVERED] * 2


def test_close_leaves_waiting_retries_pending_for_the_next_notifier(make_notifier: Callable[..., Notifier],
                                                                    pg_engine: Engine) -> None:  # fmt: skip
    with WebhookReceiver(lambda n: 500 if n == 1 else 200) as receiver:
        notifier = make_notifier(webhook_urls=[receiver.url], backoff_base_s=60.0, max_attempts=3)
        outcome = notifier.notify(new_alert(pg_engine))
        started = time.monotonic()
        assert notifier.close(timeout_s=0.2) is False  # the 60 s retry was still waiting
        assert time.monotonic() - started < 10
        result = outcome.webhooks[0].result(timeout=1)
        assert (result.status, result.attempts) == (DeliveryStatus.PENDING, 1)
        with Session(pg_engine) as session:
            row = repo.get_delivery(session, result.delivery_id)
            assert (row.status, row.attempts, row.last_error) == (DeliveryStatus.PENDING, 1, "HTTP 500: failure 1")
            assert row.next_attempt_at is not None and row.next_attempt_at > utcnow() + timedelta(seconds=20)  # 60 s capped at 30
        with pytest.raises(RuntimeError, match="notifier is closed"):
            notifier.notify(new_alert(pg_engine))
        with Session(pg_engine) as session:  # the retry falls due (as if the 60 s had passed)
            row = session.get(WebhookDelivery, result.delivery_id)
            row.next_attempt_at, row.claimed_until = utcnow(), None
            session.add(row)
            session.commit()
        successor = make_notifier(webhook_urls=[receiver.url])
        successor_poll = Notifier(pg_engine, successor.redis, successor.config, poll_s=0.1)
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with Session(pg_engine) as session:
                    if repo.get_delivery(session, result.delivery_id).status is DeliveryStatus.DELIVERED:
                        break
                time.sleep(0.1)
        finally:
            successor_poll.close(timeout_s=5)
        with Session(pg_engine) as session:
            row = repo.get_delivery(session, result.delivery_id)
        assert (row.status, row.attempts, row.last_error) == (DeliveryStatus.DELIVERED, 2, None)
        assert [h[DELIVERY_HEADER] for h, _, _ in receiver.requests] == [result.delivery_id] * 2  # sent once more, same id


# ---------------------------------------------------------------------------------- in-app, dedup
def _in_app(pubsub: Any, cameras: set[str], *, quiet_s: float = 0.5) -> list[dict]:
    """Messages on the alerts channel for `cameras`, read until `quiet_s` passes without one."""
    seen = []
    while (raw := pubsub.get_message(ignore_subscribe_messages=True, timeout=quiet_s)) is not None:
        message = json.loads(raw["data"])
        if message.get("camera_id") in cameras:
            seen.append(message)
    return seen


def test_dedup_same_camera_rule_person_once(make_notifier: Callable[..., Notifier], pg_engine: Engine,
                                           redis_client: redis_lib.Redis) -> None:  # fmt: skip
    camera = f"site.cam-{uuid.uuid4().hex[:8]}"
    pubsub = redis_client.pubsub()
    pubsub.subscribe(ALERTS_CHANNEL)
    pubsub.get_message(timeout=1)  # the subscribe confirmation
    try:
        notifier, other_process = make_notifier(dedup_window_s=30), make_notifier(dedup_window_s=30)
        first = notifier.notify(new_alert(pg_engine, camera_id=camera, track_id=7))
        again = other_process.notify(new_alert(pg_engine, camera_id=camera, track_id=7))  # shared through Redis
        other_person = notifier.notify(new_alert(pg_engine, camera_id=camera, track_id=8))
        other_rule = notifier.notify(new_alert(pg_engine, camera_id=camera, track_id=7), rule="bypass")
        by_global_id = notifier.notify(new_alert(pg_engine, camera_id=camera, track_id=9), person="g-1")
        same_global_id = notifier.notify(new_alert(pg_engine, camera_id=camera, track_id=10), person="g-1")
        messages = _in_app(pubsub, {camera})
    finally:
        pubsub.close()
    assert [o.duplicate for o in (first, again, other_person, other_rule, by_global_id, same_global_id)] == [
        False, True, False, False, False, True]  # fmt: skip
    assert again.dedup_key == first.dedup_key and again.in_app_receivers == 0
    assert first.in_app_receivers is not None and first.in_app_receivers >= 1  # our own subscriber at least
    assert [m["alert"]["id"] for m in messages] == [first.alert_id, other_person.alert_id, other_rule.alert_id,
                                                    by_global_id.alert_id]  # fmt: skip
    assert all(m["kind"] == "alert" and m["alert"]["status"] == "pending" for m in messages)


def test_dedup_window_expires_and_unknown_person_never_deduplicated(make_notifier: Callable[..., Notifier],
                                                                     pg_engine: Engine) -> None:  # fmt: skip
    notifier = make_notifier(dedup_window_s=0.2)
    camera = f"site.cam-{uuid.uuid4().hex[:8]}"
    assert not notifier.notify(new_alert(pg_engine, camera_id=camera)).duplicate
    assert notifier.notify(new_alert(pg_engine, camera_id=camera)).duplicate
    time.sleep(0.3)
    assert not notifier.notify(new_alert(pg_engine, camera_id=camera)).duplicate  # the window passed
    anonymous = [notifier.notify(new_alert(pg_engine, camera_id=camera, track_id=None)) for _ in range(2)]
    assert [o.duplicate for o in anonymous] == [False, False]
    off = make_notifier(dedup_window_s=0)
    assert [off.notify(new_alert(pg_engine, camera_id=camera)).duplicate for _ in range(2)] == [False, False]


def test_redis_down_fails_open(pg_engine: Engine) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket is closed
    dead_redis = redis_lib.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    with Notifier(pg_engine, dead_redis, {}) as notifier:
        outcome = notifier.notify(new_alert(pg_engine))
    assert (outcome.duplicate, outcome.in_app_receivers, outcome.webhooks, outcome.email) == (False, None, (), None)


# ------------------------------------------------------------------------------------------ email
class SmtpSink:
    """aiosmtpd handler keeping every message."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802  (aiosmtpd's name)
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, SmtpSink]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, sink
    finally:
        controller.stop()


def test_email_goes_to_users_whose_preferences_ask(make_notifier: Callable[..., Notifier], pg_engine: Engine,
                                                   smtp_server: tuple[int, SmtpSink]) -> None:  # fmt: skip
    port, sink = smtp_server
    run = uuid.uuid4().hex[:8]
    with Session(pg_engine, expire_on_commit=False) as session:
        site = crud.create_site(session, SiteCreate(name=f"store-{run}"))
        camera = crud.create_camera(session, CameraCreate(site_id=site.id, key="cam1", camera_group="north"))
    wanted = new_user(pg_engine, username=f"ops-{run}@example.com")
    set_prefs(pg_engine, wanted, ["email", "in_app"], "medium")
    override = new_user(pg_engine, camera_groups=["north"])
    set_prefs(pg_engine, override, ["email"], "high", email=f"north-{run}@example.org")
    too_high = new_user(pg_engine)
    set_prefs(pg_engine, too_high, ["email"], "critical", email=f"critical-only-{run}@example.com")
    other_group = new_user(pg_engine, camera_groups=["south"])
    set_prefs(pg_engine, other_group, ["email"], "low", email=f"south-{run}@example.com")
    no_email = new_user(pg_engine)
    set_prefs(pg_engine, no_email, ["in_app"], "none", email=f"in-app-{run}@example.com")
    inactive = new_user(pg_engine, is_active=False)
    set_prefs(pg_engine, inactive, ["email"], "none", email=f"inactive-{run}@example.com")

    notifier = make_notifier(smtp_host="127.0.0.1", smtp_port=port, smtp_from="witness@example.com",
                             public_url="https://witness.example.com/")  # fmt: skip
    alert = new_alert(pg_engine, camera_id=camera.id, severity=Severity.HIGH)
    result = notifier.notify(alert).email.result(timeout=20)

    ours = {a for a in result.sent if run in a}
    assert ours == {f"ops-{run}@example.com", f"north-{run}@example.org"} and not result.failed
    received = {rcpt for rcpts, _ in sink.messages for rcpt in rcpts if run in rcpt}
    assert received == ours  # nobody else of this test: not critical-only, south, in-app-only or inactive users
    message = next(m for rcpts, m in sink.messages if rcpts == [f"ops-{run}@example.com"])
    assert message["From"] == "witness@example.com"
    assert message["Subject"] == f"[Digital Witness] HIGH alert on {camera.id} (score 0.72)"
    text = message.get_payload(decode=True).decode()
    assert "Severity: HIGH" in text and "Score: 0.72" in text and "were not billed" in text
    assert f"https://witness.example.com/alerts/{alert.id}" in text and REVIEW_DISCLAIMER in text


def test_email_off_without_smtp_host_and_unreachable_server_reported(make_notifier: Callable[..., Notifier],
                                                                     pg_engine: Engine) -> None:  # fmt: skip
    user = new_user(pg_engine, username=f"ops-{uuid.uuid4().hex[:8]}@example.com")
    set_prefs(pg_engine, user, ["email"], "none")
    assert make_notifier().notify(new_alert(pg_engine)).email is None  # smtp_host "" = email off
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    notifier = make_notifier(smtp_host="127.0.0.1", smtp_port=port, max_attempts=2, timeout_s=1.0)
    result = notifier.notify(new_alert(pg_engine)).email.result(timeout=20)
    assert user.username not in result.sent
    assert "ConnectionRefusedError" in result.failed[user.username]


# ----------------------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"webhook_urls": ["https://soc.example.com/hook"]}, "webhook_secret must have at least 16 characters"),
        ({"webhook_urls": ["ftp://x/y"], "webhook_secret": SECRET}, "must be http:// or https:// URLs"),
        ({"max_attempts": 0}, "greater than or equal to 1"),
        ({"backoff_factor": 0.5}, "greater than or equal to 1"),
    ],
)
def test_config_rejects_bad_values(values: dict, message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        NotifyConfig(**values)


def test_config_coerces_settings_like_objects() -> None:
    from cluster.settings import NotifySettings

    settings = NotifySettings(webhook_urls=["https://a.example/h"], webhook_secret=SECRET, max_attempts=3)
    assert NotifyConfig.coerce(settings).max_attempts == 3
    assert NotifyConfig.coerce({"webhook_urls": "https://a.example/h, https://b.example/h", "webhook_secret": SECRET}
                               ).webhook_urls == ["https://a.example/h", "https://b.example/h"]  # fmt: skip
    assert set(NotifySettings.model_fields) <= set(NotifyConfig.model_fields)  # the mirror is complete
