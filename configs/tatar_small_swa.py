"""Sliding-window variant of tatar_small: three local layers (128-token window) per
global layer, as in Gemma-style local/global stacks; same parameters as tatar_small.

Local layers attend to the last 128 tokens only (cuDNN / XLA local_window_size), and in
generation keep a 128-slot ring-buffer KV cache, so their memory does not grow with the
generated length; layers 4 and 8 attend globally.

  python -m llmjax.train --config=configs/tatar_small_swa.py
"""

import pathlib

from llmjax import config


def get_config():
  c = config.load(pathlib.Path(__file__).with_name("tatar_small.py"))
  c.name = "tatar_small_swa"
  c.model.sliding_window = 128
  c.model.global_every = 4
  return c
