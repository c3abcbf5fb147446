"""Load a trained model from a workdir (for evaluation, generation and notebooks)."""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any

import jax
import numpy as np

from llmjax import checkpoint, decode, sharding
from llmjax.config import Config, from_config
from llmjax.errors import ConfigError
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


def continue_text(loaded: Loaded, prompt: str, *, max_new_tokens: int,
                  temperature: float, top_k: int, top_p: float, seed: int) -> str:
  """BOS + prompt, KV-cached sampling (temperature 0 = greedy), cut at EOS, decoded."""
  tok = loaded.tokenizer
  prompt_ids = [tok.bos_id] + tok.encode(prompt)
  limit = loaded.cfg.model.max_seq_len
  if len(prompt_ids) + max_new_tokens > limit:
    raise ConfigError(f"prompt ({len(prompt_ids)} tokens) + max_new_tokens={max_new_tokens} "
                      f"exceeds the model's context of {limit} tokens")
  out = decode.generate(
      loaded.params, loaded.cfg.model, np.asarray([prompt_ids], np.int32),
      max_new_tokens=max_new_tokens, rng=jax.random.key(seed), temperature=temperature,
      top_k=top_k, top_p=top_p, eos_id=tok.eos_id)
  ids = [int(i) for i in np.asarray(out)[0]]
  if tok.eos_id in ids:
    ids = ids[:ids.index(tok.eos_id)]
  return tok.decode(ids)
