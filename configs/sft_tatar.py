"""Fine-tuning a pretrained workdir on the Tatar dictionary conversations (LoRA by default).

  python -m llmjax.sft.make_set                      # runs/sft_tatar_data/*.jsonl, once
  python -m llmjax.finetune --config=configs/sft_tatar.py --config.finetune.init_from=runs/tiny
  python -m llmjax.finetune --config=configs/sft_tatar.py --config.finetune.init_from=runs/tiny \
      --config.finetune.lora_rank=0 --config.optim.lr=3e-4 --config.workdir=runs/sft_full

The model's architecture, tokenizer and weights come from finetune.init_from; `model` here
holds only what fine-tuning may change ("" / 0 = as the base model). data.seq_len 0 = the
base model's max_seq_len. Sized for configs/tiny.py on a CPU: a few minutes.
"""

from llmjax.config import default_config
from llmjax.sft.config import default_finetune, default_model_overrides


def get_config():
  c = default_config()
  c.name = "sft_tatar"
  c.model = default_model_overrides()
  c.data.seq_len = 0
  c.data.batch_size = 16
  c.data.max_val_rows = 32
  c.optim.lr = 2e-3  # LoRA; full fine-tuning wants about a tenth (3e-4)
  c.optim.warmup_steps = 20
  c.optim.weight_decay = 0.0  # the adapters start at zero: nothing to pull back
  c.optim.min_lr_ratio = 0.1
  c.train.total_steps = 300
  c.train.log_every = 10
  c.train.eval_every = 50
  c.train.checkpoint_every = 50
  c.finetune = default_finetune()
  return c
