"""The evaluation suite end to end on a tiny trained checkpoint: `evaluate --suite` writes
its JSON and markdown report, and colab/inference.ipynb runs top to bottom (slow: trains
a model first; run with `python -m pytest -m slow`)."""

import json

import pytest

from tests import test_cli
from tests.helpers import REPO
from tests.test_cli import run

trained = test_cli.trained  # the tiny trained checkpoint (module-scoped fixture), reused

pytestmark = pytest.mark.slow


def test_evaluate_suite_cli(trained, tmp_path):
  flores = tmp_path / "flores.txt"
  flores.write_text("Казан — Татарстанның башкаласы.\nИдел елгасы зур.\n", encoding="utf-8")
  out_json, out_md = tmp_path / "r.json", tmp_path / "r.md"
  proc = run("llmjax.evaluate", f"--workdir={trained}", "--suite=bpc,qa",
             f"--text_file={flores}", "--qa_greedy=2", f"--output={out_json}",
             f"--report={out_md}")
  result = json.loads(proc.stdout.strip().splitlines()[-1])
  assert result == json.loads(out_json.read_text(encoding="utf-8"))
  assert result["bpc"]["lines"] == 2 and result["bpc"]["bits_per_char"] > 0
  q = result["qa"]
  assert q["facts"] >= 80 and q["prompts"] >= 320 and q["chance"]["accuracy"] == 0.25
  for mode in ("raw", "per_char", "pmi", "prior"):
    m = q["modes"][mode]
    assert 0 <= m["consistent_and_correct"] <= min(m["consistency"], m["accuracy"] + 1e-9)
  assert len(q["greedy"]) >= 2 and all("generated" in g for g in q["greedy"])
  report = out_md.read_text(encoding="utf-8")
  assert "## Headline numbers" in report and "## Paraphrase-consistency QA benchmark" in report
  assert f"{q['modes']['per_char']['accuracy']:.3f}" in report


def test_evaluate_suite_rejects_unknown_benchmark(trained):
  proc = run("llmjax.evaluate", f"--workdir={trained}", "--suite=qa,nope", check=False)
  assert proc.returncode == 2 and "error: --suite='qa,nope'" in proc.stderr


def test_inference_notebook_runs(trained, monkeypatch):
  nbformat = pytest.importorskip("nbformat")
  nbclient = pytest.importorskip("nbclient")
  monkeypatch.setenv("LLMJAX_NOTEBOOK_WORKDIR", str(trained))
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")
  monkeypatch.delenv("XLA_FLAGS", raising=False)
  monkeypatch.setenv("PYTHONPATH", str(REPO))
  nb = nbformat.read(REPO / "colab" / "inference.ipynb", as_version=4)
  nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                          resources={"metadata": {"path": str(REPO)}}).execute()
  text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                 for o in c.get("outputs", []))
  assert "Казан шәһәре →" in text
  assert text.count("== ") == 3 and ("✓" in text or "✗" in text)
  assert "accuracy" in text and "(chance 0.250)" in text
