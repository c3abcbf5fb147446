"""Corpus statistics (Zipf, Heaps, OOV) and the report generator."""

import collections

import numpy as np
import pytest

from llmjax.corpus import report, stats
from tests.test_corpus import TATAR, _write_corpus


def test_zipf_and_heaps_fits_recover_known_exponents():
  counts = collections.Counter({f"w{r}": int(1e6 / r**1.1) for r in range(1, 20001)})
  assert stats.zipf_exponent(counts) == pytest.approx(1.1, abs=0.01)
  n = np.array([1e3, 1e4, 1e5, 1e6])
  beta, k = stats.fit_power_law(n, 5.0 * n**0.6)
  assert beta == pytest.approx(0.6) and k == pytest.approx(5.0)


def test_corpus_stats_counts_and_oov():
  cs = stats.corpus_stats(["Агай-энеләр килде, агай-энеләр китте.", "Мин 2024 елда килдем!"])
  assert cs.word_counts == {"агай-энеләр": 2, "килде": 1, "китте": 1, "мин": 1, "елда": 1,
                            "килдем": 1}
  assert (cs.lines, cs.tokens, cs.types) == (2, 7, 6)
  assert cs.type_token_ratio == pytest.approx(6 / 7)
  assert cs.hapax_share == pytest.approx(5 / 6)
  assert list(cs.line_words) == [4, 3]
  assert cs.heaps_n[-1] == 7 and cs.heaps_v[-1] == 6
  assert list(np.diff(cs.heaps_v) >= 0) == [True] * (len(cs.heaps_v) - 1)
  o = stats.oov_rate(cs.word_counts, ["мин килде", "без килдек"])
  assert o == {"tokens": 4, "types": 4, "oov_token_rate": 0.5, "oov_type_rate": 0.5}


def test_report_generate_writes_readme_and_plots(tmp_path):
  pytest.importorskip("matplotlib")
  src = _write_corpus(tmp_path)
  # A bigger Tatar file (random word mixes: unique lines) so that the Zipf fit has > 10 ranks.
  rng = np.random.default_rng(0)
  vocab = sorted({w.strip(".,") for t in TATAR for w in t.split()})
  (src / "c.txt").write_text("\n".join(" ".join(rng.choice(vocab, 9)) + "." for _ in range(150))
                             + "\n", encoding="utf-8")
  text = report.generate(src, tmp_path / "rep", eval_dir=tmp_path / "eval", shared_dir=None)
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
      assert all(len(cell.strip()) <= report.EXAMPLE_CHARS + 2 for cell in line.split("|"))
