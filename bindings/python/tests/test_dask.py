"""The Dask example (examples/python/dask_scoring.py) scores on a cluster of
two worker processes exactly what one process scores."""

import importlib
import sys
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Iterator

import numpy as np
import pandas as pd
import pytest

from conftest import REPO, skip_module_loudly

try:
    import dask.dataframe as dd
    from dask.distributed import Client, LocalCluster, get_task_stream
except ImportError as error:
    skip_module_loudly("Dask", f"{error} (pip install 'dask[dataframe]' distributed)")

EXAMPLE = REPO / "examples" / "python" / "dask_scoring.py"
END = "1998-06-30"


@pytest.fixture(scope="module")
def example() -> Iterator[ModuleType]:
    with pytest.MonkeyPatch.context() as patch:
        # Worker processes start with this process's sys.path: they import
        # the example's functions by name too.
        patch.syspath_prepend(str(EXAMPLE.parent))
        yield importlib.import_module("dask_scoring")
    sys.modules.pop("dask_scoring")


def test_cluster_scores_equal_in_process_scores(
    example: ModuleType, cdnow_transactions: pd.DataFrame
) -> None:
    local, bgf, ggf = example.score_in_process(cdnow_transactions, END)
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster, Client(cluster) as client:
        transactions = dd.from_pandas(cdnow_transactions, npartitions=4, sort=False)
        # A bounded wait: a worker that cannot run the tasks fails the test
        # instead of hanging the run.
        pool = ThreadPoolExecutor(1)
        with get_task_stream(client) as tasks:
            run = pool.submit(example.score_on_cluster, transactions, END)
            scores, cluster_bgf, cluster_ggf = run.result(timeout=120)
        pool.shutdown(wait=False)
        workers = {task["worker"] for task in tasks.data}
    assert len(workers) == 2, f"the tasks ran on {workers}"

    assert len(local) == 2357 and local.index.is_unique
    assert list(scores.columns) == ["p_alive", "expected_purchases", "clv"]
    pd.testing.assert_index_equal(scores.index, local.index)
    np.testing.assert_allclose(scores.to_numpy(), local[scores.columns].to_numpy(), rtol=1e-12, atol=0)
    pd.testing.assert_series_equal(cluster_bgf.params_, bgf.params_, rtol=1e-12)
    pd.testing.assert_series_equal(cluster_ggf.params_, ggf.params_, rtol=1e-12)
    # Real scores: probabilities, and more value where more is expected.
    assert local["p_alive"].between(0, 1).all() and local["p_alive"].nunique() > 100
    assert local["clv"].corr(local["expected_purchases"]) > 0.5


def test_the_script_reads_the_cdnow_sample(
    example: ModuleType, cdnow_transactions: pd.DataFrame
) -> None:
    frame = example.read_transactions(example.CDNOW)
    # The declared types (what map_partitions builds on) are the real ones.
    assert frame.dtypes.to_dict() == cdnow_transactions.dtypes.to_dict()
    pd.testing.assert_frame_equal(
        frame.compute(scheduler="synchronous").reset_index(drop=True), cdnow_transactions
    )
