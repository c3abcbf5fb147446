"""The data pipeline: batch iterators that resume exactly, and prepare_data end to end
(text -> tokenizer on the training split -> token-shard cache -> packed rows)."""

import collections
import dataclasses
import json
import pathlib
import time

import numpy as np
import pytest

from llmjax.config import DataConfig
from llmjax.corpus.text import doc_hash_fraction, read_documents, split_documents
from llmjax.data import pipeline
from llmjax.data.packing import PackedRows
from llmjax.data.pipeline import eval_batches, prepare_data, train_iterator
from llmjax.errors import ConfigError, DataError
from llmjax.tokenizer import TOKENIZER_FILENAME, shards, spm, train_tokenizer
from tests.data.test_packing import FIELDS, _segments
from tests.fixture_text import fixture_lines


# --- iterators ---------------------------------------------------------------------


def _numbered_rows(n: int, seq_len: int = 4) -> PackedRows:
  """Rows whose inputs[:, 0] is the row number, to follow them through iterators."""
  inputs = np.arange(n, dtype=np.int32)[:, None] + np.zeros(seq_len, np.int32)
  ones = np.ones((n, seq_len), np.int32)
  return PackedRows(inputs=inputs, targets=inputs + 1, segment_ids=ones,
                    positions=np.zeros_like(ones) + np.arange(seq_len, dtype=np.int32),
                    num_tokens=n * seq_len)


def _ids(batch) -> list[int]:
  return batch["inputs"][:, 0].tolist()


def test_train_iterator_shapes_and_epochs():
  rows = _numbered_rows(10)
  it = train_iterator(rows, global_batch_size=5, seed=0)
  batch = next(it)
  assert set(batch) == set(FIELDS)
  assert all(v.shape == (5, 4) and v.dtype == np.int32 for v in batch.values())
  stream = _ids(batch) + [i for _ in range(7) for i in _ids(next(it))]
  epochs = [stream[i:i + 10] for i in range(0, 40, 10)]
  assert all(sorted(e) == list(range(10)) for e in epochs)  # every row once per epoch
  assert len({tuple(e) for e in epochs}) > 1  # reshuffled each epoch
  other = train_iterator(rows, global_batch_size=5, seed=1)
  assert _ids(next(other)) + _ids(next(other)) != epochs[0]


def test_train_iterator_state_round_trip_across_epochs():
  rows = _numbered_rows(10)
  it = train_iterator(rows, global_batch_size=4, seed=3)
  for _ in range(3):  # 12 rows: past the first epoch boundary
    next(it)
  state = it.get_state()
  expected = [next(it) for _ in range(6)]  # crosses further epoch boundaries
  fresh = train_iterator(rows, global_batch_size=4, seed=3)
  fresh.set_state(state)
  for want in expected:
    got = next(fresh)
    assert all(np.array_equal(got[k], want[k]) for k in FIELDS)
  it.set_state(state)  # the same iterator can also go back
  assert _ids(next(it)) == _ids(expected[0])


@pytest.mark.parametrize("num_rows", [10, 11])
def test_train_iterator_process_shares_make_the_global_batch(num_rows):
  rows = _numbered_rows(num_rows)
  whole = train_iterator(rows, global_batch_size=4, seed=0)
  shares = [train_iterator(rows, global_batch_size=4, seed=0, local_rows=slice(0, 2)),
            train_iterator(rows, global_batch_size=4, seed=0, local_rows=slice(2, 4))]
  epoch = []
  for _ in range(3):
    want = next(whole)
    got = [next(it) for it in shares]
    assert all(g["inputs"].shape == (2, 4) for g in got)
    for k in FIELDS:
      np.testing.assert_array_equal(np.concatenate([g[k] for g in got]), want[k])
    epoch += _ids(want)
  assert sorted(epoch[:num_rows]) == list(range(num_rows))  # one epoch covers every row


def test_train_iterator_errors():
  with pytest.raises(DataError, match="no training rows"):
    train_iterator(_numbered_rows(0), global_batch_size=2, seed=0)
  with pytest.raises(DataError, match="contiguous"):
    train_iterator(_numbered_rows(8), global_batch_size=4, seed=0, local_rows=slice(0, 4, 2))
  small = train_iterator(_numbered_rows(3), global_batch_size=8, seed=0)
  assert sorted(_ids(next(small))[:3]) == [0, 1, 2]  # fewer rows than a batch: repeats


