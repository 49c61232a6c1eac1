"""The whole `crm-analytics score` job done with lifetimes 0.11.3 in one
Python process, as an analyst would run it: read the transactions CSV,
summarise per customer, RFM quintiles, fit BG/NBD and Gamma-Gamma, score
every customer (P(alive), expected purchases in 90 days, 12-month CLV) and
write one CSV row per customer.

    crm-analytics simulate --customers 100000 --output /tmp/tx_100k.csv
    hyperfine -w 1 -r 5 \
      'python benches/reference/score_process.py --input /tmp/tx_100k.csv --output /tmp/lt_scores.csv' \
      'crm-analytics --quiet score --input /tmp/tx_100k.csv --customer-col customer_id \
         --date-col date --amount-col amount --period week --observation-end 2025-12-31 \
         --output /tmp/crm_scores.csv'

The steps between reading and writing are `pipeline.py`'s, shared with it.
Timed from the shell, so interpreter start-up and imports count, as they
do for the user.
"""

import argparse
import warnings

import pandas as pd

from pipeline import pipeline

warnings.simplefilter("ignore")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--observation-end", default="2025-12-31")
    args = parser.parse_args()

    tx = pd.read_csv(args.input, parse_dates=["date"])
    _, _, _, (summary, scores, p_alive, expected_90d, clv) = pipeline(tx, args.observation_end)
    out = summary[["frequency", "recency", "T", "monetary_value"]].join(
        scores.rename(
            columns={"r": "recency_score", "f": "frequency_score", "m": "monetary_score", "total": "rfm_score"}
        )
    )
    out["p_alive"] = p_alive
    out["expected_purchases_90d"] = expected_90d
    out["model_lifetime_value"] = clv
    out.to_csv(args.output)


if __name__ == "__main__":
    main()
