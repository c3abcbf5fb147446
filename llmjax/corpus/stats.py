"""Word and character statistics of a corpus: Zipf, Heaps, type/token ratio, OOV."""

from __future__ import annotations

import collections
import dataclasses
import re
from typing import Iterable, Sequence

import numpy as np

_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
TATAR_LETTERS = set("әөүҗңһӘӨҮҖҢҺ")


def words(line: str) -> list[str]:
  """Lower-cased words (letters, inner hyphens kept: 'агай-энеләр' is one word)."""
  return _WORD.findall(line.lower())


@dataclasses.dataclass
class CorpusStats:
  lines: int
  chars: int
  tokens: int
  word_counts: collections.Counter
  char_counts: collections.Counter
  line_words: np.ndarray  # words per line
  heaps_n: np.ndarray  # tokens seen ...
  heaps_v: np.ndarray  # ... and distinct words among them

  @property
  def types(self) -> int:
    return len(self.word_counts)

  @property
  def type_token_ratio(self) -> float:
    return self.types / max(self.tokens, 1)

  @property
  def hapax_share(self) -> float:
    """Share of word types that occur exactly once."""
    return sum(1 for c in self.word_counts.values() if c == 1) / max(self.types, 1)


def corpus_stats(lines: Iterable[str], heaps_points: int = 60) -> CorpusStats:
  wc: collections.Counter = collections.Counter()
  cc: collections.Counter = collections.Counter()
  lens, growth_n, growth_v = [], [], []
  n_tokens = n_chars = n_lines = 0
  next_mark = 1
  for line in lines:
    n_lines += 1
    n_chars += len(line)
    cc.update(line)
    ws = words(line)
    lens.append(len(ws))
    for w in ws:
      wc[w] += 1
      n_tokens += 1
      if n_tokens >= next_mark:
        growth_n.append(n_tokens)
        growth_v.append(len(wc))
        next_mark = max(next_mark + 1, int(next_mark * 1.2))
  if n_tokens and (not growth_n or growth_n[-1] != n_tokens):
    growth_n.append(n_tokens)
    growth_v.append(len(wc))
  return CorpusStats(n_lines, n_chars, n_tokens, wc, cc, np.array(lens),
                     np.array(growth_n), np.array(growth_v))


def fit_power_law(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
  """(exponent, constant) of y = c * x**exponent by least squares on log-log axes."""
  lx, ly = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
  slope, intercept = np.polyfit(lx, ly, 1)
  return float(slope), float(np.exp(intercept))


def zipf_fit(word_counts: collections.Counter, min_rank: int = 10,
             max_rank: int = 10_000) -> tuple[float, float]:
  """(s, c) of frequency = c * rank**-s, fitted over ranks [min_rank, max_rank]."""
  freqs = np.array(sorted(word_counts.values(), reverse=True), float)
  hi = min(max_rank, len(freqs))
  if hi <= min_rank + 2:
    raise ValueError("too few word types for a Zipf fit")
  ranks = np.arange(1, len(freqs) + 1)
  slope, c = fit_power_law(ranks[min_rank - 1:hi], freqs[min_rank - 1:hi])
  return -slope, c


def zipf_exponent(word_counts: collections.Counter, min_rank: int = 10,
                  max_rank: int = 10_000) -> float:
  """s of frequency ~ rank**-s, fitted over ranks [min_rank, max_rank] (the straight part)."""
  return zipf_fit(word_counts, min_rank, max_rank)[0]


def oov_rate(vocab: collections.Counter, lines: Iterable[str]) -> dict[str, float]:
  """Share of word tokens and of word types in `lines` never seen in `vocab`."""
  toks = [w for line in lines for w in words(line)]
  types = set(toks)
  return {"tokens": len(toks), "types": len(types),
          "oov_token_rate": sum(1 for w in toks if w not in vocab) / max(len(toks), 1),
          "oov_type_rate": sum(1 for w in types if w not in vocab) / max(len(types), 1)}
