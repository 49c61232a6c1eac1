"""Transaction tables to the per-customer summaries the models fit on.

The same functions, parameters, index and column names as ``lifetimes.utils``;
the grouping runs in the Rust core (``PeriodTallies``) on numpy buffers.
Definitions, as in lifetimes: transactions are bucketed into periods of
``freq`` (pandas period rules); purchases in the same period count once, with
their amounts summed; ``frequency`` counts the periods after the first,
``recency`` runs from the first to the last period start and ``T`` from the
first period start to the start of the period holding
``observation_period_end``, both in units of ``freq`` divided by
``freq_multiplier``; ``monetary_value`` is the mean amount of the
repeat periods (0 without one).

Differences from lifetimes, all in what is refused rather than computed: a
missing customer id or a missing or infinite amount is an error naming the
row (lifetimes groups or sums them silently), and
``calibration_and_holdout_data`` works on pandas 3 (lifetimes 0.11.3 fails
there).
"""

from __future__ import annotations

from typing import Any, Tuple

import numpy as np
import pandas as pd

from crm_sdk import _native

__all__ = [
    "ConvergenceError",
    "calibration_and_holdout_data",
    "summary_data_from_transaction_data",
]


class ConvergenceError(ValueError):
    """A model fit did not converge (as ``lifetimes.utils.ConvergenceError``).

    The message carries the fit's diagnostics; refitting with a small
    ``penalizer_coef`` (0.001 to 0.1) usually helps.
    """


def _to_datetime(values: Any, datetime_format: str | None) -> pd.Series:
    if isinstance(values, pd.Series) and pd.api.types.is_datetime64_dtype(values.dtype):
        # Already naive datetimes: nothing to parse (to_datetime would copy).
        return values
    dates = pd.to_datetime(values, format=datetime_format)
    if isinstance(dates, pd.Series) and getattr(dates.dt, "tz", None) is not None:
        # UTC periods: a timezone-aware column counts in UTC days.
        dates = dates.dt.tz_convert("UTC").dt.tz_localize(None)
    return dates


def _timestamp(value: Any, datetime_format: str | None) -> pd.Timestamp:
    ts = pd.Timestamp(pd.to_datetime(value, format=datetime_format))
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


def _is_daily(freq: str) -> bool:
    return freq in ("D", "1D")


def _ordinals(dates: pd.Series, freq: str) -> np.ndarray:
    """The period number of each date (days since 1970 for ``"D"``)."""
    if _is_daily(freq):
        # From the column's own unit (ns, or us on pandas 3): floors to days.
        return np.asarray(dates.to_numpy()).astype("datetime64[D]").astype(np.int64)
    return np.asarray(dates.dt.to_period(freq).array.asi8, dtype=np.int64)


def _ordinal(ts: pd.Timestamp, freq: str) -> int:
    if _is_daily(freq):
        return int(ts.to_datetime64().astype("datetime64[D]").astype(np.int64))
    return int(pd.Period(ts, freq=freq).ordinal)


def _starts(ordinals: np.ndarray, freq: str) -> np.ndarray:
    """The start of each period as ``datetime64[ns]``."""
    if _is_daily(freq):
        return ordinals.astype("datetime64[D]").astype("datetime64[ns]")
    index = pd.PeriodIndex.from_ordinals(ordinals, freq=freq)  # type: ignore[attr-defined]
    return np.asarray(index.to_timestamp(how="start").to_numpy(dtype="datetime64[ns]"))


def _in_units(delta: np.ndarray, freq: str, freq_multiplier: float) -> np.ndarray:
    unit = np.timedelta64(1, freq)  # type: ignore[call-overload]
    return np.asarray(delta / unit, dtype=np.float64) / freq_multiplier


def _integer_ids(ids: pd.Series) -> np.ndarray | None:
    """The ids as int64 when they are numpy integers that fit, else None."""
    if not isinstance(ids.dtype, np.dtype) or ids.dtype.kind not in "iu" or ids.size == 0:
        return None
    values = ids.to_numpy()
    if values.dtype == np.uint64 and values.max() > np.iinfo(np.int64).max:
        return None
    return np.ascontiguousarray(values.astype(np.int64, copy=False))


def _id_index(uniques: np.ndarray, ids: pd.Series) -> pd.Index:
    """Integer ids back in the column's own dtype."""
    dtype: Any = ids.dtype
    return pd.Index(uniques.astype(dtype, copy=False))


