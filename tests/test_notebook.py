"""In a notebook (a real Jupyter kernel, through nbclient): the matrix is an HTML table and
subscriptable, errors and reports show their text, and progress needs no ipywidgets."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
if importlib.util.find_spec("ipykernel") is None:  # not imported here: this is no kernel
    pytest.skip("needs ipykernel", allow_module_level=True)

CELLS = [
    # warnings become errors in the kernel, so a fallback that warns would fail its cell
    "import warnings\nwarnings.simplefilter('error')\nimport seedless\n"
    "caps = seedless.capabilities()\ncaps",
    "caps['relay:flux-dev'].seed, caps['flux-dev'].key",
    "from seedless.errors import ModelRetiredError, Remedy\n"
    "ModelRetiredError('x was shut down.', model='x', shutdown=None, successor=None,\n"
    "                  remedy=Remedy('Pass {}.', allow_retired=True))",
    "from seedless._progress import progress_bar\n"
    "with warnings.catch_warnings(record=True) as caught:\n"
    "    warnings.simplefilter('always')\n"
    "    with progress_bar(3, desc='edits', unit='img') as bar:\n"
    "        bar.update(3)\n"
    "[str(w.message) for w in caught]",
]


def run_notebook(cells: list[str]) -> list[dict[str, Any]]:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    notebook.cells.insert(0, nbformat.v4.new_code_cell("import sys"))
    client = nbclient.NotebookClient(notebook, timeout=60, kernel_name="python3")
    client.execute()
    return [cell["outputs"] for cell in notebook.cells[1:]]


def test_the_matrix_and_friends_in_a_notebook() -> None:
    matrix, row, error, progress = run_notebook(CELLS)
    result = next(o for o in matrix if o["output_type"] == "execute_result")
    html = result["data"]["text/html"]
    assert html.startswith('<table class="seedless-matrix">') and "relay:flux-dev" in html
    assert "<th>seed</th>" in html
    assert row[0]["data"]["text/plain"] == "('seeded', 'relay:flux-dev')"
    assert error[0]["data"]["text/plain"] == (
        "ModelRetiredError('x was shut down. Pass allow_retired=True.')"
    )
    assert progress[-1]["data"]["text/plain"] == "[]"  # no "IProgress not found" warning
    if importlib.util.find_spec("ipywidgets") is None:  # tqdm's text bar, on the cell's stderr
        assert any("edits" in o.get("text", "") for o in progress if o["output_type"] == "stream")