def test_eval_batches_cover_every_row_once():
  rows = _numbered_rows(10)
  batches = list(eval_batches(rows, 4))
  assert len(batches) == 3
  assert all(b[k].shape == (4, 4) for b in batches for k in FIELDS)
  assert [i for b in batches for i in _ids(b)][:10] == list(range(10))
  last = batches[-1]
  assert np.all(last["segment_ids"][2:] == 0) and np.all(last["inputs"][2:] == 0)
  assert sum(int((b["segment_ids"] > 0).sum()) for b in batches) == rows.num_tokens
  assert len(list(eval_batches(_numbered_rows(8), 4))) == 2


# --- end to end --------------------------------------------------------------------


def test_prepare_data_on_fixture(tatar_fixture_dir, tmp_path):
  cfg = DataConfig(text_dir=str(tatar_fixture_dir), seq_len=128, val_fraction=0.05,
                   max_val_rows=8)
  data = prepare_data(cfg, 512, tmp_path)
  tok, train, val, stats = data.tokenizer, data.train, data.val, data.stats
  assert tok.vocab_size == 512
  assert str(tatar_fixture_dir) in data.source and "data.text_dir" in data.source
  docs = read_documents(tatar_fixture_dir)
  train_docs, val_docs = split_documents(docs, cfg.val_fraction)
  # Every fixture doc fits in a row, so each segment is one whole document.
  decoded = collections.Counter()
  for r, s, cols in _segments(train):
    assert train.inputs[r, cols[0]] == tok.bos_id and train.targets[r, cols[-1]] == tok.eos_id
    decoded[tok.decode(train.inputs[r, cols[1:]])] += 1
  assert decoded == collections.Counter(train_docs)
  assert train.num_chars == sum(map(len, train_docs))
  assert train.num_bytes == sum(len(d.encode()) for d in train_docs)
  # Validation: a document-level prefix of about max_val_rows rows.
  kept = val_docs[:val.num_docs]
  assert 0 < val.num_docs < len(val_docs) and len(val) <= cfg.max_val_rows + 1
  assert val.num_chars == sum(map(len, kept))
  assert val.num_tokens == sum(len(tok.encode(d)) + 1 for d in kept)
  assert stats["train_docs"] == len(train_docs) and stats["val_docs_total"] == len(val_docs)
  assert stats["chars_per_token"] == train.num_chars / train.num_tokens > 1.5
  assert stats["train_padding"] < 0.05
  assert json.loads(json.dumps(stats)) == stats  # written as JSON by the training loop
  # Both splits are cached as token shards in the workdir.
  assert len(list((tmp_path / "data_cache").glob("tokens-*"))) == 2
  # A second call reuses tokenizer and token shards and gives identical rows.
  again = prepare_data(cfg, 512, tmp_path)
  assert again.tokenizer.sha256 == tok.sha256 and again.stats == stats
  assert all(np.array_equal(getattr(again.train, k), getattr(train, k)) for k in FIELDS)
  fresh = prepare_data(cfg, 512, tmp_path / "fresh")  # a new workdir: no cache at all
  assert fresh.tokenizer.sha256 == tok.sha256  # the tokenizer is deterministic
  assert all(np.array_equal(getattr(fresh.val, k), getattr(val, k)) for k in FIELDS)


def test_second_prepare_data_reuses_the_token_shards(tatar_fixture_dir, tmp_path,
                                                     monkeypatch):
  cfg = DataConfig(text_dir=str(tatar_fixture_dir), seq_len=64, val_fraction=0.05,
                   max_val_rows=4, tokenizer_model_type="bpe")
  said = []
  first = prepare_data(cfg, 384, tmp_path, log=said.append)
  assert sum("tokenised the" in m for m in said) == 2  # training and validation split
  said.clear()

  def no_tokenising(*args, **kwargs):
    raise AssertionError("re-tokenised although text and tokenizer are unchanged")

  with monkeypatch.context() as m:
    m.setattr(shards, "write_token_shards", no_tokenising)
    m.setattr(spm, "train_tokenizer", no_tokenising)  # nor retraining the tokenizer
    m.setattr(type(first.tokenizer), "encode_batch", no_tokenising)
    second = prepare_data(cfg, 384, tmp_path, log=said.append)
  assert not any("tokenised the" in m or "training a" in m for m in said), said
  for name in ("train", "val"):
    a, b = getattr(first, name), getattr(second, name)
    assert isinstance(b, PackedRows) and len(a) == len(b)
    assert all(np.array_equal(getattr(a, k), getattr(b, k)) for k in FIELDS)
    assert (a.num_tokens, a.num_docs, a.num_chars, a.num_bytes) == (
        b.num_tokens, b.num_docs, b.num_chars, b.num_bytes)
  assert second.stats == first.stats
  # Other text is another shard set: the cache is keyed by corpus and tokenizer.
  other = tmp_path / "other"
  other.mkdir()
  (other / "a.txt").write_text("\n".join(read_documents(tatar_fixture_dir)[:-7]) + "\n",
                               encoding="utf-8")
  prepare_data(DataConfig(text_dir=str(other), seq_len=64, val_fraction=0.05, max_val_rows=4,
                          tokenizer_path=str(tmp_path / TOKENIZER_FILENAME)), 384, tmp_path)
  assert len(list((tmp_path / "data_cache").glob("tokens-*"))) == 4