def _dense_codes(ids: pd.Series) -> tuple[np.ndarray, pd.Index] | None:
    """``pd.factorize(ids, sort=True)`` of integer ids spanning at most twice
    as many values as there are rows (customer numbers, mostly), by a table
    lookup in Rust instead of a hash; ``None`` for other ids."""
    wide = _integer_ids(ids)
    coded = None if wide is None else _native.dense_codes(wide)
    if coded is None:
        return None
    codes, uniques = coded
    return codes, _id_index(uniques, ids)


def _codes(ids: pd.Series) -> tuple[np.ndarray, pd.Index]:
    dense = _dense_codes(ids)
    if dense is not None:
        return dense
    codes, uniques = pd.factorize(ids, sort=True, use_na_sentinel=True)
    missing = np.flatnonzero(codes < 0)
    if missing.size:
        raise ValueError(f"row {int(missing[0])}: the customer id is missing")
    return codes.astype(np.uint32, copy=False), pd.Index(uniques)


def _amounts(transactions: pd.DataFrame, column: str | None) -> np.ndarray | None:
    if column is None:
        return None
    values = transactions[column]
    if values.dtype == object:
        # decimal.Decimal amounts: the float view the models compute in.
        values = pd.to_numeric(values)
    return np.ascontiguousarray(values.to_numpy(dtype=np.float64, na_value=np.nan))


