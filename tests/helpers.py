"""Shared test utilities: configs/*.py with dotted overrides, random parameters without an
init compile, and running a command as a subprocess."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
from typing import Any

import ml_collections

from llmjax.config import Config, from_config, load

REPO = pathlib.Path(__file__).resolve().parents[1]


def load_config(name: str, **overrides: Any) -> ml_collections.ConfigDict:
  """configs/<name>.py with overrides given as model__d_model=32 (double underscore = dot),
  applied exactly as the command line applies --config.model.d_model=32."""
  return load(REPO / "configs" / f"{name}.py",
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


def numpy_params(cfg, seed: int = 0):
  """Random parameters from the abstract shapes (skips compiling an init on XLA:CPU);
  norm scales are ones, everything else N(0, cfg.init_std)."""
  import flax.linen as nn  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  from llmjax import model  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)

  def fill(path, a):
    if "scale" in jax.tree_util.keystr(path):
      return jnp.ones(a.shape, a.dtype)
    return jnp.asarray(rng.normal(0.0, cfg.init_std, a.shape), a.dtype)
  return jax.tree.map_with_path(fill, nn.unbox(model.abstract_params(cfg)))


def run(*args, check=True, env=None):
  """python -m <args> at the repository root on one plain CPU device."""
  full_env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO), **(env or {})}
  full_env.pop("XLA_FLAGS", None)
  proc = subprocess.run([sys.executable, "-m", *args], cwd=REPO, env=full_env,
                        capture_output=True, text=True, timeout=600)
  if check and proc.returncode != 0:
    raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
  return proc
