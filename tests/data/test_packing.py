"""Packing tokenised documents into rows: every pair kept, segments and positions, speed."""

import collections
import time

import numpy as np

from llmjax.data import packing
from llmjax.data.packing import PackedRows, pack_documents, tokenize_documents

FIELDS = ("inputs", "targets", "segment_ids", "positions")

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


def test_fields_and_take():
  assert packing.FIELDS == FIELDS
  rows = pack_documents(_random_docs(30, 20, seed=3), 16)
  picked = rows.take(np.array([2, 0]))
  assert set(picked) == set(FIELDS)
  for k in FIELDS:
    np.testing.assert_array_equal(picked[k], getattr(rows, k)[[2, 0]])
