"""Where the training text comes from: data.sources (weighted mixes), data.text_dir,
$LLMJAX_TEXT_DIR, the default corpus, the development corpus, and the error naming them."""

import pathlib

import pytest

from llmjax import paths
from llmjax.config import DataConfig
from llmjax.corpus import mix
from llmjax.data.pipeline import prepare_data
from llmjax.errors import ConfigError, DataError
from tests.corpus.test_sources import SENTENCES, _archive
from tests.corpus.test_sources import server  # noqa: F401  (the local HTTP server fixture)


def test_sources_mix_weights(server, tmp_path, monkeypatch):  # noqa: F811
  name = "tat_mixed_2015_10K"
  server.add(name, _archive(name))
  monkeypatch.setenv("LLMJAX_LEIPZIG_URL", server.base)
  monkeypatch.setenv("LLMJAX_LEIPZIG_CACHE", str(tmp_path / "cache"))
  (tmp_path / "t").mkdir()
  local = [f"Бу {i} нче җөмлә, ул татарча язылган." for i in range(200)]
  (tmp_path / "t" / "a.txt").write_text("\n".join(local) + "\n", encoding="utf-8")
  files, docs = mix.read_sources(f"leipzig:{name}:2,text:{tmp_path / 't'}:0.5", clean=False)
  assert docs[:6] == [s for s in SENTENCES for _ in range(2)]
  assert 70 <= len(docs) - 6 <= 130 and set(docs[6:]) <= set(local)  # about half, hashed
  assert files[0] == tmp_path / "cache" / name / "sentences.txt"
  assert mix.read_sources(f"text:{tmp_path / 't'}:0.5")[1] == docs[6:]  # deterministic
  with pytest.raises(ConfigError, match="data.sources entry"):
    DataConfig(sources="ftp:somewhere")
  assert DataConfig(text_dir="x").sources == ""  # text_dir alone works as before


def test_prepare_data_reads_sources(tmp_path):
  (tmp_path / "t").mkdir()
  local = [f"Бу {i} нче җөмлә, ул татарча язылган һәм бик матур." for i in range(300)]
  (tmp_path / "t" / "a.txt").write_text("\n".join(local) + "\n", encoding="utf-8")
  cfg = DataConfig(text_dir="", sources=f"text:{tmp_path / 't'}:2", seq_len=32, batch_size=2,
                   val_fraction=0.1, tokenizer_model_type="bpe")
  data = prepare_data(cfg, 300, tmp_path / "work")
  s = data.stats
  assert s["train_docs"] + s["val_docs_total"] == 2 * len(local)  # weight 2: two copies


# --- training_text: which text a run trains on -----------------------------------------------

def _folder(root: pathlib.Path, name: str, n: int = 20) -> pathlib.Path:
  folder = root / name
  folder.mkdir(parents=True)
  (folder / "a.txt").write_text("".join(f"{name} җөмлә {i}.\n" for i in range(n)),
                                encoding="utf-8")
  return folder


def _names(text) -> set[str]:
  return {d.split()[0] for d in text.docs}


def test_training_text_resolution_order(no_default_text, tmp_path, monkeypatch):
  given, env, mixed = (_folder(tmp_path, n) for n in ("given", "env", "mixed"))
  monkeypatch.setenv("LLMJAX_TEXT_DIR", str(env))
  # data.sources first ...
  text = mix.training_text(DataConfig(text_dir=str(given), sources=f"text:{mixed}"))
  assert _names(text) == {"mixed"} and "data.sources" in text.description
  # ... then data.text_dir ...
  text = mix.training_text(DataConfig(text_dir=str(given)))
  assert _names(text) == {"given"} and text.files == [given / "a.txt"]
  assert str(given) in text.description and "data.text_dir" in text.description
  # ... then $LLMJAX_TEXT_DIR.
  text = mix.training_text(DataConfig())
  assert _names(text) == {"env"} and "LLMJAX_TEXT_DIR" in text.description


def test_training_text_falls_back_to_the_development_corpus(no_default_text, tmp_path,
                                                            monkeypatch):
  dev = tmp_path / "dev"
  _folder(dev / "tatar", "train")
  monkeypatch.setenv("LLMJAX_DEV_DATA", str(dev))
  assert paths.dev_train_dir() == dev / "tatar" / "train"
  said = []
  text = mix.training_text(DataConfig(), said.append)
  assert _names(text) == {"train"} and len(text.docs) == 20
  assert "development corpus" in text.description
  assert any("development corpus" in m and str(dev / "tatar" / "train") in m for m in said)


def test_no_training_text_is_an_error_naming_the_options(no_default_text):
  assert paths.dev_train_dir() is None
  with pytest.raises(DataError) as e:
    mix.training_text(DataConfig())
  for option in ("--config.data.text_dir", "LLMJAX_TEXT_DIR", "--config.data.sources"):
    assert option in str(e.value)
