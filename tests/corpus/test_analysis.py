"""The corpus report generator (llmjax.corpus.analysis): README and plots."""

import numpy as np
import pytest

from llmjax.corpus import analysis
from tests.corpus.samples import TATAR, write_corpus


def test_generate_writes_readme_and_plots(tmp_path):
  pytest.importorskip("matplotlib")
  src = write_corpus(tmp_path)
  # A bigger Tatar file (random word mixes: unique lines) so that the Zipf fit has > 10 ranks.
  rng = np.random.default_rng(0)
  vocab = sorted({w.strip(".,") for t in TATAR for w in t.split()})
  (src / "c.txt").write_text("\n".join(" ".join(rng.choice(vocab, 9)) + "." for _ in range(150))
                             + "\n", encoding="utf-8")
  text = analysis.generate(src, tmp_path / "rep", eval_dir=tmp_path / "eval", shared_dir=None)
  assert (tmp_path / "rep" / "README.md").read_text(encoding="utf-8") == text
  for png in ("steps", "lengths", "chars", "zipf", "heaps"):
    assert (tmp_path / "rep" / f"{png}.png").read_bytes()[:4] == b"\x89PNG"
  for heading in ("## Size per source", "### What each rule removed", "## Evaluation text",
                  "## Word statistics", "**Zipf**", "### Top 30 words", "### Letter frequencies"):
    assert heading in text
  assert "| lang_rus | 2 |" in text.replace("langid | ", "")
  assert "| x.jsonl" not in text  # eval text is never printed
  for line in text.splitlines():  # examples stay short
    if line.startswith("| ") and "…" in line:
      assert all(len(cell.strip()) <= analysis.EXAMPLE_CHARS + 2 for cell in line.split("|"))
