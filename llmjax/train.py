"""Train a model: python -m llmjax.train --config=configs/tatar_small.py [--config.a.b=v]"""

from absl import app, flags
from ml_collections import config_flags

from llmjax import loop
from llmjax.config import from_config
from llmjax.errors import exit_on_error

_CONFIG = config_flags.DEFINE_config_file("config", None, "Path to a configs/*.py file.",
                                          lock_config=True)


@exit_on_error
def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  cfg_dict = _CONFIG.value.to_dict()
  result = loop.train(from_config(cfg_dict), cfg_dict)
  if result.last_val:
    print(f"done: step {result.step}, val bits/char {result.last_val['val_bits_per_char']:.4f}"
          f" (best {result.best_val_bits_per_char:.4f})")


if __name__ == "__main__":
  flags.mark_flag_as_required("config")
  app.run(main)
