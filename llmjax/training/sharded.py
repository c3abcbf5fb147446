"""A model placed on a device mesh: parameter shardings, batches in, the eval step out.

What inference, evaluation and training all need, without an optimizer: the Trainer
(llmjax.training.step) adds the optimizer, the train state and the train step on top.
"""

from __future__ import annotations

import math
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from llmjax.config import MeshConfig, ModelConfig
from llmjax.model.attention import check_backend
from llmjax.model.transformer import Transformer
from llmjax.training import sharding

Batch = dict[str, jax.Array]


@flax.struct.dataclass
class Sums:
  """One forward pass's sums over the scored tokens."""
  nats: jax.Array  # next-token cross-entropy
  tokens: jax.Array  # scored tokens
  lse_sq: jax.Array  # logsumexp(logits)^2 (what PaLM's z-loss penalises); 0 unless asked
  moe: dict[str, jax.Array] | None  # router stats stacked over MoE layers, None if dense


def forward_sums(params, model: Transformer, batch: Batch, dropout_rng: jax.Array | None,
                 with_lse: bool = False) -> Sums:
  """The sums over the scored tokens: those with segment_ids > 0, narrowed further by an
  optional batch["loss_mask"] (1 = scored; fine-tuning scores assistant tokens only)."""
  rngs = {"dropout": dropout_rng} if dropout_rng is not None else {}
  is_moe = model.cfg.moe.experts > 0
  out = model.apply(
      {"params": params}, batch["inputs"], positions_BT=batch["positions"],
      segment_ids_BT=batch["segment_ids"], deterministic=dropout_rng is None, rngs=rngs,
      mutable=["intermediates"] if is_moe else False)
  (logits_BTV, _), stats = (out[0], out[1]["intermediates"]["moe"][0]) if is_moe else (out, None)
  nll_BT = optax.softmax_cross_entropy_with_integer_labels(logits_BTV, batch["targets"])
  weights_BT = (batch["segment_ids"] > 0).astype(jnp.float32)
  if "loss_mask" in batch:
    weights_BT = weights_BT * batch["loss_mask"].astype(jnp.float32)
  lse_sq = jnp.zeros((), jnp.float32)
  if with_lse:
    lse_sq = jnp.sum(jnp.square(jax.nn.logsumexp(logits_BTV, axis=-1)) * weights_BT)
  return Sums(jnp.sum(nll_BT * weights_BT), jnp.sum(weights_BT), lse_sq, stats)


def loss_sums(params, model: Transformer, batch: Batch,
              dropout_rng: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
  """Summed next-token cross-entropy (nats) over real tokens, and their count."""
  sums = forward_sums(params, model, batch, dropout_rng)
  return sums.nats, sums.tokens


class ShardedModel:
  """One model config on one mesh: shardings, init and restore targets, the eval step."""

  def __init__(self, model_cfg: ModelConfig, mesh_cfg: MeshConfig, mesh: Mesh):
    check_backend(model_cfg.attention_impl)
    self.model_cfg = model_cfg
    self.mesh_cfg = mesh_cfg
    self.mesh = mesh
    self.model = Transformer(model_cfg)
    self.batch_sharding = sharding.batch_sharding(mesh, mesh_cfg)
    self.replicated = sharding.replicated(mesh)
    with self.context():
      boxed = jax.eval_shape(self.init_boxed_params, jax.random.key(0))
    self.param_sharding = sharding.boxed_shardings(boxed, mesh, mesh_cfg)
    self._eval_step = jax.jit(
        lambda p, b: loss_sums(p, self.model, b),
        in_shardings=(self.param_sharding, self.batch_sharding),
        out_shardings=self.replicated)

  @property
  def batch_shards(self) -> int:
    """Devices a batch is split over (data x fsdp x expert): batch sizes are multiples."""
    shape = self.mesh.shape
    return math.prod(shape[a] for a in ("data", "fsdp", "expert"))

  def context(self):
    return sharding.activate(self.mesh, self.mesh_cfg)

  def init_boxed_params(self, rng: jax.Array) -> Any:
    """Parameters with their logical-axis boxes (trace under context())."""
    tokens = jnp.zeros((self.batch_shards, 2), jnp.int32)
    return self.model.init({"params": rng}, tokens)["params"]

  def abstract_params(self) -> Any:
    """Shapes, dtypes and shardings of the parameters, for restoring a checkpoint into."""
    with self.context():  # unbox inside the trace: its logical constraints need one
      abstract = jax.eval_shape(lambda r: nn.unbox(self.init_boxed_params(r)),
                                jax.random.key(0))
    return jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                        abstract, self.param_sharding)

  def eval_step(self, params, batch: Batch) -> tuple[jax.Array, jax.Array]:
    """(summed nats, token count) for one batch, dropout off."""
    with self.context():
      return self._eval_step(params, batch)

  def put_batch(self, local_batch: dict) -> Batch:
    return sharding.global_batch(local_batch, self.batch_sharding)
