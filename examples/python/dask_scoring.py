"""Scoring every customer of a transaction table spread over a Dask cluster.

The models of ``crm_sdk.lifetimes`` fit on one row per customer, so only the
per-customer summary has to come back to one machine; the transactions stay
on the workers:

1. Shuffle the transactions on the customer id, so that all of a customer's
   purchases are in one partition.
2. Summarise each partition with ``summary_data_from_transaction_data`` and
   a fixed ``observation_period_end`` (each partition would otherwise end
   at its own latest purchase).
3. Collect the summary (small: one row per customer), fit BG/NBD and
   Gamma-Gamma on it.
4. Score each partition of the summary with the fitted models: P(alive),
   expected purchases in the next 90 days, 12-month CLV. The fitted models
   are plain Python objects holding their parameters: they pickle to the
   workers with the task.

Run as a script it starts a local cluster of worker processes::

    python examples/python/dask_scoring.py                      # the CDNOW sample
    python examples/python/dask_scoring.py --input tx.csv \\
        --observation-end 2025-12-31 --workers 2                 # customer_id,date,amount

A CSV of ``customer_id,date,amount`` rows is what ``crm-analytics simulate``
writes. To run on an existing cluster, pass ``--scheduler tcp://host:8786``;
each worker needs ``crm-sdk`` installed. ``score_on_cluster`` and
``score_in_process`` are importable: the package's tests check that both give
the same scores.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import dask.dataframe as dd
import pandas as pd
from dask.distributed import Client, LocalCluster

from crm_sdk.lifetimes import BetaGeoFitter, GammaGammaFitter
from crm_sdk.lifetimes.utils import summary_data_from_transaction_data

#: The CDNOW sample shipped with the repository's tests.
CDNOW = Path(__file__).resolve().parents[2] / "tests" / "data" / "cdnow" / "CDNOW_sample.txt"
#: Days ahead of the expected-purchases column.
HORIZON_DAYS = 90
#: Months of the customer lifetime value.
CLV_MONTHS = 12


def summarise(transactions: pd.DataFrame, observation_period_end: Any) -> pd.DataFrame:
    """The per-customer summary of a pandas table of ``customer_id``,
    ``date`` and ``amount``, in days: one partition, or the whole table."""
    return summary_data_from_transaction_data(
        transactions,
        "customer_id",
        "date",
        monetary_value_col="amount",
        observation_period_end=observation_period_end,
        freq="D",
    )


def fit(summary: pd.DataFrame) -> tuple[BetaGeoFitter, GammaGammaFitter]:
    """BG/NBD on every customer, Gamma-Gamma on the repeat buyers."""
    bgf = BetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"])
    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    ggf = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    return bgf, ggf


def score(summary: pd.DataFrame, bgf: BetaGeoFitter, ggf: GammaGammaFitter) -> pd.DataFrame:
    """P(alive), expected purchases in the next ``HORIZON_DAYS`` days and
    the ``CLV_MONTHS``-month CLV of each customer of a summary."""
    f, r, t = summary["frequency"], summary["recency"], summary["T"]
    return pd.DataFrame(
        {
            "p_alive": bgf.conditional_probability_alive(f, r, t),
            "expected_purchases": bgf.conditional_expected_number_of_purchases_up_to_time(
                HORIZON_DAYS, f, r, t
            ),
            "clv": ggf.customer_lifetime_value(
                bgf, f, r, t, summary["monetary_value"], time=CLV_MONTHS, freq="D"
            ),
        },
        index=summary.index,
    )


def score_on_cluster(
    transactions: dd.DataFrame, observation_period_end: Any
) -> tuple[pd.DataFrame, BetaGeoFitter, GammaGammaFitter]:
    """The scores of every customer (sorted by customer id) and the fitted
    models, computed on the cluster of the current Dask client."""
    by_customer = transactions.shuffle(on="customer_id")
    empty = summarise(transactions._meta, observation_period_end)
    summary = by_customer.map_partitions(summarise, observation_period_end, meta=empty)
    # Persisted: collected for the fit, then scored where it lies.
    summary = summary.persist()
    bgf, ggf = fit(summary.compute().sort_index())
    scores = summary.map_partitions(score, bgf, ggf, meta=score(empty, bgf, ggf))
    return scores.compute().sort_index(), bgf, ggf


def score_in_process(
    transactions: pd.DataFrame, observation_period_end: Any
) -> tuple[pd.DataFrame, BetaGeoFitter, GammaGammaFitter]:
    """The same as :func:`score_on_cluster`, in this process."""
    summary = summarise(transactions, observation_period_end)
    bgf, ggf = fit(summary)
    return score(summary, bgf, ggf), bgf, ggf


def read_transactions(path: Path) -> dd.DataFrame:
    """The CDNOW sample format (whitespace separated, no header) for a
    ``.txt`` file, else a CSV with ``customer_id,date,amount`` columns."""
    if path.suffix == ".txt":
        return dd.read_csv(
            path,
            sep=r"\s+",
            header=None,
            names=["master_id", "customer_id", "date", "cds", "amount"],
            usecols=["customer_id", "date", "amount"],
            parse_dates=["date"],
            date_format="%Y%m%d",
        )
    return dd.read_csv(path, usecols=["customer_id", "date", "amount"], parse_dates=["date"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", type=Path, default=CDNOW)
    parser.add_argument(
        "--observation-end", help="last day observed (default: the latest purchase)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scheduler", help="address of a running scheduler")
    args = parser.parse_args()
    # The scheduler logs each shuffle's start and end as warnings.
    logging.getLogger("distributed.shuffle").setLevel(logging.ERROR)

    if args.scheduler:
        client = Client(args.scheduler)
    else:
        cluster = LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, host="127.0.0.1"
        )
        client = Client(cluster)
    with client:
        transactions = read_transactions(args.input)
        end = args.observation_end or transactions["date"].max().compute()
        scores, bgf, ggf = score_on_cluster(transactions, end)
    print(f"observation end {pd.Timestamp(end).date()}, {len(scores):,} customers")
    print(bgf)
    print(ggf)
    print(scores.describe().T.to_string())
    print(scores.sort_values("clv", ascending=False).head(10).to_string())


if __name__ == "__main__":
    main()
