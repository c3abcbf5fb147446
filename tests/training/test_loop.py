"""The training loop: resume exactly, restart after a crash, unreadable checkpoints, and a
run that learns (the evaluators are llmjax.evals.for_training's, as the train command's)."""

import json
import shutil

import pytest

from llmjax import evals
from llmjax.config import from_config
from llmjax.training import loop
from tests.helpers import load_config, micro_config


def _train(cfg, d, **kw):
  return loop.train(cfg, d, evals.for_training(cfg), **kw)


def _losses(workdir):
  return {r["step"]: r["loss"] for r in map(json.loads, (workdir / "metrics.jsonl").open())
          if "loss" in r}


def test_resume_continues_exactly(tatar_fixture_dir, tmp_path):
  overrides = dict(data__text_dir=str(tatar_fixture_dir), model__dropout=0.1,
                   train__total_steps=20, train__log_every=1, train__checkpoint_every=5)
  cfg, d = micro_config(workdir=str(tmp_path / "straight"), **overrides)
  straight = _train(cfg, d)
  cfg2, d2 = micro_config(workdir=str(tmp_path / "killed"), **overrides)
  first = _train(cfg2, d2, stop_after=12)  # "killed" at 12; last checkpoint is 12
  assert first.step == 12
  # Simulate a crash after step 12 that lost steps 11-12: drop the newest checkpoint.
  import shutil
  shutil.rmtree(tmp_path / "killed" / "checkpoints" / "12")
  resumed = _train(cfg2, d2)
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
  first = _train(cfg, d, stop_after=2)
  shutil.rmtree(tmp_path / "w" / "checkpoints")  # killed before checkpoint 6 existed
  (tmp_path / "w" / "checkpoints").mkdir()
  assert (tmp_path / "w" / "best" / "2").is_dir()
  again = _train(cfg, d)
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
  _train(cfg, d)
  for f in (tmp_path / "checkpoints" / "5" / "state").rglob("*"):
    if f.is_file():
      f.write_bytes(b"garbage")
  cfg, d = micro_config(workdir=str(tmp_path), data__text_dir=str(tatar_fixture_dir),
                        train__total_steps=10)
  with pytest.raises(CheckpointError, match="cannot restore"):
    _train(cfg, d)


def test_learns_on_shared_tatar_text(shared_train_dir, tmp_path):
  """The real training split (skipped where ../shared is absent): val bits/char drops."""
  cfg = load_config("tiny", workdir=str(tmp_path), data__text_dir=str(shared_train_dir),
                    train__total_steps=80, train__eval_every=80, train__checkpoint_every=80,
                    data__max_val_rows=32)
  d = cfg.to_dict()
  c = from_config(d)
  result = _train(c, d)
  first, last = result.first_val["val_bits_per_char"], result.last_val["val_bits_per_char"]
  assert last < 0.85 * first, (first, last)
