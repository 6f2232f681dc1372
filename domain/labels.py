"""Training labels from operators' review work: which class an alert or event decision means, and over what span.

Operators already decide, for every alert and many events, whether what the system saw was real.
Each decision becomes a labelled example for the behaviour classifier:

| decision | source | label |
| --- | --- | --- |
| dismiss an alert (with its reason) | `dismissal` | `normal`: the person did nothing the model should flag |
| escalate an alert | `escalation` | the strongest behaviour behind the alert (`concealment` / `bypass`, else `pickup`) |
| confirm an event | `event_confirmed` | the event's class (`pickup`, `concealment`, `bypass`) |
| reject an event | `event_rejected` | `normal` |
| an ML engineer labels a span by hand | `manual` | the class given |

A label covers the person's pose windows over the alert's visit (or the event's) time span; the
windows themselves are read by the dataset builder (`pipelines.label_dataset`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np
import numpy.typing as npt

from domain.behaviour import BehaviourClass

__all__ = ["LabelSource", "LabelSpec", "EventVerdict", "alert_label", "event_label", "windows_in_span"]


class LabelSource(str, Enum):
    """Where a training label came from."""

    DISMISSAL = "dismissal"
    ESCALATION = "escalation"
    EVENT_CONFIRMED = "event_confirmed"
    EVENT_REJECTED = "event_rejected"
    MANUAL = "manual"


class EventVerdict(str, Enum):
    """An operator's verdict on one event."""

    CONFIRM = "confirm"
    REJECT = "reject"


@dataclass(frozen=True)
class LabelSpec:
    """What one decision labels.

    Attributes:
        label: a `BehaviourClass` value.
        source: the decision.
        t_start_s / t_end_s: the span labelled, in the alert's / event's own clock (seconds from the
            video's or the camera session's first frame); `None` when the alert carries no span.
    """

    label: str
    source: LabelSource
    t_start_s: float | None
    t_end_s: float | None


def _span(evidence: Mapping[str, Any]) -> tuple[float | None, float | None]:
    try:
        visit = evidence.get("visit") or {}
        if visit.get("t_start_s") is not None and visit.get("t_end_s") is not None:
            return float(visit["t_start_s"]), float(visit["t_end_s"])
        times = [(float(b["t_start_s"]), float(b["t_end_s"])) for b in evidence.get("behaviours") or []
                 if b.get("t_start_s") is not None and b.get("t_end_s") is not None]  # fmt: skip
    except (AttributeError, TypeError, ValueError):  # evidence of another shape: label the whole visit
        return None, None
    if times:
        return min(a for a, _ in times), max(b for _, b in times)
    return None, None


def alert_label(action: str, evidence: Mapping[str, Any] | None) -> LabelSpec | None:
    """The label a dismissal or escalation of an alert gives, `None` when it gives none.

    Args:
        action: `"dismiss"` or `"escalate"` (any other action labels nothing).
        evidence: the alert's stored `evidence` (`behaviours`: `[{class, confidence, t_start_s, t_end_s}]`,
            `visit`: `{t_start_s, t_end_s}`).

    Returns:
        The spec; `None` for other actions, and for an escalated alert whose evidence names no
        behaviour (a rule alert such as a fall: nothing for the behaviour classifier to learn).

    Example:
        >>> alert_label("escalate", {"behaviours": [{"class": "concealment", "confidence": 0.8,
        ...     "t_start_s": 3.0, "t_end_s": 5.0}], "visit": {"t_start_s": 1.0, "t_end_s": 9.0}}).label
        'concealment'
    """
    ev = dict(evidence or {})
    t0, t1 = _span(ev)
    if action == "dismiss":
        return LabelSpec(BehaviourClass.NORMAL.value, LabelSource.DISMISSAL, t0, t1)
    if action != "escalate":
        return None
    behaviours = [b for b in ev.get("behaviours") or [] if isinstance(b, Mapping) and b.get("class") in _CLASSES]
    strong = [b for b in behaviours if b["class"] != BehaviourClass.PICKUP.value]
    pool = strong or behaviours
    if not pool:
        return None
    best = max(pool, key=lambda b: b.get("confidence") if isinstance(b.get("confidence"), (int, float)) else 0.0)
    return LabelSpec(str(best["class"]), LabelSource.ESCALATION, t0, t1)


_CLASSES = frozenset(c.value for c in BehaviourClass if c is not BehaviourClass.NORMAL)


def event_label(verdict: EventVerdict | str, event_type: str, t_start_s: float, t_end_s: float) -> LabelSpec:
    """The label an operator's verdict on an event gives.

    Args:
        verdict: `confirm` or `reject`.
        event_type: the event's type; only behaviour classes (`pickup`, `concealment`, `bypass`) can be labelled.
        t_start_s / t_end_s: the event's span (seconds).

    Raises:
        ValueError: an unknown verdict, or an event type that is not a behaviour class.

    Example:
        >>> event_label("reject", "concealment", 2.0, 4.0).label
        'normal'
    """
    v = EventVerdict(verdict)
    if event_type not in _CLASSES:
        raise ValueError(f"event type {event_type!r} is not a behaviour class: only "
                         f"{', '.join(sorted(_CLASSES))} events can be confirmed or rejected")  # fmt: skip
    if v is EventVerdict.CONFIRM:
        return LabelSpec(event_type, LabelSource.EVENT_CONFIRMED, float(t_start_s), float(t_end_s))
    return LabelSpec(BehaviourClass.NORMAL.value, LabelSource.EVENT_REJECTED, float(t_start_s), float(t_end_s))


def windows_in_span(bounds_s: npt.ArrayLike, t_start_s: float | None, t_end_s: float | None) -> npt.NDArray[np.bool_]:
    """Which windows a label's span covers: those whose centre time lies in `[t_start_s, t_end_s]`.

    Args:
        bounds_s: `(W, 2)` window `[first, last]` times (seconds).
        t_start_s / t_end_s: the span; `None` on either side = unbounded.

    Returns:
        `(W,)` bool mask.

    Example:
        >>> windows_in_span([[0, 2], [2, 4], [4, 6]], 1.5, 4.0).tolist()
        [False, True, False]
    """
    b = np.asarray(bounds_s, dtype=np.float64).reshape(-1, 2)
    centre = b.mean(axis=1)
    lo = -np.inf if t_start_s is None else float(t_start_s)
    hi = np.inf if t_end_s is None else float(t_end_s)
    return (centre >= lo) & (centre <= hi)

