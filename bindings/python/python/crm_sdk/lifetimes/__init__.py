"""A faster drop-in for the ``lifetimes`` library.

A notebook written for ``lifetimes`` switches by changing its import lines::

    # from lifetimes import BetaGeoFitter, GammaGammaFitter
    # from lifetimes.utils import summary_data_from_transaction_data
    from crm_sdk.lifetimes import BetaGeoFitter, GammaGammaFitter
    from crm_sdk.lifetimes.utils import summary_data_from_transaction_data

The classes and functions keep lifetimes' names, signatures, pandas indexes
and column names; the work runs in the CRM SDK's Rust core (crm-core), which
reproduces the published CDNOW estimates. Columns cross into Rust as numpy
buffers, never one Python object per row.

What is here: :class:`BetaGeoFitter` (BG/NBD), :class:`GammaGammaFitter`,
:func:`utils.summary_data_from_transaction_data` and
:func:`utils.calibration_and_holdout_data`. Fitted models pickle, and
``to_json()`` / ``from_json()`` give a portable snapshot. For analyses with
explicit time units (lifetimes' CLV assumes the unit of the data from its
``freq`` argument), see :mod:`crm_sdk.analytics`.
"""

from crm_sdk.lifetimes import utils
from crm_sdk.lifetimes.fitters import BaseFitter, BetaGeoFitter, GammaGammaFitter
from crm_sdk.lifetimes.utils import ConvergenceError

__all__ = [
    "BaseFitter",
    "BetaGeoFitter",
    "ConvergenceError",
    "GammaGammaFitter",
    "utils",
]
