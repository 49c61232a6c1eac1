"""Customer analytics of a transactions DataFrame, with explicit time units.

The same analytics the store runs (``crm.analytics.score_all()``), on a
pandas table of transactions instead of the ledger: per-customer summaries
in an explicit ``unit`` ("day", "week" or "month"), RFM scores with the
guide's five segments and the eleven-segment map, BG/NBD P(alive) and churn
risk, Gamma-Gamma spend, and CLV whose horizon, step, discount rate and
margin are settings rather than assumptions::

    from crm_sdk import analytics
    scores = analytics.score(tx, "customer_id", "date", "amount", unit="week")
    segments = analytics.rfm_segments(tx, "customer_id", "date", "amount")

Money comes back as :class:`decimal.Decimal` (an amount column of floats is
read as the decimals it prints as: ``19.99``, not its binary expansion).
For the interface of the ``lifetimes`` library, see :mod:`crm_sdk.lifetimes`.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from crm_sdk import _native
from crm_sdk.lifetimes.utils import _amounts, _codes, _timestamp, _to_datetime

__all__ = ["rfm_segments", "score"]

#: Columns of :func:`rfm_segments`, from the columns of :func:`score`.
_RFM_COLUMNS = {
    "rfm_recency": "r_score",
    "rfm_frequency": "f_score",
    "rfm_monetary": "m_score",
    "rfm_total": "rfm_score",
    "segment": "segment",
    "detailed_segment": "detailed_segment",
}


def _days(dates: pd.Series) -> np.ndarray:
    return dates.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]").astype(np.int64)


def score(
    transactions: pd.DataFrame,
    customer_id_col: str,
    datetime_col: str,
    monetary_value_col: str | None = None,
    *,
    unit: str = "week",
    observation_end: Any = None,
    config: dict[str, Any] | None = None,
    datetime_format: str | None = None,
) -> pd.DataFrame:
    """Scores every customer of ``transactions``: one row per customer,
    indexed by customer id (sorted), with ``frequency``, ``recency``, ``T``
    (in ``unit``), ``monetary_value``, the RFM scores (``rfm_recency``,
    ``rfm_frequency``, ``rfm_monetary``, ``rfm_total``), ``segment``,
    ``detailed_segment``, ``lifetime_value`` (the guide's formula),
    ``model_lifetime_value``, ``expected_average_spend``, ``p_alive``,
    ``churn_probability``, ``risk_level``, ``recommended_action``,
    ``churn_method``, ``expected_purchases_90d`` and ``total_spend``.

    Purchases are bucketed to UTC days; ``observation_end`` (inclusive,
    default the latest purchase) ends the history. ``config`` holds the
    analytics settings as a dict (the JSON of the Rust ``AnalyticsConfig``,
    e.g. ``{"model_clv": {"horizon_steps": 24, "margin": "0.3"}}``). The
    fitted model (parameters, diagnostics, settings) is in
    ``result.attrs["model"]``. Rows may come in any order.

    Raises :class:`~crm_sdk.exceptions.ValidationError` naming the bad
    field: an unknown unit, a negative amount, an invalid setting.
    """
    dates = _to_datetime(transactions[datetime_col], datetime_format)
    codes, uniques = _codes(transactions[customer_id_col])
    end = None
    if observation_end is not None:
        end = int(_days(pd.Series([_timestamp(observation_end, datetime_format)]))[0])
    frame, snapshot = _native.score_transactions(
        len(uniques),
        codes,
        _days(dates),
        _amounts(transactions, monetary_value_col),
        unit,
        observation_end=end,
        config=None if config is None else json.dumps(config),
    )
    frame.index = pd.Index(uniques[frame.pop("customer_id").to_numpy()], name=customer_id_col)
    frame = frame.sort_index()
    frame.attrs["model"] = json.loads(snapshot)
    return frame


def rfm_segments(
    transactions: pd.DataFrame,
    customer_id_col: str,
    datetime_col: str,
    monetary_value_col: str | None = None,
    observation_period_end: Any = None,
    *,
    unit: str = "day",
    datetime_format: str | None = None,
) -> pd.DataFrame:
    """RFM segments of ``transactions``: one row per customer, indexed by
    customer id, with ``recency`` (periods of ``unit`` since the last
    purchase), ``frequency`` (purchase days), ``monetary`` (total spend, a
    Decimal), the 1-5 scores ``r_score``, ``f_score``, ``m_score``,
    ``rfm_score`` (0-100), ``segment`` (the guide's five segments) and
    ``detailed_segment`` (the eleven-segment map). Scores are quintiles of
    this population, as in the store's analytics."""
    scored = score(
        transactions,
        customer_id_col,
        datetime_col,
        monetary_value_col,
        unit=unit,
        observation_end=observation_period_end,
        datetime_format=datetime_format,
    )
    out = pd.DataFrame(
        {
            "recency": scored["T"] - scored["recency"],
            "frequency": scored["frequency"] + 1,
            "monetary": scored["total_spend"],
        },
        index=scored.index,
    )
    for source, target in _RFM_COLUMNS.items():
        out[target] = scored[source]
    out.attrs["model"] = scored.attrs["model"]
    return out
