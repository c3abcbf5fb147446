"""Command: train-step throughput on synthetic tokens, one JSON line (tokens/s, MFU, step
time; llmjax.training.throughput).

  python -m llmjax.bench --config=configs/gpt2_124m.py [--config.a.b=v] [--steps=20]
"""

import json

import jax
from absl import flags
from ml_collections import config_flags

from llmjax import config, errors

from llmjax.training import throughput

_CONFIG = config_flags.DEFINE_config_file("config", None, "Path to a configs/*.py file.",
                                          lock_config=True)
_STEPS = flags.DEFINE_integer("steps", 20, "Timed steps (the median is reported).")
_WARMUP = flags.DEFINE_integer("warmup", 3, "Untimed steps first (compilation, autotuning).")


def main(argv):
  del argv
  result = throughput.bench_train_step(config.from_config(_CONFIG.value.to_dict()),
                                       steps=_STEPS.value, warmup=_WARMUP.value)
  if jax.process_index() == 0:
    print(json.dumps(result))


if __name__ == "__main__":
  flags.mark_flag_as_required("config")
  errors.run(main, config.parse_command_line)
