"""Command: train a model (or resume it): python -m llmjax.train --config=configs/tiny.py

Any config value can be overridden: --config.model.n_layers=4 --config.workdir=runs/mine.
Ctrl-C (or SIGTERM, as a preemption sends) stops after the current step with a checkpoint
saved: exit status 130 (SIGINT) or 0 (SIGTERM); run the same command to resume. A
diverging run (non-finite loss) stops with one error line and exit status 3.
"""

import sys

from absl import flags
from ml_collections import config_flags

from llmjax import config, errors, evals
from llmjax.training import loop

_CONFIG = config_flags.DEFINE_config_file("config", None, "Path to a configs/*.py file.",
                                          lock_config=True)


def main(argv):
  del argv
  cfg_dict = _CONFIG.value.to_dict()
  cfg = config.from_config(cfg_dict)
  result = loop.train(cfg, cfg_dict, evals.for_training(cfg))
  sys.exit(loop.exit_status(result))


if __name__ == "__main__":
  flags.mark_flag_as_required("config")
  errors.run(main, config.parse_command_line)
