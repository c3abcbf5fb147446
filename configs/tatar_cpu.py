"""The best Tatar model a laptop CPU trains in about 30 minutes: the CPU speedrun's winning
recipe (reports/speedrun). The baseline's model, data and 2000 steps
(configs/tatar_cpu_baseline.py) with one change kept: Muon for the hidden weight matrices,
AdamW for embeddings and norms.

  python -m llmjax.train --config=configs/tatar_cpu.py
"""

import pathlib

from llmjax import config


def get_config():
  c = config.load(pathlib.Path(__file__).with_name("tatar_cpu_baseline.py"))
  c.name = "tatar_cpu"
  c.optim.optimizer = "muon"  # reports/speedrun: the same FLORES with about half the tokens
  return c