#: What ``period_tallies`` returns: periods, first, last, repeat amount,
#: purchases and total amount per customer code.
_Tallies = Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _tallies(
    ids: pd.Series, dates: pd.Series, amounts: np.ndarray | None, end: int, freq: str
) -> tuple[pd.Index, _Tallies]:
    """Customer ids (sorted) and their tallies up to period ``end``. Daily
    periods of dense integer ids take one native pass over the columns."""
    if _is_daily(freq):
        wide = _integer_ids(ids)
        times = dates.to_numpy()
        if wide is not None and times.dtype.kind == "M":
            unit, _ = np.datetime_data(times.dtype)
            tick: Any = np.timedelta64(1, unit)  # type: ignore[call-overload]
            ticks = int(np.timedelta64(1, "D") // tick)
            fast = _native.dense_id_tallies(wide, times.view(np.int64), ticks, amounts, end)
            if fast is not None:
                return _id_index(fast[0], ids), fast[1]
    codes, uniques = _codes(ids)
    return uniques, _native.period_tallies(len(uniques), codes, _ordinals(dates, freq), amounts, end)


def _summarise(
    uniques: pd.Index,
    tallies: _Tallies,
    with_monetary: bool,
    observation_period_end: pd.Timestamp,
    freq: str,
    freq_multiplier: float,
    include_first_transaction: bool,
    index_name: Any,
) -> pd.DataFrame:
    end = _ordinal(observation_period_end, freq)
    periods, first, last, repeat_amount, _purchases, total_amount = tallies
    keep = periods > 0
    if not keep.all():
        periods, first, last = periods[keep], first[keep], last[keep]
        repeat_amount, total_amount = repeat_amount[keep], total_amount[keep]
        uniques = uniques[keep]
    # As lifetimes: T runs to the start of the period holding the end.
    if _is_daily(freq):
        t_age = (end - first).astype(np.float64) / freq_multiplier
        recency = (last - first).astype(np.float64) / freq_multiplier
    else:
        first_start = _starts(first, freq)
        end_start = _starts(np.array([end], dtype=np.int64), freq)[0]
        t_age = _in_units(end_start - first_start, freq, freq_multiplier)
        recency = _in_units(_starts(last, freq) - first_start, freq, freq_multiplier)
    count = periods.astype(np.float64)
    frequency = count if include_first_transaction else count - 1.0
    columns: dict[str, np.ndarray] = {"frequency": frequency, "recency": recency, "T": t_age}
    if with_monetary:
        if include_first_transaction:
            columns["monetary_value"] = total_amount / count
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                columns["monetary_value"] = np.where(frequency > 0, repeat_amount / frequency, 0.0)
    index = pd.Index(uniques, name=index_name)
    return pd.DataFrame(columns, index=index)


def summary_data_from_transaction_data(
    transactions: pd.DataFrame,
    customer_id_col: str,
    datetime_col: str,
    monetary_value_col: str | None = None,
    datetime_format: str | None = None,
    observation_period_end: Any = None,
    freq: str = "D",
    freq_multiplier: float = 1,
    include_first_transaction: bool = False,
) -> pd.DataFrame:
    """One row per customer: ``frequency``, ``recency``, ``T`` (and
    ``monetary_value`` with ``monetary_value_col``), indexed by customer id
    in sorted order, as ``lifetimes.utils.summary_data_from_transaction_data``.

    Transactions after ``observation_period_end`` (default: the latest
    transaction) are ignored. Rows may be in any order; a date-ordered table
    is summarised in one pass.
    """
    dates = _to_datetime(transactions[datetime_col], datetime_format)
    end = (
        _timestamp(dates.max(), None)
        if observation_period_end is None
        else _timestamp(observation_period_end, datetime_format)
    )
    amounts = _amounts(transactions, monetary_value_col)
    uniques, tallies = _tallies(
        transactions[customer_id_col], dates, amounts, _ordinal(end, freq), freq
    )
    return _summarise(
        uniques,
        tallies,
        amounts is not None,
        end,
        freq,
        freq_multiplier,
        include_first_transaction,
        customer_id_col,
    )


def calibration_and_holdout_data(
    transactions: pd.DataFrame,
    customer_id_col: str,
    datetime_col: str,
    calibration_period_end: Any,
    observation_period_end: Any = None,
    freq: str = "D",
    freq_multiplier: float = 1,
    datetime_format: str | None = None,
    monetary_value_col: str | None = None,
    include_first_transaction: bool = False,
) -> pd.DataFrame:
    """The calibration summary (``frequency_cal``, ``recency_cal``, ``T_cal``
    and ``monetary_value_cal``) of the transactions up to
    ``calibration_period_end``, joined with what the same customers did up
    to ``observation_period_end``: ``frequency_holdout`` (purchase periods),
    ``monetary_value_holdout`` (mean amount per holdout transaction, as
    lifetimes computes it) and ``duration_holdout`` (in periods), as
    ``lifetimes.utils.calibration_and_holdout_data``. Customers who first
    bought in the holdout are left out.
    """
    dates = _to_datetime(transactions[datetime_col], datetime_format)
    end = (
        _timestamp(dates.max(), None)
        if observation_period_end is None
        else _timestamp(observation_period_end, datetime_format)
    )
    calibration_end = _timestamp(calibration_period_end, datetime_format)
    codes, uniques = _codes(transactions[customer_id_col])
    amounts = _amounts(transactions, monetary_value_col)
    dates_ns = dates.to_numpy(dtype="datetime64[ns]")
    in_calibration = dates_ns <= calibration_end.to_datetime64()
    in_holdout = ~in_calibration & (dates_ns <= end.to_datetime64())
    if not in_holdout.any():
        raise ValueError(
            "There is no data available. Check the `observation_period_end` and "
            "`calibration_period_end` and confirm that values in `transactions` "
            "occur prior to those dates."
        )
    calibration_tallies = _native.period_tallies(
        len(uniques),
        codes[in_calibration],
        _ordinals(dates[in_calibration], freq),
        None if amounts is None else amounts[in_calibration],
        _ordinal(calibration_end, freq),
    )
    calibration = _summarise(
        uniques,
        calibration_tallies,
        amounts is not None,
        calibration_end,
        freq,
        freq_multiplier,
        include_first_transaction,
        customer_id_col,
    )
    calibration.columns = [f"{c}_cal" for c in calibration.columns]
    periods, _first, _last, _repeat, purchases, total = _native.period_tallies(
        len(uniques),
        codes[in_holdout],
        _ordinals(dates[in_holdout], freq),
        None if amounts is None else amounts[in_holdout],
        None,
    )
    position = uniques.get_indexer(calibration.index)
    calibration["frequency_holdout"] = periods[position].astype(np.float64)
    if amounts is not None:
        bought = purchases[position]
        with np.errstate(invalid="ignore", divide="ignore"):
            calibration["monetary_value_holdout"] = np.where(
                bought > 0, total[position] / bought, 0.0
            )
    delta = _ordinal(end, freq) - _ordinal(calibration_end, freq)
    calibration["duration_holdout"] = delta / freq_multiplier
    return calibration
