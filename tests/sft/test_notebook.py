"""colab/05_finetune.ipynb: stored clean, with the Colab set-up and the TINY switch, and it
runs top to bottom on CPU (tiny settings, the demo conversations, a pretrained workdir from
the fixtures standing in for 03_train's)."""

import json
import os
import shutil

import pytest

from tests.helpers import REPO

NAME = "05_finetune"


def _load() -> dict:
  return json.loads((REPO / "colab" / f"{NAME}.ipynb").read_text(encoding="utf-8"))


def test_outputs_are_stripped_and_tiny_switch_exists():
  nb = _load()
  code = [c for c in nb["cells"] if c["cell_type"] == "code"]
  assert all(c.get("outputs", []) == [] and c.get("execution_count") is None for c in code)
  params = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
  assert len(params) == 1 and "LLMJAX_NOTEBOOK_TINY" in "".join(params[0]["source"])
  assert "runs/notebook_tiny" in "".join(params[0]["source"])  # 03_train's workdir
  setup = "".join(code[0]["source"])
  assert "google.colab" in setup and "[tpu]" in setup and "[cuda]" in setup
  assert any("jax.default_backend()" in "".join(c["source"]) for c in code)


@pytest.mark.slow  # a kernel, two short fine-tuning runs and greedy answers: about a minute
def test_notebook_runs_top_to_bottom(base_workdir, tatar_fixture_dir, tmp_path, monkeypatch):
  nbformat = pytest.importorskip("nbformat")
  nbclient = pytest.importorskip("nbclient")
  pytest.importorskip("ipykernel")
  base = tmp_path / "notebook_tiny"
  shutil.copytree(base_workdir, base)
  monkeypatch.setenv("LLMJAX_NOTEBOOK_TINY", "1")
  monkeypatch.setenv("LLMJAX_NOTEBOOK_BASE", str(base))
  monkeypatch.setenv("LLMJAX_TEXT_DIR", str(tatar_fixture_dir))  # no dictionary: the demo set
  monkeypatch.delenv("MPLBACKEND", raising=False)
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")
  monkeypatch.setenv("XLA_FLAGS", "")
  nb = nbformat.read(REPO / "colab" / f"{NAME}.ipynb", as_version=4)
  for cell in nb.cells:
    if cell.cell_type == "code":
      cell.source = cell.source.replace('"runs/sft_tatar_data"', repr(str(tmp_path / "data")))
  client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                   resources={"metadata": {"path": str(REPO)}})
  client.execute()
  outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
  assert not [o for o in outputs if o.get("output_type") == "error"]
  text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
  assert "✓" in text and "LoRA trains" in text and "before" in text and "chrF" in text
  assert (tmp_path / "notebook_tiny_lora" / "best").is_dir()
  assert any("image/png" in o.get("data", {}) for o in outputs)
  assert os.path.isdir(tmp_path / "notebook_tiny_full" / "best")
