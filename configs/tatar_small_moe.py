"""Mixture-of-experts variant of tatar_small at about the same active compute per token.

Every layer's SwiGLU (d_ff 1408) becomes 8 experts of d_ff 704 with top-2 routing: a
token passes through 2 x 704 = 1408 hidden units, as in the dense model, so active
parameters and FLOPs per token match tatar_small (+ a 512 x 8 router per layer), while the
total is ~2.9x. Dropless dispatch (sorted tokens, grouped matmul); load-balancing loss
0.01 and router z-loss 1e-3 as in Switch / ST-MoE.

  python -m llmjax.train --config=configs/tatar_small_moe.py
  # experts split over devices: --config.mesh.expert=4
"""

import pathlib

from llmjax import config


def get_config():
  c = config.load(pathlib.Path(__file__).with_name("tatar_small.py"))
  c.name = "tatar_small_moe"
  c.model.moe.experts = 8
  c.model.moe.top_k = 2
  c.model.moe.d_ff = 704
  c.model.moe.every = 1
  c.model.moe.gating = "softmax"
  c.model.moe.dispatch = "dropless"
  c.model.moe.aux_loss_weight = 0.01
  c.model.moe.z_loss_weight = 1e-3
  return c
