"""The asyncio API: the same calls as awaitables."""

import asyncio
from datetime import datetime, timezone
from decimal import Decimal

import pytest

import crm_sdk
from conftest import email, uniq


def test_async_calls_mirror_the_sync_ones(db_url: str) -> None:
    async def main() -> None:
        crm = await crm_sdk.AsyncCrm.connect(db_url)
        assert isinstance(crm, crm_sdk.AsyncCrm)
        await crm.ping()
        made = await asyncio.gather(*(crm.customers.create(name=f"A{i}", email=email()) for i in range(5)))
        assert len({c.customer_code for c in made}) == 5
        got = await crm.customers.get(made[0].id)
        assert got == made[0]
        recorded = await crm.loyalty.record_purchase(
            customer_id=got.id,
            store_id="S1",
            receipt_id="R-" + uniq(),
            purchase_date=datetime.now(timezone.utc),
            total_amount=Decimal("250000"),
        )
        assert recorded.earned is not None and recorded.earned.points == 25
        assert (await crm.loyalty.balance(got.id)).balance == 25
        with pytest.raises(crm_sdk.InsufficientPointsError) as info:
            await crm.loyalty.redeem(customer_id=got.id, points=26, reference_type="v", reference_id=uniq())
        assert info.value.available == 25
        with pytest.raises(crm_sdk.NotFoundError):
            await crm.customers.get(987_654_321)
        frame = await crm.analytics.score_all()
        assert got.id in frame["customer_id"].tolist()
        batches = await crm.analytics.score_batches(batch_size=1)
        rows = 0
        async for part in batches:
            rows += len(part)
        assert rows == len(frame)

    asyncio.run(main())


def test_cancelling_an_awaitable_leaves_the_loop_usable(db_url: str) -> None:
    async def main() -> None:
        crm = await crm_sdk.AsyncCrm.connect(db_url)
        task = asyncio.ensure_future(crm.analytics.score_all())
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (await crm.customers.create(name="After")).name == "After"

    asyncio.run(main())
