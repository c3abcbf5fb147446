"""Training runs as subprocesses, for the experiment drivers (tokenizer downstream, ablations).

Each run is the ordinary command line (`python -m llmjax.train ...`), so an experiment is
exactly what a user would type, and its results are read back from the run's workdir.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import pathlib
import subprocess
import sys

from llmjax.errors import ConfigError, DataError


def run_cli(cmd: list[str], log: pathlib.Path) -> str:
  """Runs one command, keeps its output in `log`, returns stdout; fails loudly."""
  print("$", " ".join(cmd), flush=True)
  with open(log, "w") as f:
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    f.write(proc.stdout)
  print("\n".join(proc.stdout.strip().splitlines()[-2:]), flush=True)
  if proc.returncode:
    raise DataError(f"{' '.join(cmd[:4])} ... failed ({proc.returncode}); log: {log}\n"
                    + proc.stdout[-2000:])
  return proc.stdout


def evaluate_file(workdir: pathlib.Path, text_file: str, log: pathlib.Path) -> dict:
  """`python -m llmjax.evaluate` on one text file with the run's best checkpoint: its JSON."""
  out = run_cli([sys.executable, "-m", "llmjax.evaluate", f"--workdir={workdir}",
                 f"--text_file={text_file}"], log)
  return json.loads(out.strip().splitlines()[-1])


def data_stats(stdout: str) -> dict:
  """The `data: {...}` line that llmjax.train prints at start."""
  for line in stdout.splitlines():
    if line.startswith("data: {"):
      return json.loads(line[len("data: "):line.rindex("}") + 1])
  return {}


def val_history(workdir: pathlib.Path) -> list[dict]:
  """The evaluation rows of a run's metrics.jsonl, in step order."""
  rows = [json.loads(x) for x in (workdir / "metrics.jsonl").read_text().splitlines() if x]
  return [r for r in rows if "val_bits_per_char" in r]


def device_kind() -> str:
  """The accelerator the runs use (asked in a subprocess: the driver keeps jax unloaded)."""
  out = subprocess.run([sys.executable, "-c", "import jax; print(jax.devices()[0].device_kind)"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
  return out.stdout.strip() or "unknown"


def define_experiment_flags(flags, *, workdir_root: str, out: str, what: str) -> None:
  """The flags every experiment driver shares (absl `flags` passed in: drivers define theirs
  only when run as a program, so importing them from a notebook defines nothing)."""
  flags.DEFINE_string("config", "configs/tiny.py", "Base config file.")
  flags.DEFINE_string("text_dir", "../shared/data/tatar/train", "Training text folder.")
  flags.DEFINE_string("flores", "../shared/data/tatar/eval/flores200/tat_Cyrl.dev",
                      "Held-out text scored with the best checkpoint ('' = skip).")
  flags.DEFINE_string("workdir_root", workdir_root, f"Runs go to ROOT/{what}.")
  flags.DEFINE_string("out", out, "Result JSON.")
  flags.DEFINE_list("set", [], "Overrides for every run, key=value (e.g. train.total_steps=300).")


def parse_overrides(pairs: list[str], flag: str = "--set") -> dict[str, str]:
  """["model.qk_norm=true", ...] -> {"model.qk_norm": "true"}."""
  out = {}
  for kv in pairs:
    if "=" not in kv or not kv.split("=", 1)[0]:
      raise ConfigError(f"{flag} {kv!r}: expected key=value")
    k, v = kv.split("=", 1)
    out[k] = v
  return out


def load_config(path: str, overrides: dict):
  """The config file's get_config() with dotted-key overrides (values as Python literals)."""
  spec = importlib.util.spec_from_file_location("_llmjax_config", path)
  if spec is None or not pathlib.Path(path).is_file():
    raise ConfigError(f"--config={path!r} is not a config file")
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  cfg = mod.get_config()
  for key, value in overrides.items():
    node = cfg
    *parents, leaf = key.split(".")
    for p in parents:
      node = node[p]
    try:
      value = ast.literal_eval(value) if isinstance(value, str) else value
    except (ValueError, SyntaxError):
      pass  # a plain string
    node[leaf] = value
  return cfg
