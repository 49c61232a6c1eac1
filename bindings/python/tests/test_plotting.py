"""crm_sdk.plotting: what each plot draws, checked against the data, the
model and the lifetimes library's own plots, on the CDNOW calibration
period (weeks, to 1997-09-30, with the holdout to 1998-06-30)."""

import sys
from typing import Any, Iterator

import numpy as np
import pandas as pd
import pytest
from conftest import load_cdnow_transactions, optional_module

from crm_sdk import analytics, plotting
from crm_sdk.lifetimes import BetaGeoFitter
from crm_sdk.lifetimes.utils import calibration_and_holdout_data

PLOT_EXTRA = "pip install 'crm-sdk[plot]'"


@pytest.fixture
def plt() -> Iterator[Any]:
    """matplotlib.pyplot on the Agg backend (a loud skip without
    matplotlib, a failure with CI=true); closes every figure afterwards."""
    matplotlib = optional_module("matplotlib", PLOT_EXTRA)
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    pyplot.close("all")
    yield pyplot
    pyplot.close("all")


@pytest.fixture(scope="module")
def cal_holdout() -> pd.DataFrame:
    return calibration_and_holdout_data(
        load_cdnow_transactions(), "customer_id", "date", "1997-09-30", "1998-06-30",
        freq="W", monetary_value_col="amount",
    )


@pytest.fixture(scope="module")
def bgf(cal_holdout: pd.DataFrame) -> BetaGeoFitter:
    return BetaGeoFitter().fit(
        cal_holdout["frequency_cal"], cal_holdout["recency_cal"], cal_holdout["T_cal"]
    )


def lifetimes_twin(model: BetaGeoFitter) -> Any:
    """A lifetimes.BetaGeoFitter with the same parameters and data."""
    lifetimes = optional_module("lifetimes", "pip install lifetimes==0.11.3")
    twin = lifetimes.BetaGeoFitter()
    twin.params_ = model.params_.copy()
    twin.data = model.data.copy()
    return twin


def lifetimes_plotting() -> Any:
    optional_module("lifetimes", "pip install lifetimes==0.11.3")
    import lifetimes.plotting

    return lifetimes.plotting


def image_of(ax: Any) -> np.ndarray:
    images = ax.get_images()
    assert len(images) == 1
    return np.asarray(images[0].get_array(), dtype=np.float64)


def test_a_missing_matplotlib_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes the import fail, installed or not.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install 'crm-sdk\[plot\]'"):
        plotting.plot_segment_sizes(["LOST", "LOYAL"])


def test_probability_alive_matrix_is_the_models_matrix(plt: Any, bgf: BetaGeoFitter) -> None:
    fig, ax = plt.subplots()
    assert plotting.plot_probability_alive_matrix(bgf, ax=ax) is ax
    drawn = image_of(ax)
    want = bgf.conditional_probability_alive_matrix()
    max_f, max_t = int(bgf.data["frequency"].max()), int(bgf.data["T"].max())
    assert drawn.shape == want.shape == (max_t + 1, max_f + 1)
    np.testing.assert_allclose(drawn, want, rtol=1e-12)
    # Rows are recency, columns frequency: a customer without repeat
    # purchases has had no chance to drop out; with repeats, a more recent
    # last purchase means more likely alive.
    assert np.allclose(drawn[:, 0], 1.0)
    assert (np.diff(drawn[:, 5]) >= 0).all() and drawn[0, 5] < 0.01 and drawn[-1, 5] > 0.8
    assert ax.get_title().startswith("Probability Customer is Alive")
    assert ax.get_xlabel() == "Customer's Historical Frequency"
    assert len(fig.axes) == 2  # and its colour bar
    # A smaller grid; the same image as lifetimes' plot of the same model.
    ax = plotting.plot_probability_alive_matrix(bgf, max_frequency=5, max_recency=10)
    assert image_of(ax).shape == (11, 6)
    theirs = lifetimes_plotting().plot_probability_alive_matrix(lifetimes_twin(bgf))
    np.testing.assert_allclose(drawn, image_of(theirs), rtol=1e-9, atol=1e-12)


