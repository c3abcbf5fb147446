"""The best Tatar model the CPU speedrun found, in half the baseline's steps: its winning
recipe (reports/speedrun, recipe half_muon). The baseline's model and data
(configs/tatar_cpu_baseline.py) with the one change kept, Muon for the hidden weight
matrices (AdamW for embeddings and norms), trained for half the baseline's steps: it reaches
the baseline's FLORES-dev bits/char with fewer than half its tokens and ends below it.

  python -m llmjax.train --config=configs/tatar_cpu.py
"""

import pathlib

from llmjax import config


def get_config():
  c = config.load(pathlib.Path(__file__).with_name("tatar_cpu_baseline.py"))
  c.name = "tatar_cpu"
  c.optim.optimizer = "muon"  # reports/speedrun: the target with 40% of the tokens
  c.train.total_steps = 1000  # = the speedrun's half_muon recipe
  return c
