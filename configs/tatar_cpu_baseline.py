"""The CPU recipe the speedrun races against (reports/speedrun): tatar_small shrunk to what
a 2-core CPU trains in about 20 to 35 minutes (reports/speedrun). 4.8M parameters,
d_model 256, 4 layers, 256-token context, batch 8, float32, 2000 steps (4.1M tokens, about
2 epochs of the development corpus), AdamW lr 2e-3 with cosine decay, the 4k unigram
tokenizer, QK-norm.

  python -m llmjax.train --config=configs/tatar_cpu_baseline.py
"""

import pathlib

from llmjax import config


def get_config():
  c = config.load(pathlib.Path(__file__).with_name("tatar_small.py"))
  c.name = "tatar_cpu_baseline"
  c.model.d_model = 256
  c.model.n_layers = 4
  c.model.d_ff = 704
  c.model.max_seq_len = 256
  c.model.dtype = "float32"  # CPUs have no fast bf16 matmul
  c.model.dropout = 0.0
  c.data.seq_len = 256
  c.data.batch_size = 8
  c.data.max_val_rows = 64
  c.optim.warmup_steps = 30
  c.train.total_steps = 2000
  c.train.log_every = 20
  c.train.eval_every = 100
  c.train.checkpoint_every = 100
  return c
