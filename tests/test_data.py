"""Text reading, splitting, packing, iterators and the end-to-end data preparation."""

import collections
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from llmjax.config import DataConfig
from llmjax.data.packing import PackedRows, pack_documents, tokenize_documents
from llmjax.data.pipeline import eval_batches, prepare_data, train_iterator
from llmjax.data.text import (list_text_files, read_documents, read_lines,
                              split_documents)
from llmjax.errors import DataError

FIELDS = ("inputs", "targets", "segment_ids", "positions")

# --- text --------------------------------------------------------------------------


def test_fixture_files_read_recursively(tatar_fixture_dir):
  files = list_text_files(tatar_fixture_dir)
  assert len(files) == 3 and files == sorted(files)
  assert any(f.parent != tatar_fixture_dir for f in files)  # the nested one
  docs = read_documents(tatar_fixture_dir)
  assert len(docs) == sum(len(read_lines(f)) for f in files) >= 1500
  text = "".join(docs)
  assert all(ch in text for ch in "әөүҗңһ")


def test_lines_are_stripped_and_blank_lines_skipped(tmp_path):
  (tmp_path / "sub" / "deeper").mkdir(parents=True)
  (tmp_path / "b.txt").write_bytes("  Сәлам, дөнья!  \r\n\r\n   \nИкенче юл\n".encode())
  (tmp_path / "sub" / "deeper" / "a.txt").write_text("Өченче\n", encoding="utf-8")
  (tmp_path / "notes.md").write_text("not text\n", encoding="utf-8")
  assert read_documents(tmp_path) == ["Сәлам, дөнья!", "Икенче юл", "Өченче"]
  assert read_lines(tmp_path / "b.txt") == ["Сәлам, дөнья!", "Икенче юл"]


def test_non_utf8_file_names_file_and_line(tmp_path):
  (tmp_path / "good.txt").write_text("Казан\n", encoding="utf-8")
  (tmp_path / "bad.txt").write_bytes("Казан\n".encode() + "Идел\n".encode("cp1251"))
  with pytest.raises(DataError, match=r"bad\.txt.* line 2 .*UTF-8"):
    read_documents(tmp_path)
  with pytest.raises(DataError, match=r"bad\.txt"):
    read_lines(tmp_path / "bad.txt")


def test_missing_or_empty_folders(tmp_path):
  with pytest.raises(DataError, match="LLMJAX_TEXT_DIR"):
    list_text_files(tmp_path / "nope")
  with pytest.raises(DataError, match="--config.data.text_dir"):
    read_documents(tmp_path)  # exists, but no *.txt
  (tmp_path / "blank.txt").write_text("\n  \n\n", encoding="utf-8")
  with pytest.raises(DataError, match="no non-empty lines"):
    read_documents(tmp_path)
  with pytest.raises(DataError, match="blank.txt"):
    read_lines(tmp_path / "blank.txt")
  with pytest.raises(DataError, match="LLMJAX_TEXT_DIR"):
    prepare_data(DataConfig(text_dir=""), 512, tmp_path / "work")


def test_split_is_deterministic_and_keeps_duplicates_together():
  docs = [f"Документ {i % 700}" for i in range(2000)]  # every doc appears ~3 times
  train, val = split_documents(docs, 0.1)
  assert (train, val) == split_documents(docs, 0.1)
  assert not set(train) & set(val)
  assert len(train) + len(val) == len(docs)
  assert 0.05 < len(val) / len(docs) < 0.15
  assert train == [d for d in docs if d in set(train)]  # order preserved


def test_split_independent_of_python_hash_seed():
  code = ("from llmjax.data.text import split_documents;"
          "print(split_documents([f'doc {i}' for i in range(200)], 0.2)[1])")
  outs = set()
  for seed in ("1", "2"):
    env = dict(os.environ, PYTHONHASHSEED=seed)
    outs.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, check=True, cwd=os.getcwd()).stdout)
  assert len(outs) == 1


# --- packing -----------------------------------------------------------------------


def _random_docs(n: int, max_len: int, seed: int = 0) -> list[np.ndarray]:
  rng = np.random.default_rng(seed)
  lengths = rng.integers(2, max_len, size=n)
  return [rng.integers(4, 1000, size=k, dtype=np.int32) for k in lengths]


