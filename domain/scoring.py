"""Intent scoring: a 0–1 score from weighted components, a severity and a plain explanation.

The components, default weights (discrepancy 0.4, concealment 0.3, bypass 0.2, duration 0.1),
severity thresholds (LOW 0.3, MEDIUM 0.5, HIGH 0.7, CRITICAL 0.85) and the alert threshold (0.5)
come from the product design (DESIGN.md, "Core entities: IntentScore"); all are configurable.
A score is a request for human review, never a finding of theft.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.crosscheck import DiscrepancyReport
from domain.pos import Catalog

__all__ = ["Severity", "ScoringConfig", "ComponentScore", "IntentScore", "severity_for", "score_intent",
           "REVIEW_DISCLAIMER"]

REVIEW_DISCLAIMER = "This is a request for human review, not a finding of theft."
_SCORE_DECIMALS = 6  # the score is rounded so 0.4 × 0.75 is exactly 0.3 at the LOW boundary


class Severity(str, Enum):
    """Severity of an intent score, from its thresholds."""

    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class ScoringConfig(BaseModel):
    """Weights and thresholds of the intent score (defaults from DESIGN.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    discrepancy_weight: float = Field(0.4, ge=0.0, le=1.0, title="Discrepancy weight",
                                      description="Weight of the unbilled fraction of picked-up units.")
    concealment_weight: float = Field(0.3, ge=0.0, le=1.0, title="Concealment weight",
                                      description="Weight of the concealment-cue confidence.")
    bypass_weight: float = Field(0.2, ge=0.0, le=1.0, title="Bypass weight",
                                 description="Weight of the checkout bypass (shelf → exit without checkout).")
    duration_weight: float = Field(0.1, ge=0.0, le=1.0, title="Duration weight",
                                   description="Weight of the visit length relative to `duration_norm_s`.")
    low_threshold: float = Field(0.3, gt=0.0, le=1.0, title="LOW at", description="Score ≥ this is LOW.")
    medium_threshold: float = Field(0.5, gt=0.0, le=1.0, title="MEDIUM at", description="Score ≥ this is MEDIUM.")
    high_threshold: float = Field(0.7, gt=0.0, le=1.0, title="HIGH at", description="Score ≥ this is HIGH.")
    critical_threshold: float = Field(0.85, gt=0.0, le=1.0, title="CRITICAL at",
                                      description="Score ≥ this is CRITICAL.")
    alert_threshold: float = Field(
        0.5, gt=0.0, le=1.0, title="Alert at",
        description="Score ≥ this raises an alert. Lowering it catches more incidents but sends operators "
        "more false alarms; raising it does the reverse.")
    duration_norm_s: float = Field(
        300.0, gt=0.0, le=86_400.0, title="Duration norm (s)",
        description="Visit seconds that give the full duration component; shorter visits scale linearly.")

    @model_validator(mode="after")
    def _check(self) -> ScoringConfig:
        total = self.discrepancy_weight + self.concealment_weight + self.bypass_weight + self.duration_weight
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"weights must sum to 1, but got {total:.6g}")
        ladder = [self.low_threshold, self.medium_threshold, self.high_threshold, self.critical_threshold]
        if any(a >= b for a, b in zip(ladder, ladder[1:], strict=False)):
            raise ValueError(f"severity thresholds must increase LOW < MEDIUM < HIGH < CRITICAL, but got {ladder}")
        return self


class ComponentScore(NamedTuple):
    """One component: `value` (0–1) × `weight` = `contribution` to the score."""

    value: float
    weight: float
    contribution: float


@dataclass(frozen=True)
class IntentScore:
    """A scored person.

    Attributes:
        score: 0–1, the sum of the contributions (rounded to 6 places).
        components: by name (`discrepancy`, `concealment`, `bypass`, `duration`).
        severity: from the config's thresholds.
        should_alert: `score >= alert_threshold`.
        explanation: plain-language sentences, ending with `REVIEW_DISCLAIMER`.
    """

    score: float
    components: dict[str, ComponentScore]
    severity: Severity
    should_alert: bool
    explanation: str

    @property
    def requires_human_review(self) -> bool:
        """Always true: a score is never a verdict."""
        return True


def severity_for(score: float, config: ScoringConfig | None = None) -> Severity:
    """The severity of `score`; a threshold itself belongs to the higher band.

    Example:
        >>> severity_for(0.5)
        <Severity.MEDIUM: 'medium'>
    """
    c = config or ScoringConfig()
    for threshold, severity in ((c.critical_threshold, Severity.CRITICAL), (c.high_threshold, Severity.HIGH),
                                (c.medium_threshold, Severity.MEDIUM), (c.low_threshold, Severity.LOW)):
        if score >= threshold:
            return severity
    return Severity.NONE


