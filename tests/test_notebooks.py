"""The colab/ notebooks: stored clean, and run top to bottom as a student would run them.

Executed with nbclient (the `notebooks` extra), each in a fresh kernel, from a copy of the
repository in a temporary folder (so no development data sits beside it) with a temporary
HOME, LLMJAX_NOTEBOOK_TINY=1, and the Leipzig server replaced by a 127.0.0.1 mirror serving
an archive of the project's own fixture text in Leipzig's exact layout: the notebooks take
the same default corpus path as the training command (download, clean, train). The slow
chain runs 01 -> 02 -> 03 -> 04 -> 05 in one copy, so 04 and 05 use the model 03 trained.
"""

import json
import os
import shutil

import pytest

from tests.fixture_text import fixture_lines
from tests.helpers import REPO
from tests.leipzig_mirror import Mirror, archive

NOTEBOOKS = ["01_corpus", "02_tokenizer", "03_train", "04_inference", "05_finetune"]
DEFAULT_CORPUS = "tat_mixed_2015_1M"


def _load(name: str) -> dict:
  return json.loads((REPO / "colab" / f"{name}.ipynb").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_outputs_are_stripped_and_tiny_switch_exists(name):
  nb = _load(name)
  assert not (REPO / "colab" / f"{name}.ipynb").is_symlink()  # Colab cannot open a link
  code = [c for c in nb["cells"] if c["cell_type"] == "code"]
  assert all(c.get("outputs", []) == [] and c.get("execution_count") is None for c in code)
  params = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
  assert len(params) == 1 and "LLMJAX_NOTEBOOK_TINY" in "".join(params[0]["source"])
  setup = "".join(code[0]["source"])  # the Colab install cell, choosing the JAX build
  assert "google.colab" in setup and "[tpu]" in setup and "[cuda]" in setup
  assert "PARAMETER" in setup and "LLMJAX_REPO" in setup  # the repository URL, marked
  if name in ("03_train", "04_inference"):  # the notebooks that run a model report the backend
    assert any("jax.default_backend()" in "".join(c["source"]) for c in code)
  # No notebook reads the development data: they use the training command's default path.
  assert "shared/data" not in json.dumps(nb)


@pytest.fixture
def student(tmp_path, monkeypatch):
  """A copy of the repository with no development data beside it, a mirror of the Leipzig
  server, an empty HOME; returns a function that runs one notebook there."""
  nbformat = pytest.importorskip("nbformat")
  nbclient = pytest.importorskip("nbclient")
  pytest.importorskip("ipykernel")
  clone = tmp_path / "llmjax"
  for part in ("llmjax", "configs", "colab"):
    shutil.copytree(REPO / part, clone / part, ignore=shutil.ignore_patterns("__pycache__"))
  shutil.copy(REPO / "pyproject.toml", clone)
  assert not (tmp_path / "shared").exists()
  mirror = Mirror()
  mirror.add(DEFAULT_CORPUS, archive(DEFAULT_CORPUS, fixture_lines(3000)))
  for key in ("LLMJAX_TEXT_DIR", "LLMJAX_EVAL_DIR", "LLMJAX_CACHE", "LLMJAX_LEIPZIG_CACHE",
              "LLMJAX_DEV_DATA", "MPLBACKEND", "PYTHONPATH"):
    monkeypatch.delenv(key, raising=False)
  monkeypatch.setenv("HOME", str(tmp_path / "home"))
  monkeypatch.setenv("LLMJAX_LEIPZIG_URL", mirror.base)
  monkeypatch.setenv("LLMJAX_NOTEBOOK_TINY", "1")
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")
  # The kernel is a fresh process: plain one-device CPU, not the suite's 8 simulated ones.
  monkeypatch.setenv("XLA_FLAGS", "")

  def execute(name: str) -> tuple[str, list]:
    nb = nbformat.read(clone / "colab" / f"{name}.ipynb", as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(clone / "colab")}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    return text, outputs

  execute.clone, execute.mirror = clone, mirror
  yield execute
  mirror.close()


@pytest.mark.parametrize("name", ["01_corpus", "02_tokenizer"])
def test_first_notebooks_download_and_run(student, name):
  text, outputs = student(name)
  assert student.mirror.downloads(DEFAULT_CORPUS) == 1
  assert "downloading tat_mixed_2015_1M" in text and "cleaned in" in text
  assert any("image/png" in o.get("data", {}) for o in outputs), "no inline plot"
  assert "documents" in text
  if name == "01_corpus":
    assert "ә" in text and "train:" in text
  else:
    assert "characters ->" in text


@pytest.mark.slow  # 01 -> 05 in one copy: about four minutes
def test_the_notebooks_in_order_on_a_fresh_machine(student):
  for name in ("01_corpus", "02_tokenizer"):
    student(name)
  assert student.mirror.downloads(DEFAULT_CORPUS) == 1  # 02 reused 01's corpus
  text, outputs = student("03_train")
  workdir = student.clone / "runs" / "notebook_tiny"
  assert "compiling the train step" in text and "step 8/8" in text  # live output
  assert "validation bits/char" in text and (workdir / "best").is_dir()
  assert "reusing the cleaned text" in text
  events = list((workdir / "tensorboard").glob("events.out.tfevents.*"))
  assert events and all(e.stat().st_size > 0 for e in events)
  text, _ = student("04_inference")  # loads what 03 trained, with no edit
  assert "Казан шәһәре →" in text and text.count("== ") == 3
  assert "accuracy" in text and "(chance 0.250)" in text
  text, _ = student("05_finetune")  # fine-tunes 03's model (the demo set: no dictionary here)
  assert "LoRA trains" in text and "before" in text and "chrF" in text
  assert (student.clone / "runs" / "notebook_tiny_lora" / "best").is_dir()
  assert os.path.isdir(workdir / "best")