def _pairs_of_docs(docs):
  return collections.Counter((int(a), int(b)) for d in docs for a, b in zip(d[:-1], d[1:]))


def _segments(rows: PackedRows):
  """(row, segment id, columns) of every segment."""
  for r in range(len(rows)):
    seg = rows.segment_ids[r]
    for s in np.unique(seg[seg > 0]):
      yield r, s, np.nonzero(seg == s)[0]


def test_packing_preserves_every_pair():
  seq_len = 64
  docs = _random_docs(500, 3 * seq_len)  # many docs longer than a row
  rows = pack_documents(docs, seq_len, num_chars=7, num_bytes=9)
  assert rows.inputs.shape == rows.targets.shape == (len(rows), seq_len)
  assert all(getattr(rows, k).dtype == np.int32 for k in FIELDS)
  w = rows.segment_ids > 0
  packed = collections.Counter(zip(rows.inputs[w].tolist(), rows.targets[w].tolist()))
  assert packed == _pairs_of_docs(docs)
  assert rows.num_tokens == int(w.sum()) == sum(len(d) - 1 for d in docs)
  assert (rows.num_docs, rows.num_chars, rows.num_bytes) == (500, 7, 9)
  assert rows.padding_share < 0.02
  # Deterministic.
  again = pack_documents(docs, seq_len)
  assert all(np.array_equal(getattr(rows, k), getattr(again, k)) for k in FIELDS)


def test_segments_and_positions():
  seq_len = 16
  docs = _random_docs(200, 40, seed=1)
  rows = pack_documents(docs, seq_len)
  pieces = collections.Counter()
  for r, s, cols in _segments(rows):
    assert np.array_equal(cols, np.arange(cols[0], cols[0] + len(cols)))  # contiguous
    assert np.array_equal(rows.positions[r, cols], np.arange(len(cols)))
    # Within a piece the next input is the previous target.
    assert np.array_equal(rows.inputs[r, cols[1:]], rows.targets[r, cols[:-1]])
    pieces[len(cols)] += 1
  for r in range(len(rows)):
    seg = rows.segment_ids[r]
    ids = seg[seg > 0]
    assert np.all(np.diff(ids) >= 0) and ids[0] == 1 and len(np.unique(ids)) == ids[-1]
    assert np.all(seg[len(ids):] == 0)  # padding only at the end
    assert np.all(rows.positions[r, len(ids):] == 0)
  # Pieces of long docs: full rows' worth of pairs, then the remainder.
  expected = collections.Counter()
  for d in docs:
    full, rest = divmod(len(d) - 1, seq_len)
    expected[seq_len] += full
    expected[rest] += rest > 0
  del expected[0]
  assert pieces == expected


def test_packing_is_fast():
  docs = _random_docs(60_000, 120, seed=2)
  start = time.perf_counter()
  rows = pack_documents(docs, 512)
  assert time.perf_counter() - start < 5.0  # ~0.5 s on 2 cores
  assert rows.padding_share < 0.01


def test_tokenize_documents_adds_bos_eos():
  class FakeTok:
    bos_id, eos_id = 1, 2

    def encode_batch(self, texts):
      return [[ord(c) for c in t] for t in texts]

  out = tokenize_documents(FakeTok(), ["ab", "c"])
  assert [o.tolist() for o in out] == [[1, 97, 98, 2], [1, 99, 2]]
  assert out[0].dtype == np.int32


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
  assert json.loads(json.dumps(stats)) == stats  # logged as JSON by the training loop
  # A second call reuses tokenizer and packed cache and gives identical rows.
  again = prepare_data(cfg, 512, tmp_path)
  assert again.tokenizer.sha256 == tok.sha256 and again.stats == stats
  assert all(np.array_equal(getattr(again.train, k), getattr(train, k)) for k in FIELDS)
  fresh = prepare_data(cfg, 512, tmp_path / "fresh", use_cache=False)
  assert all(np.array_equal(getattr(fresh.val, k), getattr(val, k)) for k in FIELDS)


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
