"""Times the lifetimes 0.11.3 BG/NBD and Gamma-Gamma fits on the CDNOW sample.

    python benches/reference/cdnow_fit.py [--repeat 20]

Compare with `cargo bench -p crm-benches --bench analytics -- cdnow`.
Prints the estimates (they must equal the Rust ones) and the median time.
"""

import argparse
import json
import pathlib
import statistics
import time
import warnings

import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter

warnings.simplefilter("ignore")
ROOT = pathlib.Path(__file__).resolve().parents[2]
SUMMARY = ROOT / "tests/data/cdnow/cdnow_customers_summary_with_transactions.csv"


def median_seconds(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    data = pd.read_csv(SUMMARY)

    bg_time, bgf = median_seconds(
        lambda: BetaGeoFitter().fit(data["x"], data["t_x"], data["T"]), args.repeat
    )
    repeat = data[data["x"] > 0]
    gg_time, ggf = median_seconds(
        lambda: GammaGammaFitter().fit(repeat["x"], repeat["zbar"]), args.repeat
    )
    print(
        json.dumps(
            {
                "bgnbd": {k: float(v) for k, v in bgf.params_.items()},
                "bgnbd_fit_ms": bg_time * 1e3,
                "gamma_gamma": {k: float(v) for k, v in ggf.params_.items()},
                "gamma_gamma_fit_ms": gg_time * 1e3,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
