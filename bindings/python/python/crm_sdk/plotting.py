"""Plots of fitted models and customer segments, with matplotlib.

The functions of ``lifetimes.plotting`` keep their names and parameters, so
a notebook written for lifetimes switches by its import line::

    # from lifetimes.plotting import plot_period_transactions
    from crm_sdk.plotting import plot_period_transactions

Every function returns the :class:`matplotlib.axes.Axes` it drew on and
accepts ``ax=`` to draw into an Axes of your own (a subplot of a larger
figure, say). Without ``ax`` it draws into the current figure when that
figure is still empty (so ``plt.figure(figsize=...)`` before the call
works), else into a new figure; it never draws over an earlier plot.

matplotlib is an optional dependency: ``pip install 'crm-sdk[plot]'``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "plot_calibration_purchases_vs_holdout_purchases",
    "plot_frequency_recency_matrix",
    "plot_period_transactions",
    "plot_probability_alive_matrix",
    "plot_segment_sizes",
]

_MATRIX_XLABEL = "Customer's Historical Frequency"
_MATRIX_YLABEL = "Customer's Recency"

#: The x axes of :func:`plot_calibration_purchases_vs_holdout_purchases`.
_HOLDOUT_KINDS = {
    "frequency_cal": "Purchases in calibration period",
    "recency_cal": "Age of customer at last purchase",
    "T_cal": "Age of customer at the end of calibration period",
    "time_since_last_purchase": "Time since user made last purchase",
}


def _axes(ax: Axes | None) -> Axes:
    """``ax``, or an Axes in the current figure while it is empty, else in a
    new figure. Imports matplotlib only here, with an install hint."""
    if ax is not None:
        return ax
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError(
            "crm_sdk.plotting needs matplotlib: pip install 'crm-sdk[plot]'"
        ) from e
    if plt.get_fignums():
        figure = plt.gcf()
        if not figure.axes:
            return figure.add_subplot()
    return plt.figure().add_subplot()


def _labels(ax: Axes, title: str | None, xlabel: str | None, ylabel: str | None) -> None:
    if title is not None:
        ax.set_title(title)
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)


def _heatmap(
    ax: Axes | None,
    z: Any,
    title: str | None,
    xlabel: str | None,
    ylabel: str | None,
    kwargs: dict[str, Any],
) -> Axes:
    """``z`` (rows: recency, columns: frequency) as an image with a colour
    bar. As lifetimes: no interpolation, and a square plot whatever the shape
    of the grid, unless ``kwargs`` say otherwise (they go to ``imshow``)."""
    ax = _axes(ax)
    kwargs.setdefault("interpolation", "none")
    square = "aspect" not in kwargs
    if square:
        kwargs["aspect"] = "auto"
    image = ax.imshow(np.asarray(z, dtype=np.float64), **kwargs)
    if square:
        ax.set_box_aspect(1)
    _labels(ax, title, xlabel, ylabel)
    ax.figure.colorbar(image, ax=ax)
    return ax


def plot_frequency_recency_matrix(
    model: Any,
    T: float = 1,
    max_frequency: int | None = None,
    max_recency: int | None = None,
    title: str | None = None,
    xlabel: str = _MATRIX_XLABEL,
    ylabel: str = _MATRIX_YLABEL,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Heatmap of the expected purchases in the next ``T`` periods of a
    customer with each frequency (columns, 0..``max_frequency``) and recency
    (rows, 0..``max_recency``), at customer age ``T = max_recency``, as
    ``lifetimes.plotting.plot_frequency_recency_matrix``.

    ``model`` is a fitted :class:`~crm_sdk.lifetimes.BetaGeoFitter` (any
    model with a vectorised ``conditional_expected_number_of_purchases_up_to_time``
    and a ``data`` frame works). ``max_frequency`` and ``max_recency``
    default to the largest frequency and age in the training data; ``title``
    defaults to lifetimes' title. Other keyword arguments go to
    :meth:`matplotlib.axes.Axes.imshow`. Returns the Axes.
    """
    if max_frequency is None:
        max_frequency = int(model.data["frequency"].max())
    if max_recency is None:
        max_recency = int(model.data["T"].max())
    frequency, recency = np.meshgrid(
        np.arange(max_frequency + 1, dtype=np.float64),
        np.arange(max_recency + 1, dtype=np.float64),
    )
    z = model.conditional_expected_number_of_purchases_up_to_time(
        T, frequency, recency, float(max_recency)
    )
    if title is None:
        title = (
            f"Expected Number of Future Purchases for {T} Unit{'' if T == 1 else 's'} of Time,"
            "\nby Frequency and Recency of a Customer"
        )
    return _heatmap(ax, z, title, xlabel, ylabel, kwargs)


