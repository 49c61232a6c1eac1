"""BG/NBD and Gamma-Gamma fitters with the interface of ``lifetimes``.

The maximum-likelihood fits and every prediction run in the Rust core; this
module keeps lifetimes' attributes (``params_``, ``data``, ``summary``,
``variance_matrix_``, ``standard_errors_``, ``confidence_intervals_``) and
return types (pandas Series where lifetimes returns one, with its index).
"""

from __future__ import annotations

import json
import pickle
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from crm_sdk import _native
from crm_sdk.lifetimes.utils import ConvergenceError

__all__ = ["BaseFitter", "BetaGeoFitter", "GammaGammaFitter"]

#: Version of the JSON snapshot written by ``to_json``.
SNAPSHOT_VERSION = 1


def _column(values: Any) -> np.ndarray:
    """A contiguous float64 view of a Series, array, list or scalar."""
    if isinstance(values, (pd.Series, pd.Index)):
        values = values.to_numpy(dtype=np.float64, na_value=np.nan)
    # asarray, not ascontiguousarray: a scalar stays 0-dimensional.
    return np.asarray(values, dtype=np.float64)


def _buffer(values: Any) -> np.ndarray:
    """A contiguous float64 array of at least one dimension (what the native
    functions read)."""
    return np.ascontiguousarray(_column(values))


def _index_of(*values: Any) -> pd.Index | None:
    for v in values:
        if isinstance(v, pd.Series):
            return v.index
    return None


def _apply(native: Any, head: tuple[Any, ...], *columns: Any, series: bool = True) -> Any:
    """Broadcasts ``columns`` against each other, runs ``native`` on the flat
    buffers, and shapes the result like lifetimes does: a Series with the
    inputs' index when one is a Series, a float for scalars, else an array."""
    arrays = np.broadcast_arrays(*[_column(c) for c in columns])
    shape = arrays[0].shape
    flat = [_buffer(a.ravel()) for a in arrays]
    out = np.asarray(native(*head, *flat)).reshape(shape)
    index = _index_of(*columns) if series else None
    if index is not None and out.ndim == 1 and len(index) == len(out):
        return pd.Series(out, index=index)
    if out.ndim == 0:
        return float(out)
    return out


