"""Line quality rules: each rule on a line it removes, and a good line kept."""

import pytest

from llmjax.corpus.quality import quality_reason
from tests.corpus.samples import TATAR


@pytest.mark.parametrize("line,reason", [
    (TATAR[0], None),
    ("Рәхмәт.", "too_short"),
    ("Рәхмәтләрбезгә!!!", "too_few_words"),
    ("2014 елның 9 июне № 48-1234-5678", "numbers_or_urls"),
    ("Сайт: https://example.com/very/long/path/to/page.html", "numbers_or_urls"),
    ("** ** ** ** ** ** ** ** бер ике", "few_letters"),
    ("Бу бик яхшыыыыыыыы булды инде", "repeated_chars"),
    ("әйе әйе әйе әйе әйе әйе әйе юк", "repeated_words"),
    ("© 2020 Барлык хокуклар сакланган сайт", "boilerplate"),
    ("x" * 6000 + " y", "too_long"),
])
def test_quality_reason(line, reason):
  assert quality_reason(line) == reason
