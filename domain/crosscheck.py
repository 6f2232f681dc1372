"""Cross-check: what a shopper picked up versus what the point of sale billed.

Matching rule: quantities count, SKU by SKU. Each `ProductInteraction` is one unit picked up.
Billed units are the summed line quantities of the transactions considered. For every SKU,
`matched = min(picked, billed)`, `missing_from_billing = picked - billed` (when positive) and
`extra_in_billing = billed - picked` (when positive). `match_rate = matched units / picked
units` (1.0 when nothing was picked: there is nothing to miss). Which transactions are
considered: those overlapping `[last pickup, last pickup + window_s]` (optionally only at one
checkout zone), or exactly the list the caller passes with `window_s=None`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from domain.pos import Transaction

__all__ = ["DEFAULT_WINDOW_S", "ProductInteraction", "DiscrepancyReport", "select_transactions", "cross_check"]

DEFAULT_WINDOW_S = 600.0


@dataclass(frozen=True)
class ProductInteraction:
    """One unit of a product picked up by a tracked person.

    Attributes:
        sku: product picked up (from the shelf zone's SKUs).
        t_s: seconds (same clock as the POS) when the hand left the shelf zone.
        track_id: the person's track (or global) id.
        confidence: 0–1, confidence of the pickup.
        zone: the shelf zone name, if known.
    """

    sku: str
    t_s: float
    track_id: int
    confidence: float = 1.0
    zone: str | None = None


@dataclass(frozen=True)
class DiscrepancyReport:
    """Picked-up versus billed units for one person (see the module docstring for the rule).

    Attributes:
        track_id: the person (`None` when there were no interactions).
        picked / billed: units by SKU.
        missing_from_billing: units picked up but not billed, by SKU.
        extra_in_billing: units billed but not picked up (seen), by SKU.
        matched: units both picked and billed, by SKU.
        match_rate: matched units / picked units, 0–1 (1.0 when nothing was picked).
        transaction_ids: the transactions that were compared.
    """

    track_id: int | None
    picked: Counter[str] = field(default_factory=Counter)
    billed: Counter[str] = field(default_factory=Counter)
    missing_from_billing: Counter[str] = field(default_factory=Counter)
    extra_in_billing: Counter[str] = field(default_factory=Counter)
    matched: Counter[str] = field(default_factory=Counter)
    match_rate: float = 1.0
    transaction_ids: tuple[str, ...] = ()

    @property
    def missing_units(self) -> int:
        """Total units picked up but not billed."""
        return sum(self.missing_from_billing.values())

    @property
    def picked_units(self) -> int:
        """Total units picked up."""
        return sum(self.picked.values())


def select_transactions(
    transactions: Sequence[Transaction], *, after_s: float, window_s: float = DEFAULT_WINDOW_S,
    zone: str | None = None,
) -> list[Transaction]:
    """Transactions whose `[t_start_s, t_end_s]` overlaps `[after_s, after_s + window_s]`.

    Args:
        transactions: candidates. after_s: seconds of the last pickup.
        window_s: seconds after the last pickup a checkout still counts. Raising it catches slow
            shoppers but risks crediting someone else's transaction; lowering it does the reverse.
        zone: only transactions at this checkout zone (those with no zone are dropped).

    Raises:
        ValueError: `window_s` < 0.

    Example:
        >>> select_transactions([], after_s=10.0)
        []
    """
    if window_s < 0:
        raise ValueError(f"window_s must be >= 0, but got {window_s}")
    return [t for t in transactions if t.t_end_s >= after_s and t.t_start_s <= after_s + window_s
            and (zone is None or t.zone == zone)]


def cross_check(
    interactions: Sequence[ProductInteraction], transactions: Sequence[Transaction], *,
    window_s: float | None = DEFAULT_WINDOW_S, zone: str | None = None,
) -> DiscrepancyReport:
    """Compare one person's pickups with the billing at the checkout they visited.

    Args:
        interactions: the person's pickups (all with the same `track_id`).
        transactions: candidate transactions, filtered with `select_transactions` from the last
            pickup; with `window_s=None` they are all used as given (the caller picked them).
        window_s: seconds after the last pickup; `None` = no filtering.
        zone: only transactions at this checkout zone (ignored when `window_s` is `None`).

    Returns:
        The report; with no interactions, nothing is picked and no transaction is selected.

    Raises:
        ValueError: interactions of more than one track, or `window_s` < 0.

    Example:
        >>> r = cross_check([ProductInteraction("CHOC001", 5.0, 1)], [])
        >>> dict(r.missing_from_billing), r.match_rate
        ({'CHOC001': 1}, 0.0)
    """
    tracks = sorted({i.track_id for i in interactions})
    if len(tracks) > 1:
        raise ValueError(f"interactions must belong to one track, but got tracks {tracks}")
    if window_s is None:
        considered = list(transactions)
    elif interactions:
        considered = select_transactions(
            transactions, after_s=max(i.t_s for i in interactions), window_s=window_s, zone=zone)
    else:
        select_transactions([], after_s=0.0, window_s=window_s)  # still validates window_s
        considered = []
    picked = Counter(i.sku for i in interactions if i.sku is not None)  # unattributed pickups are skipped
    billed: Counter[str] = Counter()
    for tx in considered:
        for item in tx.items:
            billed[item.sku] += item.quantity
    matched = picked & billed
    picked_units = sum(picked.values())
    return DiscrepancyReport(
        track_id=tracks[0] if tracks else None, picked=picked, billed=billed,
        missing_from_billing=picked - billed, extra_in_billing=billed - picked, matched=matched,
        match_rate=sum(matched.values()) / picked_units if picked_units else 1.0,
        transaction_ids=tuple(t.id for t in considered),
    )
