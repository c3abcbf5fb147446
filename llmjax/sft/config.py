"""The `finetune` config section, and a fine-tuning config resolved against its base workdir.

A fine-tuning config (configs/sft_tatar.py) is an ordinary llmjax config plus a `finetune`
section, except that its `model` section holds only what fine-tuning may change (dtype,
remat, attention implementation, dropout): the architecture is the pretrained model's, read
from the base workdir's checkpoint. `resolve` turns it into a complete config (the one the
checkpoints store, so a fine-tuned workdir restores, evaluates and exports like any other).
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
from typing import Any, Mapping

import ml_collections

from llmjax.config import Config, from_config, upgrade_saved
from llmjax.errors import ConfigError
from llmjax.training import checkpoint
from llmjax.training.checkpoint import CheckpointRef

# Projection matrices of attention and the MLP (see llmjax.sft.lora for the paths).
DEFAULT_TARGETS = r"attn/w[qkvo]$|mlp/(gate|up|down)$"
# Model keys a fine-tuning run may set; "" / 0 = as the base model.
MODEL_OVERRIDES = ("dtype", "remat", "attention_impl", "scan_unroll", "dropout")


def _check(ok: bool, message: str) -> None:
  if not ok:
    raise ConfigError(message)


@dataclasses.dataclass(frozen=True)
class FinetuneConfig:
  init_from: str = ""  # the pretrained workdir: its tokenizer, model config and checkpoint
  checkpoint: str = "best"  # which of its checkpoints: best, latest, auto or a step
  train_file: str = "runs/sft_tatar_data/train.jsonl"  # {"messages": [...]} per line
  val_file: str = "runs/sft_tatar_data/val.jsonl"  # held out: val loss, best checkpoint
  lora_rank: int = 8  # 0 = full fine-tuning (every parameter trains)
  lora_alpha: float = 16.0  # the adapter's update is scaled by lora_alpha / lora_rank
  lora_targets: str = DEFAULT_TARGETS  # regex searched in parameter paths
  system: str = ""  # a system message put before every conversation that has none
  # Every N steps: answer probe_conversations held-out questions (greedy) and log how many
  # answers keep the assistant format and stop at end-of-turn, and their chrF. 0 = off.
  probe_every: int = 0
  probe_conversations: int = 16

  @property
  def lora(self) -> bool:
    return self.lora_rank > 0

  def __post_init__(self):
    _check(bool(self.init_from), "finetune.init_from is required: the pretrained workdir to "
           "start from (--config.finetune.init_from=runs/tiny)")
    _check(bool(self.train_file) and bool(self.val_file),
           "finetune.train_file and finetune.val_file are required (JSONL conversations; "
           "python -m llmjax.sft.make_set writes a Tatar set)")
    _check(self.lora_rank >= 0, "finetune.lora_rank must be >= 0 (0 = full fine-tuning)")
    _check(self.lora_alpha > 0, "finetune.lora_alpha must be positive")
    try:
      re.compile(self.lora_targets)
    except re.error as e:
      raise ConfigError(f"finetune.lora_targets={self.lora_targets!r} is not a regular "
                        f"expression: {e}") from None
    _check(self.probe_every >= 0 and self.probe_conversations >= 1,
           "finetune.probe_every must be >= 0 (0 = off) and finetune.probe_conversations >= 1")


def default_finetune() -> ml_collections.ConfigDict:
  """The `finetune` section with its defaults (configs start from it)."""
  return ml_collections.ConfigDict({f.name: f.default
                                    for f in dataclasses.fields(FinetuneConfig)})


def default_model_overrides() -> ml_collections.ConfigDict:
  """The `model` section of a fine-tuning config: "" / 0 keep the base model's value."""
  return ml_collections.ConfigDict({"dtype": "", "remat": "", "attention_impl": "",
                                    "scan_unroll": 0, "dropout": 0.0})


def finetune_config(section: Mapping[str, Any]) -> FinetuneConfig:
  fields = {f.name for f in dataclasses.fields(FinetuneConfig)}
  unknown = sorted(set(section) - fields)
  _check(not unknown, f"unknown config keys {', '.join('finetune.' + k for k in unknown)}")
  return FinetuneConfig(**section)


@dataclasses.dataclass(frozen=True)
class Resolved:
  cfg: Config
  cfg_dict: dict  # complete: what the checkpoints store
  finetune: FinetuneConfig
  base: CheckpointRef  # the pretrained checkpoint


def base_checkpoint(ft: FinetuneConfig) -> CheckpointRef:
  """The pretrained checkpoint to start from; an adapter workdir is refused (merge it
  first: it is not a whole model)."""
  ref = checkpoint.find(ft.init_from, ft.checkpoint)
  lora = (ref.meta.get("finetune") or {}).get("lora")
  _check(not lora, f"finetune.init_from={ft.init_from!r} holds LoRA adapters, not a whole "
         "model: fold them into their base first (python -m llmjax.sft.merge "
         f"--adapter={ft.init_from} --out=DIR) and start from DIR")
  return ref


def resolve(d: Mapping[str, Any]) -> Resolved:
  """A fine-tuning config dict (configs/sft_tatar.py) completed from its base workdir."""
  d = dict(d)
  _check("finetune" in d, "this config has no `finetune` section: fine-tuning configs "
         "start from configs/sft_tatar.py")
  ft = finetune_config(d["finetune"])
  ref = base_checkpoint(ft)
  base = upgrade_saved(ref.meta["config"])
  overrides = dict(d.get("model", {}))
  unknown = sorted(set(overrides) - set(MODEL_OVERRIDES))
  _check(not unknown, f"model.{', model.'.join(unknown)} cannot change when fine-tuning "
         f"(the architecture is the base model's); settable: {', '.join(MODEL_OVERRIDES)}")
  model = dict(base["model"])
  model.update({k: v for k, v in overrides.items() if v not in ("", 0) or k == "dropout"})
  data = dict(d.get("data", {}))
  data["seq_len"] = data.get("seq_len") or model["max_seq_len"]
  resolved = {**d, "model": model, "data": data,
              "finetune": {**dataclasses.asdict(ft),
                           "init_from": str(pathlib.Path(ft.init_from).resolve())}}
  cfg = from_config(resolved)
  return Resolved(cfg, resolved, ft, ref)
