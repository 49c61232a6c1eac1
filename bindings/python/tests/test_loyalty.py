"""The loyalty ledger through the Python API, on every backend."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

import crm_sdk
from conftest import uniq


# One sale time for the module: a re-sent receipt carries the same time.
WHEN = (datetime.now(timezone.utc) - timedelta(days=1)).replace(microsecond=0)


def sale(crm: crm_sdk.Crm, customer_id: int, receipt: str, amount: Decimal) -> crm_sdk.PurchaseRecorded:
    return crm.loyalty.record_purchase(
        customer_id=customer_id,
        store_id="JKT-01",
        receipt_id=receipt,
        purchase_date=WHEN,
        total_amount=amount,
    )


def test_a_purchase_earns_points_once(crm: crm_sdk.Crm) -> None:
    budi = crm.customers.create(name="Budi")
    receipt = "R-" + uniq()
    first = sale(crm, budi.id, receipt, Decimal("155000.50"))
    assert first.replayed is False
    assert first.earned is not None and first.earned.points == 15 and first.earned.entry_type == "EARN"
    assert first.purchase.total_amount == Decimal("155000.50")
    assert first.purchase.currency == "IDR"
    again = sale(crm, budi.id, receipt, Decimal("155000.50"))
    assert again.replayed is True and again.purchase.id == first.purchase.id
    balance = crm.loyalty.balance(budi.id)
    assert (balance.balance, balance.available, balance.debt) == (15, 15, 0)
    assert isinstance(balance.balance, int)
    with pytest.raises(crm_sdk.IdempotencyConflictError) as info:
        sale(crm, budi.id, receipt, Decimal("1"))
    assert info.value.code == "idempotency_conflict" and isinstance(info.value, crm_sdk.ConflictError)
    assert crm.loyalty.purchase(store_id="JKT-01", receipt_id=receipt) == first.purchase
    assert crm.loyalty.purchase(store_id="JKT-01", receipt_id="nope-" + uniq()) is None


def test_naive_datetimes_and_float_free_money(crm: crm_sdk.Crm) -> None:
    budi = crm.customers.create(name="Budi")
    with pytest.raises(crm_sdk.ValidationError) as info:
        crm.loyalty.record_purchase(
            customer_id=budi.id,
            store_id="S1",
            receipt_id="R-" + uniq(),
            purchase_date=datetime(2026, 1, 1, 10, 0),
            total_amount=Decimal("0.001"),
        )
    assert {f.field for f in info.value.fields} == {"purchase_date"}
    with pytest.raises(crm_sdk.ValidationError) as info:
        crm.loyalty.record_purchase(
            customer_id=budi.id,
            store_id="S1",
            receipt_id="R-" + uniq(),
            purchase_date=datetime.now(timezone.utc),
            total_amount=Decimal("0.001"),
        )
    assert [f.field for f in info.value.fields] == ["total_amount"]


def test_redeem_never_overdraws_and_says_what_is_available(crm: crm_sdk.Crm) -> None:
    budi = crm.customers.create(name="Budi")
    sale(crm, budi.id, "R-" + uniq(), Decimal(155000))
    with pytest.raises(crm_sdk.InsufficientPointsError) as info:
        crm.loyalty.redeem(customer_id=budi.id, points=100, reference_type="voucher", reference_id=uniq())
    err = info.value
    assert (err.requested, err.available, err.code) == (100, 15, "insufficient_points")
    assert isinstance(err, crm_sdk.ConflictError)
    redeemed = crm.loyalty.redeem(customer_id=budi.id, points=10, reference_type="voucher", reference_id=uniq())
    assert redeemed.entry.points == -10 and redeemed.entry.balance_after == 5
    earned = crm.loyalty.earn(customer_id=budi.id, points=7, reference_type="promo", reference_id=uniq())
    assert earned.entry.balance_after == 12
    adjusted = crm.loyalty.adjust(customer_id=budi.id, points=-2, reference_type="fix", reference_id=uniq())
    assert adjusted.entry.entry_type == "ADJUST" and adjusted.entry.balance_after == 10
    summary = crm.loyalty.summary(budi.id)
    assert summary.balance == 10 and summary.lifetime_earned == 22 and summary.tier == "Bronze"
    assert [e.points for e in summary.recent_entries][:3] == [-2, 7, -10]
    assert crm.loyalty.check_balance(budi.id).consistent is True


def test_missing_fields_of_a_points_request_are_listed(crm: crm_sdk.Crm) -> None:
    with pytest.raises(crm_sdk.ValidationError) as info:
        crm.loyalty.earn(customer_id="x", points=1.5)
    assert {(f.field, f.rule) for f in info.value.fields} == {
        ("customer_id", "type"),
        ("points", "type"),
        ("reference_type", "required"),
        ("reference_id", "required"),
    }


def test_refund_reverses_points_exactly_once(crm: crm_sdk.Crm) -> None:
    budi = crm.customers.create(name="Budi")
    receipt = "R-" + uniq()
    sale(crm, budi.id, receipt, Decimal(155000))
    refund = crm.loyalty.refund(store_id="JKT-01", receipt_id=receipt, refund_id="RF-1", amount=Decimal(155000))
    assert refund.earn_reversed is not None and refund.earn_reversed.points == -15
    assert refund.purchase.refunded_amount == Decimal(155000)
    again = crm.loyalty.refund(store_id="JKT-01", receipt_id=receipt, refund_id="RF-1", amount=Decimal(155000))
    assert again.replayed is True
    assert crm.loyalty.balance(budi.id).balance == 0


def test_history_import_earns_nothing_and_skips_re_runs(crm: crm_sdk.Crm) -> None:
    budi = crm.customers.create(name="Budi")
    when = datetime.now(timezone.utc) - timedelta(days=400)
    rows = [
        {"customer_id": budi.id, "store_id": "OLD", "receipt_id": f"H-{uniq()}", "purchase_date": when, "total_amount": Decimal("50000.00")}
        for _ in range(3)
    ]
    report = crm.loyalty.import_history(rows)
    assert (report.inserted, report.skipped) == (3, 0)
    again = crm.loyalty.import_history(rows)
    assert (again.inserted, again.skipped, again.skipped_rows) == (0, 3, [0, 1, 2])
    assert crm.loyalty.balance(budi.id).balance == 0
    assert crm.loyalty.run_expiry().points >= 0
