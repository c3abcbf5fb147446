"""Language ID: labels, the model file round trip, and precision / recall on the labelled
development mix (slow, where present)."""

import numpy as np
import pytest

from llmjax import paths
from llmjax.corpus import langid
from llmjax.errors import DataError
from tests.corpus.samples import BASHKIR, ENGLISH, RUSSIAN, TATAR


def test_langid_labels_each_language():
  model = langid.LangId.load()
  got = model.predict_batch(TATAR + [RUSSIAN, BASHKIR, ENGLISH,
                                     "Bügen häwa bik yaxşı, min urmanğa barам.",
                                     "الله بیرسه بو ایش بولور", "Қазақстан астанасы Астана қаласы"])
  assert got == ["tat"] * len(TATAR) + ["rus", "bak", "eng", "tat_latn", "other", "other"]
  assert model.predict("12345 !!!") == "other"
  assert model.predict_batch([]) == []


def test_langid_train_save_load_round_trip(tmp_path):
  texts = {"tat": TATAR, "rus": [RUSSIAN] * 3, "bak": [BASHKIR] * 3, "eng": [ENGLISH] * 3}
  model = langid.LangId.train(texts, top=200)
  model.save(tmp_path / "m.json")
  loaded = langid.LangId.load(tmp_path / "m.json")
  probe = TATAR + [RUSSIAN, ENGLISH, "Мин кайтам"]
  np.testing.assert_allclose(loaded.scores_batch(probe), model.scores_batch(probe), atol=1e-4)
  assert loaded.predict_batch(probe) == model.predict_batch(probe)
  (tmp_path / "bad.json").write_text("{")
  with pytest.raises(DataError, match="language-ID model"):
    langid.LangId.load(tmp_path / "bad.json")


@pytest.mark.slow  # ~15 s: normalises and classifies 33k labelled lines
def test_langid_precision_recall_on_shared_mix():
  """The issue's target on the held-out labelled mix: P >= 0.99, R >= 0.97 (>= 5 words)."""
  mix_dir = paths.labelled_mix_dir()
  if mix_dir is None:
    pytest.skip("the labelled development mix (shared/data/other_languages) is not present")
  rows = langid.evaluate(langid.LangId.load(), mix_dir, min_words=(5,), tatar=("tat",))
  r = rows[0]
  print("\n" + langid.format_table(rows))
  assert r["tatar"] > 20000 and r["non_tatar"] > 2500
  assert r["precision"] >= 0.99 and r["recall"] >= 0.97
