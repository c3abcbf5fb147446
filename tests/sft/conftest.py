"""Fixtures for the fine-tuning tests: a tokenizer with the chat pieces, a pretrained workdir
(random parameters, no training), and conversation files written from the fixture corpus."""

from __future__ import annotations

import json
import pathlib

import flax.linen as nn
import numpy as np
import pytest

from llmjax.model import abstract_params
from llmjax.tokenizer import spm
from llmjax.training import checkpoint, loop
from tests.fixture_text import fixture_lines
from tests.helpers import micro_config


@pytest.fixture(scope="session")
def chat_tokenizer(tmp_path_factory) -> spm.Tokenizer:
  path = tmp_path_factory.mktemp("chat_tok") / "tokenizer.model"
  return spm.train_tokenizer(fixture_lines(), vocab_size=384, model_type="bpe", out_path=path)


def conversations(n: int, offset: int = 0) -> list[list[dict]]:
  """Questions about fixture sentences' first words, answered with the sentence; every
  fifth has a second exchange, every seventh a system message."""
  lines = fixture_lines()[offset:offset + 2 * n]
  out = []
  for i in range(n):
    a, b = lines[2 * i], lines[2 * i + 1]
    conv = [{"role": "user", "content": f"«{a.split()[0]}» турында сөйлә."},
            {"role": "assistant", "content": a}]
    if i % 5 == 0:
      conv += [{"role": "user", "content": f"Ә «{b.split()[0]}»?"},
               {"role": "assistant", "content": b}]
    if i % 7 == 0:
      conv = [{"role": "system", "content": "Кыска җавап бир."}, *conv]
    out.append(conv)
  return out


def write_jsonl(path: pathlib.Path, convs) -> pathlib.Path:
  path.write_text("".join(json.dumps({"messages": c}, ensure_ascii=False) + "\n"
                          for c in convs), encoding="utf-8")
  return path


@pytest.fixture(scope="session")
def sft_files(tmp_path_factory) -> tuple[pathlib.Path, pathlib.Path]:
  d = tmp_path_factory.mktemp("sft_data")
  return (write_jsonl(d / "train.jsonl", conversations(120)),
          write_jsonl(d / "val.jsonl", conversations(16, offset=1000)))


@pytest.fixture(scope="session")
def base_workdir(tmp_path_factory, chat_tokenizer) -> pathlib.Path:
  """A workdir as pretraining leaves it (best checkpoint + tokenizer), random parameters
  (norm scales 1), written without compiling anything."""
  workdir = tmp_path_factory.mktemp("base")
  cfg, d = micro_config(workdir=str(workdir), model__max_seq_len=64, data__seq_len=64)
  chat_tokenizer.save(workdir / "tokenizer.model")
  rng = np.random.default_rng(0)
  params = {}
  flat = nn.unbox(abstract_params(cfg.model))

  def fill(tree):
    return {k: fill(v) if isinstance(v, dict) else
            (np.ones(v.shape, np.float32) if k == "scale" else
             (0.05 * rng.standard_normal(v.shape)).astype(np.float32))
            for k, v in tree.items()}
  params = fill(flat)
  ckpt = checkpoint.Checkpointer(workdir)
  ckpt.save_best(40, params, loop.run_meta(d, cfg, chat_tokenizer, 40, val_bits_per_char=4.0))
  ckpt.close()
  return workdir