class BaseFitter:
    """What the fitters share: parameters, uncertainty, saving and loading."""

    #: Parameter names, in the order the core returns them.
    _param_names: ClassVar[tuple[str, ...]] = ()
    params_: pd.Series
    data: pd.DataFrame
    penalizer_coef: float
    _diagnostics: dict[str, Any]
    _weights_total: float
    _subjects: int

    def __init__(self, penalizer_coef: float = 0.0) -> None:
        self.penalizer_coef = penalizer_coef

    def __repr__(self) -> str:
        classname = self.__class__.__name__
        try:
            subjects = f" fitted with {self.data.shape[0]:d} subjects,"
        except AttributeError:
            subjects = ""
        try:
            params = ", ".join(f"{k}: {v:.2f}" for k, v in sorted(self.params_.items()))
        except AttributeError:
            return f"<crm_sdk.lifetimes.{classname}>"
        return f"<crm_sdk.lifetimes.{classname}:{subjects} {params}>"

    def _unload_params(self, *names: str) -> list[float]:
        if not hasattr(self, "params_"):
            raise ValueError("Model has not been fit yet. Please call the .fit method first.")
        return [float(self.params_[n]) for n in names]

    def _native_params(self) -> tuple[float, ...]:
        return tuple(self._unload_params(*self._param_names))

    def _set_fit(
        self,
        params: tuple[float, ...],
        diagnostics: str,
        data: pd.DataFrame,
    ) -> None:
        self._diagnostics = json.loads(diagnostics)
        if not self._diagnostics.get("converged", False):
            raise ConvergenceError(
                "The model did not converge. Try adding a larger penalizer to see if that "
                f"helps convergence. Diagnostics: {self._diagnostics}"
            )
        self.params_ = pd.Series(params, index=list(self._param_names), dtype=np.float64)
        self._negative_log_likelihood_ = float(self._diagnostics["objective"])
        self.data = data
        # Customers the fit counted (kept apart: save_model may drop data).
        self._weights_total = float(data["weights"].sum())
        self._subjects = len(data)
        self.__dict__.pop("_hessian", None)

    def _compute_hessian(self) -> list[list[float]]:
        raise NotImplementedError

    @property
    def _hessian_(self) -> np.ndarray:
        """The Hessian of the fit objective in the log-parameters at the
        estimates (lifetimes' ``_hessian_``), computed from ``data`` on first
        use: a fit that never asks for standard errors does not pay for it."""
        if "_hessian" not in self.__dict__:
            self.__dict__["_hessian"] = np.asarray(self._compute_hessian(), dtype=np.float64)
        hessian: np.ndarray = self.__dict__["_hessian"]
        return hessian

    @property
    def variance_matrix_(self) -> pd.DataFrame:
        """The estimates' covariance matrix, by lifetimes' formula."""
        return self._compute_variance_matrix()

    @property
    def standard_errors_(self) -> pd.Series:
        """The estimates' standard errors."""
        return self._compute_standard_errors()

    @property
    def confidence_intervals_(self) -> pd.DataFrame:
        """The 95% bounds of the estimates (± 1.96 standard errors)."""
        return self._compute_confidence_intervals()

    @property
    def diagnostics_(self) -> dict[str, Any]:
        """How the fit went: ``converged``, ``iterations``, ``log_likelihood``
        (the total, as the papers report it), ``gradient_norm``,
        ``at_boundary`` (no finite maximum: refit with a penalty) and more."""
        if not hasattr(self, "_diagnostics"):
            raise ValueError("Model has not been fit yet. Please call the .fit method first.")
        return dict(self._diagnostics)

    def _compute_variance_matrix(self) -> pd.DataFrame:
        # lifetimes' formula: the inverse Hessian of the mean objective in
        # the log-parameters, scaled to the natural parameters and to n.
        p = self.params_
        try:
            inverse = np.linalg.inv(self._hessian_)
        except np.linalg.LinAlgError:
            inverse = np.linalg.pinv(self._hessian_)
        values = (p**2).to_numpy() * inverse / self._weights_total
        return pd.DataFrame(values, columns=p.index, index=p.index)

    def _compute_standard_errors(self) -> pd.Series:
        diagonal = np.diag(self.variance_matrix_.to_numpy())
        return pd.Series(np.sqrt(diagonal), index=self.params_.index)

    def _compute_confidence_intervals(self) -> pd.DataFrame:
        z = 1.96
        return pd.DataFrame(
            {
                "lower 95% bound": self.params_ - z * self.standard_errors_,
                "upper 95% bound": self.params_ + z * self.standard_errors_,
            },
            index=self.params_.index,
        )

    @property
    def summary(self) -> pd.DataFrame:
        """``coef``, ``se(coef)`` and the 95% bounds of each parameter."""
        df = pd.DataFrame(index=self.params_.index)
        df["coef"] = self.params_
        df["se(coef)"] = self.standard_errors_
        df["lower 95% bound"] = self.confidence_intervals_["lower 95% bound"]
        df["upper 95% bound"] = self.confidence_intervals_["upper 95% bound"]
        return df

    def print_summary(self, decimals: int = 4) -> None:
        """Prints :attr:`summary`."""
        print(self.summary.round(decimals).to_string())

    def save_model(
        self,
        path: str,
        save_data: bool = True,
        save_generate_data_method: bool = True,
        values_to_save: list[Any] | None = None,
    ) -> None:
        """Pickles the fitted model to ``path`` (lifetimes uses dill; a plain
        pickle is enough here). With ``save_data=False`` the training data is
        left out (``values_to_save[0]`` is stored in its place).
        ``save_generate_data_method`` is accepted for compatibility: these
        fitters have no data generator to save."""
        if not save_data and hasattr(self, "params_"):
            _ = self._hessian_  # computed while the data is still here
        state = self.__dict__.copy()
        if not save_data and "data" in state:
            state["data"] = values_to_save[0] if values_to_save else None
        clone = self.__class__.__new__(self.__class__)
        clone.__dict__.update(state)
        with open(path, "wb") as out:
            pickle.dump(clone, out)

    def load_model(self, path: str) -> None:
        """Loads a model written by :meth:`save_model` into this object.
        Only load files you trust: this is pickle."""
        with open(path, "rb") as f:
            self.__dict__.update(pickle.load(f).__dict__)

    def to_json(self) -> str:
        """A portable JSON snapshot of the fitted model: parameters,
        penalizer, Hessian and diagnostics (not the training data)."""
        if not hasattr(self, "params_"):
            raise ValueError("Model has not been fit yet. Please call the .fit method first.")
        return json.dumps(
            {
                "model": self.__class__.__name__,
                "version": SNAPSHOT_VERSION,
                "params": {k: float(v) for k, v in self.params_.items()},
                "penalizer_coef": self.penalizer_coef,
                "hessian": self._hessian_.tolist(),
                "subjects": self._subjects,
                "weights": self._weights_total,
                "diagnostics": self._diagnostics,
            }
        )

    @classmethod
    def from_json(cls, snapshot: str) -> Any:
        """The model of a :meth:`to_json` snapshot, ready to predict. Its
        ``data`` holds only the subject count and total weight."""
        doc = json.loads(snapshot)
        kind = doc.get("model")
        if kind != cls.__name__:
            raise ValueError(
                f"this is a snapshot of a {kind}, not of a {cls.__name__}: "
                f"load it with {kind}.from_json"
            )
        if doc.get("version") != SNAPSHOT_VERSION:
            raise ValueError(
                f"snapshot version {doc.get('version')!r} is not supported: this crm_sdk "
                f"reads version {SNAPSHOT_VERSION}"
            )
        model = cls(penalizer_coef=float(doc["penalizer_coef"]))
        model.params_ = pd.Series(doc["params"], dtype=np.float64)[list(cls._param_names)]
        model.__dict__["_hessian"] = np.asarray(doc["hessian"], dtype=np.float64)
        model._diagnostics = dict(doc["diagnostics"])
        model._negative_log_likelihood_ = float(model._diagnostics["objective"])
        model._weights_total = float(doc["weights"])
        subjects = model._subjects = int(doc["subjects"])
        model.data = pd.DataFrame({"weights": np.full(subjects, doc["weights"] / max(subjects, 1))})
        return model


