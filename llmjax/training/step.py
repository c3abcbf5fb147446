"""The optimizer layer: train state, the exact gradient (with accumulation), the train step.

Trainer extends ShardedModel (a model placed on the mesh) with the optimizer, the sharded
train state and the jitted, state-donating train step.
"""

from __future__ import annotations

import functools
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from llmjax.config import Config
from llmjax.data.packing import FIELDS
from llmjax.errors import ConfigError
from llmjax.model import moe
from llmjax.model.transformer import Transformer
from llmjax.training import optim, sharding
from llmjax.training.sharded import Batch, ShardedModel, forward_sums


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  opt_state: Any


def _objective(params, model: Transformer, batch: Batch, dropout_rng: jax.Array | None,
               z_loss: float = 0.0):
  """What is differentiated: summed nats (+ the z-loss) + the MoE auxiliary losses × tokens
  (so that dividing by the total token count gives mean loss + token-weighted mean aux
  loss, exactly, under gradient accumulation). Aux: (nats, tokens, router metrics); the
  nats are the cross-entropy alone."""
  sums = forward_sums(params, model, batch, dropout_rng, with_lse=z_loss > 0)
  objective = sums.nats + z_loss * sums.lse_sq
  if sums.moe is None:
    return objective, (sums.nats, sums.tokens, {})
  objective = objective + moe.aux_objective(sums.moe, model.cfg) * sums.tokens
  return objective, (sums.nats, sums.tokens, moe.router_metrics(sums.moe, model.cfg))


def _microbatches(batch: Batch, n: int) -> Batch:
  # Microbatch i takes rows i, i+n, ...: every device keeps an equal share of each one.
  return jax.tree.map(lambda x: x.reshape(x.shape[0] // n, n, *x.shape[1:]).swapaxes(0, 1),
                      batch)


def grads_and_loss(params, model: Transformer, batch: Batch, rng: jax.Array | None,
                   accum: int, z_loss: float = 0.0) -> tuple[Any, jax.Array, jax.Array]:
  """Gradient of the mean token loss, accumulated over `accum` microbatches exactly."""
  grads, loss, weight, _ = grads_loss_and_metrics(params, model, batch, rng, accum, z_loss)
  return grads, loss, weight


def grads_loss_and_metrics(params, model: Transformer, batch: Batch,
                           rng: jax.Array | None, accum: int, z_loss: float = 0.0
                           ) -> tuple[Any, jax.Array, jax.Array, dict[str, jax.Array]]:
  """grads_and_loss plus the MoE router metrics (means over microbatches; {} if dense).

  The loss returned is the cross-entropy alone (comparable across variants); the
  gradient also includes the z-loss and the weighted MoE auxiliary losses.
  """
  grad_fn = jax.grad(functools.partial(_objective, z_loss=z_loss), has_aux=True)
  if accum == 1:
    grads, (loss_sum, weight, metrics) = grad_fn(params, model, batch, rng)
  else:
    def body(carry, xs):
      mb, i = xs
      key = None if rng is None else jax.random.fold_in(rng, i)
      g, (l, w, m) = grad_fn(params, model, mb, key)
      acc_g, acc_l, acc_w, acc_m = carry
      return (jax.tree.map(jnp.add, acc_g, g), acc_l + l, acc_w + w,
              jax.tree.map(lambda a, b: a + b / accum, acc_m, m)), None

    zeros = jax.tree.map(jnp.zeros_like, params)
    metric_shapes = jax.eval_shape(lambda: grad_fn(params, model, jax.tree.map(
        lambda x: x[0], _microbatches(batch, accum)), rng)[1][2])
    init = (zeros, jnp.zeros((), jnp.float32), jnp.zeros((), jnp.float32),
            jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), metric_shapes))
    (grads, loss_sum, weight, metrics), _ = jax.lax.scan(
        body, init, (_microbatches(batch, accum), jnp.arange(accum)))
  weight = jnp.maximum(weight, 1.0)
  return jax.tree.map(lambda g: g / weight, grads), loss_sum / weight, weight, metrics