def test_frequency_recency_matrix_matches_lifetimes(plt: Any, bgf: BetaGeoFitter) -> None:
    ax = plotting.plot_frequency_recency_matrix(bgf, T=4)
    drawn = image_of(ax)
    assert drawn.shape == (int(bgf.data["T"].max()) + 1, int(bgf.data["frequency"].max()) + 1)
    assert ax.get_title().startswith("Expected Number of Future Purchases for 4 Units of Time,")
    # Customers who just bought (last row) buy more the more often they did.
    assert (np.diff(drawn[-1]) > 0).all()
    # One cell, rows being recency and columns frequency.
    age = drawn.shape[0] - 1
    cell = bgf.conditional_expected_number_of_purchases_up_to_time(4, 3, 20, age)
    assert drawn[20, 3] == pytest.approx(cell, rel=1e-12)
    plt.figure()
    theirs = lifetimes_plotting().plot_frequency_recency_matrix(lifetimes_twin(bgf), T=4)
    np.testing.assert_allclose(drawn, image_of(theirs), rtol=1e-9, atol=1e-12)
    one = plotting.plot_frequency_recency_matrix(bgf, max_frequency=3, max_recency=8)
    assert image_of(one).shape == (9, 4)
    assert "for 1 Unit of Time," in one.get_title()


def bar_heights(container: Any) -> np.ndarray:
    return np.array([patch.get_height() for patch in container.patches])


def test_period_transactions_actual_and_expected(
    plt: Any, bgf: BetaGeoFitter, cal_holdout: pd.DataFrame
) -> None:
    ax = plotting.plot_period_transactions(bgf)
    actual, model = ax.containers
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert [actual.get_label(), model.get_label()] == ["Actual", "Model"]
    counts = cal_holdout["frequency_cal"].clip(upper=7).value_counts().sort_index()
    assert list(counts.index) == list(range(8))
    np.testing.assert_array_equal(bar_heights(actual), counts.to_numpy())
    customers = len(cal_holdout)
    assert bar_heights(model).sum() == pytest.approx(customers, rel=1e-9)
    # The BG/NBD fits CDNOW well: the model's one-time buyers are within 2%.
    assert bar_heights(model)[0] == pytest.approx(counts[0], rel=0.02)
    assert ax.get_ylabel() == "Customers"

    # With room for every frequency the model's bars are P(X(T_i) = n)
    # summed over the customers: their mean is the expected number of
    # repeat purchases (E[X(T_i)], a separate formula), summed.
    wide = plotting.plot_period_transactions(bgf, max_frequency=80, label=["seen", "fitted"])
    expected = bar_heights(wide.containers[1])
    assert expected[:-1].sum() == pytest.approx(customers, rel=1e-6)
    mean = (np.arange(80) * expected[:-1]).sum()
    assert mean == pytest.approx(
        bgf.expected_number_of_purchases_up_to_time(cal_holdout["T_cal"]).sum(), rel=1e-5
    )
    assert wide.containers[0].get_label() == "seen"
    # No simulation: the same bars every time.
    again = plotting.plot_period_transactions(bgf, max_frequency=80)
    np.testing.assert_array_equal(bar_heights(again.containers[1]), expected)
    with pytest.raises(ValueError, match="max_frequency"):
        plotting.plot_period_transactions(bgf, max_frequency=0)


def test_calibration_vs_holdout_lines(
    plt: Any, bgf: BetaGeoFitter, cal_holdout: pd.DataFrame
) -> None:
    fig, ax = plt.subplots()
    assert plotting.plot_calibration_purchases_vs_holdout_purchases(bgf, cal_holdout, ax=ax) is ax
    actual, model = ax.get_lines()
    assert [actual.get_label(), model.get_label()] == ["frequency_holdout", "model_predictions"]
    np.testing.assert_array_equal(actual.get_xdata(), np.arange(7.0))
    np.testing.assert_array_equal(model.get_xdata(), np.arange(7.0))
    mean_holdout = cal_holdout.groupby("frequency_cal")["frequency_holdout"].mean()
    np.testing.assert_allclose(actual.get_ydata(), mean_holdout.iloc[:7].to_numpy(), rtol=1e-12)
    # The model's line is what lifetimes draws for the same model.
    theirs = lifetimes_plotting().plot_calibration_purchases_vs_holdout_purchases(
        lifetimes_twin(bgf), cal_holdout
    )
    their_model = [line for line in theirs.get_lines() if line.get_label() == "model_predictions"]
    np.testing.assert_allclose(model.get_ydata(), their_model[0].get_ydata(), rtol=1e-9)
    # ... and, for the customers without repeat purchases, close to what happened.
    assert model.get_ydata()[0] == pytest.approx(mean_holdout[0], abs=0.05)
    assert ax.get_xlabel() == "Purchases in calibration period"

    plt.figure()
    ax = plotting.plot_calibration_purchases_vs_holdout_purchases(
        bgf, cal_holdout, kind="time_since_last_purchase", n=5
    )
    since = cal_holdout["T_cal"] - cal_holdout["recency_cal"]
    want = cal_holdout.groupby(since)["frequency_holdout"].mean().iloc[:5]
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), want.index.to_numpy())
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), want.to_numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="kind"):
        plotting.plot_calibration_purchases_vs_holdout_purchases(bgf, cal_holdout, kind="age")


