"""docs/quickstart.ipynb, executed as a reader would run it (nbclient, a real kernel): its cells
assert on what they show, and the repository holds it without outputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from conftest import REPO, MnistAtlas
from nbclient import NotebookClient

NOTEBOOK = REPO / "docs" / "quickstart.ipynb"


def test_the_notebook_is_stored_without_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)


def test_the_quickstart_runs_and_shows_the_digits(mnist_atlas: MnistAtlas, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in a copy of docs/ and configs/, with the cache of the session's MNIST build, so nothing is
    trained twice (the notebook's cells are those a new user runs, who trains once)."""
    shutil.copytree(REPO / "configs", tmp_path / "configs")
    (tmp_path / "docs").mkdir()
    shutil.copy(NOTEBOOK, tmp_path / "docs" / NOTEBOOK.name)
    monkeypatch.setenv("GALLERY_CACHE", str(mnist_atlas.cache))
    notebook = nbformat.read(tmp_path / "docs" / NOTEBOOK.name, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path / "docs")}}).execute()
    shown = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in shown if output.output_type == "error"]
    assert not [output for output in shown if "IProgress not found" in output.get("text", "")]  # no ipywidgets here
    assert sum("image/png" in output.get("data", {}) for output in shown) >= 3  # digits, lucid, maps
    assert any(output.get("text", "").startswith("read as [") for output in shown)
    assert (tmp_path / "docs" / "mnist-atlas" / "index.html").is_file()
