"""Alert notifications: in-app (Redis → WebSocket), signed webhooks with retries, and email.

Call `Notifier.notify(alert)` right after an alert is stored, from a driver process or inside an
actor (the event sink). It returns at once: de-duplication and the in-app message are two Redis
round trips; webhooks and email run on the notifier's own worker threads. `flush()` waits for
them, `close()` also stops the workers.

Channels:
- in-app: every alert that is not a duplicate is published on `ALERTS_CHANNEL` as
  `{"kind": "alert", "camera_id": ..., "alert": {AlertPublic fields}}`; everyone sees the queue
  (the WebSocket applies camera-group visibility).
- webhooks: global (`webhook_urls`); each URL gets the same JSON body, signed with
  `X-Witness-Signature` (`domain.notifications.sign`; receivers use `verify`), with the delivery id
  in `X-Witness-Delivery` (the same on every attempt: receivers can de-duplicate on it). Non-2xx
  answers and network errors are retried with exponential backoff; after the last failure the
  delivery is stored as a dead letter (`webhook_delivery.status = dead`), which `retry()` re-sends.
  Between attempts the delivery is stored as `pending` with its next attempt's time, so a retry
  outlives the process: a notifier closed (or killed) with retries waiting leaves them pending,
  and any notifier started with `poll_s` (the event sink's, the ingress's) claims and sends them.
- email: to active users whose preferences include email, whose `min_severity` is at or below the
  alert's and who may see the camera (`storage.notifications.email_recipients`); off while
  `smtp_host` is empty.

De-duplication: the first notification of a (camera, rule, person) within `dedup_window_s` wins;
the key is claimed with Redis `SET NX PX`, so it holds across processes. If Redis is unreachable
the notifier fails open (notifies, logs a warning): a duplicate is better than a missed alert.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from domain.notifications import SIGNATURE_HEADER, backoff_delays, dedup_key, sign
from domain.scoring import REVIEW_DISCLAIMER
from storage import notifications as repo
from storage.crud import NotFoundError
from storage.db import session_scope
from storage.models import AlertPublic, DeliveryStatus, WebhookDelivery, new_id, utcnow

__all__ = [
    "ALERTS_CHANNEL",
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "NotifyConfig",
    "DeliveryResult",
    "EmailResult",
    "NotifyOutcome",
    "DeliveryNotDeadError",
    "Notifier",
    "alert_message",
]

log = logging.getLogger(__name__)

ALERTS_CHANNEL = "witness:alerts"
DELIVERY_HEADER = "X-Witness-Delivery"
EVENT_HEADER = "X-Witness-Event"
_ERROR_CHARS = 500  # stored error messages are cut to this length


class NotifyConfig(BaseModel):
    """Notifier settings; mirrors `cluster.settings.NotifySettings`, so
    `NotifyConfig(**settings.notify.model_dump())` works. Unknown keys are ignored.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    webhook_urls: list[str] = Field(default_factory=list, title="Webhook URLs (http/https) every alert is POSTed to")
    webhook_secret: str = Field("", title="HMAC-SHA256 secret of the webhook signature (>= 16 characters)")
    max_attempts: int = Field(5, ge=1, le=20, title="Attempts per webhook delivery before it is dead-lettered")
    backoff_base_s: float = Field(0.5, ge=0, title="First retry delay (s)")
    backoff_factor: float = Field(2.0, ge=1, title="Retry delay growth per attempt")
    backoff_max_s: float = Field(30.0, ge=0, title="Longest retry delay (s)")
    timeout_s: float = Field(10.0, gt=0, title="HTTP and SMTP timeout (s)")
    dedup_window_s: float = Field(300.0, ge=0, title="Same camera + rule + person within this window: one notification")
    smtp_host: str = Field("", title="SMTP server; empty turns email off")
    smtp_port: int = Field(25, ge=1, le=65535, title="SMTP port")
    smtp_from: str = Field("witness@localhost", min_length=3, title="Sender address")
    smtp_user: str | None = Field(None, title="SMTP login user (none: no login)")
    smtp_password: str | None = Field(None, title="SMTP login password")
    smtp_starttls: bool = Field(False, title="Upgrade the SMTP connection with STARTTLS")
    public_url: str = Field("", title="Base URL of the web UI for links in emails (e.g. https://witness.example.com)")
    redis_key_prefix: str = Field("witness:", min_length=1, title="Prefix of the de-duplication keys in Redis")

    @field_validator("webhook_urls", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):  # "a,b" from an environment variable
            return [u.strip() for u in value.split(",") if u.strip()]
        return value

    @field_validator("webhook_urls")
    @classmethod
    def _http_only(cls, urls: list[str]) -> list[str]:
        bad = [u for u in urls if not u.startswith(("http://", "https://"))]
        if bad:
            raise ValueError(f"webhook_urls must be http:// or https:// URLs, but got {bad}")
        return urls

    @model_validator(mode="after")
    def _secret_with_urls(self) -> NotifyConfig:
        if self.webhook_urls and len(self.webhook_secret) < 16:
            raise ValueError("webhook_secret must have at least 16 characters when webhook_urls are set")
        return self

    @classmethod
    def coerce(cls, settings: Any) -> NotifyConfig:
        """A `NotifyConfig` from itself, a mapping, another pydantic model or any object with the attributes.

        Raises:
            pydantic.ValidationError: a value is invalid.
        """
        if isinstance(settings, cls):
            return settings
        if isinstance(settings, Mapping):
            return cls.model_validate(dict(settings))
        if isinstance(settings, BaseModel):
            return cls.model_validate(settings.model_dump())
        return cls.model_validate({name: getattr(settings, name) for name in cls.model_fields if hasattr(settings, name)})


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome of one webhook delivery: delivered, or dead after `attempts` (with the last error)."""

    delivery_id: str
    url: str
    status: DeliveryStatus
    attempts: int
    last_error: str | None


@dataclass(frozen=True)
class EmailResult:
    """Addresses emailed, and those that could not be (address → error)."""

    sent: tuple[str, ...]
    failed: Mapping[str, str]


@dataclass(frozen=True)
class NotifyOutcome:
    """What `Notifier.notify` did.

    Attributes:
        alert_id: the alert.
        duplicate: it was dropped as a duplicate (nothing was sent).
        dedup_key: its de-duplication key.
        in_app_receivers: Redis subscribers that got the in-app message (0 for a duplicate,
            `None` if publishing failed).
        webhooks: one future per webhook URL.
        email: the email future, `None` when email is off or it was a duplicate.
    """

    alert_id: str
    duplicate: bool
    dedup_key: str
    in_app_receivers: int | None
    webhooks: tuple[Future, ...] = ()
    email: Future | None = None

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait for the webhook and email work; returns whether all of it finished in time."""
        futures = [*self.webhooks, *([self.email] if self.email is not None else [])]
        return not wait(futures, timeout=timeout_s).not_done if futures else True