def segment_frame() -> pd.DataFrame:
    """A frame shaped like analytics.rfm_segments' output."""
    segment = ["LOST"] * 5 + ["CHAMPION"] * 2 + ["AT_RISK"] * 3 + ["LOYAL"] * 2 + [None]
    detailed = ["Lost"] * 5 + ["Champions"] * 2 + ["At Risk"] * 2 + ["Can't Lose Them"] * 3 + ["Lost"]
    n = len(segment)
    return pd.DataFrame(
        {
            "recency": np.arange(n), "frequency": np.ones(n, dtype=int),
            "monetary": np.full(n, 10.0), "r_score": 1, "f_score": 1, "m_score": 1,
            "rfm_score": 0, "segment": segment, "detailed_segment": detailed,
        },
        index=pd.Index(np.arange(100, 100 + n), name="customer_id"),
    )


def bars_of(ax: Any) -> dict:
    """Segment label -> bar length, in the order drawn from the top."""
    labels = [t.get_text() for t in ax.get_yticklabels()]
    return dict(zip(labels, [patch.get_width() for patch in ax.containers[0].patches]))


def test_segment_sizes_are_the_value_counts(plt: Any) -> None:
    frame = segment_frame()
    fig, ax = plt.subplots()
    assert plotting.plot_segment_sizes(frame, ax=ax) is ax
    drawn = bars_of(ax)
    assert drawn == frame["segment"].value_counts().to_dict()
    # Largest first, equal sizes by label; a missing label is not counted.
    assert list(drawn) == ["LOST", "AT_RISK", "CHAMPION", "LOYAL"]
    assert ax.yaxis_inverted()
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["5 (42%)", "3 (25%)", "2 (17%)", "2 (17%)"]

    detailed = plotting.plot_segment_sizes(frame, column="detailed_segment")
    assert bars_of(detailed) == frame["detailed_segment"].value_counts().to_dict()
    series = plotting.plot_segment_sizes(frame["segment"], order=["CHAMPION", "LOYAL", "POTENTIAL_LOYAL"])
    assert bars_of(series) == {"CHAMPION": 2, "LOYAL": 2, "POTENTIAL_LOYAL": 0}
    categories = ["CHAMPION", "LOYAL", "POTENTIAL_LOYAL", "AT_RISK", "LOST"]
    ordered = frame["segment"].astype(pd.CategoricalDtype(categories, ordered=True))
    assert list(bars_of(plotting.plot_segment_sizes(ordered))) == categories


def test_segment_sizes_of_cdnow(plt: Any) -> None:
    segments = analytics.rfm_segments(load_cdnow_transactions(), "customer_id", "date", "amount")
    drawn = bars_of(plotting.plot_segment_sizes(segments))
    assert drawn == segments["segment"].value_counts().to_dict()
    assert sum(drawn.values()) == len(segments) == 2357


def test_where_a_plot_goes_without_ax(plt: Any, bgf: BetaGeoFitter) -> None:
    # Into the current figure while it is empty (a figsize set beforehand)...
    fig = plt.figure(figsize=(9, 3))
    ax = plotting.plot_period_transactions(bgf)
    assert ax.figure is fig
    # ...and never over an earlier plot.
    other = plotting.plot_segment_sizes(["LOST", "LOYAL"])
    assert other.figure is not fig and len(fig.axes) == 1
    assert len(plt.get_fignums()) == 2
