"""A tiny model that trains on 2 CPU cores in about a minute (tests, smoke runs, laptops).

  python -m llmjax.train --config=configs/tiny.py
"""

from llmjax.config import default_config


def get_config():
  c = default_config()
  c.name = "tiny"
  c.model.vocab_size = 2048
  c.model.d_model = 128
  c.model.n_layers = 2
  c.model.n_heads = 4
  c.model.n_kv_heads = 2
  c.model.head_dim = 32
  c.model.d_ff = 384
  c.model.max_seq_len = 128
  c.model.dtype = "float32"  # CPUs have no fast bf16 matmul
  c.data.seq_len = 128
  c.data.batch_size = 16
  c.data.max_val_rows = 64
  c.data.tokenizer_model_type = "bpe"  # 1.5 s to train here, against ~15 s for unigram
  c.data.tokenizer_max_sentences = 20_000
  c.optim.lr = 3e-3
  c.optim.warmup_steps = 20
  c.train.total_steps = 200
  c.train.log_every = 20
  c.train.eval_every = 100
  c.train.checkpoint_every = 50
  return c
