"""Tokenizer: exact round trip, special ids, caching and config errors."""

import dataclasses
import os
import pathlib

import pytest

from llmjax.config import DataConfig
from llmjax.data.pipeline import prepare_data
from llmjax.data.text import doc_hash_fraction
from llmjax.errors import ConfigError, DataError
from llmjax.tokenizer import (RESERVED_PIECES, TOKENIZER_FILENAME, Tokenizer,
                              load_or_train_tokenizer, sample_documents, train_tokenizer)
from tests.fixture_text import fixture_lines

VOCAB = 512

TRICKY = [
    "Казан — Татарстанның башкаласы.",
    "Әминә, Өмет, Үзәк, Җәй, Аңла, Һөнәр: ә ө ү җ ң һ Ә Ө Ү Җ Ң Һ",
    "  two leading spaces, two  inside, trailing   ",
    " ",
    "\t tab and\tmore\t",
    "1234567890 1 000 000, 3.14159, -42, 2024-й",
    "emoji 😀🎉👍🏽 and flags 🇹🇷",
    "Mixed: Latin text, кириллица, and ǅ ﬁ Ω ß",
    "Chinese 中文 and Arabic العربية and Hebrew עברית",
    "SentencePiece's own space symbol ▁ and ▁▁ twice▁",
    "<|user|> Сәлам!<|end|><|assistant|>",
    "<|reserved_3|> is plain text",
    "\x00\x01 control characters \x7f",
    "ґ (U+0491) as in the Quran translation",
    "",
]


@pytest.fixture(scope="module")
def docs() -> list[str]:
  return fixture_lines()


@pytest.fixture(scope="module")
def tok(docs) -> Tokenizer:
  return train_tokenizer(docs, vocab_size=VOCAB)


@pytest.mark.parametrize("text", TRICKY)
def test_round_trip_exact(tok, text):
  ids = tok.encode(text)
  assert tok.decode(ids) == text
  assert all(0 <= i < tok.vocab_size for i in ids)


def test_round_trip_fixture_and_batch(tok, docs):
  batch = tok.encode_batch(docs + TRICKY)
  assert batch == [tok.encode(t) for t in docs + TRICKY]
  assert [tok.decode(ids) for ids in batch] == docs + TRICKY
  assert tok.encode_batch([]) == []


def test_no_bos_eos_and_special_ids(tok):
  assert (tok.pad_id, tok.bos_id, tok.eos_id, tok.unk_id) == (0, 1, 2, 3)
  ids = tok.encode("Казан")
  assert tok.bos_id not in ids and tok.eos_id not in ids
  for piece in RESERVED_PIECES:
    pid = tok.piece_to_id(piece)
    assert pid not in (tok.unk_id, tok.pad_id) and tok.id_to_piece(pid) == piece
    assert tok.encode(piece) == [pid]  # one id, for chat formatting later
  assert tok.decode([tok.bos_id, *ids, tok.eos_id, tok.pad_id]) == "Казан"


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
@pytest.mark.parametrize("vocab_size", [VOCAB, 4096])
def test_exact_vocab_size_even_for_tiny_corpus(docs, model_type, vocab_size):
  tok = train_tokenizer(docs, vocab_size=vocab_size, model_type=model_type)
  assert tok.vocab_size == vocab_size and tok.model_type == model_type
  used = {i for ids in tok.encode_batch(docs + TRICKY) for i in ids}
  fillers = [i for i in range(vocab_size) if tok.id_to_piece(i).startswith("<|reserved_")]
  assert not used & set(fillers)  # filler pieces are never emitted
  assert tok.decode(fillers) == ""
  assert [tok.decode(ids) for ids in tok.encode_batch(TRICKY)] == TRICKY


def test_vocab_too_small_is_a_config_error(docs):
  with pytest.raises(ConfigError, match="model.vocab_size"):
    train_tokenizer(docs, vocab_size=100)


def test_training_is_deterministic(docs, tok):
  assert train_tokenizer(docs, vocab_size=VOCAB).sha256 == tok.sha256
  assert Tokenizer.from_proto(tok.model_proto).sha256 == tok.sha256


def test_sample_documents_deterministic_subset():
  docs = [f"doc {i}" for i in range(100)]
  a = sample_documents(docs, 10, seed=0)
  assert a == sample_documents(docs, 10, seed=0) and len(a) == 10
  assert a == sorted(a, key=docs.index)  # original order kept
  assert a != sample_documents(docs, 10, seed=1)
  assert sample_documents(docs, 1000, seed=0) == docs


