"""Fitted lifetimes models leave the process and come back unchanged: pickle,
save_model/load_model (with and without the training data) and the JSON
snapshot all give the same predictions and summary as the fitted model."""

import json
import pickle
from pathlib import Path
from typing import Callable, Tuple

import numpy as np
import pandas as pd
import pytest

from crm_sdk.lifetimes import BetaGeoFitter, GammaGammaFitter
from crm_sdk.lifetimes.utils import summary_data_from_transaction_data

Models = Tuple[BetaGeoFitter, GammaGammaFitter]


@pytest.fixture(scope="module")
def summary(cdnow_transactions: pd.DataFrame) -> pd.DataFrame:
    return summary_data_from_transaction_data(
        cdnow_transactions, "customer_id", "date", "amount", observation_period_end="1998-06-30"
    )


@pytest.fixture(scope="module")
def fitted(summary: pd.DataFrame) -> Models:
    bgf = BetaGeoFitter(penalizer_coef=0.001).fit(
        summary["frequency"], summary["recency"], summary["T"]
    )
    repeat = summary[summary["frequency"] > 0]
    ggf = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    return bgf, ggf


def predictions(models: Models, summary: pd.DataFrame) -> dict:
    bgf, ggf = models
    f, r, t = summary["frequency"], summary["recency"], summary["T"]
    return {
        "p_alive": bgf.conditional_probability_alive(f, r, t),
        "expected": bgf.conditional_expected_number_of_purchases_up_to_time(90, f, r, t),
        "clv": ggf.customer_lifetime_value(
            bgf, f, r, t, summary["monetary_value"], time=12, freq="D"
        ),
    }


def assert_same_model(restored: Models, fitted: Models, summary: pd.DataFrame) -> None:
    for got, want in zip(restored, fitted):
        assert type(got) is type(want)
        pd.testing.assert_series_equal(got.params_, want.params_, check_exact=True)
        pd.testing.assert_frame_equal(got.summary, want.summary, check_exact=True)
        assert got.penalizer_coef == want.penalizer_coef
        assert got.diagnostics_ == want.diagnostics_
    got, want = predictions(restored, summary), predictions(fitted, summary)
    np.testing.assert_array_equal(got["p_alive"], want["p_alive"])
    pd.testing.assert_series_equal(got["expected"], want["expected"], check_exact=True)
    pd.testing.assert_series_equal(got["clv"], want["clv"], check_exact=True)
    # Not a constant: the models tell customers apart.
    assert want["clv"].nunique() > 100


def test_the_fit_is_the_one_to_keep(fitted: Models) -> None:
    bgf, ggf = fitted
    assert bgf.diagnostics_["converged"] and ggf.diagnostics_["converged"]
    assert set(bgf.params_.index) == {"r", "alpha", "a", "b"}
    assert set(ggf.params_.index) == {"p", "q", "v"}
    assert len(bgf.data) == 2357 and len(ggf.data) == 1139  # repeat buyers by 1998-06-30


def test_pickle(fitted: Models, summary: pd.DataFrame) -> None:
    restored = pickle.loads(pickle.dumps(fitted))
    assert_same_model(restored, fitted, summary)
    for got, want in zip(restored, fitted):
        pd.testing.assert_frame_equal(got.data, want.data, check_exact=True)


@pytest.mark.parametrize("save_data", [True, False], ids=["with-data", "without-data"])
def test_save_and_load_model(
    fitted: Models, summary: pd.DataFrame, tmp_path: Path, save_data: bool
) -> None:
    restored = []
    for model in fitted:
        path = tmp_path / f"{type(model).__name__}.pkl"
        model.save_model(str(path), save_data=save_data)
        fresh = type(model)()
        fresh.load_model(str(path))
        restored.append(fresh)
        if save_data:
            pd.testing.assert_frame_equal(fresh.data, model.data, check_exact=True)
        else:
            assert fresh.data is None
            assert "subjects" not in repr(fresh)
    assert_same_model((restored[0], restored[1]), fitted, summary)
    # Saving leaves the fitted model as it was.
    assert all(isinstance(m.data, pd.DataFrame) for m in fitted)


def test_save_model_keeps_values_in_place_of_the_data(fitted: Models, tmp_path: Path) -> None:
    bgf, _ = fitted
    path = tmp_path / "bgf.pkl"
    bgf.save_model(str(path), save_data=False, values_to_save=["left out"])
    fresh = BetaGeoFitter()
    fresh.load_model(str(path))
    assert fresh.data == "left out"


def test_json_snapshot(fitted: Models, summary: pd.DataFrame) -> None:
    bgf, ggf = fitted
    texts = bgf.to_json(), ggf.to_json()
    restored = (BetaGeoFitter.from_json(texts[0]), GammaGammaFitter.from_json(texts[1]))
    assert_same_model(restored, fitted, summary)
    # The snapshot is plain JSON, and a snapshot of a snapshot is the same.
    doc = json.loads(texts[0])
    assert doc["model"] == "BetaGeoFitter" and doc["subjects"] == 2357
    assert restored[0].to_json() == texts[0] and restored[1].to_json() == texts[1]


@pytest.mark.parametrize(
    "load, snapshot_of",
    [(BetaGeoFitter.from_json, 1), (GammaGammaFitter.from_json, 0)],
    ids=["bgf-refuses-ggf", "ggf-refuses-bgf"],
)
def test_from_json_refuses_the_other_model(
    fitted: Models, load: Callable[[str], object], snapshot_of: int
) -> None:
    other = type(fitted[snapshot_of]).__name__
    with pytest.raises(ValueError, match=f"snapshot of a {other}.*{other}.from_json"):
        load(fitted[snapshot_of].to_json())


def test_from_json_refuses_an_unknown_version(fitted: Models) -> None:
    doc = json.loads(fitted[0].to_json())
    doc["version"] = 99
    with pytest.raises(ValueError, match="snapshot version 99 is not supported.*version 1"):
        BetaGeoFitter.from_json(json.dumps(doc))
    del doc["version"]
    with pytest.raises(ValueError, match="snapshot version None is not supported"):
        BetaGeoFitter.from_json(json.dumps(doc))


def test_a_model_saved_without_data_still_has_a_snapshot(tmp_path: Path, summary: pd.DataFrame) -> None:
    bgf = BetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"])
    path = tmp_path / "bgf.pkl"
    bgf.save_model(str(path), save_data=False)
    loaded = BetaGeoFitter()
    loaded.load_model(str(path))
    assert loaded.data is None
    snapshot = json.loads(loaded.to_json())
    assert snapshot["subjects"] == len(summary)
    pd.testing.assert_frame_equal(BetaGeoFitter.from_json(loaded.to_json()).summary, bgf.summary)
