"""Reference values for the CDNOW golden tests, from lifetimes 0.11.3 / scipy.

    python benches/reference/golden_values.py

Prints E[X(t)], the conditional expectation and P(X(39) = 0) at the published
(3-decimal) BG/NBD parameters, the same at the full-precision estimates, and
the Gauss series for E[X(78)] cut after 150 terms, which reproduces the
published 1.8576 (the series converges slowly at z = 78/82.4).
`crm-core/tests/analytics_cdnow.rs` embeds these numbers.
"""

import warnings

import pandas as pd
from lifetimes import BetaGeoFitter

warnings.simplefilter("ignore")

TIMES = [0.1429, 1, 3, 31.8571, 32, 78]


def model(**params):
    m = BetaGeoFitter()
    m.params_ = pd.Series(params)
    return m


def report(name, m):
    print(name)
    for t in TIMES:
        print(f"  E[X({t})] = {m.expected_number_of_purchases_up_to_time(t)!r}")
    cond = m.conditional_expected_number_of_purchases_up_to_time(39, 2, 30.43, 38.86)
    print(f"  E[Y(39) | 2, 30.43, 38.86] = {cond!r}")
    print(f"  P(X(39) = 0) = {m.probability_of_n_purchases_up_to_time(39, 0)!r}")


def truncated_e78(r, alpha, a, b, terms=150):
    t = 78.0
    z = t / (alpha + t)
    term, total = 1.0, 1.0
    for n in range(terms - 1):
        term *= (r + n) * (b + n) / ((a + b - 1 + n) * (n + 1)) * z
        total += term
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * total)


def main():
    report("published 3-decimal parameters", model(r=0.243, alpha=4.414, a=0.793, b=2.426))
    full = dict(r=0.242593, alpha=4.413532, a=0.792886, b=2.425752)
    report("full-precision estimates", model(**full))
    print(f"E[X(78)] with the Gauss series cut at 150 terms: {truncated_e78(**full):.6f}")


if __name__ == "__main__":
    main()
