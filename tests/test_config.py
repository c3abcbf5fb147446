"""llmjax.config: config files with command-line overrides (config.load), validation into
frozen dataclasses, the nested mixture-of-experts section."""

import dataclasses

import pytest

from llmjax import config
from llmjax.config import ModelConfig, MoeConfig, from_config
from llmjax.errors import ConfigError
from tests.helpers import REPO

TINY = REPO / "configs" / "tiny.py"


def test_load_applies_overrides_like_the_command_line():
  cfg = config.load(TINY, ["model.d_model=64", "optim.lr=0.001", "model.tie_embeddings=False",
                           "data.text_dir=/some/where", "model.moe.experts=4", "seed=7"])
  assert cfg.model.d_model == 64 and isinstance(cfg.model.d_model, int)
  assert cfg.optim.lr == 0.001 and isinstance(cfg.optim.lr, float)
  assert cfg.model.tie_embeddings is False  # "False" parsed to the field's type
  assert cfg.data.text_dir == "/some/where" and cfg.seed == 7
  assert cfg.model.moe.experts == 4 and cfg.name == "tiny"
  # A mapping of values gives the same config as key=value strings.
  same = config.load(TINY, {"model.d_model": 64, "optim.lr": 1e-3,
                            "model.tie_embeddings": False, "data.text_dir": "/some/where",
                            "model.moe.experts": 4, "seed": 7})
  assert same.to_dict() == cfg.to_dict()
  assert config.load(TINY).to_dict() == config.load(str(TINY), {}).to_dict()
  # The frozen dataclasses built from it.
  frozen = from_config(cfg)
  assert frozen.model.moe == MoeConfig(experts=4) and frozen.model.d_model == 64


def test_load_errors_are_config_errors():
  with pytest.raises(ConfigError, match="nonsense"):
    config.load(TINY, ["model.nonsense=3"])
  with pytest.raises(ConfigError, match="modle"):
    config.load(TINY, {"modle.d_model": 3})
  with pytest.raises(ConfigError, match="does not exist"):
    config.load(REPO / "configs" / "nope.py")
  with pytest.raises(ConfigError, match="d_model"):
    config.load(TINY, ["model.d_model=wide"])
  with pytest.raises(ConfigError, match="expected key=value"):
    config.load(TINY, ["model.d_model"])
  for message in (str(e) for e in _errors(["model.nonsense=3"], ["model.d_model=wide"])):
    assert "\n" not in message  # one line, as the commands print it


def _errors(*overrides):
  for ov in overrides:
    try:
      config.load(TINY, ov)
    except ConfigError as e:
      yield e


def test_override_args():
  assert config.override_args(["a.b=1", "c=x=y"]) == ["--config.a.b=1", "--config.c=x=y"]
  assert config.override_args({"a.b": 1, "seed": "2"}) == ["--config.a.b=1", "--config.seed=2"]
  for bad in ("novalue", "=3"):
    with pytest.raises(ConfigError, match="expected key=value"):
      config.override_args([bad])


def test_nested_moe_config_from_a_dict():
  d = config.default_config().to_dict()
  d["model"].update(vocab_size=64, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2,
                    head_dim=8, d_ff=64, max_seq_len=32, dtype="float32")
  d["data"].update(seq_len=32)
  d["model"]["moe"] = {"experts": 4, "top_k": 2, "d_ff": 16, "every": 2}
  cfg = from_config(d)
  assert isinstance(cfg.model.moe, MoeConfig)
  assert (cfg.model.moe.experts, cfg.model.moe.top_k, cfg.model.moe.d_ff) == (4, 2, 16)
  assert cfg.model.moe.gating == "softmax"  # unset fields keep their defaults
  assert cfg.model.layer_group == 2 and cfg.model.expert_d_ff == 16
  assert [cfg.model.layer_is_moe(i) for i in range(2)] == [False, True]
  assert dataclasses.asdict(cfg.model)["moe"]["experts"] == 4  # as checkpoints store it
  d["model"]["moe"] = {"experts": 4, "nonsense": 1}
  with pytest.raises(ConfigError, match=r"unknown config keys model\.moe\.nonsense"):
    from_config(d)
  d["model"]["moe"] = {"experts": 4, "top_k": 5}
  with pytest.raises(ConfigError, match=r"model\.moe\.top_k=5"):
    from_config(d)
  assert ModelConfig().moe == MoeConfig() and MoeConfig().experts == 0  # dense by default


def test_every_shipped_training_config_loads_and_validates():
  checked = 0
  for path in sorted((REPO / "configs").glob("*.py")):
    loaded = config.load(path)
    if "finetune" in loaded:  # a fine-tuning config: llmjax.sft validates it
      continue
    cfg = from_config(loaded)
    assert cfg.name and cfg.model.vocab_size > 0, path.name
    checked += 1
  assert checked >= 5
  moe = from_config(config.load(REPO / "configs" / "tatar_small_moe.py")).model.moe
  assert (moe.experts, moe.top_k) == (8, 2)
