"""crm_sdk.lifetimes: the published CDNOW estimates, equality with the Rust
core's predictions, and the same results as the lifetimes library."""

import csv
import math
import os
import runpy
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import CDNOW, REPO, cargo_binary, optional_module
from conftest import load_cdnow_transactions as transactions

from crm_sdk import ValidationError, analytics
from crm_sdk.lifetimes import BetaGeoFitter, ConvergenceError, GammaGammaFitter
from crm_sdk.lifetimes.utils import (
    calibration_and_holdout_data,
    summary_data_from_transaction_data,
)

# The full-precision estimates of the lifetimes documentation on the
# published CDNOW summary (its quickstart), and the paper's 3-decimal ones
# (Fader, Hardie and Lee 2005; Fader and Hardie 2013).
LIFETIMES_BGNBD = {"r": 0.242593, "alpha": 4.413532, "a": 0.792886, "b": 2.425752}
LIFETIMES_BGNBD_SE = {"r": 0.012557, "alpha": 0.378221, "a": 0.185719, "b": 0.705345}
PAPER_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
LIFETIMES_GG = {"p": 6.248802, "q": 3.744588, "v": 15.447748}
PAPER_GG = {"p": 6.25, "q": 3.74, "v": 15.44}
# Expected spend of the first ten customers at the paper's parameters.
PAPER_SPEND = [24.65, 18.91, 35.17, 35.17, 35.17, 71.46, 18.91, 35.17, 27.28, 35.17]


def published_summary() -> pd.DataFrame:
    return pd.read_csv(CDNOW / "cdnow_customers_summary_with_transactions.csv", index_col="ID")


def test_bgnbd_reproduces_the_published_cdnow_estimates() -> None:
    s = published_summary()
    bgf = BetaGeoFitter().fit(s["x"], s["t_x"], s["T"])
    for name, want in LIFETIMES_BGNBD.items():
        assert bgf.params_[name] == pytest.approx(want, rel=1e-3), name
        assert round(bgf.params_[name], 3) == PAPER_BGNBD[name], name
        assert bgf.summary.loc[name, "se(coef)"] == pytest.approx(
            LIFETIMES_BGNBD_SE[name], rel=1e-3
        ), name
    assert bgf.diagnostics_["log_likelihood"] == pytest.approx(-9582.4, abs=0.05)
    assert repr(bgf).startswith("<crm_sdk.lifetimes.BetaGeoFitter: fitted with 2357 subjects,")


def test_gamma_gamma_reproduces_the_published_cdnow_estimates() -> None:
    s = published_summary()
    returning = s[s["x"] > 0]
    ggf = GammaGammaFitter().fit(returning["x"], returning["zbar"])
    assert len(returning) == 946
    for name, want in LIFETIMES_GG.items():
        assert ggf.params_[name] == pytest.approx(want, rel=1e-3), name
    # The paper fitted the unrounded spends of the raw transactions.
    raw = summary_data_from_transaction_data(
        transactions(), "customer_id", "date", "amount", observation_period_end="1997-09-30"
    )
    returning = raw[raw["frequency"] > 0]
    ggf = GammaGammaFitter().fit(returning["frequency"], returning["monetary_value"])
    for name, want in PAPER_GG.items():
        assert ggf.params_[name] == pytest.approx(want, abs=0.005), name
    spend = ggf.conditional_expected_average_profit(raw["frequency"].head(10), raw["monetary_value"].head(10))
    assert isinstance(spend, pd.Series)
    assert list(spend.index) == list(raw.index[:10])
    assert np.allclose(spend, PAPER_SPEND, atol=0.005)


