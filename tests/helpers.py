"""Shared test utilities: load a configs/*.py file and apply dotted overrides."""

from __future__ import annotations

import pathlib
from typing import Any

import ml_collections

from llmjax import runs
from llmjax.config import Config, from_config

REPO = pathlib.Path(__file__).resolve().parents[1]


def load_config(name: str, **overrides: Any) -> ml_collections.ConfigDict:
  """configs/<name>.py with overrides given as model__d_model=32 (double underscore = dot)."""
  return runs.load_config(str(REPO / "configs" / f"{name}.py"),
                          {k.replace("__", "."): v for k, v in overrides.items()})


def micro_config(**overrides: Any) -> tuple[Config, dict]:
  """A very small model for fast CPU tests (frozen config, plus its plain dict)."""
  base = dict(model__vocab_size=384, model__d_model=32, model__n_layers=2, model__n_heads=4,
              model__n_kv_heads=2, model__head_dim=8, model__d_ff=64, model__max_seq_len=32,
              model__dtype="float32", data__seq_len=32, data__batch_size=8,
              data__max_val_rows=16, optim__warmup_steps=5, optim__lr=3e-3,
              train__total_steps=20, train__log_every=5, train__eval_every=10,
              train__checkpoint_every=5)
  base.update(overrides)
  cfg = load_config("tiny", **base)
  d = cfg.to_dict()
  return from_config(d), d
