"""The CDNOW walk-through of the `lifetimes` documentation, on crm_sdk.

Written for lifetimes; only the two import lines changed. Run it from the
repository root:

    python examples/python/lifetimes_cdnow.py

The test suite runs this file twice, once as it is and once with the
imports turned back to `lifetimes`, and checks that both give the same
numbers.
"""

import pandas as pd

from crm_sdk.lifetimes import BetaGeoFitter, GammaGammaFitter
from crm_sdk.lifetimes.utils import summary_data_from_transaction_data

# The CDNOW sample: one purchase per line (see tests/data/cdnow/README.md).
transactions = pd.read_csv(
    "tests/data/cdnow/CDNOW_sample.txt",
    sep=r"\s+",
    header=None,
    names=["master_id", "customer_id", "date", "cds", "amount"],
    dtype={"date": str},
)
transactions["date"] = pd.to_datetime(transactions["date"], format="%Y%m%d")

# Weekly frequency / recency / T, to the end of the calibration period.
summary = summary_data_from_transaction_data(
    transactions,
    "customer_id",
    "date",
    monetary_value_col="amount",
    observation_period_end="1997-09-30",
    freq="W",
)

bgf = BetaGeoFitter(penalizer_coef=0.0)
bgf.fit(summary["frequency"], summary["recency"], summary["T"])
print(bgf)
print(bgf.summary)

# Who is still around, and what will they buy in the next 39 weeks?
summary["p_alive"] = bgf.conditional_probability_alive(
    summary["frequency"], summary["recency"], summary["T"]
)
summary["predicted_purchases"] = bgf.conditional_expected_number_of_purchases_up_to_time(
    39, summary["frequency"], summary["recency"], summary["T"]
)
print(summary.sort_values("predicted_purchases").tail(5))

# What a new customer does: E[X(t)] and P(X(t) = n).
new_customer = [bgf.expected_number_of_purchases_up_to_time(t) for t in (1, 13, 39, 78)]
no_purchase = bgf.probability_of_n_purchases_up_to_time(39, 0)
alive_matrix = bgf.conditional_probability_alive_matrix()

# Spend per purchase, on repeat customers only.
returning = summary[summary["frequency"] > 0]
ggf = GammaGammaFitter(penalizer_coef=0.0)
ggf.fit(returning["frequency"], returning["monetary_value"])
print(ggf)
expected_spend = ggf.conditional_expected_average_profit(
    summary["frequency"], summary["monetary_value"]
)

# Twelve months of value, discounted at 1% a month (data in weeks).
clv = ggf.customer_lifetime_value(
    bgf,
    summary["frequency"],
    summary["recency"],
    summary["T"],
    summary["monetary_value"],
    time=12,
    discount_rate=0.01,
    freq="W",
)
print(clv.describe())