def test_every_prediction_equals_the_rust_core(tmp_path: Path) -> None:
    """The crm-analytics CLI (the Rust core, no Python) scores CDNOW in days;
    the drop-in, fed the same transactions, must agree customer by customer."""
    cli = cargo_binary("crm-analytics")
    out = tmp_path / "scores.csv"
    subprocess.run(
        [
            str(cli), "score", "--input", str(CDNOW / "CDNOW_sample.txt"),
            "--delimiter", "whitespace", "--no-header", "--customer-col", "2",
            "--date-col", "3", "--amount-col", "5", "--period", "day",
            "--observation-end", "1997-09-30", "--quiet", "--output", str(out),
        ],
        check=True,
    )
    core = pd.read_csv(out, index_col="customer_id")
    summary = summary_data_from_transaction_data(
        transactions(), "customer_id", "date", "amount", observation_period_end="1997-09-30"
    )
    assert list(summary.index) == list(core.index)
    assert (summary["frequency"].to_numpy() == core["frequency"].to_numpy()).all()
    assert (summary["recency"].to_numpy() == core["recency"].to_numpy()).all()
    assert (summary["T"].to_numpy() == core["T"].to_numpy()).all()
    assert np.allclose(summary["monetary_value"], core["monetary_value"], rtol=0, atol=5e-5)

    bgf = BetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"])
    p_alive = bgf.conditional_probability_alive(summary["frequency"], summary["recency"], summary["T"])
    in_90 = bgf.predict(90, summary["frequency"], summary["recency"], summary["T"])
    # The CLI prints the shortest text that reads back as the same float.
    assert (p_alive == core["p_alive"].to_numpy()).all()
    assert (in_90.to_numpy() == core["expected_purchases_90d"].to_numpy()).all()

    # The data-frame analytics are the core's too, column by column.
    scored = analytics.score(transactions(), "customer_id", "date", "amount", unit="day",
                             observation_end="1997-09-30")
    assert (scored["p_alive"].to_numpy() == core["p_alive"].to_numpy()).all()
    assert list(scored["segment"]) == list(core["segment"])
    assert [float(v) for v in scored["model_lifetime_value"]] == list(core["model_lifetime_value"])


def test_the_lifetimes_cdnow_example_runs_with_only_the_import_changed(tmp_path: Path) -> None:
    optional_module("lifetimes", "pip install lifetimes==0.11.3")
    example = REPO / "examples" / "python" / "lifetimes_cdnow.py"
    source = example.read_text()
    assert "from crm_sdk.lifetimes import" in source
    reference = source.replace("from crm_sdk.lifetimes", "from lifetimes")
    assert reference.count("from lifetimes") == 2
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        ours = runpy.run_path(str(example))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref_path = tmp_path / "lifetimes_cdnow_reference.py"
            ref_path.write_text(reference)
            theirs = runpy.run_path(str(ref_path))
    finally:
        os.chdir(cwd)
    assert type(theirs["bgf"]).__module__.startswith("lifetimes")
    pd.testing.assert_frame_equal(
        ours["summary"][["frequency", "recency", "T", "monetary_value"]],
        theirs["summary"][["frequency", "recency", "T", "monetary_value"]],
    )
    for name in ("r", "alpha", "a", "b"):
        assert ours["bgf"].params_[name] == pytest.approx(theirs["bgf"].params_[name], rel=1e-4)
    for name in ("p", "q", "v"):
        assert ours["ggf"].params_[name] == pytest.approx(theirs["ggf"].params_[name], rel=1e-4)
    pd.testing.assert_frame_equal(ours["bgf"].summary, theirs["bgf"].summary, rtol=1e-3)
    for column in ("p_alive", "predicted_purchases"):
        assert np.allclose(ours["summary"][column], theirs["summary"][column], rtol=1e-4, atol=1e-6)
    assert np.allclose(ours["new_customer"], theirs["new_customer"], rtol=1e-4)
    assert ours["no_purchase"] == pytest.approx(theirs["no_purchase"], rel=1e-4)
    assert ours["alive_matrix"].shape == theirs["alive_matrix"].shape
    assert np.allclose(ours["alive_matrix"], theirs["alive_matrix"], atol=1e-5)
    assert isinstance(ours["expected_spend"], pd.Series)
    assert np.allclose(ours["expected_spend"], theirs["expected_spend"], rtol=1e-4)
    assert ours["clv"].name == theirs["clv"].name == "clv"
    assert list(ours["clv"].index) == list(theirs["clv"].index)
    assert np.allclose(ours["clv"], theirs["clv"], rtol=1e-4)


def small_table() -> pd.DataFrame:
    """Three customers, in date order, with two purchases on one day."""
    return pd.DataFrame(
        {
            "id": ["b", "a", "a", "a", "c", "b", "a", "b"],
            "when": pd.to_datetime(
                ["2024-01-01", "2024-01-02", "2024-01-02", "2024-01-05",
                 "2024-01-07", "2024-01-08", "2024-01-12", "2024-01-20"]
            ),
            "amount": [10.0, 5.0, 7.0, 3.0, 4.0, 20.0, 9.0, 40.0],
        }
    )