def test_atomic_save_leaves_nothing_on_crash(docs, tmp_path, monkeypatch):
  out = tmp_path / "tok.model"

  def crash(fd):
    raise OSError("disk full")

  monkeypatch.setattr(os, "fsync", crash)
  with pytest.raises(OSError):
    train_tokenizer(docs, vocab_size=VOCAB, out_path=out)
  assert list(tmp_path.iterdir()) == []
  monkeypatch.undo()
  tok = train_tokenizer(docs, vocab_size=VOCAB, out_path=out)
  assert Tokenizer.from_file(out).sha256 == tok.sha256


def test_load_or_train_reuses_workdir_model(docs, tmp_path, capsys):
  cfg = DataConfig(text_dir="unused")
  first = load_or_train_tokenizer(cfg, VOCAB, tmp_path, docs)
  assert "trained unigram tokenizer" in capsys.readouterr().out
  path = tmp_path / TOKENIZER_FILENAME
  mtime = path.stat().st_mtime_ns
  second = load_or_train_tokenizer(cfg, VOCAB, tmp_path, ["other text"] * 3)
  assert second.sha256 == first.sha256 and path.stat().st_mtime_ns == mtime
  assert capsys.readouterr().out == ""  # no retraining
  with pytest.raises(ConfigError, match=f"--config.model.vocab_size={VOCAB}"):
    load_or_train_tokenizer(cfg, 1024, tmp_path, docs)
  with pytest.raises(ConfigError, match="tokenizer_model_type"):
    load_or_train_tokenizer(dataclasses.replace(cfg, tokenizer_model_type="bpe"), VOCAB,
                            tmp_path, docs)


def test_tokenizer_path_errors(tok, tmp_path):
  path = tmp_path / "given.model"
  tok.save(path)
  cfg = DataConfig(text_dir="unused", tokenizer_path=str(path))
  loaded = load_or_train_tokenizer(cfg, VOCAB, tmp_path / "work", [])
  assert loaded.sha256 == tok.sha256
  assert not (tmp_path / "work").exists()  # nothing trained or written
  with pytest.raises(ConfigError, match=f"--config.model.vocab_size={VOCAB}"):
    load_or_train_tokenizer(cfg, 8192, tmp_path / "work", [])
  missing = dataclasses.replace(cfg, tokenizer_path=str(tmp_path / "nope.model"))
  with pytest.raises(DataError, match="nope.model"):
    load_or_train_tokenizer(missing, VOCAB, tmp_path / "work", [])
  bad = tmp_path / "bad.model"
  bad.write_bytes(b"this is not a sentencepiece model")
  with pytest.raises(DataError, match="bad.model"):
    load_or_train_tokenizer(dataclasses.replace(cfg, tokenizer_path=str(bad)), VOCAB,
                            tmp_path / "work", [])


def _val_only_doc(val_fraction: float) -> str:
  """A document (with a word seen nowhere else) that the split puts in validation."""
  for k in range(10_000):
    doc = f"Шүрәлебабай урманда яши, {k}."
    if doc_hash_fraction(doc) < val_fraction:
      return doc
  raise AssertionError("no validation document found")


def test_tokenizer_sees_only_the_train_split(docs, tmp_path):
  cfg = DataConfig(text_dir=str(tmp_path / "text"), seq_len=64, val_fraction=0.1)
  word = "Шүрәлебабай"  # "Ш" (capital) never occurs in the fixture corpus
  special = _val_only_doc(cfg.val_fraction)
  # With the doc in its training text the tokenizer learns "Ш" and parts of the word...
  seen = train_tokenizer(docs + [special] * 300, vocab_size=VOCAB)
  assert seen.piece_to_id("Ш") != seen.unk_id
  # ...but prepare_data puts every copy in validation and trains on the rest only.
  (tmp_path / "text").mkdir()
  (tmp_path / "text" / "a.txt").write_text("\n".join(docs + [special] * 300),
                                           encoding="utf-8")
  data = prepare_data(cfg, VOCAB, tmp_path / "work")
  assert data.tokenizer.piece_to_id("Ш") == data.tokenizer.unk_id  # byte fallback only
  assert len(data.tokenizer.encode(word)) > len(seen.encode(word))
  assert data.stats["val_docs_total"] >= 300
  assert pathlib.Path(tmp_path / "work" / TOKENIZER_FILENAME).is_file()
