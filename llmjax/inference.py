"""Load a trained model from a workdir (for evaluation, generation and notebooks)."""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any


from llmjax import checkpoint, sharding
from llmjax.config import Config, from_config
from llmjax.tokenizer import Tokenizer
from llmjax.train_step import Trainer


@dataclasses.dataclass
class Loaded:
  cfg: Config
  trainer: Trainer  # on a mesh of this machine's devices
  params: Any
  tokenizer: Tokenizer
  step: int
  meta: dict


def load(workdir: str | pathlib.Path, which: str = "auto") -> Loaded:
  """Restores parameters and tokenizer; `which` is 'auto' (best, else latest), 'best',
  'latest' or a step number."""
  directory, step, meta = checkpoint.read_meta(pathlib.Path(workdir), which)
  cfg = from_config(meta["config"])
  # Inference runs on whatever devices are here: a plain data-parallel mesh.
  mesh_cfg = dataclasses.replace(cfg.mesh, data=-1, fsdp=1, tensor=1)
  cfg = dataclasses.replace(cfg, mesh=mesh_cfg)
  trainer = Trainer(cfg, sharding.make_mesh(mesh_cfg))
  abstract = trainer.abstract_state()
  params = checkpoint.restore_params(directory, step, abstract.params, abstract)
  tokenizer = Tokenizer.from_proto(checkpoint.decode_tokenizer(meta))
  return Loaded(cfg, trainer, params, tokenizer, step, meta)
