"""Conversation files: a malformed line is one `error:` line naming file:line; packed rows
carry loss_mask through the batch iterators, and pretraining rows do not."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from llmjax.data import pipeline
from llmjax.data.packing import LOSS_MASK, pack_documents
from llmjax.errors import DataError
from llmjax.sft import answers, data
from tests.helpers import REPO
from tests.sft.conftest import conversations, write_jsonl

GOOD = json.dumps({"messages": [{"role": "user", "content": "a"},
                                {"role": "assistant", "content": "b"}]})


@pytest.mark.parametrize("bad, message", [
    ("{not json", "not JSON"),
    ('["a list"]', 'expected an object {"messages"'),
    (json.dumps({"messages": [{"role": "bot", "content": "x"}]}), "message 1: role 'bot'"),
    (json.dumps({"messages": [{"role": "user", "content": "x"}]}), "a training "
     "conversation needs"),
])
def test_bad_lines_are_named_by_file_and_line(tmp_path, bad, message):
  path = tmp_path / "bad.jsonl"
  path.write_text(f"{GOOD}\n\n{bad}\n{GOOD}\n", encoding="utf-8")
  with pytest.raises(DataError, match=f"{path}:3: {message[:20]}"):
    data.read_conversations(path)


def test_a_command_reports_a_bad_line_in_one_error_line(tmp_path):
  path = tmp_path / "bad.jsonl"
  path.write_text(f"{GOOD}\n{GOOD[:-5]}\n", encoding="utf-8")
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO)}
  env.pop("XLA_FLAGS", None)
  proc = subprocess.run([sys.executable, "-m", "llmjax.sft.answer",
                         f"--workdir={tmp_path}", f"--file={path}"], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=300, check=False)
  assert proc.returncode == 2, proc.stderr
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith(f"error: {path}:2: not JSON"), lines


def test_loss_mask_travels_through_the_iterators(chat_tokenizer):
  rows, _ = data.pack_conversations(chat_tokenizer, conversations(40), seq_len=64)
  it = pipeline.train_iterator(rows, global_batch_size=4, seed=0)
  batch = next(it)
  assert set(batch) == set(rows.fields) and LOSS_MASK in batch
  assert batch[LOSS_MASK].shape == batch["inputs"].shape
  evals = list(pipeline.eval_batches(rows, 8))
  assert all(LOSS_MASK in b and b[LOSS_MASK].shape == (8, 64) for b in evals)
  assert sum(int(b[LOSS_MASK].sum()) for b in evals) == int(rows.loss_mask.sum())
  plain = pack_documents([np.arange(10, dtype=np.int32)], 8)  # pretraining: no mask
  assert plain.loss_mask is None and LOSS_MASK not in plain.take(slice(0, 1))


def test_long_conversations_are_cut_to_one_row(chat_tokenizer):
  rows, counts = data.pack_conversations(chat_tokenizer, conversations(10), seq_len=24)
  assert counts["truncated"] > 0 and rows.seq_len == 24
  # One piece per conversation: no piece starts mid-answer without its question.
  assert len({(r, s) for r in range(len(rows)) for s in set(rows.segment_ids[r]) - {0}}) \
      == rows.num_docs


def test_system_message_is_added_where_missing():
  convs = data.with_system(conversations(8), "Кыска җавап бир!")
  assert all(c[0]["role"] == "system" for c in convs)
  assert convs[0][0]["content"] == "Кыска җавап бир."  # conversation 0 had its own


def test_chrf():
  assert answers.chrf(["Казан шәһәре"], ["Казан шәһәре"]) == pytest.approx(100.0)
  assert answers.chrf(["ццц"], ["ааа"]) == pytest.approx(0.0, abs=1e-9)
  partial = answers.chrf(["Казан шәһәре зур"], ["Казан шәһәре матур"])
  assert 40 < partial < 100
  assert answers.chrf(["a b"], ["ab"]) == pytest.approx(100.0)  # whitespace is ignored


def test_write_jsonl_round_trip(tmp_path):
  convs = conversations(5)
  assert data.read_conversations(write_jsonl(tmp_path / "c.jsonl", convs)) == convs