class BetaGeoFitter(BaseFitter):
    """The BG/NBD model of Fader, Hardie and Lee (2005), as
    ``lifetimes.BetaGeoFitter``: while alive a customer buys at a Poisson
    rate λ ~ Gamma(r, α); after each purchase they drop out with probability
    p ~ Beta(a, b). Times are in the unit of the data (the ``freq`` of the
    summary), and so is ``alpha``.

    ``penalizer_coef`` adds ``penalizer_coef · Σ θ²`` to the mean negative
    log-likelihood, as lifetimes does.
    """

    _param_names = ("r", "alpha", "a", "b")

    def fit(
        self,
        frequency: Any,
        recency: Any,
        T: Any,
        weights: Any = None,
        initial_params: Any = None,
        verbose: bool = False,
        tol: float = 1e-7,
        index: Any = None,
        **kwargs: Any,
    ) -> BetaGeoFitter:
        """Fits the model to per-customer ``frequency``, ``recency`` and ``T``
        (``weights`` counts customers per row) and returns ``self``.

        Raises :class:`~crm_sdk.exceptions.ValidationError` (a ``ValueError``)
        naming the first bad row: a frequency that is not a whole number,
        ``recency > T``, a non-zero recency with zero frequency. Raises
        :class:`ConvergenceError` when the fit does not converge.
        ``initial_params`` is accepted for compatibility and ignored (the
        core starts where lifetimes does, on the scale of the data);
        ``maxiter`` in ``kwargs`` caps the iterations (default 500).
        """
        del initial_params
        f, r, t = _buffer(frequency), _buffer(recency), _buffer(T)
        w = None if weights is None else _buffer(weights)
        params, diagnostics = _native.bgnbd_fit(
            f,
            r,
            t,
            w,
            penalizer_coef=float(self.penalizer_coef),
            tol=float(tol),
            max_iterations=int(kwargs.get("maxiter", 500)),
        )
        data = pd.DataFrame(
            {
                "frequency": f.astype(np.int64),
                "recency": r,
                "T": t,
                "weights": np.ones_like(f, dtype=np.int64) if w is None else w,
            },
            index=index,
        )
        self._set_fit(params, diagnostics, data)
        if verbose:
            print(self._diagnostics)
        return self

    def _compute_hessian(self) -> list[list[float]]:
        r, alpha, a, b = self._unload_params("r", "alpha", "a", "b")
        return _native.bgnbd_hessian(
            (r, alpha, a, b),
            _buffer(self.data["frequency"]),
            _buffer(self.data["recency"]),
            _buffer(self.data["T"]),
            _buffer(self.data["weights"]),
            penalizer_coef=float(self.penalizer_coef),
        )

    def conditional_expected_number_of_purchases_up_to_time(
        self, t: Any, frequency: Any, recency: Any, T: Any
    ) -> Any:
        """Expected purchases in the next ``t`` periods of customers with
        this history (FHL 2005, eq. 10). Alias: :meth:`predict`."""
        return _apply(
            _native.bgnbd_conditional_expected, (self._native_params(),), t, frequency, recency, T
        )

    def predict(self, t: Any, frequency: Any, recency: Any, T: Any) -> Any:
        """Alias of :meth:`conditional_expected_number_of_purchases_up_to_time`."""
        return self.conditional_expected_number_of_purchases_up_to_time(t, frequency, recency, T)

    def conditional_probability_alive(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """P(alive) of customers with this history (an array, as lifetimes)."""
        out = _apply(
            _native.bgnbd_p_alive, (self._native_params(),), frequency, recency, T, series=False
        )
        return np.atleast_1d(out)

    def conditional_probability_alive_matrix(
        self, max_frequency: int | None = None, max_recency: int | None = None
    ) -> np.ndarray:
        """P(alive) for every frequency 0..max_frequency (columns) and recency
        0..max_recency (rows), at ``T = max_recency``; defaults from the
        training data."""
        max_frequency = max_frequency or int(self.data["frequency"].max())
        max_recency = max_recency or int(self.data["T"].max())
        frequency, recency = np.meshgrid(
            np.arange(max_frequency + 1, dtype=np.float64),
            np.arange(max_recency + 1, dtype=np.float64),
        )
        return self.conditional_probability_alive(frequency, recency, float(max_recency))

    def expected_number_of_purchases_up_to_time(self, t: Any) -> Any:
        """Expected repeat purchases of a new customer in ``t`` periods (eq. 9)."""
        return _apply(_native.bgnbd_expected_new, (self._native_params(),), t)

    def probability_of_n_purchases_up_to_time(self, t: Any, n: Any) -> Any:
        """P(X(t) = n): a new customer makes exactly ``n`` repeat purchases in
        ``t`` periods (eq. 8)."""
        return _apply(_native.bgnbd_probability_of_n, (self._native_params(),), t, n)


class GammaGammaFitter(BaseFitter):
    """The Gamma-Gamma model of spend per purchase (Fader and Hardie 2013),
    as ``lifetimes.GammaGammaFitter``, with parameters ``p``, ``q`` and ``v``.
    Fit it on repeat customers only (``frequency > 0``)."""

    _param_names = ("p", "q", "v")

    def fit(
        self,
        frequency: Any,
        monetary_value: Any,
        weights: Any = None,
        initial_params: Any = None,
        verbose: bool = False,
        tol: float = 1e-7,
        index: Any = None,
        q_constraint: bool = False,
        **kwargs: Any,
    ) -> GammaGammaFitter:
        """Fits the model to repeat customers' ``frequency`` and mean spend
        per repeat purchase and returns ``self``.

        Raises :class:`~crm_sdk.exceptions.ValidationError` naming the first
        row with a zero frequency or a spend <= 0. With ``q_constraint=True``
        a fit with ``q <= 1`` (no population mean) raises
        :class:`ConvergenceError` instead of being returned.
        ``initial_params`` is accepted for compatibility and ignored.
        """
        del initial_params
        f, m = _buffer(frequency), _buffer(monetary_value)
        w = None if weights is None else _buffer(weights)
        params, diagnostics = _native.gamma_gamma_fit(
            f,
            m,
            w,
            penalizer_coef=float(self.penalizer_coef),
            tol=float(tol),
            max_iterations=int(kwargs.get("maxiter", 500)),
        )
        if q_constraint and params[1] <= 1.0:
            raise ConvergenceError(f"q = {params[1]} <= 1: the population mean spend is undefined")
        data = pd.DataFrame(
            {
                "monetary_value": m,
                "frequency": f,
                "weights": np.ones_like(f, dtype=np.int64) if w is None else w,
            },
            index=index,
        )
        self._set_fit(params, diagnostics, data)
        if verbose:
            print(self._diagnostics)
        return self

    def _compute_hessian(self) -> list[list[float]]:
        p, q, v = self._unload_params("p", "q", "v")
        return _native.gamma_gamma_hessian(
            (p, q, v),
            _buffer(self.data["frequency"]),
            _buffer(self.data["monetary_value"]),
            _buffer(self.data["weights"]),
            penalizer_coef=float(self.penalizer_coef),
        )

    def conditional_expected_average_profit(
        self, frequency: Any = None, monetary_value: Any = None
    ) -> Any:
        """Expected spend per purchase of each customer: a weighted mean of
        the customer's own mean and the population mean."""
        if monetary_value is None:
            monetary_value = self.data["monetary_value"]
        if frequency is None:
            frequency = self.data["frequency"]
        return _apply(
            _native.gamma_gamma_expected_spend, (self._native_params(),), frequency, monetary_value
        )

    def customer_lifetime_value(
        self,
        transaction_prediction_model: Any,
        frequency: Any,
        recency: Any,
        T: Any,
        monetary_value: Any,
        time: int = 12,
        discount_rate: float = 0.01,
        freq: str = "D",
    ) -> pd.Series:
        """Discounted value of each customer's purchases over ``time``
        months, as lifetimes computes it: month ``i`` is worth (expected
        purchases in that month) × (expected spend) / (1 + discount_rate)^i.

        Compatibility note: ``freq`` must be the unit of ``recency`` and
        ``T`` ("D", "W", "M" or "H"); lifetimes then takes a month to be 30
        days, 4.345 weeks or 720 hours, and applies no margin. Both are kept
        here for identical results. :mod:`crm_sdk.analytics` has a CLV with
        explicit units, calendar-accurate months and a margin.
        """
        factors = {"W": 4.345, "M": 1.0, "D": 30.0, "H": 30.0 * 24}
        if freq not in factors:
            raise ValueError(f"freq must be one of {sorted(factors)}, got {freq!r}")
        factor = factors[freq]
        spend = self.conditional_expected_average_profit(frequency, monetary_value)
        index = _index_of(frequency, recency, T, monetary_value)
        if isinstance(transaction_prediction_model, BetaGeoFitter):
            f, r, t, s = (
                _buffer(c.ravel())
                for c in np.broadcast_arrays(*[_column(c) for c in (frequency, recency, T, spend)])
            )
            params = transaction_prediction_model._native_params()
            values = _native.bgnbd_discounted_value(
                (params[0], params[1], params[2], params[3]),
                f,
                r,
                t,
                s,
                steps=int(time),
                step=factor,
                rate=float(discount_rate),
            )
        else:
            # Any lifetimes-style model with predict(t, frequency, recency, T).
            values = np.zeros(np.broadcast(_column(frequency), _column(spend)).shape)
            spend_values = _column(spend)
            for i in np.arange(1, time + 1) * factor:
                expected = _column(
                    transaction_prediction_model.predict(i, frequency, recency, T)
                ) - _column(transaction_prediction_model.predict(i - factor, frequency, recency, T))
                values = values + spend_values * expected / (1 + discount_rate) ** (i / factor)
        if index is None:
            index = pd.RangeIndex(len(values))
        return pd.Series(np.asarray(values, dtype=np.float64), index=index, name="clv")
