"""Line normalisation: look-alike letters, quotes and dashes, markup, spaces, NFC."""

import unicodedata

import pytest

from llmjax.corpus.normalize import normalize_line


@pytest.mark.parametrize("raw,want", [
    ("Kазан", "Казан"),  # Latin K inside a Cyrillic word
    ("шәhәр", "шәһәр"),  # Latin h used for һ
    ("Hellо world", "Hello world"),  # Cyrillic о inside a Latin word
    ("«Әйе» — “дип”", "«Әйе» – \"дип\""),
    ("бер\u00a0ике\u200bөч", "бер икеөч"),
    ("a<b>зур</b>&amp;c", "a зур &c"),
    ("[[Казан|Казанда]] {{cite web}} яшим", "Казанда яшим"),
    ("ху\x00ш\x1b  сау  ", "хуш сау"),
    (unicodedata.normalize("NFD", "йөз"), "йөз"),
])
def test_normalize_line(raw, want):
  got = normalize_line(raw)
  assert got == want
  assert unicodedata.is_normalized("NFC", got)
  assert normalize_line(got) == got  # idempotent
