"""The speedrun's scoring: the checkpoint a user keeps (best by validation so far) decides."""

import json

import pytest

from llmjax.errors import ConfigError
from llmjax.experiments import recipes


def _run(tmp_path, val, flores, rate=1000.0):
  rows = [{"step": s, "loss": 1.0, "tokens_per_sec": rate} for s in range(20, 401, 20)]
  rows += [{"step": s, "val_bits_per_char": v} for s, v in val.items()]
  rows += [{"step": s, "flores_bits_per_char": f} for s, f in flores.items()]
  (tmp_path / "metrics.jsonl").write_text("\n".join(map(json.dumps, rows)) + '\n{"step": 4')
  return tmp_path


def test_target_is_judged_on_the_best_checkpoint_by_validation(tmp_path):
  # Step 300 has the best FLORES but a worse validation score than step 200: a user keeping
  # the best-by-validation checkpoint holds step 200's model until step 400.
  run = _run(tmp_path, val={100: 2.0, 200: 1.8, 300: 1.9, 400: 1.7},
             flores={100: 2.9, 200: 2.6, 300: 2.4, 400: 2.45})
  out = recipes.score_run(run, target=2.5, tokens_per_step=100)
  assert out["best_step"] == 400 and out["flores_at_best"] == 2.45
  assert [f for _, f in out["held_flores"]] == [2.9, 2.6, 2.6, 2.45]
  assert out["steps_to_target"] == 400 and out["tokens_to_target"] == 40_000
  assert out["wall_minutes_to_target"] == round(400 * 100 / 1000 / 60, 1)


def test_unreached_target_and_seed_summary(tmp_path):
  a = recipes.score_run(_run(tmp_path, {100: 2.0}, {100: 2.9}), 2.5, 100)
  assert a["steps_to_target"] is None and a["tokens_to_target"] is None
  b = dict(a, flores_at_best=2.7, steps_to_target=100, tokens_to_target=10_000)
  s = recipes.summarize([a, b])
  assert s["reached"] == 1 and s["flores_at_best"] == pytest.approx(2.8)
  assert s["flores_at_best_spread"] == pytest.approx(0.2)
  assert s["tokens_to_target"] == 10_000 and s["tokens_to_target_spread"] is None


def test_recipe_overrides_put_the_recipe_after_the_defaults():
  out = recipes.recipe_overrides("half_muon", 1, 50)
  assert out[0] == "train.flores_every=50" and "optim.optimizer=muon" in out
  assert out[-2:] == ["seed=1", "data.shuffle_seed=1"]
  with pytest.raises(ConfigError, match="choose one of"):
    recipes.recipe_overrides("nope", 0, 50)
