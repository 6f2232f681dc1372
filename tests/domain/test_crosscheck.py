from contextlib import ExitStack as DoesNotRaise
from decimal import Decimal

import pytest

from domain.crosscheck import ProductInteraction, cross_check
from domain.pos import LineItem, PaymentMethod, Transaction


def picks(*skus_at: tuple[str, float], track_id: int = 7) -> list[ProductInteraction]:
    """One interaction per `(sku, t_s)`."""
    return [ProductInteraction(sku, t_s, track_id, 0.9, "aisle") for sku, t_s in skus_at]


def tx(tx_id: str, t_s: float, *items: tuple[str, int], zone: str | None = "till") -> Transaction:
    lines = tuple(LineItem(sku, qty, Decimal("1.00")) for sku, qty in items)
    return Transaction(tx_id, "till-1", lines, Decimal(sum(q for _, q in items)), PaymentMethod.CARD,
                       t_s, t_s + 20.0, None, zone)


@pytest.mark.parametrize(
    ("interactions", "transactions", "kwargs", "expected", "exception"),
    [
        ([], [tx("T1", 10, ("CHOC001", 1))], {}, ({}, {}, {}, 1.0, ()), DoesNotRaise()),  # empty input
        (picks(("CHOC001", 10), ("CHOC001", 20), ("SODA001", 30)), [tx("T1", 100, ("CHOC001", 2), ("SODA001", 1))],
         {}, ({}, {}, {"CHOC001": 2, "SODA001": 1}, 1.0, ("T1",)), DoesNotRaise()),  # everything billed
        (picks(("CHOC001", 10), ("CHOC001", 20), ("ENRG001", 30)), [tx("T1", 100, ("CHOC001", 1))],
         {}, ({"CHOC001": 1, "ENRG001": 1}, {}, {"CHOC001": 1}, 1 / 3, ("T1",)), DoesNotRaise()),  # quantities count
        (picks(("CHOC001", 10)), [tx("T1", 100, ("CHOC001", 1), ("WTRL001", 2))],
         {}, ({}, {"WTRL001": 2}, {"CHOC001": 1}, 1.0, ("T1",)), DoesNotRaise()),  # extra billed items
        (picks(("CHOC001", 10)), [tx("T0", -50, ("CHOC001", 1)), tx("T9", 1000, ("CHOC001", 1))],
         {"window_s": 600}, ({"CHOC001": 1}, {}, {}, 0.0, ()), DoesNotRaise()),  # both outside the window
        (picks(("CHOC001", 10)), [tx("T1", 615, ("CHOC001", 1))], {"window_s": 600},
         ({"CHOC001": 1}, {}, {}, 0.0, ()), DoesNotRaise()),  # starts 5 s after the window closes
        (picks(("CHOC001", 10)), [tx("T1", 610, ("CHOC001", 1))], {"window_s": 600},
         ({}, {}, {"CHOC001": 1}, 1.0, ("T1",)), DoesNotRaise()),  # starts exactly at the window's end
        (picks(("CHOC001", 10)), [tx("T1", 50, ("CHOC001", 1), zone="till-2")], {"zone": "till"},
         ({"CHOC001": 1}, {}, {}, 0.0, ()), DoesNotRaise()),  # another checkout's transaction
        (picks(("CHOC001", 10)), [tx("T9", 9999, ("CHOC001", 1))], {"window_s": None},
         ({}, {}, {"CHOC001": 1}, 1.0, ("T9",)), DoesNotRaise()),  # the caller picked the transactions
        (picks(("CHOC001", 10)) + picks(("SODA001", 10), track_id=8), [], {},
         "interactions must belong to one track, but got tracks [7, 8]", pytest.raises(ValueError)),
        (picks(("CHOC001", 10)), [], {"window_s": -1}, "window_s must be >= 0, but got -1",
         pytest.raises(ValueError)),  # negative window
    ],
)
def test_cross_check(interactions, transactions, kwargs, expected, exception) -> None:
    with exception as info:
        report = cross_check(interactions, transactions, **kwargs)
    if isinstance(exception, DoesNotRaise):
        missing, extra, matched, rate, tx_ids = expected
        assert dict(report.missing_from_billing) == missing
        assert dict(report.extra_in_billing) == extra
        assert dict(report.matched) == matched
        assert report.match_rate == pytest.approx(rate)
        assert report.transaction_ids == tx_ids
        assert report.track_id == (interactions[0].track_id if interactions else None)
    else:
        assert str(info.value) == expected


def test_report_units() -> None:
    report = cross_check(picks(("CHOC001", 1), ("CHOC001", 2), ("NUTS001", 3)), [tx("T1", 10, ("NUTS001", 1))])
    assert (report.picked_units, report.missing_units) == (3, 2)
    assert dict(report.picked) == {"CHOC001": 2, "NUTS001": 1} and dict(report.billed) == {"NUTS001": 1}
