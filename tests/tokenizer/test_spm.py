"""Tokenizer: exact round trip, special ids, config errors, and the one tokenizer cache
(spm.load_or_train, also behind `python -m llmjax.tokenizer.train`). The tokenizer of a
training run (workdir, data.tokenizer_path): tests/data/test_pipeline.py."""

import json
import os

import pytest

from llmjax.corpus.text import corpus_sha256, read_documents, split_documents
from llmjax.errors import ConfigError, DataError
from llmjax.tokenizer import (RESERVED_PIECES, Tokenizer, TokenizerSpec, sample_documents, spm,
                              train_tokenizer)
from tests.fixture_text import fixture_lines
from tests.helpers import run

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
  assert tok.filler_pieces == len(fillers) and (len(fillers) > 0) == (vocab_size == 4096)
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
  with pytest.raises(DataError, match="cannot write .*tok.model.*disk full"):
    train_tokenizer(docs, vocab_size=VOCAB, out_path=out)
  assert list(tmp_path.iterdir()) == []
  monkeypatch.undo()
  tok = train_tokenizer(docs, vocab_size=VOCAB, out_path=out)
  assert Tokenizer.from_file(out).sha256 == tok.sha256


# --- the tokenizer cache (spm.load_or_train) and the train command -----------------------

@pytest.mark.parametrize("model_type", ["bpe", "unigram"])
def test_special_tokens_both_model_types(docs, tmp_path, model_type):
  t, reused = spm.load_or_train(tmp_path / "t.model", docs, TokenizerSpec(VOCAB, model_type))
  assert not reused and t.model_type == model_type and t.vocab_size == VOCAB
  assert (t.pad_id, t.bos_id, t.eos_id, t.unk_id) == (0, 1, 2, 3)
  assert [t.id_to_piece(i) for i in range(3)] == ["<pad>", "<s>", "</s>"]
  for piece in RESERVED_PIECES:
    assert t.encode(piece) == [t.piece_to_id(piece)]
  meta = json.loads((tmp_path / "t.model.json").read_text())
  assert meta["tokenizer_sha256"] == t.sha256 and meta["vocab_size"] == VOCAB


def test_train_cache_reuses_and_invalidates(docs, tmp_path, monkeypatch):
  out = tmp_path / "t.model"
  first, reused = spm.load_or_train(out, docs, TokenizerSpec(VOCAB, "bpe"))
  assert not reused

  def no_training(*a, **k):
    raise AssertionError("retrained although nothing changed")

  with monkeypatch.context() as m:
    m.setattr(spm, "train_tokenizer", no_training)
    again, reused = spm.load_or_train(out, docs, TokenizerSpec(VOCAB, "bpe"))
  assert reused and again.sha256 == first.sha256
  # Another corpus, vocab size or sample cap is another tokenizer: retrained.
  _, reused = spm.load_or_train(out, docs[:-5], TokenizerSpec(VOCAB, "bpe"))
  assert not reused
  _, reused = spm.load_or_train(out, docs, TokenizerSpec(VOCAB + 64, "bpe"))
  assert not reused
  _, reused = spm.load_or_train(out, docs, TokenizerSpec(VOCAB + 64, "bpe", max_sentences=100))
  assert not reused
  # A damaged sidecar or model is not trusted.
  (tmp_path / "t.model.json").write_text("{not json")
  _, reused = spm.load_or_train(out, docs, TokenizerSpec(VOCAB + 64, "bpe", max_sentences=100))
  assert not reused


def test_sample_cap_is_deterministic(docs, tmp_path):
  a, _ = spm.load_or_train(tmp_path / "a.model", docs, TokenizerSpec(VOCAB, "bpe", 300, seed=3))
  b, _ = spm.load_or_train(tmp_path / "b.model", docs, TokenizerSpec(VOCAB, "bpe", 300, seed=3))
  c, _ = spm.load_or_train(tmp_path / "c.model", docs, TokenizerSpec(VOCAB, "bpe", 300, seed=4))
  assert a.sha256 == b.sha256 != c.sha256
  assert json.loads((tmp_path / "a.model.json").read_text())["docs_used"] == 300


def test_train_cli_uses_the_training_split_and_caches(tatar_fixture_dir, tmp_path):
  out = tmp_path / "cli.model"
  args = [f"--text_dir={tatar_fixture_dir}", f"--out={out}", "--vocab_size=512",
          "--model_type=bpe", "--val_fraction=0.1"]
  p = run("llmjax.tokenizer.train", *args)
  r = json.loads(p.stdout.strip().splitlines()[-1])
  train, _ = split_documents(read_documents(tatar_fixture_dir), 0.1)
  assert r["train_docs"] == len(train) and not r["reused"]
  assert Tokenizer.from_file(out).sha256 == r["tokenizer_sha256"]
  assert json.loads(out.with_name("cli.model.json").read_text())["corpus_sha256"] == \
      corpus_sha256(train)
  p = run("llmjax.tokenizer.train", *args)
  assert json.loads(p.stdout.strip().splitlines()[-1])["reused"] is True
  p = run("llmjax.tokenizer.train", *args[:2], "--vocab_size=10", check=False)
  assert p.returncode == 2 and p.stderr.strip().startswith("error: ")


def test_keep_existing_reuses_whatever_the_record_says(docs, tmp_path):
  path = tmp_path / "run" / "tokenizer.model"
  first, reused = spm.load_or_train(path, docs, TokenizerSpec(VOCAB, "bpe"), keep_existing=True)
  assert not reused and path.is_file()
  # Other documents: a training workdir keeps its tokenizer (its checkpoints depend on it).
  again, reused = spm.load_or_train(path, ["other text"] * 3, TokenizerSpec(VOCAB, "bpe"),
                                    keep_existing=True)
  assert reused and again.sha256 == first.sha256
  before = path.read_bytes()
  with pytest.raises(ConfigError, match=f"vocab_size={VOCAB}"):
    spm.load_or_train(path, docs, TokenizerSpec(VOCAB * 2, "bpe"), keep_existing=True)
  with pytest.raises(ConfigError, match="tokenizer_model_type"):
    spm.load_or_train(path, docs, TokenizerSpec(VOCAB, "unigram"), keep_existing=True)
  assert path.read_bytes() == before  # a mismatch modifies nothing
  assert spm.load_checked(path, VOCAB).sha256 == first.sha256
  with pytest.raises(ConfigError, match=f"--config.model.vocab_size={VOCAB}"):
    spm.load_checked(path, VOCAB + 1)
  with pytest.raises(ConfigError, match="must be positive"):
    spm.load_or_train(tmp_path / "x.model", docs, TokenizerSpec(0))
