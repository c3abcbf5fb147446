"""Command: fine-tune a pretrained workdir on conversations (SFT; LoRA or full).

  python -m llmjax.finetune --config=configs/sft_tatar.py --config.finetune.init_from=runs/tiny

Starts from finetune.init_from (its tokenizer, model config and best checkpoint) and trains
on finetune.train_file (JSONL {"messages": [...]}), scoring the assistant's tokens only.
finetune.lora_rank > 0 trains LoRA adapters on the frozen weights (checkpoints hold the
adapters only; `python -m llmjax.sft.merge` folds them in); 0 trains every weight. The
training loop is pretraining's: the workdir is locked, Ctrl-C / SIGTERM stop with a
checkpoint, the same command resumes, best/ keeps the lowest validation bits/char (per
character of the held-out answers), TensorBoard and metrics.jsonl record everything.
"""

import sys

from absl import flags
from ml_collections import config_flags

from llmjax import config, errors
from llmjax.evals import bpc
from llmjax.sft import config as sft_config
from llmjax.sft import probe, recipe
from llmjax.training import loop

_CONFIG = config_flags.DEFINE_config_file("config", None, "Path to a fine-tuning config "
                                          "(configs/sft_tatar.py).", lock_config=True)


def main(argv):
  del argv
  resolved = sft_config.resolve(_CONFIG.value.to_dict())
  ft = resolved.finetune
  periodic = ((ft.probe_every, probe.AnswerProbe(ft.val_file, ft.probe_conversations,
                                                 ft.system)),) if ft.probe_every else ()
  evaluators = loop.Evaluators(validate=bpc.validation, periodic=periodic)
  result = loop.train(resolved.cfg, resolved.cfg_dict, evaluators,
                      recipe=recipe.build(resolved))
  sys.exit(loop.exit_status(result))


if __name__ == "__main__":
  flags.mark_flag_as_required("config")
  errors.run(main, config.parse_command_line)
