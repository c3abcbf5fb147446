"""The fine-tuning trainers: the pretraining Trainer with pretrained weights and loss_mask.

FullTrainer: every parameter trains, starting from the pretrained ones (with a fresh
optimizer state). LoraTrainer: the train state holds the adapters and their optimizer state
only; the frozen base weights are a separate argument of the jitted step (never donated,
never differentiated), so no gradient and no Adam moment is ever made for them.
Both reuse llmjax.training.step: the exact gradient accumulation, the optimizer, the
microbatch choice, the checkpoints and the sharded train state.
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.sharding import Mesh

from llmjax import model
from llmjax.config import Config
from llmjax.data.packing import FIELDS, LOSS_MASK
from llmjax.errors import CheckpointError
from llmjax.sft import lora
from llmjax.training import checkpoint
from llmjax.training.checkpoint import CheckpointRef
from llmjax.training.sharded import Batch
from llmjax.training.step import Trainer, TrainState

BATCH_FIELDS = FIELDS + (LOSS_MASK,)


class _FineTuning(Trainer):
  """What both trainers share: the base checkpoint, and batches that carry loss_mask."""

  def __init__(self, cfg: Config, mesh: Mesh, base: CheckpointRef):
    self.base_ref = base
    self.base: Any = None
    super().__init__(cfg, mesh)

  def load_base(self) -> _FineTuning:
    """The pretrained parameters, restored straight into this mesh's shardings."""
    params = checkpoint.restore_params(self.base_ref, self.abstract_params())
    if not all(bool(jnp.all(jnp.isfinite(p))) for p in jax.tree.leaves(params)):
      raise CheckpointError(f"the base checkpoint {self.base_ref.path} holds non-finite "
                            "parameters")
    self.base = params
    return self

  def abstract_batch(self) -> Batch:
    B, T = self.cfg.data.batch_size, self.cfg.data.seq_len
    return {k: jax.ShapeDtypeStruct((B, T), jnp.int32, sharding=self.batch_sharding)
            for k in BATCH_FIELDS}

  def abstract_rng(self) -> jax.ShapeDtypeStruct:
    key = jax.random.key(0)
    return jax.ShapeDtypeStruct(key.shape, key.dtype, sharding=self.replicated)


class FullTrainer(_FineTuning):
  """Every parameter trains, from the pretrained ones."""

  def compile_step(self, accum: int):
    with self.context():
      return self.jit_step(accum).lower(self.abstract_state(), self.abstract_batch(),
                                        self.abstract_rng()).compile()

  def init_state(self, rng: jax.Array) -> TrainState:
    del rng  # nothing random: the weights are the pretrained ones
    init = jax.jit(lambda p: TrainState(step=jnp.zeros((), jnp.int32), params=p,
                                        opt_state=self.tx.init(p)),
                   in_shardings=(self.param_sharding,), out_shardings=self.state_sharding)
    with self.context():
      return init(self.base)


class LoraTrainer(_FineTuning):
  """Only the adapters train: the train state is (step, adapters, their optimizer state)."""

  def __init__(self, cfg: Config, mesh: Mesh, base: CheckpointRef, spec: lora.LoraSpec):
    self.spec = spec
    self.base_shapes = nn.unbox(model.abstract_params(cfg.model))  # no mesh needed
    super().__init__(cfg, mesh, base)
    self._merge = jax.jit(functools.partial(lora.merge, scale=spec.scale),
                          in_shardings=(self.param_sharding, self.state_sharding.params),
                          out_shardings=self.param_sharding)

  def _init_boxed(self, rng: jax.Array) -> TrainState:
    adapters = lora.init(self.base_shapes, self.spec, rng)
    return TrainState(step=jnp.zeros((), jnp.int32), params=adapters,
                      opt_state=self.tx.init(adapters))

  def merged(self, adapters: Any) -> Any:
    """The base weights with the adapters folded in (what evaluators score)."""
    with self.context():
      return self._merge(self.base, adapters)

  def jit_step(self, accum: int):
    return jax.jit(
        functools.partial(self._lora_step, accum=accum),
        in_shardings=(self.state_sharding, self.param_sharding, self.batch_sharding,
                      self.replicated),
        out_shardings=(self.state_sharding, self.replicated),
        donate_argnums=0)  # the state; the base is read, never donated

  def compile_step(self, accum: int):
    with self.context():
      return self.jit_step(accum).lower(self.abstract_state(), self.abstract_params(),
                                        self.abstract_batch(), self.abstract_rng()).compile()

  def _lora_step(self, state: TrainState, base: Any, batch: Batch, rng: jax.Array, *,
                 accum: int):
    adapted = lora.Adapted(self.model, base, self.spec.scale)
    return self.update(state, adapted, batch, rng, accum)

  def train_step(self, state: TrainState, batch: Batch, rng: jax.Array):
    with self.context():
      return self._train_step(state, self.base, batch, rng)
