"""Corpus statistics: Zipf and Heaps fits, counts, type/token ratio, OOV rates."""

import collections

import numpy as np
import pytest

from llmjax.corpus import stats


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
