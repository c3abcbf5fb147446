"""Checkpoints: finding one by name, restoring parameters alone (from best/ or from a full
train state in checkpoints/), and a trained workdir restored for inference."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from llmjax.config import MeshConfig
from llmjax.errors import CheckpointError
from llmjax.tokenizer import train_tokenizer
from llmjax.training import checkpoint, loop, restore, sharding
from llmjax.training.sharded import ShardedModel
from llmjax.training.step import Trainer, TrainState
from tests.fixture_text import fixture_lines
from tests.helpers import micro_config, numpy_params


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
  """checkpoints/3 and checkpoints/5 (full train states: step, params, optimizer state) and
  best/4 (parameters alone), as the training loop writes them: (workdir, {step: params})."""
  wd = tmp_path_factory.mktemp("ckpt")
  cfg, d = micro_config(workdir=str(wd), data__tokenizer_model_type="bpe")
  tok = train_tokenizer(fixture_lines(), vocab_size=cfg.model.vocab_size, model_type="bpe")
  trainer = Trainer(cfg, sharding.make_mesh(cfg.mesh))  # its optimizer: the state's layout
  ckpt = checkpoint.Checkpointer(wd)
  params = {}
  for step in (3, 4, 5):
    # Random parameters without compiling an init (slow on XLA:CPU), one set per step.
    p = numpy_params(cfg.model, seed=step)
    params[step] = jax.device_get(p)
    meta = loop.run_meta(d, cfg, tok, step)
    if step == 4:
      ckpt.save_best(step, p, {**meta, "val_bits_per_char": 2.5})
    else:
      state = TrainState(step=jnp.asarray(step, jnp.int32), params=p,
                         opt_state=trainer.tx.init(p))
      ckpt.save(step, state, {"note": "iterator state"}, meta)
  ckpt.close()
  return wd, params


def _same(a, b):
  jax.tree.map(lambda x, y: np.testing.assert_array_equal(np.asarray(x), np.asarray(y)), a, b)


def test_find_by_name(workdir):
  wd, _ = workdir
  best = checkpoint.find(wd, "best")
  assert (best.directory, best.step) == (wd / "best", 4)
  assert best.meta["val_bits_per_char"] == 2.5 and best.path == wd / "best" / "4"
  assert checkpoint.find(wd).step == 4  # auto: best first
  latest = checkpoint.find(wd, "latest")
  assert (latest.directory, latest.step) == (wd / "checkpoints", 5)
  assert checkpoint.find(wd, "3").step == 3 and checkpoint.find(wd, "3").meta["step"] == 3


def test_find_refuses_unknown_names_and_missing_steps(workdir, tmp_path):
  wd, _ = workdir
  with pytest.raises(CheckpointError, match="'bset'.*auto, best, latest"):
    checkpoint.find(wd, "bset")
  with pytest.raises(CheckpointError, match=r"no checkpoint of step 99 .*\[3, 5\]"):
    checkpoint.find(wd, "99")
  with pytest.raises(CheckpointError, match="does not exist"):
    checkpoint.find(tmp_path / "nope")
  with pytest.raises(CheckpointError, match="no checkpoint"):
    checkpoint.find(tmp_path)


def test_restore_params_from_best_and_from_a_train_state(workdir):
  wd, params = workdir
  cfg, _ = micro_config()
  # Another mesh than the one that saved them: parameters alone, no optimizer state needed.
  mesh_cfg = MeshConfig(data=2, fsdp=4)
  placed = ShardedModel(cfg.model, mesh_cfg, sharding.make_mesh(mesh_cfg))
  abstract = placed.abstract_params()
  for which, step in (("best", 4), ("latest", 5), ("3", 3)):
    restored = checkpoint.restore_params(checkpoint.find(wd, which), abstract)
    _same(restored, params[step])
    leaves = jax.tree.leaves(restored)
    assert all(a.sharding == s for a, s in zip(leaves, jax.tree.leaves(placed.param_sharding)))
  with pytest.raises(CheckpointError, match="cannot restore parameters"):
    wrong = jax.tree.map(lambda a: jax.ShapeDtypeStruct((a.shape[0] + 1,) + a.shape[1:],
                                                        a.dtype, sharding=a.sharding),
                         abstract)
    checkpoint.restore_params(checkpoint.find(wd, "latest"), wrong)


def test_restore_load_for_inference(workdir):
  wd, params = workdir
  restored = restore.load(wd, "latest")
  assert restored.step == 5 and restored.meta["step"] == 5
  # Data parallel over the devices that are here.
  assert dict(restored.model.mesh.shape) == {"data": jax.device_count(), "fsdp": 1,
                                             "expert": 1, "tensor": 1}
  assert dataclasses.asdict(restored.cfg.model) == restored.meta["model"]
  _same(restored.params, params[5])
  assert restored.tokenizer.sha256 == restored.meta["tokenizer_sha256"]
  assert restore.load(wd).step == 4  # auto: the best checkpoint
  texts = restore.continue_text(restored, ["Казан", "Мин"], max_new_tokens=3)
  assert len(texts) == 2 and all(isinstance(t, str) for t in texts)
