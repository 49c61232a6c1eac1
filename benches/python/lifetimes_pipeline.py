"""The lifetimes pipeline of a notebook, with ``crm_sdk.lifetimes`` or with
``lifetimes`` 0.11.3: the same code, only the import lines differ.

From a pandas DataFrame of transactions in date order (as a till or an
export writes them, not grouped by customer): the per-customer summary
(``summary_data_from_transaction_data``, days, with a monetary column),
the BG/NBD fit, the Gamma-Gamma fit on repeat buyers, then for every
customer P(alive), the expected purchases in the next 90 days and the
12-month CLV.

    crm-analytics simulate --customers 100000 --output /tmp/tx_100k.csv
    python benches/python/lifetimes_pipeline.py --impl crm_sdk   --input /tmp/tx_100k.csv
    python benches/python/lifetimes_pipeline.py --impl lifetimes --input /tmp/tx_100k.csv
    python benches/python/lifetimes_pipeline.py --compare        --input /tmp/tx_100k.csv

The data is the seeded simulation of ``crm-analytics simulate`` (the data of
the Rust analytics benchmark), put in date order (a stable sort on the date).
Each measured run is a fresh process (``--runs``, default 5): it loads the
data, then times the pipeline; imports and loading are not timed. Peak
memory is the process's peak resident set while the pipeline runs (VmHWM,
reset after loading), with the data already loaded; the resident set after
loading is printed beside it. ``--stages`` adds the median time of each
stage. The last line is the result as JSON.

``--compare`` runs both implementations in one process (both installed) and
checks that they agree: parameters to 1e-4 relative, P(alive) to 1e-5.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
import warnings
from importlib.metadata import version
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

OBSERVATION_END = "2025-12-31"
RESULTS = ["transactions", "customers", "bgnbd", "gamma_gamma", "mean_p_alive", "total_clv_12m"]
STAGES = ["summary", "bgnbd_fit", "gamma_gamma_fit", "p_alive", "expected_90d", "clv_12m"]


def implementation(name: str) -> SimpleNamespace:
    """The fitters and the summary function of ``lifetimes`` or
    ``crm_sdk.lifetimes``: the import lines of a notebook."""
    if name == "lifetimes":
        from lifetimes import BetaGeoFitter, GammaGammaFitter
        from lifetimes.utils import summary_data_from_transaction_data
    elif name == "crm_sdk":
        from crm_sdk.lifetimes import BetaGeoFitter, GammaGammaFitter
        from crm_sdk.lifetimes.utils import summary_data_from_transaction_data
    else:
        raise ValueError(f"unknown implementation {name!r}")
    return SimpleNamespace(
        BetaGeoFitter=BetaGeoFitter,
        GammaGammaFitter=GammaGammaFitter,
        summary_data_from_transaction_data=summary_data_from_transaction_data,
    )


def pipeline(lt: SimpleNamespace, tx: pd.DataFrame) -> tuple[dict[str, float], dict[str, Any]]:
    """The timed work: what a notebook does with the library."""
    times = [time.perf_counter()]
    summary = lt.summary_data_from_transaction_data(
        tx, "customer_id", "date", "amount", observation_period_end=OBSERVATION_END, freq="D"
    )
    times.append(time.perf_counter())
    bgf = lt.BetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"])
    times.append(time.perf_counter())
    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    ggf = lt.GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    times.append(time.perf_counter())
    f, r, t = summary["frequency"], summary["recency"], summary["T"]
    p_alive = bgf.conditional_probability_alive(f, r, t)
    times.append(time.perf_counter())
    expected = bgf.conditional_expected_number_of_purchases_up_to_time(90, f, r, t)
    times.append(time.perf_counter())
    clv = ggf.customer_lifetime_value(bgf, f, r, t, summary["monetary_value"], time=12, freq="D")
    times.append(time.perf_counter())
    stages = {name: b - a for name, a, b in zip(STAGES, times, times[1:])}
    stages["total"] = times[-1] - times[0]
    results = {
        "summary": summary,
        "bgnbd": bgf.params_,
        "gamma_gamma": ggf.params_,
        "p_alive": np.asarray(p_alive),
        "expected_90d": np.asarray(expected),
        "clv_12m": np.asarray(clv),
    }
    return stages, results


def load(path: str) -> pd.DataFrame:
    """The simulated transactions in date order (stable: ties keep the
    file's order)."""
    tx = pd.read_csv(
        path, dtype={"customer_id": np.int64, "amount": np.float64}, parse_dates=["date"]
    )
    return tx.sort_values("date", kind="stable", ignore_index=True)


def memory_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak_memory() -> None:
    """Starts VmHWM again from the current resident set (Linux 4.0+)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def versions(name: str) -> dict[str, str]:
    own = ["lifetimes", "scipy", "autograd"] if name == "lifetimes" else ["crm-sdk"]
    packages = ["pandas", "numpy", *own]
    return {"python": platform.python_version(), **{p: version(p) for p in packages}}


def one_run(args: argparse.Namespace) -> None:
    """A measured run, in this (fresh) process; prints one JSON line."""
    lt = implementation(args.impl)
    tx = load(args.input)
    rss_loaded = memory_mb("VmRSS")
    reset_peak_memory()
    stages, results = pipeline(lt, tx)
    print(
        json.dumps(
            {
                "stages_s": stages,
                "rss_loaded_mb": rss_loaded,
                "peak_rss_mb": memory_mb("VmHWM"),
                "transactions": len(tx),
                "customers": len(results["summary"]),
                "bgnbd": results["bgnbd"].to_dict(),
                "gamma_gamma": results["gamma_gamma"].to_dict(),
                "mean_p_alive": float(results["p_alive"].mean()),
                "total_clv_12m": float(results["clv_12m"].sum()),
            }
        )
    )


def measure(args: argparse.Namespace) -> None:
    runs = []
    for i in range(args.runs):
        child = subprocess.run(
            [sys.executable, __file__, "--impl", args.impl, "--input", args.input, "--one-run"],
            capture_output=True,
            text=True,
        )
        if child.returncode != 0:
            sys.exit(f"run {i + 1} failed:\n{child.stderr}")
        run = json.loads(child.stdout.strip().splitlines()[-1])
        runs.append(run)
        print(
            f"run {i + 1}: {run['stages_s']['total']:.3f} s, peak RSS {run['peak_rss_mb']:.0f} MB "
            f"({run['rss_loaded_mb']:.0f} MB with the data loaded)",
            flush=True,
        )
    median = {s: statistics.median(r["stages_s"][s] for r in runs) for s in STAGES + ["total"]}
    first = runs[0]
    print(
        f"{args.impl}: median {median['total']:.3f} s of {len(runs)} runs, "
        f"{first['transactions']:,} transactions, {first['customers']:,} customers"
    )
    if args.stages:
        for s in STAGES:
            print(f"  {s:16s} {median[s] * 1000:9.1f} ms  ({median[s] / median['total']:.1%})")
    print(
        json.dumps(
            {
                "impl": args.impl,
                "versions": versions(args.impl),
                "runs_s": [r["stages_s"]["total"] for r in runs],
                "median_s": median["total"],
                "stages_median_s": median,
                "peak_rss_mb": [r["peak_rss_mb"] for r in runs],
                "rss_loaded_mb": [r["rss_loaded_mb"] for r in runs],
                **{k: first[k] for k in RESULTS},
            }
        )
    )


def compare(args: argparse.Namespace) -> None:
    """Both implementations on the same data; exits 1 when they disagree."""
    tx = load(args.input)
    (_, ours), (_, theirs) = (pipeline(implementation(n), tx) for n in ("crm_sdk", "lifetimes"))
    pd.testing.assert_frame_equal(ours["summary"], theirs["summary"], check_dtype=False, rtol=1e-12)
    failures = []
    for model in ("bgnbd", "gamma_gamma"):
        rel = ((ours[model] - theirs[model]).abs() / theirs[model].abs()).max()
        print(f"{model}: crm_sdk   {ours[model].to_dict()}")
        print(f"{'':{len(model)}}  lifetimes {theirs[model].to_dict()}")
        print(f"  largest relative difference {rel:.2e} (limit 1e-4)")
        if not rel <= 1e-4:
            failures.append(model)
    for column, limit in (("p_alive", 1e-5), ("expected_90d", None), ("clv_12m", None)):
        diff = np.abs(ours[column] - theirs[column])
        rel = diff / np.maximum(np.abs(theirs[column]), 1e-300)
        shown = f"largest difference {diff.max():.2e}, relative {rel.max():.2e}"
        print(f"{column}: {shown}" + (f" (limit {limit:g})" if limit else ""))
        if limit is not None and not diff.max() <= limit:
            failures.append(column)
    print(f"summary: identical ({len(ours['summary']):,} customers)")
    if failures:
        print(f"DISAGREE: {', '.join(failures)}")
        sys.exit(1)
    print("agree")


def main() -> None:
    warnings.simplefilter("ignore")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--impl", choices=["crm_sdk", "lifetimes"])
    parser.add_argument("--input", required=True, help="CSV of crm-analytics simulate")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--stages", action="store_true", help="print each stage's median time")
    parser.add_argument("--compare", action="store_true", help="check that both sides agree")
    parser.add_argument("--one-run", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compare:
        compare(args)
    elif args.impl is None:
        parser.error("--impl or --compare is required")
    elif args.one_run:
        one_run(args)
    else:
        measure(args)


if __name__ == "__main__":
    main()
