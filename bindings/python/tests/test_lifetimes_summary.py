"""summary_data_from_transaction_data against a plain pandas group-by, for
every kind of customer id (dense and sparse integers, other integer types,
strings) and rows in any order."""

from typing import Callable, Dict

import numpy as np
import pandas as pd
import pytest

from crm_sdk.lifetimes.utils import summary_data_from_transaction_data

END = pd.Timestamp("1998-06-30")

IDS: Dict[str, Callable[[pd.Series], pd.Series]] = {
    "int64": lambda ids: ids,
    "negative": lambda ids: ids - 5000,
    "reversed": lambda ids: 3000 - ids,
    "int32": lambda ids: ids.astype(np.int32),
    "uint64": lambda ids: ids.astype(np.uint64),
    "sparse": lambda ids: ids * 1_000_003,
    "strings": lambda ids: "C" + ids.astype(str).str.zfill(5),
}


def group_by(tx: pd.DataFrame) -> pd.DataFrame:
    """lifetimes' definitions, daily: purchases of one day count once, with
    their amounts summed; the repeat days' mean amount."""
    days = tx.assign(date=tx["date"].dt.floor("D"))
    daily = days.groupby(["customer_id", "date"])["amount"].sum().reset_index()
    by = daily.groupby("customer_id")
    first, last = by["date"].min(), by["date"].max()
    frequency = by["date"].count().astype(np.float64) - 1
    repeat_total = by["amount"].sum() - by["amount"].first()
    return pd.DataFrame(
        {
            "frequency": frequency,
            "recency": (last - first).dt.days.astype(np.float64),
            "T": (END - first).dt.days.astype(np.float64),
            "monetary_value": (repeat_total / frequency.where(frequency > 0)).fillna(0.0),
        }
    )


@pytest.mark.parametrize("kind", list(IDS))
def test_any_customer_ids_in_any_order(cdnow_transactions: pd.DataFrame, kind: str) -> None:
    tx = cdnow_transactions.assign(customer_id=IDS[kind](cdnow_transactions["customer_id"]))
    shuffled = tx.sample(frac=1.0, random_state=7)
    got = summary_data_from_transaction_data(
        shuffled, "customer_id", "date", "amount", observation_period_end=END
    )
    want = group_by(tx)
    assert len(got) == 2357 and got.index.name == "customer_id"
    assert got.index.is_unique and got.index.is_monotonic_increasing
    assert list(got.index) == sorted(tx["customer_id"].unique())
    pd.testing.assert_frame_equal(
        got, want, check_exact=False, rtol=1e-12, check_index_type=False, check_names=False
    )
    assert got.index.dtype == want.index.dtype
