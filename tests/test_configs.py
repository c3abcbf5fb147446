"""Every model-variant config trains with the ordinary loop: its loss falls, and MoE
router metrics reach metrics.jsonl."""

import json

import pytest

from llmjax import evals
from llmjax.config import from_config
from llmjax.training import loop
from tests.helpers import load_config

# The variant configs shrunk to CPU-test size; only the variant switches stay as shipped.
MICRO = {"model__vocab_size": 384, "model__d_model": 32, "model__n_layers": 4,
         "model__n_heads": 4, "model__n_kv_heads": 2, "model__head_dim": 8, "model__d_ff": 64,
         "model__max_seq_len": 32, "model__dtype": "float32", "model__dropout": 0.0,
         "data__seq_len": 32, "data__batch_size": 8, "data__max_val_rows": 16,
         "data__tokenizer_model_type": "bpe", "data__tokenizer_max_sentences": 20_000,
         "optim__warmup_steps": 3, "optim__lr": 3e-3, "train__total_steps": 12,
         "train__log_every": 1, "train__eval_every": 12, "train__checkpoint_every": 12}


@pytest.mark.slow
@pytest.mark.parametrize("name,extra", [
    ("tatar_small_moe", {"model__moe__d_ff": 32}),
    ("tatar_small_swa", {"model__sliding_window": 8}),
])
def test_variant_config_trains_and_loss_falls(name, extra, tatar_fixture_dir, tmp_path):
  cfg = load_config(name, workdir=str(tmp_path), data__text_dir=str(tatar_fixture_dir),
                    **MICRO, **extra)
  d = cfg.to_dict()
  c = from_config(d)
  result = loop.train(c, d, evals.for_training(c))
  records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").open()]
  losses = [r["loss"] for r in records if "loss" in r]
  assert len(losses) == 12
  assert sum(losses[-3:]) / 3 < 0.95 * sum(losses[:3]) / 3, losses
  assert result.last_val["val_loss"] < result.first_val["val_loss"]
  if "moe" in name:
    train = [r for r in records if "loss" in r]
    assert all("moe/aux_loss" in r and "moe/l3/load_e7" in r for r in train)
    assert all(r["moe/aux_loss"] >= 1.0 - 1e-4 for r in train)
