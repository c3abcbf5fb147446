"""Fine-tuned workdirs back on the devices: an adapter on its base, and merging it for good.

A LoRA workdir's checkpoints hold the adapters only (best/<step>/params is the adapter
pytree); its metadata names the base checkpoint it was trained on (llmjax.sft.recipe
.provenance). `load` restores the base model and folds the adapter in; `merge_workdir`
writes the folded model as an ordinary workdir (best/ + metadata with the config and the
tokenizer), which `python -m llmjax.export` and every other command take as is.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import jax

from llmjax.errors import CheckpointError
from llmjax.paths import atomic_directory
from llmjax.sft import lora
from llmjax.sft.config import MODEL_OVERRIDES
from llmjax.training import checkpoint, restore
from llmjax.training.checkpoint import CheckpointRef
from llmjax.training.restore import Restored


def lora_spec(meta: dict) -> lora.LoraSpec | None:
  """The adapter's spec from a checkpoint's metadata; None for a whole model."""
  spec = (meta.get("finetune") or {}).get("lora")
  return None if not spec else lora.LoraSpec(int(spec["rank"]), float(spec["alpha"]),
                                             str(spec["targets"]))


def is_adapter(workdir: str | pathlib.Path, which: str = "auto") -> bool:
  return lora_spec(checkpoint.find(workdir, which).meta) is not None


def _shapes(model: dict) -> str:
  """The model config's keys that fine-tuning cannot change, comparable across JSON."""
  return json.dumps({k: v for k, v in model.items() if k not in MODEL_OVERRIDES},
                    sort_keys=True)


def _base(ref: CheckpointRef, base_workdir: str | pathlib.Path | None) -> Restored:
  """The checkpoint an adapter was trained on: from the workdir its metadata names, or from
  `base_workdir` (the same checkpoint, e.g. after the workdir moved)."""
  recorded = ref.meta["finetune"]
  trained_on = pathlib.Path(recorded["base_checkpoint"])
  workdir = base_workdir or recorded["init_from"]
  which = "best" if trained_on.parent.name == "best" else str(recorded["base_step"])
  base = restore.load(workdir, which)
  if (base.step != recorded["base_step"] or base.tokenizer.sha256 != ref.meta.get(
      "tokenizer_sha256") or _shapes(dataclasses.asdict(base.cfg.model)) != _shapes(
          ref.meta.get("model", {}))):
    raise CheckpointError(f"the adapter in {ref.path} was trained on {trained_on}, not on "
                          f"{workdir}'s checkpoint {base.step}")
  return base


def load(adapter_dir: str | pathlib.Path, base_workdir: str | pathlib.Path | None = None,
         which: str = "auto") -> Restored:
  """The base model with the adapter of `adapter_dir` (checkpoint `which`) folded in; the
  base is the checkpoint the adapter was trained on (found as its metadata says, or in
  `base_workdir`)."""
  ref = checkpoint.find(adapter_dir, which)
  spec = lora_spec(ref.meta)
  if spec is None:
    raise CheckpointError(f"{adapter_dir} holds a whole model, not a LoRA adapter: use it "
                          "as --workdir")
  base = _base(ref, base_workdir)
  adapters = restore_adapters(ref, spec, base)
  merged = jax.jit(lambda p, a: lora.merge(p, a, spec.scale))(base.params, adapters)
  return dataclasses.replace(base, params=merged, step=ref.step, meta=ref.meta)


def restore_adapters(ref: CheckpointRef, spec: lora.LoraSpec, base: Restored):
  """The adapter pytree of a checkpoint, replicated on the base model's mesh."""
  shapes = jax.eval_shape(lambda: lora.init(base.params, spec, jax.random.key(0)))
  abstract = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype,
                                                         sharding=base.model.replicated),
                          shapes)
  return checkpoint.restore_params(ref, abstract)


def load_any(workdir: str | pathlib.Path, adapter: str | pathlib.Path | None = None,
             which: str = "auto") -> Restored:
  """What chat and the answer evaluation load: --workdir alone (a whole model, or an adapter
  workdir whose base is found from its metadata), or --workdir=BASE --adapter=DIR."""
  if adapter:
    if not pathlib.Path(adapter).is_dir():
      raise CheckpointError(f"--adapter={str(adapter)!r} does not exist")
    return load(adapter, workdir, which)
  if is_adapter(workdir, which):
    return load(workdir, None, which)
  return restore.load(workdir, which)


def merge_workdir(adapter_dir: str | pathlib.Path, out: str | pathlib.Path,
                  base_workdir: str | pathlib.Path | None = None, which: str = "best"
                  ) -> pathlib.Path:
  """Writes the adapter folded into its base as an ordinary workdir `out` (all at once)."""
  merged = load(adapter_dir, base_workdir, which)
  meta = dict(merged.meta)
  meta["finetune"] = {**meta["finetune"], "lora": None,
                      "merged": {"adapter": str(pathlib.Path(adapter_dir).resolve()),
                                 "adapter_step": merged.step,
                                 "lora": meta["finetune"]["lora"]}}
  out = pathlib.Path(out)
  with atomic_directory(out) as tmp:
    ckpt = checkpoint.Checkpointer(tmp, async_save=False)
    ckpt.save_best(merged.step, merged.params, meta)
    ckpt.close()
    merged.tokenizer.save(tmp / "tokenizer.model")
  return out
