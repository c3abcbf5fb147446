"""Command: rematerialisation policies, peak memory against step time, on this machine.

  python -m llmjax.experiments.remat --config=configs/tatar_cpu_baseline.py \
      --out=runs/experiments/remat.json

For each policy of model.remat, `python -m llmjax.bench` times the train step (median of
--steps after warm-up) under `/usr/bin/time -v`, which reports the process's peak resident
memory. On a CPU the peak includes the Python process and XLA's buffers; on an accelerator
the device's own memory is what matters (read the compiled step's memory instead: the train
command prints it).
"""

import json
import os
import re
import subprocess
import sys

from absl import flags
from ml_collections import config_flags

from llmjax import config, errors
from llmjax.config import REMAT_POLICIES
from llmjax.errors import DataError
from llmjax.paths import atomic_write_text

_CONFIG = config_flags.DEFINE_config_file("config", "configs/tatar_cpu_baseline.py",
                                          "Config file; --config.a.b=v overrides it.")
_POLICIES = flags.DEFINE_list("policies", list(REMAT_POLICIES), "model.remat values to time.")
_STEPS = flags.DEFINE_integer("steps", 5, "Timed steps per policy (median reported).")
_OUT = flags.DEFINE_string("out", "runs/experiments/remat.json", "Result JSON.")


def measure(path: str, overrides: dict, policy: str, steps: int) -> dict:
  cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "llmjax.bench", f"--config={path}",
         *config.override_args({**overrides, "model.remat": policy}), f"--steps={steps}",
         "--warmup=2"]
  proc = subprocess.run(cmd, capture_output=True, text=True)
  if proc.returncode:
    raise DataError(f"{' '.join(cmd[2:6])} ... failed: {proc.stderr.strip().splitlines()[-1]}")
  bench = json.loads(proc.stdout.strip().splitlines()[-1])
  rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
  return {"policy": policy, "step_ms": bench["step_ms"], "tokens_per_sec": bench["tokens_per_sec"],
          "peak_rss_mb": round(rss_kb / 1024), "device": bench["device"]}


def main(argv):
  del argv
  path = config_flags.get_config_filename(flags.FLAGS["config"])
  overrides = config_flags.get_override_values(flags.FLAGS["config"])
  rows = []
  for policy in _POLICIES.value:
    rows.append(measure(path, overrides, policy, _STEPS.value))
    print(json.dumps(rows[-1]), flush=True)
  atomic_write_text(_OUT.value, json.dumps({"config": path, "overrides": overrides,
                                            "rows": rows}, indent=1) + "\n")
  print(f"wrote {_OUT.value}")


if __name__ == "__main__":
  os.environ.setdefault("PYTHONUNBUFFERED", "1")
  errors.run(main, config.parse_command_line)