def _fraction(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], but got {value}")
    return float(value)


def _sku_text(sku: str, catalog: Catalog | None) -> str:
    return f"{sku} ({catalog.get(sku).name})" if catalog is not None and sku in catalog else sku


def _explain(report: DiscrepancyReport | None, concealment: float, cue: str | None, bypass: float,
             duration_s: float, catalog: Catalog | None) -> list[str]:
    lines = []
    if report is None:
        lines.append("No point-of-sale cross-check was available.")
    elif report.missing_units:
        missing = ", ".join(f"{n} × {_sku_text(s, catalog)}" for s, n in sorted(report.missing_from_billing.items()))
        lines.append(f"{report.missing_units} of {report.picked_units} picked-up item(s) were not billed: {missing}.")
    elif report.picked_units:
        lines.append(f"All {report.picked_units} picked-up item(s) were billed.")
    else:
        lines.append("No product pickup was seen.")
    if concealment > 0:
        lines.append(f"A possible concealment cue was seen ({cue or 'concealment gesture'}), "
                     f"confidence {concealment:.2f}.")
    else:
        lines.append("No concealment cue was seen.")
    lines.append(f"The person went from a shelf to an exit without passing a checkout (confidence {bypass:.2f})."
                 if bypass > 0 else "No checkout bypass was seen.")
    lines.append(f"The visit lasted {duration_s:.0f} s.")
    return lines


def score_intent(
    *, discrepancy: DiscrepancyReport | None, concealment: float, bypass: bool | float, duration_s: float,
    config: ScoringConfig | None = None, catalog: Catalog | None = None, concealment_cue: str | None = None,
) -> IntentScore:
    """Score one person's visit.

    Component values (each 0–1): discrepancy = 1 - `match_rate` (0 without a report);
    concealment = its confidence; bypass = 1/0 for a bool or its confidence;
    duration = `min(duration_s / duration_norm_s, 1)`.

    Args:
        discrepancy: the cross-check report, `None` when no POS data was available.
        concealment: 0–1 confidence of a concealment cue (0 = none seen).
        bypass: whether (bool) or how confidently (0–1) the checkout was bypassed.
        duration_s: seconds the person was in the store / zone sequence, ≥ 0.
        config: weights and thresholds; default `ScoringConfig()`.
        catalog: names products in the explanation when given.
        concealment_cue: what the cue was, e.g. "wrist held at the waist after a pickup".

    Returns:
        The score with its components, severity, alert decision and explanation.

    Raises:
        ValueError: `concealment` or a float `bypass` outside [0, 1], or `duration_s` < 0.

    Example:
        >>> score_intent(discrepancy=None, concealment=1.0, bypass=True, duration_s=300.0).score
        0.6
    """
    c = config or ScoringConfig()
    if duration_s < 0:
        raise ValueError(f"duration_s must be >= 0, but got {duration_s}")
    values = {
        "discrepancy": 0.0 if discrepancy is None else 1.0 - discrepancy.match_rate,
        "concealment": _fraction("concealment", concealment),
        "bypass": float(bypass) if isinstance(bypass, bool) else _fraction("bypass", bypass),
        "duration": min(duration_s / c.duration_norm_s, 1.0),
    }
    weights = {"discrepancy": c.discrepancy_weight, "concealment": c.concealment_weight,
               "bypass": c.bypass_weight, "duration": c.duration_weight}
    components = {k: ComponentScore(v, weights[k], v * weights[k]) for k, v in values.items()}
    score = min(max(round(sum(x.contribution for x in components.values()), _SCORE_DECIMALS), 0.0), 1.0)
    severity = severity_for(score, c)
    should_alert = score >= c.alert_threshold
    lines = _explain(discrepancy, values["concealment"], concealment_cue, values["bypass"], duration_s, catalog)
    parts = ", ".join(f"{k} {x.value:.2f} × {x.weight:.2f}" for k, x in components.items())
    lines.append(f"Intent score {score:.2f} ({severity.value.upper()}; {parts})"
                 + (", above the alert threshold." if should_alert else ", below the alert threshold."))
    lines.append(REVIEW_DISCLAIMER)
    return IntentScore(score, components, severity, should_alert, " ".join(lines))
