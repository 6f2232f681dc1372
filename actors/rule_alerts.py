"""Rule alerts for both paths: the one place where a rule's event becomes a stored, notified alert.

- Bulk jobs: `_finalise` (pipelines/bulk.py) adds `rule_alerts(keyed, clip_of)` to the alerts it
  stores with the video's results (one transaction).
- Live cameras: the event sink calls `raise_rule_alerts(engine, items, notifier)` after a batch
  of events is committed.

Both build the alert with `domain.rule_alerts.rule_alert_fields`; a rule alert's id is fixed by
its event id, so a retried batch or video never stores it twice. Notifications go through
`notify_alerts`, which applies the rule's `notify` flag and the notifier's de-duplication
(same camera, rule and person within `NOTIFY__DEDUP_WINDOW_S`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from domain.assessment import INTENT_RULE
from domain.events import Event
from domain.rule_alerts import RULE_ORIGIN, rule_alert_fields

__all__ = ["rule_alerts", "raise_rule_alerts", "notify_alerts"]

log = logging.getLogger(__name__)


def rule_alerts(keyed: Sequence[tuple[str, Event]], clip_of: Mapping[str, str]) -> list[dict[str, Any]]:
    """`storage.crud.create_alert` keywords for every event whose rule raises alerts.

    Args:
        keyed: `(event_id, event)` pairs.
        clip_of: event id → object-store key of its clip (events without one are absent).

    Returns:
        One dict per alerting event, in order.
    """
    out = []
    for eid, event in keyed:
        fields = rule_alert_fields(eid, event, [clip_of[eid]] if eid in clip_of else [])
        if fields is not None:
            out.append(fields)
    return out


def raise_rule_alerts(engine: Any, items: Iterable[Mapping[str, Any]], notifier: Callable[[], Any] | None) -> list[str]:
    """Store (once) and notify the alerts of live events just committed by the event sink.

    Args:
        engine: the results database.
        items: the sink's items: `{"id", "event", "clip"?}` (`clip` a `ClipCreate`-shaped dict).
        notifier: returns the `actors.notifier.Notifier` to use (called only when there is
            something to notify); `None` = store only.

    Returns:
        Ids of the alerts stored by this call (alerts already stored are skipped).
    """
    from storage import crud
    from storage.db import session_scope
    from storage.models import Alert

    keyed = [(i["id"], i["event"]) for i in items]
    clip_of = {i["id"]: i["clip"]["key"] for i in items if i.get("clip")}
    fields = rule_alerts(keyed, clip_of)
    if not fields:
        return []
    stored = []
    with session_scope(engine) as s:
        for f in fields:
            if s.get(Alert, f["alert_id"]) is not None:  # a retried batch: raised already
                continue
            alert = crud.create_alert(s, **f)
            s.expunge(alert)
            stored.append(alert)
    for alert in stored:
        log.info("rule alert %s (%s, rule %s) on %s", alert.id, alert.severity.value, alert.rule, alert.camera_id)
    if stored and notifier is not None:
        notify_alerts(notifier(), stored)
    return [a.id for a in stored]


def notify_alerts(notifier: Any, alerts: Iterable[Any]) -> int:
    """Send stored alerts to the notifier: intent alerts always, rule alerts when their rule says `notify`.

    The de-duplication key's rule is the alert's rule (or `intent`), so the same camera, rule and
    person inside the window notifies once. A failing notification is logged, never raised.

    Returns:
        How many alerts were handed to the notifier.
    """
    sent = 0
    for alert in alerts:
        if alert.origin == RULE_ORIGIN and not (alert.evidence or {}).get("notify", True):
            continue
        try:
            notifier.notify(alert, rule=alert.rule or INTENT_RULE)
            sent += 1
        except Exception:  # noqa: BLE001  (a stored alert stays stored; notification is best effort)
            log.exception("notifying alert %s failed", alert.id)
    return sent
