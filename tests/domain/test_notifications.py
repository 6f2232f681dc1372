"""Webhook signatures, retry delays, de-duplication keys and preference matching (pure)."""

from __future__ import annotations

from contextlib import ExitStack as DoesNotRaise
from typing import Any

import pytest

from domain.notifications import (
    Channel,
    Preference,
    SignatureError,
    backoff_delays,
    dedup_key,
    email_address,
    severity_at_least,
    sign,
    verify,
    wants,
)
from domain.scoring import Severity

SECRET = "0123456789abcdef-secret"
BODY = b'{"kind":"alert","alert":{"id":"a1","score":0.72}}'
T = 1_700_000_000


def test_sign_is_hmac_sha256_over_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY, T) == f"t={T},v1={expected}"
    assert sign(SECRET.encode(), BODY, T) == sign(SECRET, BODY, T)  # bytes and str secrets agree


@pytest.mark.parametrize(
    ("secret", "body", "timestamp", "exception"),
    [
        (SECRET, b"", T, DoesNotRaise()),  # empty body: still signable
        ("", BODY, T, pytest.raises(ValueError, match="secret must not be empty")),  # no secret
        (123, BODY, T, pytest.raises(TypeError, match="secret must be bytes or str")),  # wrong type
        (SECRET, "text", T, pytest.raises(TypeError, match="body must be bytes")),  # str body
        (SECRET, BODY, -1, pytest.raises(ValueError, match="timestamp must be >= 0")),  # negative time
    ],
)
def test_sign_validates_input(secret: Any, body: Any, timestamp: int, exception: Any) -> None:
    with exception:
        assert sign(secret, body, timestamp).startswith(f"t={timestamp},v1=")


@pytest.mark.parametrize(
    ("header", "body", "secret", "now", "exception"),
    [
        (sign(SECRET, BODY, T), BODY, SECRET, T, DoesNotRaise()),  # as signed
        (sign(SECRET, BODY, T), BODY, SECRET, T + 299, DoesNotRaise()),  # inside the tolerance
        (f"t={T},v1=00,{sign(SECRET, BODY, T).split(',')[1]}", BODY, SECRET, T, DoesNotRaise()),  # rotation: 2nd matches
        (sign(SECRET, BODY, T), BODY + b" ", SECRET, T, pytest.raises(SignatureError, match="no signature matches")),
        (sign(SECRET, BODY, T), BODY, "another-secret-xx", T, pytest.raises(SignatureError, match="no signature")),
        (sign(SECRET, BODY, T), BODY, SECRET, T + 301, pytest.raises(SignatureError, match="more than 300 s")),  # replay
        ("", BODY, SECRET, T, pytest.raises(SignatureError, match="malformed")),  # empty header
        (f"t={T}", BODY, SECRET, T, pytest.raises(SignatureError, match="needs t= and v1=")),  # no signature
        ("t=soon,v1=ab", BODY, SECRET, T, pytest.raises(SignatureError, match="malformed signature timestamp")),
        ("sha256=abc", BODY, SECRET, T, pytest.raises(SignatureError, match="needs t= and v1=")),  # other scheme
    ],
)
def test_verify(header: str, body: bytes, secret: str, now: float, exception: Any) -> None:
    with exception:
        assert verify(secret, body, header, now=now) == T


def test_verify_without_age_check_accepts_old_signatures() -> None:
    assert verify(SECRET, BODY, sign(SECRET, BODY, 5), tolerance_s=0, now=T) == 5