def test_summary_definitions_on_a_small_table() -> None:
    s = summary_data_from_transaction_data(
        small_table(), "id", "when", "amount", observation_period_end="2024-01-15"
    )
    assert list(s.index) == ["a", "b", "c"] and s.index.name == "id"
    assert list(s.columns) == ["frequency", "recency", "T", "monetary_value"]
    # a: days 2 (5 + 7 merged), 5, 12; b: days 1, 8 (the 20th is after the end).
    assert s.loc["a"].tolist() == [2.0, 10.0, 13.0, (3.0 + 9.0) / 2]
    assert s.loc["b"].tolist() == [1.0, 7.0, 14.0, 20.0]
    assert s.loc["c"].tolist() == [0.0, 0.0, 8.0, 0.0]
    first = summary_data_from_transaction_data(
        small_table(), "id", "when", "amount", observation_period_end="2024-01-15",
        include_first_transaction=True,
    )
    assert first.loc["a", "frequency"] == 3.0
    assert first.loc["a", "monetary_value"] == pytest.approx((12.0 + 3.0 + 9.0) / 3)
    weekly = summary_data_from_transaction_data(
        small_table(), "id", "when", freq="W", freq_multiplier=1, observation_period_end="2024-01-21"
    )
    # Weeks end on Sunday: a buys in the weeks of Jan 1 and Jan 8.
    assert weekly.loc["a"].tolist() == [1.0, 1.0, 2.0]


def test_row_order_does_not_matter() -> None:
    table = small_table()
    shuffled = table.sample(frac=1.0, random_state=7)
    assert not shuffled["when"].is_monotonic_increasing
    kwargs = dict(monetary_value_col="amount", observation_period_end="2024-01-31")
    pd.testing.assert_frame_equal(
        summary_data_from_transaction_data(table, "id", "when", **kwargs),
        summary_data_from_transaction_data(shuffled, "id", "when", **kwargs),
    )


def test_calibration_and_holdout() -> None:
    out = calibration_and_holdout_data(
        small_table(), "id", "when", calibration_period_end="2024-01-05",
        observation_period_end="2024-01-20", monetary_value_col="amount",
    )
    # c first bought in the holdout: left out, as lifetimes does.
    assert list(out.index) == ["a", "b"]
    assert list(out.columns) == [
        "frequency_cal", "recency_cal", "T_cal", "monetary_value_cal",
        "frequency_holdout", "monetary_value_holdout", "duration_holdout",
    ]
    assert out.loc["a"].tolist() == [1.0, 3.0, 3.0, 3.0, 1.0, 9.0, 15.0]
    assert out.loc["b"].tolist() == [0.0, 0.0, 4.0, 0.0, 2.0, 30.0, 15.0]
    with pytest.raises(ValueError, match="no data available"):
        calibration_and_holdout_data(small_table(), "id", "when", "2024-01-20")


def test_calibration_and_holdout_of_cdnow_against_a_groupby() -> None:
    tx = transactions()
    out = calibration_and_holdout_data(
        tx, "customer_id", "date", "1997-09-30", "1998-06-30", freq="D",
        monetary_value_col="amount",
    )
    assert len(out) == 2357
    holdout = tx[(tx["date"] > "1997-09-30") & (tx["date"] <= "1998-06-30")]
    days = holdout.groupby("customer_id")["date"].nunique()
    mean = holdout.groupby("customer_id")["amount"].mean()
    expected_days = days.reindex(out.index, fill_value=0).astype(float)
    pd.testing.assert_series_equal(out["frequency_holdout"], expected_days, check_names=False)
    assert np.allclose(out["monetary_value_holdout"], mean.reindex(out.index, fill_value=0.0))
    assert (out["duration_holdout"] == 273.0).all()


def test_weights_count_customers() -> None:
    s = published_summary()
    grouped = s.groupby(["x", "t_x", "T"]).size().reset_index(name="weight")
    assert len(grouped) < len(s)
    plain = BetaGeoFitter().fit(s["x"], s["t_x"], s["T"])
    weighted = BetaGeoFitter().fit(grouped["x"], grouped["t_x"], grouped["T"], weights=grouped["weight"])
    for name in ("r", "alpha", "a", "b"):
        assert weighted.params_[name] == pytest.approx(plain.params_[name], rel=1e-9)
    assert weighted.data["weights"].sum() == len(s)


def test_bad_input_names_the_field_and_row() -> None:
    with pytest.raises(ValidationError) as e:
        BetaGeoFitter().fit([1, 2.5], [1, 1], [3, 3])
    assert [(f.field, f.rule) for f in e.value.fields] == [("frequency", "integer")]
    assert "row 1" in str(e.value)
    with pytest.raises(ValueError, match="recency"):
        BetaGeoFitter().fit([1, 1], [1, 4], [3, 3])
    with pytest.raises(ValidationError) as e:
        BetaGeoFitter().fit([1, 1], [1, 1], [3])
    assert e.value.fields[0].field == "recency" or e.value.fields[0].rule == "length"
    with pytest.raises(ValidationError, match="spend > 0"):
        GammaGammaFitter().fit([1, 2], [10.0, 0.0])
    with pytest.raises(ValidationError, match="repeat customers"):
        GammaGammaFitter().fit([0, 2], [10.0, 5.0])
    with pytest.raises(ValueError, match="not been fit"):
        BetaGeoFitter().conditional_probability_alive(1, 1, 2)
    table = small_table()
    table.loc[3, "id"] = None
    with pytest.raises(ValueError, match="row 3: the customer id is missing"):
        summary_data_from_transaction_data(table, "id", "when")
    numbered = small_table().assign(id=[2, 1, 1, 1, 3, 2, 1, 2])
    numbered.loc[4, "when"] = pd.NaT
    with pytest.raises(ValidationError, match="row 4: the date is missing"):
        summary_data_from_transaction_data(numbered, "id", "when")
    table = small_table()
    table.loc[2, "amount"] = math.nan
    with pytest.raises(ValidationError, match="row 2"):
        summary_data_from_transaction_data(table, "id", "when", "amount")


