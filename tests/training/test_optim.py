"""Learning-rate schedules and the weight-decay mask."""

import jax
import pytest

from llmjax.config import MeshConfig, OptimConfig
from llmjax.training import optim, sharding
from llmjax.training.step import Trainer
from tests.helpers import micro_config


def test_schedules():
  cos = optim.schedule(OptimConfig(lr=1.0, warmup_steps=10, min_lr_ratio=0.1), 100)
  assert float(cos(0)) == 0.0 and float(cos(10)) == pytest.approx(1.0)
  assert float(cos(100)) == pytest.approx(0.1, abs=1e-6)
  wsd = optim.schedule(OptimConfig(lr=1.0, warmup_steps=10, schedule="wsd",
                                   decay_fraction=0.2, min_lr_ratio=0.0), 100)
  assert float(wsd(5)) == pytest.approx(0.5)
  assert float(wsd(50)) == pytest.approx(1.0) and float(wsd(80)) == pytest.approx(1.0)
  assert float(wsd(90)) == pytest.approx(0.5) and float(wsd(100)) == pytest.approx(0.0)


def test_weight_decay_skips_norms():
  cfg, _ = micro_config()
  trainer = Trainer(cfg, sharding.make_mesh(MeshConfig(data=1), jax.devices()[:1]))
  params = trainer.init_state(jax.random.key(0)).params
  mask = optim._decay_mask(params)
  flat = {"/".join(str(getattr(k, "key", k)) for k in path): v
          for path, v in jax.tree_util.tree_flatten_with_path(mask)[0]}
  assert any(flat.values()) and not all(flat.values())
  assert not any(v for k, v in flat.items() if "norm" in k.lower())
