"""The generation-quality measures (evaluate --suite=generation) and their report section."""

import pytest

from llmjax.evals import generation, markdown


def test_halves_split_at_the_space_nearest_the_middle():
  assert generation.halves("Казан зур шәһәр ул") == ("Казан зур", "шәһәр ул")
  assert generation.halves("бер") == ("бер", "")


def test_measures_on_known_text():
  vocab = {"казан", "шәһәр", "зур"}
  out = generation.measure(["Казан зур шәһәр", "зур зур зур зур"], vocab)
  # 7 words, all in the vocabulary; bigrams: (казан зур) (зур шәһәр) + 3 x (зур зур)
  assert out["vocabulary_share"] == 1.0
  assert out["distinct_2"] == pytest.approx(3 / 5)
  # trigrams: (казан зур шәһәр), then (зур зур зур) twice: the second repeats the first
  assert out["repetition"] == pytest.approx(1 / 3)
  assert out["words_per_text"] == pytest.approx(3.5)
  assert generation.measure(["xyz qqq"], vocab)["vocabulary_share"] == 0.0


def test_tatar_share_uses_the_language_id():
  tatar = "Казан — Татарстан Республикасының башкаласы, зур сәнәгать һәм мәдәният үзәге."
  russian = "Казань является столицей Республики Татарстан и крупным культурным центром."
  assert generation.measure([tatar, russian], set())["tatar_share"] == 0.5


def test_a_generation_only_report_has_its_section_and_no_empty_headline():
  gen = {"prompts": 2, "options": {"seed": 0},
         "model": {"vocabulary_share": 0.8, "tatar_share": 0.9, "distinct_2": 0.99,
                   "repetition": 0.0, "words_per_text": 5.0},
         "human": {"vocabulary_share": 0.88, "tatar_share": 0.98, "distinct_2": 1.0,
                   "repetition": 0.0, "words_per_text": 7.6},
         "samples": [{"prompt": "Казан", "generated": "шәһәре", "human": "зур"}]}
  text = markdown.render([("m", {"model": {"name": "m", "step": 1}, "generation": gen})])
  assert "## Generation quality" in text and "## Headline numbers" not in text
  assert "| words in the training vocabulary | 0.800 | 0.880 |" in text
  assert "*Казан* → шәһәре" in text
