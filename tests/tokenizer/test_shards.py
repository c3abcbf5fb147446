"""Token shards: round trip, grain access, dtypes, parallel writers, the cache key, atomicity."""

import grain
import numpy as np
import pytest

from llmjax.corpus.text import corpus_sha256
from llmjax.data.packing import pack_documents, tokenize_documents
from llmjax.errors import DataError
from llmjax.tokenizer import Tokenizer, train_tokenizer
from llmjax.tokenizer import shards as token_shards
from tests.fixture_text import fixture_lines

VOCAB = 512


@pytest.fixture(scope="module")
def docs() -> list[str]:
  return fixture_lines()


@pytest.fixture(scope="module")
def tok(docs) -> Tokenizer:
  return train_tokenizer(docs, vocab_size=VOCAB, model_type="bpe")


def test_token_dtype():
  assert token_shards.token_dtype(512) == np.uint16
  assert token_shards.token_dtype(65535) == np.uint16
  assert token_shards.token_dtype(65536) == np.uint32
  with pytest.raises(DataError):
    token_shards.token_dtype(0)


def test_shards_round_trip_and_grain(tok, docs, tmp_path):
  shards = token_shards.write_token_shards(docs, tok, tmp_path / "s", num_workers=1,
                                           docs_per_shard=97)
  ref = tokenize_documents(tok, docs)
  assert len(shards) == len(docs) and len(shards.meta["shards"]) == -(-len(docs) // 97)
  assert all(np.array_equal(a, b) for a, b in zip(ref, shards.documents()))
  assert shards.dtype == np.uint16 and shards[0].dtype == np.int32
  assert shards.num_tokens == sum(len(r) for r in ref)
  assert np.load(tmp_path / "s" / "shard-00000.npy").dtype == np.uint16  # 2 bytes a token
  assert np.array_equal(shards[-1], ref[-1])
  with pytest.raises(IndexError):
    shards[len(docs)]
  # Reopened from disk and read through grain with random access.
  ds = grain.MapDataset.source(token_shards.TokenShards(tmp_path / "s")).shuffle(seed=1)
  got = [ds[i] for i in range(len(ds))]
  assert sorted(map(tuple, got)) == sorted(map(tuple, ref))
  # Packing from shards gives the same rows as packing in memory.
  a, b = pack_documents(ref, 64), pack_documents(shards.documents(), 64)
  assert np.array_equal(a.inputs, b.inputs) and np.array_equal(a.targets, b.targets)


class _BigVocab:
  """A stand-in tokenizer whose ids need 32 bits."""
  vocab_size, bos_id, eos_id, sha256 = 70_000, 1, 2, "big"

  def encode_batch(self, texts, num_threads=1):
    return [[65_536 + len(w) for w in t.split()] for t in texts]


def test_uint32_when_vocab_is_large(tmp_path):
  texts = ["a bb ccc", "dddd", "e"]
  shards = token_shards.write_token_shards(texts, _BigVocab(), tmp_path / "s", num_workers=1)
  assert shards.dtype == np.uint32
  assert shards[0].tolist() == [1, 65_537, 65_538, 65_539, 2]
  assert shards[2].tolist() == [1, 65_537, 2]


def test_parallel_workers_match_serial(tok, docs, tmp_path):
  serial = token_shards.write_token_shards(docs, tok, tmp_path / "a", num_workers=1)
  parallel = token_shards.write_token_shards(docs, tok, tmp_path / "b", num_workers=2,
                                             docs_per_shard=200)
  assert len(parallel.meta["shards"]) >= 2
  assert all(np.array_equal(a, b) for a, b in zip(serial.documents(), parallel.documents()))


def test_cache_key_reuse_and_rebuild(tok, docs, tmp_path):
  a, reused = token_shards.load_or_build(tmp_path, docs, tok, num_workers=1)
  assert not reused
  b, reused = token_shards.load_or_build(tmp_path, docs, tok, num_workers=1)
  assert reused and b.path == a.path
  other_tok = train_tokenizer(docs, vocab_size=VOCAB + 64, model_type="bpe")
  c, reused = token_shards.load_or_build(tmp_path, docs, other_tok, num_workers=1)
  d, reused2 = token_shards.load_or_build(tmp_path, docs[:-1], tok, num_workers=1)
  assert not reused and not reused2 and len({a.path, c.path, d.path}) == 3
  assert a.path.name == "tokens-" + token_shards.shard_key(corpus_sha256(docs),
                                                            tok.sha256)
  # A damaged set is rebuilt, not trusted.
  (a.path / "offsets.npy").write_bytes(b"garbage")
  e, reused = token_shards.load_or_build(tmp_path, docs, tok, num_workers=1)
  assert not reused and len(e) == len(docs)


def test_write_is_atomic(tok, docs, tmp_path, monkeypatch):
  calls = []

  def crash_on_second(args):
    calls.append(args)
    if len(calls) == 2:
      raise OSError("disk full")
    return real(args)

  real = token_shards._write_shard
  monkeypatch.setattr(token_shards, "_write_shard", crash_on_second)
  # Disk errors become one DataError naming the set (llmjax.paths.atomic_directory).
  with pytest.raises(DataError, match=r"cannot write .*/s'.*disk full"):
    token_shards.write_token_shards(docs, tok, tmp_path / "s", num_workers=1,
                                    docs_per_shard=100)
  assert list(tmp_path.iterdir()) == []  # neither the set nor its temporary folder
  with pytest.raises(DataError, match="zero documents"):
    token_shards.write_token_shards([], tok, tmp_path / "s", num_workers=1)