def test_a_fit_without_a_maximum_is_refused() -> None:
    # Every customer bought once: no repeat purchases, no finite estimate.
    with pytest.raises(ConvergenceError, match="penalizer"):
        BetaGeoFitter().fit([0] * 50, [0.0] * 50, np.linspace(1, 50, 50), maxiter=20)


def test_predictions_keep_lifetimes_shapes() -> None:
    bgf = BetaGeoFitter()
    bgf.params_ = pd.Series(PAPER_BGNBD)
    # Scalars give floats, arrays give arrays, Series give Series.
    assert isinstance(bgf.expected_number_of_purchases_up_to_time(39), float)
    grid = bgf.expected_number_of_purchases_up_to_time(np.array([1.0, 39.0]))
    assert isinstance(grid, np.ndarray) and grid.shape == (2,)
    assert bgf.probability_of_n_purchases_up_to_time(39, 0) == pytest.approx(0.5737864, abs=1e-6)
    s = published_summary()
    p = bgf.conditional_expected_number_of_purchases_up_to_time(39, s["x"], s["t_x"], s["T"])
    assert isinstance(p, pd.Series) and list(p.index) == list(s.index)
    assert p.loc[1] == pytest.approx(1.226, abs=5e-4)
    alive = bgf.conditional_probability_alive(s["x"], s["t_x"], s["T"])
    assert isinstance(alive, np.ndarray) and alive.shape == (len(s),)
    assert ((alive > 0) & (alive <= 1)).all()
    assert (alive[s["x"].to_numpy() == 0] == 1.0).all()


def test_clv_accepts_any_model_with_predict() -> None:
    """A model that is not ours goes through its own predict(), as in lifetimes."""
    s = published_summary()
    s = s[s["x"] > 0]
    bgf = BetaGeoFitter().fit(s["x"], s["t_x"], s["T"])
    ggf = GammaGammaFitter().fit(s["x"], s["zbar"])

    class Wrapped:
        def predict(self, t, frequency, recency, T):  # type: ignore[no-untyped-def]
            return bgf.predict(t, frequency, recency, T)

    fast = ggf.customer_lifetime_value(bgf, s["x"], s["t_x"], s["T"], s["zbar"], freq="W")
    slow = ggf.customer_lifetime_value(Wrapped(), s["x"], s["t_x"], s["T"], s["zbar"], freq="W")
    assert np.allclose(fast, slow, rtol=1e-12)
    assert (fast > 0).all()
    with pytest.raises(ValueError, match="freq"):
        ggf.customer_lifetime_value(bgf, s["x"], s["t_x"], s["T"], s["zbar"], freq="Q")


def test_rfm_segments_of_a_dataframe() -> None:
    seg = analytics.rfm_segments(transactions(), "customer_id", "date", "amount")
    assert len(seg) == 2357 and seg.index.name == "customer_id"
    assert list(seg.columns) == [
        "recency", "frequency", "monetary", "r_score", "f_score", "m_score",
        "rfm_score", "segment", "detailed_segment",
    ]
    assert set(seg["segment"]) <= {"CHAMPION", "LOYAL", "POTENTIAL_LOYAL", "AT_RISK", "LOST"}
    assert seg[["r_score", "f_score", "m_score"]].isin([1, 2, 3, 4, 5]).all().all()
    # RFM counts purchase days and days since the last one, to the end of the data.
    tx = transactions()
    mine = tx[tx["customer_id"] == 1]
    assert seg.loc[1, "frequency"] == mine["date"].nunique()
    assert seg.loc[1, "recency"] == (tx["date"].max() - mine["date"].max()).days
    assert float(seg.loc[1, "monetary"]) == pytest.approx(mine["amount"].sum())
    with pytest.raises(ValidationError, match="period"):
        analytics.score(tx, "customer_id", "date", "amount", unit="fortnight")
