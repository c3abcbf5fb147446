"""Training runs as subprocesses, for the experiment drivers (ablations, tokenizer
downstream, the speedrun).

Each run is the ordinary command line (`python -m llmjax.train ...`), so an experiment is
exactly what a user would type, and its results are read back from the run's workdir.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
from typing import Any, Mapping

from llmjax import config as config_lib
from llmjax import model, paths
from llmjax.errors import DataError
from llmjax.training import records


def run_cli(cmd: list[str], log: pathlib.Path) -> str:
  """Runs one command, keeps its output in `log`, returns stdout; fails loudly."""
  print("$", " ".join(cmd), flush=True)
  with open(log, "w") as f:
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    f.write(proc.stdout)
  print("\n".join(proc.stdout.strip().splitlines()[-2:]), flush=True)
  if proc.returncode:
    raise DataError(f"{' '.join(cmd[:4])} ... failed ({proc.returncode}); log: {log}")
  return proc.stdout


def train_command(config: str, overrides: Mapping[str, Any], workdir: pathlib.Path) -> list[str]:
  """`python -m llmjax.train` with the overrides (later keys win) and the workdir."""
  return [sys.executable, "-m", "llmjax.train", f"--config={config}",
          *config_lib.override_args(dict(overrides)), f"--config.workdir={workdir}"]


def evaluate_file(workdir: pathlib.Path, text_file: str, log: pathlib.Path,
                  checkpoint: str = "auto") -> dict:
  """`python -m llmjax.evaluate` on one text file with one of the run's checkpoints."""
  out = run_cli([sys.executable, "-m", "llmjax.evaluate", f"--workdir={workdir}",
                 f"--text_file={text_file}", f"--checkpoint={checkpoint}"], log)
  return json.loads(out.strip().splitlines()[-1])


def default_flores() -> str:
  """FLORES dev in the evaluation folder, or '' when there is none."""
  path = paths.eval_path(paths.FLORES_DEV)
  return str(path) if path.is_file() else ""


def data_stats(workdir: pathlib.Path) -> dict:
  """The data summary a training run writes to workdir/data.json."""
  path = workdir / "data.json"
  return json.loads(path.read_text()) if path.is_file() else {}


def val_history(workdir: pathlib.Path) -> list[dict]:
  """The evaluation rows of a run's metrics.jsonl, in step order."""
  return [r for r in records.read(workdir) if "val_bits_per_char" in r]


def device_kind() -> str:
  """The accelerator the runs use (asked in a subprocess: the driver keeps jax unloaded)."""
  out = subprocess.run([sys.executable, "-c", "import jax; print(jax.devices()[0].device_kind)"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
  return out.stdout.strip() or "unknown"


def model_stats(config: str, overrides: Mapping[str, Any]) -> dict:
  """Parameters, training FLOPs per token and batch shape of a config (no training)."""
  cfg = config_lib.from_config(config_lib.load(config, overrides))
  params = model.count_params(model.abstract_params(cfg.model))["total"]
  return {"params": params, "flops_per_token": model.flops_per_token(cfg.model, cfg.data.seq_len),
          "batch_size": cfg.data.batch_size, "seq_len": cfg.data.seq_len,
          "total_steps": cfg.train.total_steps, "name": cfg.name}


def matched_steps(ref_steps: int, ref_flops: float, flops: float) -> int:
  """Steps that spend ref_steps * ref_flops FLOPs at `flops` per token-step."""
  return max(1, round(ref_steps * ref_flops / flops))
