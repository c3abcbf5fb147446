"""The colab/ notebooks run top to bottom on CPU with tiny settings, and are stored clean.

Executed with nbclient (the `notebooks` extra) in a fresh kernel at the repository root,
with LLMJAX_NOTEBOOK_TINY=1 and LLMJAX_TEXT_DIR pointing at the project's fixture corpus;
the inference notebook loads the checkpoint of the `trained` fixture (tests/conftest.py).
"""

import json
import os

import pytest

from tests.helpers import REPO

NOTEBOOKS = ["01_corpus", "02_tokenizer", "03_train"]
INFERENCE = "04_inference"


def _load(name: str) -> dict:
  return json.loads((REPO / "colab" / f"{name}.ipynb").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", NOTEBOOKS + [INFERENCE])
def test_outputs_are_stripped_and_tiny_switch_exists(name):
  nb = _load(name)
  code = [c for c in nb["cells"] if c["cell_type"] == "code"]
  assert all(c.get("outputs", []) == [] and c.get("execution_count") is None for c in code)
  params = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
  # The inference notebook's switch is the checkpoint it loads (test_inference_notebook_runs).
  switch = "LLMJAX_NOTEBOOK_WORKDIR" if name == INFERENCE else "LLMJAX_NOTEBOOK_TINY"
  assert len(params) == 1 and switch in "".join(params[0]["source"])
  setup = "".join(code[0]["source"])  # the Colab install cell, choosing the JAX build
  assert "google.colab" in setup and "[tpu]" in setup and "[cuda]" in setup
  if name in ("03_train", INFERENCE):  # the notebooks that run a model report the backend
    assert any("jax.default_backend()" in "".join(c["source"]) for c in code)


@pytest.mark.parametrize("name", [  # training takes about a minute: slow job
    "01_corpus", "02_tokenizer", pytest.param("03_train", marks=pytest.mark.slow)])
def test_notebook_runs_top_to_bottom(name, tatar_fixture_dir, tmp_path, monkeypatch):
  nbformat = pytest.importorskip("nbformat")
  nbclient = pytest.importorskip("nbclient")
  pytest.importorskip("ipykernel")
  monkeypatch.setenv("LLMJAX_NOTEBOOK_TINY", "1")
  monkeypatch.setenv("LLMJAX_TEXT_DIR", str(tatar_fixture_dir))
  monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend shows plots
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")
  # The kernel is a fresh process: plain one-device CPU, not the suite's 8 simulated ones.
  monkeypatch.setenv("XLA_FLAGS", "")
  nb = nbformat.read(REPO / "colab" / f"{name}.ipynb", as_version=4)
  # Runs from the repository root; runs/notebook_tiny is redirected into tmp_path.
  for cell in nb.cells:
    if cell.cell_type == "code":
      cell.source = cell.source.replace('"runs/notebook_tiny"', repr(str(tmp_path / "run")))
  client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                   resources={"metadata": {"path": str(REPO)}})
  client.execute()
  outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
  assert not [o for o in outputs if o.get("output_type") == "error"]
  text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
  images = [o for o in outputs if "image/png" in o.get("data", {})]
  assert images, "no inline plot"
  if name == "01_corpus":
    assert "documents" in text and "ә" in text
  if name == "02_tokenizer":
    assert "characters ->" in text
  if name == "03_train":
    assert "validation bits/char" in text and (tmp_path / "run" / "metrics.jsonl").is_file()
    assert os.path.isdir(tmp_path / "run" / "best")


@pytest.mark.slow  # the checkpoint's suite subset on CPU: a minute or two
def test_inference_notebook_runs(trained, monkeypatch):
  nbformat = pytest.importorskip("nbformat")
  nbclient = pytest.importorskip("nbclient")
  monkeypatch.setenv("LLMJAX_NOTEBOOK_WORKDIR", str(trained))
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")
  monkeypatch.delenv("XLA_FLAGS", raising=False)
  monkeypatch.setenv("PYTHONPATH", str(REPO))
  nb = nbformat.read(REPO / "colab" / f"{INFERENCE}.ipynb", as_version=4)
  nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                          resources={"metadata": {"path": str(REPO)}}).execute()
  text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                 for o in c.get("outputs", []))
  assert "Казан шәһәре →" in text
  assert text.count("== ") == 3 and ("✓" in text or "✗" in text)
  assert "accuracy" in text and "(chance 0.250)" in text
