"""The headline model: ~26M parameters, 512-token context, sized for a Colab GPU/TPU.

Sized to the data: the development corpus is ~2M tokens (4k unigram vocab), so the model
sees each token ~10 times in 600 steps of 32k tokens; validation bits/char is evaluated every 50 steps and
the best checkpoint is kept (quality here is data-bound, so overfitting is the enemy).

  python -m llmjax.train --config=configs/tatar_small.py
"""

from llmjax.config import default_config


def get_config():
  c = default_config()
  c.name = "tatar_small"
  c.model.vocab_size = 4096  # lowest FLORES bits/char at equal FLOPs: reports/tokenizer
  c.model.d_model = 512
  c.model.n_layers = 8
  c.model.n_heads = 8
  c.model.n_kv_heads = 4
  c.model.head_dim = 64
  c.model.qk_norm = True  # lower bits/char at the same cost: reports/ablations
  c.model.d_ff = 1408
  c.model.max_seq_len = 512
  c.model.dropout = 0.1
  c.model.dtype = "bfloat16"
  c.model.remat = "none"
  c.data.seq_len = 512
  c.data.batch_size = 64  # 32k tokens per step
  c.optim.lr = 2e-3
  c.optim.warmup_steps = 50
  c.optim.weight_decay = 0.1
  c.train.total_steps = 600
  c.train.log_every = 10
  c.train.eval_every = 50
  c.train.checkpoint_every = 100
  return c