class Trainer(ShardedModel):
  """The sharded train state and the jitted train step for one config on one mesh.

  `accum` microbatches make up the global batch (data.batch_size rows); each device
  processes rows_per_device / accum rows at a time. llmjax.training.memory chooses it.
  """

  def __init__(self, cfg: Config, mesh: Mesh, total_steps: int | None = None,
               accum: int = 1):
    super().__init__(cfg.model, cfg.mesh, mesh)
    self.cfg = cfg
    self.total_steps = total_steps or cfg.train.total_steps
    self.schedule = optim.schedule(cfg.optim, self.total_steps)
    self.tx = optim.make_optimizer(cfg.optim, self.total_steps,
                                   skip_nonfinite=cfg.train.skip_nonfinite_steps > 0)
    with self.context():
      abstract = jax.eval_shape(self._init_boxed, jax.random.key(0))
    self.state_sharding = sharding.boxed_shardings(abstract, mesh, cfg.mesh)
    self.set_accum(accum)

  @property
  def rows_per_device(self) -> int:
    return self.cfg.data.batch_size // self.batch_shards

  def set_accum(self, accum: int, compiled=None) -> None:
    """Use `accum` microbatches per step (and a step already compiled for it, if given)."""
    if accum < 1 or self.rows_per_device % accum:
      raise ConfigError(f"{accum} microbatches do not divide the {self.rows_per_device} rows "
                        "each device takes per step")
    self.accum = accum
    self._train_step = compiled or self.jit_step(accum)

  def jit_step(self, accum: int):
    return jax.jit(
        functools.partial(self._step, accum=accum),
        in_shardings=(self.state_sharding, self.batch_sharding, self.replicated),
        out_shardings=(self.state_sharding, self.replicated),
        donate_argnums=0)

  def compile_step(self, accum: int):
    """The train step compiled ahead of time for `accum` microbatches (for its memory)."""
    state = self.abstract_state()
    B, T = self.cfg.data.batch_size, self.cfg.data.seq_len
    batch = {k: jax.ShapeDtypeStruct((B, T), jnp.int32, sharding=self.batch_sharding)
             for k in FIELDS}
    rng = jax.ShapeDtypeStruct(jax.random.key(0).shape, jax.random.key(0).dtype,
                               sharding=self.replicated)
    with self.context():
      return self.jit_step(accum).lower(state, batch, rng).compile()

  def _init_boxed(self, rng: jax.Array) -> TrainState:
    params = self.init_boxed_params(rng)
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      opt_state=self.tx.init(params))

  def init_state(self, rng: jax.Array) -> TrainState:
    """Parameters and optimizer state created already sharded (never whole on one device)."""
    init = jax.jit(lambda r: nn.unbox(self._init_boxed(r)), out_shardings=self.state_sharding)
    with self.context():
      return init(rng)

  def abstract_state(self) -> TrainState:
    """Shapes, dtypes and shardings of the state, for restoring a checkpoint into."""
    with self.context():  # unbox inside the trace: its logical constraints need one
      abstract = jax.eval_shape(lambda r: nn.unbox(self._init_boxed(r)), jax.random.key(0))
    return jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                        abstract, self.state_sharding)

  def _step(self, state: TrainState, batch: Batch, rng: jax.Array, *, accum: int):
    return self.update(state, self.model, batch, rng, accum)

  def update(self, state: TrainState, model: Any, batch: Batch, rng: jax.Array, accum: int):
    """One optimizer step of `state.params` through `model` (the Transformer, or a wrapper
    such as LoRA's that closes over frozen weights)."""
    use_dropout = self.cfg.model.dropout > 0
    key = jax.random.fold_in(rng, state.step) if use_dropout else None
    grads, loss, tokens, router = grads_loss_and_metrics(
        state.params, model, batch, key, accum, self.cfg.optim.z_loss)
    updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    grad_norm = optax.global_norm(grads)
    metrics = {"loss": loss, "grad_norm": grad_norm,
               "learning_rate": self.schedule(state.step), "tokens": tokens,
               "nonfinite": (~jnp.isfinite(loss) | ~jnp.isfinite(grad_norm)).astype(jnp.int32),
               **router}
    return TrainState(step=state.step + 1, params=params, opt_state=opt_state), metrics

  def train_step(self, state: TrainState, batch: Batch, rng: jax.Array):
    with self.context():
      return self._train_step(state, batch, rng)
