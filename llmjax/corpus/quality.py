"""Quality heuristics for one normalised line: the first failed rule names the reason."""

from __future__ import annotations

import collections
import dataclasses
import re

_URL = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+\.\w+|\S+\.(?:com|ru|org|net|info|tatar)\b\S*")
_REPEAT_CHAR = re.compile(r"(\S)\1{5,}")  # the same character 6+ times in a row
_WORD = re.compile(r"[^\W_]+")
_DIGIT = re.compile(r"\d")
_NON_LETTER = re.compile(r"[\W\d_]")
# Web boilerplate in Tatar, Russian and English (lower-case substrings).
BOILERPLATE = (
    "барлык хокуклар", "все права защищены", "all rights reserved", "cookie",
    "javascript", "подписывайтесь", "click here", "read more", "укырга дәвам",
    "тулырак укырга", "lorem ipsum", "copyright", "©",
)


@dataclasses.dataclass(frozen=True)
class QualityConfig:
  min_chars: int = 10
  max_chars: int = 5000
  min_words: int = 2
  min_letter_share: float = 0.6  # letters / non-space characters
  max_digit_url_share: float = 0.3  # digits + URL characters / non-space characters
  max_top_word_share: float = 0.5  # the most frequent word's share (lines of >= 6 words)


def quality_reason(line: str, cfg: QualityConfig = QualityConfig()) -> str | None:
  """None for a good line, else a short reason such as 'too_short'."""
  n = len(line)
  if n < cfg.min_chars:
    return "too_short"
  if n > cfg.max_chars:
    return "too_long"
  words = _WORD.findall(line.lower())
  if len(words) < cfg.min_words:
    return "too_few_words"
  chars = n - line.count(" ")
  urls = sum(len(m) for m in _URL.findall(line))
  digits = len(_DIGIT.findall(line))
  if (digits + urls) > cfg.max_digit_url_share * chars:
    return "numbers_or_urls"
  letters = n - len(_NON_LETTER.findall(line))  # few non-letters: a short list
  if letters < cfg.min_letter_share * chars:
    return "few_letters"
  if _REPEAT_CHAR.search(line):
    return "repeated_chars"
  if len(words) >= 6:
    top = collections.Counter(words).most_common(1)[0][1]
    if top > cfg.max_top_word_share * len(words):
      return "repeated_words"
  low = line.lower()
  if any(b in low for b in BOILERPLATE):
    return "boilerplate"
  return None
