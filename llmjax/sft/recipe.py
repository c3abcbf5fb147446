"""What the training loop runs for fine-tuning (a llmjax.training.loop.Recipe).

The loop is pretraining's, unchanged: lock, resume, best checkpoint by validation
bits/char, TensorBoard, stop signals. The recipe swaps in the conversations (llmjax.sft.data,
tokenised with the base model's tokenizer), the trainer (FullTrainer or LoraTrainer, both
starting from the pretrained checkpoint) and, for LoRA, what evaluators see (the merged
model) and what the best checkpoint keeps (the adapters only).
"""

from __future__ import annotations

import pathlib

from llmjax.sft import data, lora
from llmjax.sft.config import Resolved
from llmjax.sft.trainer import FullTrainer, LoraTrainer
from llmjax.tokenizer import Tokenizer
from llmjax.training import checkpoint, loop


def lora_spec(resolved: Resolved) -> lora.LoraSpec | None:
  ft = resolved.finetune
  return lora.LoraSpec(ft.lora_rank, ft.lora_alpha, ft.lora_targets) if ft.lora else None


def base_tokenizer(resolved: Resolved) -> Tokenizer:
  return Tokenizer.from_proto(checkpoint.decode_tokenizer(resolved.base.meta))


def provenance(resolved: Resolved) -> dict:
  """What every checkpoint of the run records about its start (llmjax.sft.adapters reads
  it back to find an adapter's base)."""
  ft, spec = resolved.finetune, lora_spec(resolved)
  return {"finetune": {
      "init_from": str(pathlib.Path(ft.init_from).resolve()),
      "base_checkpoint": str(resolved.base.path.resolve()), "base_step": resolved.base.step,
      "lora": None if spec is None else {"rank": spec.rank, "alpha": spec.alpha,
                                          "targets": spec.targets}}}


# What a resumed fine-tune may change besides llmjax.config.RESUMABLE_CHANGES: the answer
# probe's cadence and size (they change no weights and no data order).
RESUMABLE = ("finetune.probe_every", "finetune.probe_conversations")


def build(resolved: Resolved) -> loop.Recipe:
  ft, spec = resolved.finetune, lora_spec(resolved)
  tokenizer = base_tokenizer(resolved)

  def prepare(cfg, workdir, log):
    del workdir  # nothing is cached: conversations tokenise in seconds
    return data.prepare(cfg, ft.train_file, ft.val_file, tokenizer, system=ft.system, log=log)

  if spec is None:
    return loop.Recipe(prepare_data=prepare,
                       make_trainer=lambda cfg, mesh: FullTrainer(cfg, mesh, resolved.base)
                       .load_base(),
                       meta=provenance(resolved), resumable=RESUMABLE)
  return loop.Recipe(
      prepare_data=prepare,
      make_trainer=lambda cfg, mesh: LoraTrainer(cfg, mesh, resolved.base, spec).load_base(),
      model_params=lambda trainer, state: trainer.merged(state.params),
      best_params=lambda trainer, state: state.params,
      meta=provenance(resolved), resumable=RESUMABLE)
