"""The example notebook runs headless, top to bottom, without a cell error,
on a kernel of this very interpreter, and shows what it promises."""

import sys
from typing import Any, List

import pytest
from conftest import REPO, optional_module

NOTEBOOK = REPO / "examples" / "notebooks" / "customer-analytics.ipynb"
NOTEBOOK_TOOLS = "pip install 'crm-sdk[plot]' 'nbclient==0.11.*' nbformat ipykernel"


def outputs(cell: Any) -> List[Any]:
    return list(cell.get("outputs", []))


def test_customer_analytics_notebook_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = optional_module("nbformat", NOTEBOOK_TOOLS)
    nbclient = optional_module("nbclient", NOTEBOOK_TOOLS)
    optional_module("ipykernel", NOTEBOOK_TOOLS)
    optional_module("matplotlib", NOTEBOOK_TOOLS)
    nb = nbformat.read(str(NOTEBOOK), as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    # Committed with its outputs cleared.
    assert code and all(not outputs(c) and c.get("execution_count") is None for c in code)

    # The kernel runs this interpreter: its own kernel spec comes first, and
    # a last cell (not in the file) reports where it runs.
    monkeypatch.setenv("JUPYTER_PATH", str(sys.prefix) + "/share/jupyter")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.prefix)"))
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",
        timeout=600,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()  # a cell error raises CellExecutionError

    assert outputs(nb.cells[-1])[0]["text"].strip() == sys.prefix
    produced = [o for c in code for o in outputs(c)]
    assert not [o for o in produced if o["output_type"] == "error"]
    text = "\n".join(
        o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in produced
    )
    assert "6,919 purchases by 2,357 customers" in text
    assert "se(coef)" in text and "alpha" in text and "12-month value of the base" in text
    figures = [o for o in produced if "image/png" in o.get("data", {})]
    assert len(figures) == 5  # two fit checks, two heatmaps, the segment charts
