"""Ablations (llmjax.experiments.ablation): variant resolution, statistics and the table
(no training here)."""

import pytest

from llmjax.errors import ConfigError
from llmjax.experiments import ablation as ablate
from llmjax.experiments import runs


def test_block_variants_resolve_against_the_config():
  v = ablate.variant_overrides("block", "configs/tiny.py", {})
  assert v["baseline"] == {}
  assert v["mha"] == {"model.n_kv_heads": 4}  # tiny has 4 query heads
  assert v["mqa"] == {"model.n_kv_heads": 1}
  assert v["learned_positions"] == {"model.position_embedding": "learned"}
  # Overrides of the base reach the variants that depend on it.
  assert ablate.variant_overrides("block", "configs/tiny.py",
                                  {"model.n_heads": "8", "model.n_kv_heads": "2"})["mha"] == {
                                      "model.n_kv_heads": 8}
  with pytest.raises(ConfigError, match="choose one of"):
    ablate.variant_overrides("nope", "configs/tiny.py", {})


def test_every_block_variant_is_a_valid_config():
  base = runs.model_stats("configs/tiny.py", {})
  for name, ov in ablate.variant_overrides("block", "configs/tiny.py", {}).items():
    stats = runs.model_stats("configs/tiny.py", ov)
    if name == "mha":  # more key/value heads: more parameters and FLOPs
      assert stats["params"] > base["params"] and stats["flops_per_token"] > base["flops_per_token"]
    if name == "learned_positions":  # + max_seq_len x d_model table, not in matmul FLOPs
      assert stats["params"] == base["params"] + 128 * 128
      assert stats["flops_per_token"] == base["flops_per_token"]


def _run(variant, seed, val, flores, ov=None):
  return {"variant": variant, "overrides": ov or {}, "seed": seed, "params": 1000,
          "flops_per_token": 6000.0, "val_bits_per_char_best": val, "flores_bits_per_char": flores}


def test_summary_means_spreads_and_deltas():
  report = {"config": "configs/tiny.py", "base_overrides": {}, "seeds": [0, 1], "device": "cpu",
            "runs": [_run("baseline", 0, 2.0, 3.0), _run("baseline", 1, 2.2, 3.2),
                     _run("qk", 0, 1.9, 3.1, {"model.qk_norm": True}),
                     _run("qk", 1, 1.9, 2.9, {"model.qk_norm": True})]}
  base, qk = ablate.summarize(report)
  assert base["variant"] == "baseline" and base["seeds"] == 2
  assert base["val_bits_per_char_best"] == pytest.approx(2.1)
  assert base["val_bits_per_char_best_spread"] == pytest.approx(0.2)
  assert base["delta_val_bits_per_char_best"] == 0.0
  assert qk["val_bits_per_char_best"] == pytest.approx(1.9)
  assert qk["delta_val_bits_per_char_best"] == pytest.approx(-0.2)
  assert qk["flores_bits_per_char"] == pytest.approx(3.0)
  assert qk["delta_flores_bits_per_char"] == pytest.approx(-0.1)
  table = ablate.markdown(report)
  assert "| qk | `model.qk_norm=True` | 0.001M | 6e+03 | 1.9000 | 0.0000 | -0.2000 | 3.0000 |" in table
  assert "| baseline | (config defaults) |" in table


def test_single_seed_has_no_spread_and_missing_flores_is_a_dash():
  report = {"config": "c", "base_overrides": {}, "seeds": [0], "device": "cpu",
            "runs": [_run("baseline", 0, 2.0, None)]}
  (row,) = ablate.summarize(report)
  assert row["val_bits_per_char_best_spread"] is None and row["flores_bits_per_char"] is None
  assert "| 2.0000 | – | +0.0000 | – | – | – |" in ablate.markdown(report)
