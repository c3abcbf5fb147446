"""A trained model from a workdir, placed on this machine's devices (no optimizer).

What `evaluate`, `generate`, `export` and the notebooks start from: the checkpoint's config,
its parameters on a data-parallel mesh of the local devices, and its tokenizer (stored in
the checkpoint's metadata, so a checkpoint works on its own).
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any, Sequence

import jax
import jax.numpy as jnp

from llmjax.config import Config, from_config, upgrade_saved
from llmjax.errors import CheckpointError
from llmjax.model import decode
from llmjax.tokenizer import Tokenizer
from llmjax.training import checkpoint, sharding
from llmjax.training.sharded import ShardedModel


@dataclasses.dataclass
class Restored:
  cfg: Config
  model: ShardedModel  # on a mesh of this machine's devices
  params: Any
  tokenizer: Tokenizer
  step: int
  meta: dict


def load(workdir: str | pathlib.Path, which: str = "auto") -> Restored:
  """Restores parameters and tokenizer; `which` is 'auto' (best, else latest), 'best',
  'latest' or a step number."""
  ref = checkpoint.find(workdir, which)
  cfg = from_config(upgrade_saved(ref.meta["config"]))
  # Inference runs on whatever devices are here: a plain data-parallel mesh.
  mesh_cfg = dataclasses.replace(cfg.mesh, data=-1, fsdp=1, tensor=1, expert=1)
  cfg = dataclasses.replace(cfg, mesh=mesh_cfg)
  model = ShardedModel(cfg.model, mesh_cfg, sharding.make_mesh(mesh_cfg))
  params = checkpoint.restore_params(ref, model.abstract_params())
  if not all(bool(jnp.all(jnp.isfinite(p))) for p in jax.tree.leaves(params)):
    raise CheckpointError(f"checkpoint {ref.path} holds non-finite parameters (a diverged "
                          "run); use an earlier checkpoint (--checkpoint=STEP)")
  tokenizer = Tokenizer.from_proto(checkpoint.decode_tokenizer(ref.meta))
  return Restored(cfg, model, params, tokenizer, ref.step, ref.meta)


def continue_text(restored: Restored, prompts: Sequence[str], *, max_new_tokens: int,
                  sampling: decode.Sampling = decode.GREEDY, seed: int = 0) -> list[str]:
  """Each prompt continued by the restored model (llmjax.model.decode.continue_text)."""
  return decode.continue_text(restored.params, restored.cfg.model, restored.tokenizer,
                              prompts, max_new_tokens=max_new_tokens, sampling=sampling,
                              seed=seed)