def plot_probability_alive_matrix(
    model: Any,
    max_frequency: int | None = None,
    max_recency: int | None = None,
    title: str = "Probability Customer is Alive,\nby Frequency and Recency of a Customer",
    xlabel: str = _MATRIX_XLABEL,
    ylabel: str = _MATRIX_YLABEL,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Heatmap of the probability that a customer with each frequency
    (columns) and recency (rows) is still alive, at customer age
    ``max_recency``: the image is ``model.conditional_probability_alive_matrix
    (max_frequency, max_recency)``, as in
    ``lifetimes.plotting.plot_probability_alive_matrix``. Customers far down
    a column bought recently; those at the top of a high-frequency column
    stopped buying long ago and have most likely churned.

    Other keyword arguments go to :meth:`matplotlib.axes.Axes.imshow`.
    Returns the Axes.
    """
    z = model.conditional_probability_alive_matrix(max_frequency, max_recency)
    return _heatmap(ax, z, title, xlabel, ylabel, kwargs)


def _period_transaction_counts(model: Any, max_frequency: int) -> pd.DataFrame:
    """Customers (weighted) with 0..max_frequency-1 and with max_frequency
    or more repeat purchases: actual, and expected under the model."""
    if max_frequency < 1:
        raise ValueError(f"max_frequency must be at least 1, got {max_frequency}")
    data = model.data
    frequency = data["frequency"].to_numpy(dtype=np.float64)
    ages_of = data["T"].to_numpy(dtype=np.float64)
    if "weights" in data:
        weights = data["weights"].to_numpy(dtype=np.float64)
    else:
        weights = np.ones_like(frequency)
    bins = np.minimum(frequency, max_frequency).astype(np.int64)
    actual = np.bincount(bins, weights=weights, minlength=max_frequency + 1)
    # Customers of the same age share their probabilities: one row per age.
    ages, inverse = np.unique(ages_of, return_inverse=True)
    customers_of_age = np.bincount(inverse.ravel(), weights=weights, minlength=len(ages))
    counts = np.arange(max_frequency, dtype=np.float64)
    p = np.asarray(
        model.probability_of_n_purchases_up_to_time(ages[:, None], counts[None, :]),
        dtype=np.float64,
    ).reshape(len(ages), max_frequency)
    head = customers_of_age @ p
    expected = np.append(head, customers_of_age.sum() - head.sum())
    index = [str(k) for k in range(max_frequency)] + [f"{max_frequency}+"]
    return pd.DataFrame({"actual": actual, "model": expected}, index=index)


def plot_period_transactions(
    model: Any,
    max_frequency: int = 7,
    title: str = "Frequency of Repeat Transactions",
    xlabel: str = "Number of Calibration Period Transactions",
    ylabel: str = "Customers",
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Bars of how many customers made 0, 1, ..., ``max_frequency - 1`` and
    ``max_frequency`` or more repeat purchases in the training data, beside
    how many the model expects: the fit check of Fader, Hardie and Lee.

    The model side is exact, not simulated: the expected number of
    customers with ``n`` repeat purchases is the sum over the fitted
    customers of P(X(T_i) = n), the probability that a customer of age T_i
    makes ``n`` repeat purchases (``model.probability_of_n_purchases_up_to_time``,
    with the training data's ``weights``), so the bars are the same on every
    call. (``lifetimes`` draws a simulated sample instead, and leaves out the
    customers with ``max_frequency`` or more purchases.) Both sides add up to
    the number of customers.

    ``model`` is a fitted :class:`~crm_sdk.lifetimes.BetaGeoFitter`.
    ``label`` (a pair, default ``["Actual", "Model"]``) names the two series;
    other keyword arguments go to :meth:`matplotlib.axes.Axes.bar`. Returns
    the Axes.
    """
    labels = kwargs.pop("label", ["Actual", "Model"])
    counts = _period_transaction_counts(model, max_frequency)
    ax = _axes(ax)
    x = np.arange(len(counts))
    width = 0.4
    ax.bar(x - width / 2, counts["actual"], width, label=labels[0], **kwargs)
    ax.bar(x + width / 2, counts["model"], width, label=labels[1], **kwargs)
    ax.set_xticks(x, list(counts.index))
    ax.legend()
    _labels(ax, title, xlabel, ylabel)
    return ax


def plot_calibration_purchases_vs_holdout_purchases(
    model: Any,
    calibration_holdout_matrix: pd.DataFrame,
    kind: str = "frequency_cal",
    n: int = 7,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Lines of the mean actual purchases in the holdout period
    (``frequency_holdout``) and the mean purchases the model predicts for it
    (``model_predictions``: the conditional expectation over each customer's
    ``duration_holdout``, from their calibration ``frequency_cal``,
    ``recency_cal`` and ``T_cal``), grouped by ``kind``: ``"frequency_cal"``,
    ``"recency_cal"``, ``"T_cal"`` or ``"time_since_last_purchase"``
    (``T_cal - recency_cal``). The first ``n`` groups are drawn, as in
    ``lifetimes.plotting.plot_calibration_purchases_vs_holdout_purchases``.

    ``calibration_holdout_matrix`` is the frame of
    :func:`crm_sdk.lifetimes.utils.calibration_and_holdout_data`; ``model``
    was fitted on its calibration columns. Other keyword arguments go to
    :meth:`matplotlib.axes.Axes.plot`. Returns the Axes.
    """
    if kind not in _HOLDOUT_KINDS:
        raise ValueError(f"kind must be one of {sorted(_HOLDOUT_KINDS)}, got {kind!r}")
    summary = calibration_holdout_matrix.copy()
    summary["model_predictions"] = model.conditional_expected_number_of_purchases_up_to_time(
        summary["duration_holdout"], summary["frequency_cal"], summary["recency_cal"], summary["T_cal"]
    )
    if kind == "time_since_last_purchase":
        summary[kind] = summary["T_cal"] - summary["recency_cal"]
    means = summary.groupby(kind)[["frequency_holdout", "model_predictions"]].mean().iloc[:n]
    ax = _axes(ax)
    x = means.index.to_numpy(dtype=np.float64)
    for column in means.columns:
        ax.plot(x, means[column].to_numpy(dtype=np.float64), label=str(column), **kwargs)
    ax.legend()
    _labels(
        ax,
        "Actual Purchases in Holdout Period vs Predicted Purchases",
        _HOLDOUT_KINDS[kind],
        "Average of Purchases in Holdout Period",
    )
    return ax


def plot_segment_sizes(
    segments: pd.DataFrame | pd.Series | Sequence[Any],
    column: str = "segment",
    ax: Axes | None = None,
    order: Sequence[Any] | None = None,
    title: str = "Customers per Segment",
    xlabel: str = "Customers",
    **kwargs: Any,
) -> Axes:
    """Horizontal bars of the number of customers in each segment, each
    labelled with its count and share of all customers.

    ``segments`` is the frame of :func:`crm_sdk.analytics.rfm_segments`
    (``column`` picks ``"segment"`` or ``"detailed_segment"``), or a Series
    or list of segment labels, one per customer. Missing labels are not
    counted. The bars run from top to bottom in ``order`` (segments in it
    that nobody is in get an empty bar; labels outside it are left out),
    else in the categories' order of a categorical column, else from the
    largest segment down. Other keyword arguments go to
    :meth:`matplotlib.axes.Axes.barh`. Returns the Axes.
    """
    labels = segments[column] if isinstance(segments, pd.DataFrame) else pd.Series(segments)
    counts = labels.value_counts(dropna=True)
    if order is not None:
        counts = counts.reindex(list(order), fill_value=0)
    elif isinstance(labels.dtype, pd.CategoricalDtype):
        counts = counts.reindex(labels.cat.categories, fill_value=0)
    else:
        # Largest first; equal sizes in label order, so the plot is stable.
        counts = counts.sort_index().sort_values(ascending=False, kind="stable")
    ax = _axes(ax)
    y = np.arange(len(counts))
    values = counts.to_numpy(dtype=np.float64)
    bars = ax.barh(y, values, **kwargs)
    ax.set_yticks(y, [str(label) for label in counts.index])
    ax.invert_yaxis()
    total = values.sum()
    shares = values / total if total > 0 else values
    ax.bar_label(bars, labels=[f"{v:,.0f} ({s:.0%})" for v, s in zip(values, shares)], padding=3)
    ax.margins(x=0.2)
    _labels(ax, title, xlabel, None)
    return ax
