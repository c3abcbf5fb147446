"""The train step: sharded equals single-device, exact gradient accumulation."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from llmjax.config import MeshConfig
from llmjax.training import sharding
from llmjax.training.step import Trainer, grads_and_loss
from llmjax.training.throughput import synthetic_batch
from tests.helpers import micro_config


def _packed_batch(cfg, seed=0):
  """Synthetic rows with two documents each, so segment masking is exercised."""
  batch = synthetic_batch(cfg, seed)
  t = cfg.data.seq_len
  batch["segment_ids"][:, t // 2:] = 2
  batch["segment_ids"][0, -3:] = 0  # padding tail
  batch["positions"][:, t // 2:] -= t // 2
  return batch


def test_sharded_loss_and_grads_equal_single_device():
  cfg, _ = micro_config()
  batch = _packed_batch(cfg)
  results = []
  for mesh_cfg, devices in [(MeshConfig(data=1, fsdp=1, tensor=1), jax.devices()[:1]),
                            (MeshConfig(data=2, fsdp=4, tensor=1), jax.devices())]:
    c = dataclasses.replace(cfg, mesh=mesh_cfg)
    trainer = Trainer(c, sharding.make_mesh(mesh_cfg, devices))
    state = trainer.init_state(jax.random.key(0))
    with trainer.context():
      grads, loss, _ = jax.jit(lambda p, b: grads_and_loss(p, trainer.model, b, None, 1))(
          state.params, trainer.put_batch(batch))
    results.append((float(loss), jax.device_get(grads), state.params))
  (loss1, g1, p1), (loss8, g8, p8) = results
  # Parameters created sharded from the same key are the same numbers.
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7), p1, p8)
  assert loss1 == pytest.approx(loss8, rel=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), g1, g8)
  # And the 8-device parameters really are split over fsdp.
  specs = [str(x.sharding.spec) for x in jax.tree.leaves(p8)]
  assert any("fsdp" in s for s in specs), specs
  big = max(jax.tree.leaves(p8), key=lambda x: x.size)
  assert big.addressable_shards[0].data.size < big.size


def test_grad_accumulation_equals_full_batch():
  cfg, _ = micro_config()
  trainer = Trainer(cfg, sharding.make_mesh(MeshConfig(data=1), jax.devices()[:1]))
  state = trainer.init_state(jax.random.key(0))
  batch = jax.tree.map(jnp.asarray, _packed_batch(cfg))
  run = jax.jit(grads_and_loss, static_argnums=(1, 3, 4))
  g1, l1, w1 = run(state.params, trainer.model, batch, None, 1)
  g4, l4, w4 = run(state.params, trainer.model, batch, None, 4)
  assert float(w1) == float(w4) == cfg.data.batch_size * cfg.data.seq_len - 3
  assert float(l1) == pytest.approx(float(l4), rel=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), g1, g4)