def test_no_text_anywhere_is_one_clear_error(no_default_text, tmp_path):
  with pytest.raises(DataError, match="LLMJAX_TEXT_DIR"):
    prepare_data(DataConfig(text_dir=""), 512, tmp_path / "work")


def test_prepare_data_on_shared_corpus(shared_train_dir, tmp_path):
  # bpe trains in ~1.5 s here; unigram takes ~20 s on the full corpus.
  cfg = DataConfig(text_dir=str(shared_train_dir), seq_len=256, tokenizer_model_type="bpe")
  start = time.perf_counter()
  data = prepare_data(cfg, 2048, tmp_path)
  stats = data.stats
  print(f"\nshared corpus ({time.perf_counter() - start:.1f}s): "
        + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in stats.items() if k != "tokenizer_sha256"))
  assert stats["train_docs"] > 50_000 and stats["val_docs"] > 100
  assert 2.0 < stats["chars_per_token"] < 5.0
  assert stats["train_padding"] < 0.01
  assert len(data.val) <= cfg.max_val_rows + 1


# --- the tokenizer of a training run --------------------------------------------------------

VOCAB = 512


@pytest.fixture(scope="module")
def docs() -> list[str]:
  return fixture_lines()


@pytest.fixture(scope="module")
def tok(docs):
  return train_tokenizer(docs, vocab_size=VOCAB)


def _load_tokenizer(cfg, vocab_size, workdir, docs, said=None):
  return pipeline.load_tokenizer(cfg, vocab_size, workdir, docs,
                                 (said if said is not None else []).append)


def test_load_tokenizer_reuses_workdir_model(docs, tmp_path, capsys):
  cfg = DataConfig(text_dir="unused")
  said = []
  first = _load_tokenizer(cfg, VOCAB, tmp_path, docs, said)
  assert any("training a unigram tokenizer" in m for m in said), said
  path = tmp_path / TOKENIZER_FILENAME
  mtime = path.stat().st_mtime_ns
  said.clear()
  second = _load_tokenizer(cfg, VOCAB, tmp_path, ["other text"] * 3, said)
  assert second.sha256 == first.sha256 and path.stat().st_mtime_ns == mtime
  assert not any("training" in m for m in said), said  # no retraining
  assert capsys.readouterr().out == ""  # the library logs through `log`, never prints
  with pytest.raises(ConfigError, match=f"--config.model.vocab_size={VOCAB}"):
    _load_tokenizer(cfg, 1024, tmp_path, docs)
  with pytest.raises(ConfigError, match="tokenizer_model_type"):
    _load_tokenizer(dataclasses.replace(cfg, tokenizer_model_type="bpe"), VOCAB, tmp_path,
                    docs)
  assert path.stat().st_mtime_ns == mtime  # a refused mismatch modifies nothing


def test_tokenizer_path_errors(tok, tmp_path):
  path = tmp_path / "given.model"
  tok.save(path)
  cfg = DataConfig(text_dir="unused", tokenizer_path=str(path))
  loaded = _load_tokenizer(cfg, VOCAB, tmp_path / "work", [])
  assert loaded.sha256 == tok.sha256
  assert not (tmp_path / "work").exists()  # nothing trained or written
  with pytest.raises(ConfigError, match=f"--config.model.vocab_size={VOCAB}"):
    _load_tokenizer(cfg, 8192, tmp_path / "work", [])
  missing = dataclasses.replace(cfg, tokenizer_path=str(tmp_path / "nope.model"))
  with pytest.raises(DataError, match="nope.model"):
    _load_tokenizer(missing, VOCAB, tmp_path / "work", [])
  bad = tmp_path / "bad.model"
  bad.write_bytes(b"this is not a sentencepiece model")
  with pytest.raises(DataError, match="bad.model"):
    _load_tokenizer(dataclasses.replace(cfg, tokenizer_path=str(bad)), VOCAB,
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
