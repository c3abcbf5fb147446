"""The automatic microbatch: the largest that fits a memory budget, and exact accumulation."""

import jax
import numpy as np
import pytest

from llmjax.config import MeshConfig
from llmjax.errors import ConfigError
from llmjax.training import memory, sharding
from llmjax.training.step import Trainer
from llmjax.training.throughput import synthetic_batch
from tests.helpers import micro_config


def _trainer(**overrides) -> Trainer:
  cfg, _ = micro_config(**overrides)
  return Trainer(cfg, sharding.make_mesh(MeshConfig(data=1), jax.devices()[:1]))


def _losses(trainer: Trainer, steps: int = 3) -> tuple[list[float], object]:
  state = trainer.init_state(jax.random.key(0))
  losses = []
  for i in range(steps):
    batch = trainer.put_batch(synthetic_batch(trainer.cfg, seed=i))
    state, m = trainer.train_step(state, batch, jax.random.key(1))
    losses.append(float(m["loss"]))
  return losses, state.params


def test_a_small_budget_forces_accumulation_with_the_same_losses():
  trainer = _trainer()
  whole = memory.step_bytes(trainer.compile_step(1))
  half = memory.step_bytes(trainer.compile_step(2))
  assert half < whole  # memory falls with the rows a device takes at once
  # A budget between the two: the whole batch does not fit, half of it does.
  limit_mb = int((whole + half) / 2 / memory.HEADROOM / 2**20)
  assert half <= limit_mb * 2**20 * memory.HEADROOM < whole, "budget must separate the two"
  choice = memory.resolve(_trainer(train__memory_limit_mb=limit_mb))
  assert choice.accum >= 2 and choice.rows * choice.accum == trainer.rows_per_device
  assert choice.step_bytes <= limit_mb * 2**20 * memory.HEADROOM

  accumulated = _trainer(train__memory_limit_mb=limit_mb)
  memory.resolve(accumulated)
  assert accumulated.accum == choice.accum
  full = _trainer(train__memory_limit_mb=100_000)
  assert memory.resolve(full).accum == 1
  (l_acc, p_acc), (l_full, p_full) = _losses(accumulated), _losses(full)
  np.testing.assert_allclose(l_acc, l_full, rtol=0, atol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5), p_acc, p_full)


def test_explicit_microbatch_is_checked_and_used():
  trainer = _trainer(train__microbatch_size=2)
  choice = memory.resolve(trainer, trainer.cfg.train.microbatch_size)
  assert (choice.rows, choice.accum, trainer.accum) == (2, 4, 4)
  assert "2 rows per device x 4 accumulated" in choice.describe(8, 1)
  with pytest.raises(ConfigError, match="must divide the 8 rows"):
    memory.resolve(_trainer(), 3)


def test_nothing_fits_is_one_clear_error():
  with pytest.raises(ConfigError, match="one row of data.seq_len=32 tokens per device needs"):
    memory.resolve(_trainer(train__memory_limit_mb=1))


def test_budget_of_a_cpu_is_its_available_ram_shared_by_its_devices():
  import psutil
  per_device = memory.device_budget()
  assert 0 < per_device <= psutil.virtual_memory().total // jax.local_device_count()
  assert memory.device_budget(123) == 123 * 2**20
