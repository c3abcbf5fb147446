"""Bits per character: the arithmetic (hand-computed, a stub model), and the log-likelihood
interface scoring the same as score_rows / score_lines on a real model."""

import math

import numpy as np
import pytest

from llmjax.data import packing
from llmjax.evals import bpc
from llmjax.evals.loglik import Request


class _CharTokenizer:
  """One token per character (ids are code points), BOS 1, EOS 2."""
  bos_id, eos_id = 1, 2

  def encode_batch(self, texts):
    return [[ord(c) for c in t] for t in texts]


class _OneBitPerToken:
  """A stand-in placed model: every real target token costs exactly 1 bit (ln 2 nats)."""
  batch_shards = 1

  def __init__(self):
    self.batches = []

  def put_batch(self, batch):
    self.batches.append(batch)
    return batch

  def eval_step(self, params, batch):
    tokens = float((batch["segment_ids"] > 0).sum())
    return np.float32(tokens * math.log(2.0)), np.float32(tokens)


def test_bpc_hand_computed():
  lines = ["абв", "гд"]  # 5 chars; 2 bytes per char in UTF-8
  # Each line from BOS: its characters and EOS are the targets: 4 + 3 = 7 tokens = 7 bits.
  model = _OneBitPerToken()
  out = bpc.score_lines(model, None, _CharTokenizer(), lines, seq_len=8, batch_size=2)
  assert out["tokens"] == 7 and out["chars"] == 5 and out["bytes"] == 10
  assert out["bits_per_char"] == pytest.approx(7 / 5)
  assert out["bits_per_byte"] == pytest.approx(7 / 10)
  assert out["loss"] == pytest.approx(math.log(2.0))  # nats per token
  assert out["lines"] == 2
  # Packed into one row of 8: the lines' own segments, each from BOS.
  (batch,) = model.batches
  assert batch["inputs"].shape == (2, 8)
  assert batch["segment_ids"][0].tolist() == [1, 1, 1, 1, 2, 2, 2, 0]
  assert batch["inputs"][0, [0, 4]].tolist() == [1, 1]


def test_local_share():
  batch = {"inputs": np.arange(8)[:, None]}
  assert bpc.local_share(batch, 1, 4)["inputs"].ravel().tolist() == [2, 3]
  assert bpc.local_share(batch, 0, 1)["inputs"].ravel().tolist() == list(range(8))


def test_loglik_bpc_equals_score_rows_and_score_lines(model_scorer):
  from tests.fixture_text import fixture_lines
  lines = [x for x in fixture_lines() if len(model_scorer.tok.encode(x)) < 60][:11]
  assert len(lines) == 11
  rows = packing.pack_documents(
      packing.tokenize_documents(model_scorer.tok, lines), 64,
      num_chars=sum(map(len, lines)), num_bytes=sum(len(x.encode()) for x in lines))
  ref = bpc.score_rows(model_scorer.model, model_scorer.params, rows, 8)
  # The same definition through the log-likelihood interface: each line from BOS, EOS
  # included, summed bits over summed characters.
  scores = model_scorer([Request("", line, add_eos=True) for line in lines])
  bits = -sum(s.logprob for s in scores) / math.log(2.0)
  assert bits / sum(map(len, lines)) == pytest.approx(ref["bits_per_char"], rel=1e-4)
  assert bits / sum(len(x.encode()) for x in lines) == pytest.approx(ref["bits_per_byte"],
                                                                     rel=1e-4)
  assert sum(s.tokens for s in scores) == ref["tokens"]
  lines_out = bpc.score_lines(model_scorer.model, model_scorer.params, model_scorer.tok, lines,
                              64, 8)
  assert lines_out["bits_per_char"] == pytest.approx(ref["bits_per_char"], rel=1e-6)
  assert lines_out["lines"] == 11 and lines_out["tokens"] == ref["tokens"]
