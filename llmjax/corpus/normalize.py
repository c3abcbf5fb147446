"""Line normalisation: NFC, look-alike letters, quotes/dashes/spaces, markup, controls.

Every function maps str -> str and is idempotent (normalize(normalize(x)) == normalize(x)),
so cleaning an already cleaned corpus changes nothing.
"""

from __future__ import annotations

import html
import re
import unicodedata

# Latin letters that look like Cyrillic ones (and the Latin forms web text uses for the
# Tatar letters ә һ ң): inside a mostly Cyrillic word they are typing accidents.
LATIN_TO_CYRILLIC = dict(zip(
    "aeopcxyAEOPCXBKMHTəƏhҥӊҤӉ",
    "аеорсхуАЕОРСХВКМНТәӘһңңҢҢ"))
# The reverse, for Cyrillic letters inside a mostly Latin word.
CYRILLIC_TO_LATIN = {c: l for l, c in zip("aeopcxyAEOPCXBKMHT", "аеорсхуАЕОРСХВКМНТ")}

# Quotes, dashes and spaces folded to one form each; zero-width characters removed.
_CHAR_MAP = {
    **{ord(c): '"' for c in "“”„‟″"},
    **{ord(c): "'" for c in "‘’‚‛′`"},
    **{ord(c): "-" for c in "‐‑"},
    **{ord(c): "–" for c in "‒—―−"},
    **{ord(c): " " for c in "\t\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
                          "\u2007\u2008\u2009\u200a\u202f\u205f\u3000"},
    **{ord(c): None for c in "\u200b\u200c\u200d\u2060\ufeff\u00ad"},
}

_TAG = re.compile(r"</?[A-Za-z][^<>]{0,200}>")
_WIKI_TEMPLATE = re.compile(r"\{\{[^{}]{0,500}\}\}")
_WIKI_LINK = re.compile(r"\[\[(?:[^\[\]|]{0,200}\|)?([^\[\]]{0,200})\]\]")
_WIKI_BOLD = re.compile(r"'{2,}")
# Control, format (bidi marks etc.) and private-use characters; line breaks become spaces.
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e"
                      "\u2066-\u2069\ufff9-\ufffb\ue000-\uf8ff\ud800-\udfff]")
_BREAKS = re.compile("[\n\r\v\f\x85\u2028\u2029]")
_SPACES = re.compile(r" {2,}")
_CYR = re.compile(r"[\u0400-\u04ff]")
_LAT = re.compile(r"[A-Za-z]")
_MIXED_WORD = re.compile(r"\w*(?:[A-Za-z]\w*[\u0400-\u04ff]|[\u0400-\u04ff]\w*[A-Za-z])\w*")


def strip_markup(line: str) -> str:
  """HTML tags and entities, wiki links/templates/bold markers."""
  if "&" in line:
    line = html.unescape(line)
  if "<" in line:
    line = _TAG.sub(" ", line)
  if "{{" in line:
    line = _WIKI_TEMPLATE.sub(" ", line)
  if "[[" in line:
    line = _WIKI_LINK.sub(r"\1", line)
  if "''" in line:
    line = _WIKI_BOLD.sub("", line)
  return line


def _fix_word(m: re.Match) -> str:
  word = m.group(0)
  n_cyr = len(_CYR.findall(word))
  n_lat = len(_LAT.findall(word))
  table = LATIN_TO_CYRILLIC if n_cyr >= n_lat else CYRILLIC_TO_LATIN
  fixed = "".join(table.get(ch, ch) for ch in word)
  return fixed


def fix_lookalikes(line: str) -> str:
  """Latin letters inside Cyrillic words -> Cyrillic, and vice versa."""
  if _CYR.search(line) and _LAT.search(line):
    return _MIXED_WORD.sub(_fix_word, line)
  return line


def normalize_line(line: str) -> str:
  """The full normalisation of one line (NFC first and last: replacements can compose)."""
  line = unicodedata.normalize("NFC", line)
  line = strip_markup(line)
  line = line.translate(_CHAR_MAP)
  line = _CONTROL.sub("", _BREAKS.sub(" ", line))
  line = fix_lookalikes(line)
  line = _SPACES.sub(" ", line).strip()
  return unicodedata.normalize("NFC", line)
