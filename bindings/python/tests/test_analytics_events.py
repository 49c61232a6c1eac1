"""Analytics and events through the Python API, on every backend."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

import crm_sdk
from conftest import uniq


def shopper(crm: crm_sdk.Crm, visits: int) -> crm_sdk.Customer:
    c = crm.customers.create(name="Shopper " + uniq())
    now = datetime.now(timezone.utc)
    for i in range(visits):
        crm.loyalty.record_purchase(
            customer_id=c.id,
            store_id="S1",
            receipt_id="R-" + uniq(),
            purchase_date=now - timedelta(days=20 * (visits - i)),
            total_amount=Decimal("100000.00") + i,
        )
    return c


def test_score_all_is_a_frame_with_exact_money(crm: crm_sdk.Crm) -> None:
    a, b = shopper(crm, 3), shopper(crm, 1)
    frame = crm.analytics.score_all()
    assert {a.id, b.id} <= set(frame["customer_id"].tolist())
    assert str(frame["customer_id"].dtype) == "int64"
    assert str(frame["churn_probability"].dtype) == "float64"
    row = frame[frame["customer_id"] == a.id].iloc[0]
    assert row["frequency"] == 2
    assert isinstance(row["lifetime_value"], Decimal)
    one = crm.analytics.customer(a.id)
    assert isinstance(one, crm_sdk.CustomerScore)
    assert one.segment in ("CHAMPION", "LOYAL", "POTENTIAL_LOYAL", "AT_RISK", "LOST")
    assert one.rfm.segment == one.segment
    assert isinstance(one.lifetime_value, Decimal) and one.frequency == 2
    assert one.to_dict()["rfm"]["segment"] == one.segment


def test_score_batches_bound_the_frames(crm: crm_sdk.Crm) -> None:
    for visits in (1, 2, 3):
        shopper(crm, visits)
    total = len(crm.analytics.score_all())
    batches = crm.analytics.score_batches(batch_size=2)
    assert batches.model is not None and batches.model.customers >= 3
    sizes = [len(frame) for frame in batches]
    assert all(size <= 2 for size in sizes) and sum(sizes) == total
    segments = crm.analytics.segments()
    assert sum(s.customers for s in segments) >= 3
    assert all(isinstance(s.total_lifetime_value, Decimal) for s in segments)
    # The listing filters by the placements of the last fit.
    for s in segments:
        page = crm.customers.list(segment=s.segment, limit=1)
        assert page.total == s.customers
    with pytest.raises(crm_sdk.ValidationError) as bad:
        crm.customers.list(recency_score=0, frequency_score=9)
    assert [f.field for f in bad.value.fields] == ["recency_score", "frequency_score"]


def test_refit_and_model_snapshots(crm: crm_sdk.Crm) -> None:
    shopper(crm, 2)
    model = crm.analytics.refit()
    assert model.customers >= 1 and model.unit in ("day", "week", "month")
    fit = crm.analytics.last_fit()
    assert fit is not None and fit.model == model
    crm.analytics.load_model(model.to_json())
    again = crm.analytics.last_fit()
    assert again is not None and again.generation == fit.generation + 1


def test_events_in_order_in_the_wire_format(crm: crm_sdk.Crm) -> None:
    start = crm.events.last_id()
    follower = crm.events.follow(after=start)
    c = crm.customers.create(name="Evented " + uniq())
    events = crm.events.list(after=start, limit=10)
    assert [e.event_type for e in events] == ["new_customer"]
    assert events[0].customer_id == c.id
    assert events[0].payload == {"version": c.version}
    assert events[0].to_wire()["customer_id"] == c.id
    assert events[0].to_wire()["type"] == "new_customer"
    got = follower.next_batch(10)
    assert [e.id for e in got] == [events[0].id]
    assert follower.position == events[0].id
