"""Train step, sharding, optimizer, resume and end-to-end training."""

import dataclasses
import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from llmjax import loop, optim, sharding
from llmjax.benchmark import synthetic_batch
from llmjax.config import MeshConfig, OptimConfig, from_config
from llmjax.train_step import Trainer, grads_and_loss
from tests.helpers import load_config, micro_config


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


def _losses(workdir):
  return {r["step"]: r["loss"] for r in map(json.loads, (workdir / "metrics.jsonl").open())
          if "loss" in r}


def test_resume_continues_exactly(tatar_fixture_dir, tmp_path):
  overrides = dict(data__text_dir=str(tatar_fixture_dir), model__dropout=0.1,
                   train__total_steps=20, train__log_every=1, train__checkpoint_every=5)
  cfg, d = micro_config(workdir=str(tmp_path / "straight"), **overrides)
  straight = loop.train(cfg, d)
  cfg2, d2 = micro_config(workdir=str(tmp_path / "killed"), **overrides)
  first = loop.train(cfg2, d2, stop_after=12)  # "killed" at 12; last checkpoint is 12
  assert first.step == 12
  # Simulate a crash after step 12 that lost steps 11-12: drop the newest checkpoint.
  import shutil
  shutil.rmtree(tmp_path / "killed" / "checkpoints" / "12")
  resumed = loop.train(cfg2, d2)
  assert resumed.step == 20 and resumed.first_val is None
  a, b = _losses(tmp_path / "straight"), _losses(tmp_path / "killed")
  assert sorted(a) == sorted(b) == list(range(1, 21))  # each step logged once
  for step in range(11, 21):
    assert b[step] == pytest.approx(a[step], rel=1e-5), step
  assert straight.last_val["val_bits_per_char"] == pytest.approx(
      resumed.last_val["val_bits_per_char"], rel=1e-5)


def test_restart_after_a_crash_before_the_first_checkpoint(tatar_fixture_dir, tmp_path):
  """A run killed after an evaluation but before its first periodic checkpoint (best/2 written,
  checkpoints/ empty) starts over cleanly: the stale best is replaced, every step logged once."""
  overrides = dict(data__text_dir=str(tatar_fixture_dir), train__total_steps=6,
                   train__log_every=1, train__eval_every=3, train__checkpoint_every=6)
  cfg, d = micro_config(workdir=str(tmp_path / "w"), **overrides)
  first = loop.train(cfg, d, stop_after=2)
  shutil.rmtree(tmp_path / "w" / "checkpoints")  # killed before checkpoint 6 existed
  (tmp_path / "w" / "checkpoints").mkdir()
  assert (tmp_path / "w" / "best" / "2").is_dir()
  again = loop.train(cfg, d)
  assert again.step == 6 and again.first_val == pytest.approx(first.first_val)
  records = [json.loads(x) for x in (tmp_path / "w" / "metrics.jsonl").read_text().splitlines()]
  val_steps = [r["step"] for r in records if "val_loss" in r]
  assert val_steps == [0, 3, 6]
  assert sorted(_losses(tmp_path / "w")) == list(range(1, 7))
  best = sorted(int(p.name) for p in (tmp_path / "w" / "best").iterdir() if p.name.isdigit())
  assert len(best) == 1


def test_unreadable_checkpoint_fails_loudly(tatar_fixture_dir, tmp_path):
  from llmjax.errors import CheckpointError
  cfg, d = micro_config(workdir=str(tmp_path), data__text_dir=str(tatar_fixture_dir),
                        train__total_steps=5)
  loop.train(cfg, d)
  for f in (tmp_path / "checkpoints" / "5" / "state").rglob("*"):
    if f.is_file():
      f.write_bytes(b"garbage")
  cfg, d = micro_config(workdir=str(tmp_path), data__text_dir=str(tatar_fixture_dir),
                        train__total_steps=10)
  with pytest.raises(CheckpointError, match="cannot restore"):
    loop.train(cfg, d)


def test_learns_on_shared_tatar_text(shared_train_dir, tmp_path):
  """The real training split (skipped where ../shared is absent): val bits/char drops."""
  cfg = load_config("tiny", workdir=str(tmp_path), data__text_dir=str(shared_train_dir),
                    train__total_steps=80, train__eval_every=80, train__checkpoint_every=80,
                    data__max_val_rows=32)
  d = cfg.to_dict()
  result = loop.train(from_config(d), d)
  first, last = result.first_val["val_bits_per_char"], result.last_val["val_bits_per_char"]
  assert last < 0.85 * first, (first, last)