class DeliveryNotDeadError(ValueError):
    """A retry asked for a delivery that is not a dead letter (it was delivered already)."""


def alert_message(alert: Any) -> dict[str, Any]:
    """The in-app message and webhook body of an alert: `{"kind": "alert", "camera_id", "alert": {...}}`.

    Args:
        alert: a `storage.models.Alert` (or anything `AlertPublic` validates from).

    Returns:
        A JSON-ready dict; `alert` holds the `AlertPublic` fields, times as ISO 8601.
    """
    public = AlertPublic.model_validate(alert).model_dump(mode="json")
    return {"kind": "alert", "camera_id": public["camera_id"], "alert": public}


def _body(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def _cut(text: str) -> str:
    return text if len(text) <= _ERROR_CHARS else text[: _ERROR_CHARS - 1] + "…"


class Notifier:
    """Sends alert notifications (see the module docstring). Thread-safe; one per process.

    Args:
        engine: migrated database engine (preferences, deliveries, camera groups).
        redis: a synchronous `redis.Redis` client (de-duplication, in-app messages).
        settings: a `NotifyConfig`, `cluster.settings.NotifySettings`, a mapping or any object
            with those attributes.
        max_workers: worker threads for webhooks and email. A delivery holds one thread through
            its retries, so more workers ride out a slow receiver without delaying other alerts.
        poll_s: when given, a background thread looks this often for pending deliveries whose
            next attempt is due (left by a closed or crashed notifier) and sends them.

    Raises:
        pydantic.ValidationError: invalid settings (e.g. webhook URLs without a secret).
    """

    def __init__(self, engine: Any, redis: Any, settings: Any, *, max_workers: int = 4,
                 poll_s: float | None = None) -> None:  # fmt: skip
        self.engine, self.redis = engine, redis
        self.config = NotifyConfig.coerce(settings)
        c = self.config
        self.delays_s = backoff_delays(c.max_attempts, c.backoff_base_s, c.backoff_factor, c.backoff_max_s)
        self._http = httpx.Client(timeout=c.timeout_s, headers={"User-Agent": "digital-witness-notifier"})
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="notifier")
        self._pending: set[Future] = set()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._closed = False
        # A claim on a pending delivery lasts through one attempt (HTTP timeout) with room to record it.
        self.lease_s = 2 * c.timeout_s + 5.0
        self._poller: threading.Thread | None = None
        if poll_s is not None:
            self._poller = threading.Thread(target=self._poll, args=(poll_s,), name="notifier-retries", daemon=True)
            self._poller.start()

    # ------------------------------------------------------------------------------- public API
    def notify(self, alert: Any, *, rule: str = "intent", person: str | int | None = None) -> NotifyOutcome:
        """Notify about a stored alert, unless a notification of the same camera, rule and person
        went out within `dedup_window_s`. Returns without waiting for webhooks or email.

        Args:
            alert: the stored `storage.models.Alert`.
            rule: what raised it (a rule name, or `"intent"` for the intent score).
            person: the person's global id; default the alert's `track_id`. When neither is
                known the alert is never treated as a duplicate.

        Returns:
            What was done; `outcome.wait()` waits for the background work.

        Raises:
            RuntimeError: the notifier is closed.
            ValueError: `rule` is blank.
        """
        if self._closed:
            raise RuntimeError("notifier is closed")
        person = person if person is not None else alert.track_id
        scope = alert.camera_id or alert.video_id or alert.job_id
        key = dedup_key(scope=scope, rule=rule, person=person if person is not None else f"alert:{alert.id}")
        if not self._claim(key):
            return NotifyOutcome(alert.id, True, key, 0)
        message = alert_message(alert)
        receivers: int | None
        try:
            receivers = int(self.redis.publish(ALERTS_CHANNEL, json.dumps(message)))
        except RedisError as exc:
            log.warning("in-app message of alert %s not published: %s", alert.id, exc)
            receivers = None
        webhooks = tuple(self._submit(self._deliver, new_id(), url, alert.id, message) for url in self.config.webhook_urls)
        email = self._submit(self._email, message["alert"]) if self.config.smtp_host else None
        return NotifyOutcome(alert.id, False, key, receivers, webhooks, email)

    def retry(self, delivery_id: str) -> WebhookDelivery:
        """Re-send a dead letter once, now, with a fresh signature; it becomes delivered, or stays
        dead with the new error (its attempts grow by one either way).

        Args:
            delivery_id: the dead delivery.

        Returns:
            The updated delivery.

        Raises:
            NotFoundError: no delivery with this id.
            DeliveryNotDeadError: the delivery was delivered already.
        """
        with session_scope(self.engine) as session:
            row = repo.get_delivery(session, delivery_id)
            if row is None:
                raise NotFoundError(f"webhook delivery {delivery_id!r} not found")
            if row.status is not DeliveryStatus.DEAD:
                raise DeliveryNotDeadError(f"webhook delivery {delivery_id!r} is {row.status.value}, not dead")
            url, payload, attempts = row.url, dict(row.payload), row.attempts
        error = self._post_once(url, _body(payload), delivery_id)
        status = DeliveryStatus.DELIVERED if error is None else DeliveryStatus.DEAD
        with session_scope(self.engine) as session:
            return repo.update_delivery(session, delivery_id, status=status, attempts=attempts + 1, last_error=error)

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait for the webhook and email work submitted so far; returns whether it all finished in time."""
        with self._lock:
            pending = list(self._pending)
        return not wait(pending, timeout=timeout_s).not_done if pending else True

    def close(self, timeout_s: float | None = 30.0) -> bool:
        """Wait up to `timeout_s` for pending work, then stop: retries still waiting stay `pending` in
        the database (with their next attempt's time) for another notifier to send. Idempotent.

        Returns:
            Whether everything finished within the timeout.
        """
        if self._closed:
            return True
        self._closed = True
        finished = self.flush(timeout_s)
        self._closing.set()
        if self._poller is not None:
            self._poller.join(timeout=self.config.timeout_s + 5)
        self._executor.shutdown(wait=True)
        self._http.close()
        return finished

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------- internals
    def _claim(self, key: str) -> bool:
        """Claim the de-duplication key for the window; False if someone holds it already."""
        window_ms = int(self.config.dedup_window_s * 1000)
        if window_ms <= 0:
            return True
        try:
            return bool(self.redis.set(f"{self.config.redis_key_prefix}notify:dedup:{key}", b"1", nx=True, px=window_ms))
        except RedisError as exc:
            log.warning("notification de-duplication unavailable (%s); notifying anyway", exc)
            return True

    def _submit(self, fn: Any, *args: Any) -> Future:
        future = self._executor.submit(fn, *args)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future) -> None:
        with self._lock:
            self._pending.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.error("notification task failed", exc_info=future.exception())

    def _post_once(self, url: str, body: bytes, delivery_id: str) -> str | None:
        """POST the body once; `None` on a 2xx answer, else the error."""
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self.config.webhook_secret, body, int(time.time())),
            DELIVERY_HEADER: delivery_id,
            EVENT_HEADER: "alert",
        }
        try:
            response = self._http.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return _cut(f"{type(exc).__name__}: {exc}")
        if response.is_success:
            return None
        return _cut(f"HTTP {response.status_code}: {response.text.strip()}")

    def _save(self, delivery_id: str, url: str, alert_id: str, payload: dict[str, Any], *, attempts: int,
              status: DeliveryStatus, error: str | None, retry_in_s: float | None = None) -> bool:  # fmt: skip
        """Store a delivery's state (`retry_in_s`: when its next attempt is due); False if the database is down."""
        from storage.reliability import save_delivery

        now = utcnow()
        nxt = None if retry_in_s is None else now + timedelta(seconds=retry_in_s)
        try:
            with session_scope(self.engine) as session:
                save_delivery(session, delivery_id, alert_id=alert_id, url=url, payload=payload, attempts=attempts,
                              status=status, last_error=error, next_attempt_at=nxt,
                              claimed_until=None if nxt is None else nxt + timedelta(seconds=self.lease_s))
            return True
        except SQLAlchemyError as exc:
            log.error("webhook delivery %s (%s) of alert %s not recorded: %s", delivery_id, status.value, alert_id, exc)
            return False

    def _deliver(self, delivery_id: str, url: str, alert_id: str, payload: dict[str, Any]) -> DeliveryResult:
        body = _body(payload)
        attempts, error = 0, None
        for attempt in range(self.config.max_attempts):
            if attempt:
                delay = self.delays_s[attempt - 1]
                # Persist the wait: if this process ends now, another notifier sends the retry when due.
                self._save(delivery_id, url, alert_id, payload, attempts=attempts, status=DeliveryStatus.PENDING,
                           error=error, retry_in_s=delay)
                if self._closing.wait(delay):
                    log.info("webhook %s for alert %s: notifier closed; attempt %d left pending", url, alert_id,
                             attempt + 1)  # fmt: skip
                    return DeliveryResult(delivery_id, url, DeliveryStatus.PENDING, attempts, error)
            attempts += 1
            error = self._post_once(url, body, delivery_id)
            if error is None:
                break
            log.info("webhook %s attempt %d for alert %s failed: %s", url, attempts, alert_id, error)
        status = DeliveryStatus.DELIVERED if error is None else DeliveryStatus.DEAD
        if status is DeliveryStatus.DEAD:
            log.warning("webhook %s for alert %s dead-lettered after %d attempts: %s", url, alert_id, attempts, error)
        self._save(delivery_id, url, alert_id, payload, attempts=attempts, status=status, error=error)
        return DeliveryResult(delivery_id, url, status, attempts, error)

    def _poll(self, poll_s: float) -> None:
        """Send pending deliveries whose next attempt is due, one attempt per claim, until closed."""
        from storage.reliability import claim_due_deliveries

        while not self._closing.wait(poll_s):
            try:
                with session_scope(self.engine) as session:
                    due = [(d.id, d.url, d.alert_id, dict(d.payload), d.attempts)
                           for d in claim_due_deliveries(session, lease_s=self.lease_s)]  # fmt: skip
            except SQLAlchemyError as exc:
                log.warning("pending webhook deliveries not read: %s", str(exc).splitlines()[0])
                continue
            for delivery_id, url, alert_id, payload, attempts in due:
                if self._closing.is_set():
                    return
                self.retry_pending(delivery_id, url, alert_id, payload, attempts)

    def retry_pending(self, delivery_id: str, url: str, alert_id: str, payload: dict[str, Any],
                      attempts: int) -> DeliveryResult:  # fmt: skip
        """One more attempt of a pending delivery that has made `attempts`; stores the new state."""
        error = self._post_once(url, _body(payload), delivery_id)
        attempts += 1
        if error is None:
            status, retry_in_s = DeliveryStatus.DELIVERED, None
        elif attempts >= self.config.max_attempts:
            status, retry_in_s = DeliveryStatus.DEAD, None
            log.warning("webhook %s for alert %s dead-lettered after %d attempts: %s", url, alert_id, attempts, error)
        else:
            status, retry_in_s = DeliveryStatus.PENDING, self.delays_s[attempts - 1]
        self._save(delivery_id, url, alert_id, payload, attempts=attempts, status=status, error=error,
                   retry_in_s=retry_in_s)
        log.info("webhook %s for alert %s: pending delivery %s attempt %d: %s", url, alert_id, delivery_id, attempts,
                 status.value)  # fmt: skip
        return DeliveryResult(delivery_id, url, status, attempts, error)

    def _email_text(self, alert: Mapping[str, Any]) -> tuple[str, str]:
        where = alert.get("camera_id") or (f"video {alert['video_id']}" if alert.get("video_id") else "unknown camera")
        severity = str(alert["severity"]).upper()
        link = f"{self.config.public_url.rstrip('/')}/alerts/{alert['id']}"
        subject = f"[Digital Witness] {severity} alert on {where} (score {alert['score']:.2f})"
        explanation = alert.get("explanation") or "(no explanation)"
        lines = [
            f"Severity: {severity}",
            f"Score: {alert['score']:.2f}",
            f"Camera: {where}",
            f"Raised at: {alert['created_at']}",
            "",
            explanation,
            "",
            f"Review it: {link}",
        ]
        if REVIEW_DISCLAIMER not in explanation:
            lines += ["", REVIEW_DISCLAIMER]
        return subject, "\n".join(lines) + "\n"

    def _email(self, alert: Mapping[str, Any]) -> EmailResult:
        with session_scope(self.engine) as session:
            recipients = repo.email_recipients(session, severity=alert["severity"], camera_id=alert.get("camera_id"),
                                              job_id=alert.get("job_id"))
        if not recipients:
            return EmailResult((), {})
        subject, text = self._email_text(alert)
        todo = [r.address for r in recipients]
        sent: list[str] = []
        refused: dict[str, str] = {}
        error: str | None = None
        for attempt in range(self.config.max_attempts):
            if attempt and self._closing.wait(self.delays_s[attempt - 1]):
                break
            try:
                self._send_mail(todo, subject, text, sent, refused)
                todo, error = [], None
                break
            except (smtplib.SMTPException, OSError) as exc:  # connection-level: retry those not sent yet
                todo = [a for a in todo if a not in sent and a not in refused]
                error = _cut(f"{type(exc).__name__}: {exc}")
                log.info("email attempt %d for alert %s failed: %s", attempt + 1, alert["id"], error)
        failed = {**refused, **{a: error or "not attempted" for a in todo}}
        for address, reason in failed.items():
            log.warning("email about alert %s to %s not sent: %s", alert["id"], address, reason)
        return EmailResult(tuple(sent), failed)

    def _send_mail(self, addresses: list[str], subject: str, text: str, sent: list[str], refused: dict[str, str]) -> None:
        c = self.config
        with smtplib.SMTP(c.smtp_host, c.smtp_port, timeout=c.timeout_s) as smtp:
            if c.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if c.smtp_user:
                smtp.login(c.smtp_user, c.smtp_password or "")
            for address in addresses:
                message = EmailMessage()
                message["From"], message["To"], message["Subject"] = c.smtp_from, address, subject
                message.set_content(text)
                try:
                    smtp.send_message(message)
                except smtplib.SMTPRecipientsRefused as exc:  # this address only; the others still go
                    refused[address] = _cut(f"refused: {exc.recipients}")
                    continue
                sent.append(address)
