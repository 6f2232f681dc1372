"""Alert notifications, the pure parts: webhook signatures, retry delays, de-duplication keys and
per-user preferences.

Webhook signature (the `X-Witness-Signature` header), modelled on Stripe's scheme:

    X-Witness-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}." + body)>

The timestamp is part of the signed bytes, so a captured request cannot be replayed later than a
receiver's tolerance; receivers call `verify(secret, body, header)` on the raw request body
(before any JSON parsing: re-serialising changes the bytes). Several `v1=` entries may appear
while a secret is being rotated; one match is enough.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from domain.scoring import Severity

__all__ = [
    "SIGNATURE_HEADER",
    "SIGNATURE_VERSION",
    "SignatureError",
    "sign",
    "verify",
    "backoff_delays",
    "dedup_key",
    "Channel",
    "SEVERITY_ORDER",
    "severity_at_least",
    "Preference",
    "wants",
    "email_address",
]

SIGNATURE_HEADER = "X-Witness-Signature"
SIGNATURE_VERSION = "v1"


class SignatureError(ValueError):
    """A webhook signature header that is malformed, too old, or matches no signature of the body."""


def _key(secret: bytes | str) -> bytes:
    if isinstance(secret, str):
        secret = secret.encode()
    if not isinstance(secret, bytes):
        raise TypeError(f"secret must be bytes or str, but got {type(secret).__name__}")
    if not secret:
        raise ValueError("secret must not be empty")
    return secret


def _digest(key: bytes, body: bytes, timestamp: int) -> str:
    return hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: bytes | str, body: bytes, timestamp: int) -> str:
    """The `X-Witness-Signature` header value of a webhook body.

    Args:
        secret: the shared secret (a `str` is UTF-8 encoded).
        body: the exact request body bytes.
        timestamp: Unix time of sending, whole seconds.

    Returns:
        `"t=<timestamp>,v1=<64 hex characters>"`.

    Raises:
        TypeError: `secret` is neither bytes nor str, or `body` is not bytes.
        ValueError: `secret` is empty or `timestamp` is negative.

    Example:
        >>> sign("s3cret", b'{"a":1}', 1700000000)[:16]
        't=1700000000,v1='
    """
    if not isinstance(body, (bytes, bytearray)):
        raise TypeError(f"body must be bytes, but got {type(body).__name__}")
    if int(timestamp) < 0:
        raise ValueError(f"timestamp must be >= 0, but got {timestamp}")
    return f"t={int(timestamp)},{SIGNATURE_VERSION}={_digest(_key(secret), bytes(body), int(timestamp))}"


def verify(secret: bytes | str, body: bytes, header: str, *, tolerance_s: float = 300.0,
           now: float | None = None) -> int:  # fmt: skip
    """Check a webhook's `X-Witness-Signature` header against its raw body (for receivers).

    Args:
        secret: the shared secret.
        body: the raw request body bytes, as received.
        header: the header value, `"t=<ts>,v1=<hex>[,v1=<hex>...]"`.
        tolerance_s: the largest accepted `|now - t|` in seconds; 0 or less turns the age check off.
            Raising it tolerates clock skew and slow retries but widens the replay window.
        now: the current Unix time (default `time.time()`).

    Returns:
        The signed timestamp `t`.

    Raises:
        SignatureError: the header is malformed, `t` is outside the tolerance, or no `v1` matches.

    Example:
        >>> verify("s3cret", b"{}", sign("s3cret", b"{}", 100), now=100)
        100
    """
    timestamp: int | None = None
    signatures: list[str] = []
    for part in (header or "").split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureError(f"malformed signature header: {header!r}")
        if name == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError(f"malformed signature timestamp: {value!r}") from None
        elif name == SIGNATURE_VERSION:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise SignatureError(f"signature header needs t= and {SIGNATURE_VERSION}=, but got {header!r}")
    now = time.time() if now is None else now
    if tolerance_s > 0 and abs(now - timestamp) > tolerance_s:
        raise SignatureError(f"signature timestamp {timestamp} is more than {tolerance_s:g} s from now ({now:.0f})")
    expected = _digest(_key(secret), bytes(body), timestamp)
    if not any(hmac.compare_digest(expected, s) for s in signatures):
        raise SignatureError("no signature matches the body")
    return timestamp


def backoff_delays(max_attempts: int, base_s: float, factor: float, max_s: float) -> list[float]:
    """Seconds to wait before each retry: `min(base_s * factor**i, max_s)` for i = 0 .. max_attempts - 2.

    Args:
        max_attempts: attempts in all, >= 1 (the first is not delayed, so there are `max_attempts - 1` delays).
        base_s: the first delay (s), >= 0.
        factor: growth per retry, >= 1. Raising it (or `max_attempts`) rides out longer outages
            at the cost of later delivery and longer-held worker threads.
        max_s: the cap of any one delay (s), >= 0.

    Returns:
        `max_attempts - 1` delays in seconds (empty for one attempt).

    Raises:
        ValueError: any argument out of its range.

    Example:
        >>> backoff_delays(5, 0.5, 2, 3)
        [0.5, 1.0, 2.0, 3.0]
    """
    if int(max_attempts) != max_attempts or max_attempts < 1:
        raise ValueError(f"max_attempts must be an integer >= 1, but got {max_attempts}")
    if base_s < 0:
        raise ValueError(f"base_s must be >= 0, but got {base_s}")
    if factor < 1:
        raise ValueError(f"factor must be >= 1, but got {factor}")
    if max_s < 0:
        raise ValueError(f"max_s must be >= 0, but got {max_s}")
    return [float(min(base_s * factor**i, max_s)) for i in range(int(max_attempts) - 1)]


def dedup_key(*, scope: str | None, rule: str, person: str | int | None) -> str:
    """The de-duplication key of a notification: one per (camera, rule, person).

    Within a window, only the first notification with a given key is sent (the notifier keeps the
    key in Redis for the window). The key is a hash, so ids of any length or character set fit.

    Args:
        scope: where it happened: the camera id (or, for bulk footage, the video id); `None` for unknown.
        rule: the rule (or scoring model) that raised the alert, e.g. `"intent"`; not blank.
        person: the person (global id, or track id); `None` for unknown.

    Returns:
        32 hex characters.

    Raises:
        ValueError: `rule` is blank.

    Example:
        >>> dedup_key(scope="s1.cam1", rule="intent", person=7) == dedup_key(scope="s1.cam1", rule="intent", person="7")
        True
    """
    if not rule or not rule.strip():
        raise ValueError("rule must not be blank")
    raw = json.dumps([scope, rule, None if person is None else str(person)], separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


class Channel(str, Enum):
    """Where a notification goes: the in-app queue (WebSocket), email, or the global webhooks."""

    IN_APP = "in_app"
    EMAIL = "email"
    WEBHOOK = "webhook"


SEVERITY_ORDER: tuple[Severity, ...] = (Severity.NONE, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL)


def severity_at_least(severity: Severity | str, minimum: Severity | str) -> bool:
    """Whether `severity` is `minimum` or above (NONE < LOW < MEDIUM < HIGH < CRITICAL).

    Raises:
        ValueError: either is not a severity name.

    Example:
        >>> severity_at_least("high", "medium")
        True
    """
    return SEVERITY_ORDER.index(Severity(severity)) >= SEVERITY_ORDER.index(Severity(minimum))


@dataclass(frozen=True)
class Preference:
    """One user's notification preference.

    Attributes:
        channels: the channels the user wants (a subset of `Channel`).
        min_severity: the least severe alert the user wants on those channels.
    """

    channels: frozenset[Channel]
    min_severity: Severity = Severity.MEDIUM

    @classmethod
    def from_values(cls, channels: Iterable[Channel | str], min_severity: Severity | str) -> Preference:
        """Build from loose values (e.g. a stored JSON list).

        Raises:
            ValueError: an unknown channel or severity name.
        """
        try:
            chosen = frozenset(Channel(c) for c in channels)
        except ValueError:
            names = ", ".join(c.value for c in Channel)
            raise ValueError(f"channels must be among {names}, but got {list(channels)}") from None
        return cls(chosen, Severity(min_severity))


def wants(preference: Preference, channel: Channel | str, severity: Severity | str) -> bool:
    """Whether a user with `preference` gets an alert of `severity` on `channel`.

    Example:
        >>> wants(Preference(frozenset({Channel.EMAIL}), Severity.HIGH), "email", "medium")
        False
    """
    return Channel(channel) in preference.channels and severity_at_least(severity, preference.min_severity)


def email_address(*, override: str | None, username: str) -> str | None:
    """The address to email a user at: the preference's override, else the username if it is an
    address (`a@b.c`), else `None`.

    Example:
        >>> email_address(override=None, username="ops@example.com")
        'ops@example.com'
    """
    if override:
        return override
    local, at, domain = username.partition("@")
    return username if at and local and "." in domain.strip(".") else None