@pytest.mark.parametrize(
    ("args", "expected", "exception"),
    [
        ((1, 0.5, 2, 30), [], DoesNotRaise()),  # one attempt: no delays (the empty case)
        ((5, 0.5, 2, 30), [0.5, 1.0, 2.0, 4.0], DoesNotRaise()),  # doubling
        ((5, 0.5, 2, 3), [0.5, 1.0, 2.0, 3.0], DoesNotRaise()),  # capped
        ((3, 0.01, 1, 30), [0.01, 0.01], DoesNotRaise()),  # factor 1: constant
        ((3, 0, 2, 30), [0.0, 0.0], DoesNotRaise()),  # no waiting at all
        ((0, 0.5, 2, 30), None, pytest.raises(ValueError, match="max_attempts must be an integer >= 1")),
        ((2.5, 0.5, 2, 30), None, pytest.raises(ValueError, match="max_attempts")),
        ((3, -1, 2, 30), None, pytest.raises(ValueError, match="base_s must be >= 0")),
        ((3, 0.5, 0.5, 30), None, pytest.raises(ValueError, match="factor must be >= 1")),
        ((3, 0.5, 2, -1), None, pytest.raises(ValueError, match="max_s must be >= 0")),
    ],
)
def test_backoff_delays(args: tuple, expected: list[float] | None, exception: Any) -> None:
    with exception:
        assert backoff_delays(*args) == pytest.approx(expected)


def test_dedup_key_groups_camera_rule_person() -> None:
    key = dedup_key(scope="s1.cam1", rule="intent", person=7)
    assert len(key) == 32 and int(key, 16) >= 0
    assert key == dedup_key(scope="s1.cam1", rule="intent", person="7")  # same person however spelled
    others = {
        dedup_key(scope="s1.cam2", rule="intent", person=7),  # other camera
        dedup_key(scope="s1.cam1", rule="bypass", person=7),  # other rule
        dedup_key(scope="s1.cam1", rule="intent", person=8),  # other person
        dedup_key(scope="s1.cam1", rule="intent", person=None),  # unknown person
        dedup_key(scope="s1.cam1:intent", rule="7", person=None),  # no ambiguity from joined text
    }
    assert key not in others and len(others) == 5
    with pytest.raises(ValueError, match="rule must not be blank"):
        dedup_key(scope="s1.cam1", rule=" ", person=7)


@pytest.mark.parametrize(
    ("severity", "minimum", "expected"),
    [
        ("none", "none", True),  # the lowest against itself
        ("medium", "medium", True),  # the threshold is included
        ("low", "medium", False),
        (Severity.CRITICAL, Severity.HIGH, True),
        ("high", "critical", False),
    ],
)
def test_severity_at_least(severity: Any, minimum: Any, expected: bool) -> None:
    assert severity_at_least(severity, minimum) is expected


def test_severity_at_least_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="'urgent' is not a valid Severity"):
        severity_at_least("urgent", "low")


@pytest.mark.parametrize(
    ("channels", "min_severity", "channel", "severity", "expected", "exception"),
    [
        ([], "none", "email", "critical", False, DoesNotRaise()),  # no channels: nothing
        (["email"], "high", "email", "medium", False, DoesNotRaise()),  # below the minimum
        (["email"], "high", "email", "high", True, DoesNotRaise()),  # at the minimum
        (["email", "in_app"], "low", "webhook", "critical", False, DoesNotRaise()),  # channel not chosen
        ([Channel.IN_APP], "low", Channel.IN_APP, "medium", True, DoesNotRaise()),  # enum members
        (["sms"], "low", "email", "high", None, pytest.raises(ValueError, match="channels must be among")),
        (["email"], "urgent", "email", "high", None, pytest.raises(ValueError, match="not a valid Severity")),
    ],
)
def test_wants(channels: list, min_severity: str, channel: Any, severity: str, expected: bool | None,
               exception: Any) -> None:  # fmt: skip
    with exception:
        assert wants(Preference.from_values(channels, min_severity), channel, severity) is expected


@pytest.mark.parametrize(
    ("override", "username", "expected"),
    [
        (None, "", None),  # empty username
        (None, "ops@example.com", "ops@example.com"),  # the username is an address
        (None, "operator-1", None),  # not an address
        (None, "a@localhost", None),  # no dot in the domain
        ("me@example.org", "ops@example.com", "me@example.org"),  # the override wins
    ],
)
def test_email_address(override: str | None, username: str, expected: str | None) -> None:
    assert email_address(override=override, username=username) == expected
