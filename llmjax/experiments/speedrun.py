"""Command: the CPU speedrun. Train a named recipe with N seeds and score it against the
target: tokens (and minutes) to reach the baseline's FLORES-dev bits/char.

  python -m llmjax.experiments.speedrun --recipe=baseline --seeds=0,1
  python -m llmjax.experiments.speedrun --recipe=half_muon --seeds=0,1

Each seed is an ordinary `python -m llmjax.train --config=configs/tatar_cpu_baseline.py ...`
run (FLORES dev evaluated every --flores_every steps) in ROOT/<recipe>-s<seed>, resumed if
interrupted. The recipes and the scoring are llmjax.experiments.recipes. The summary goes to
RESULTS/<recipe>.json and one row is appended to the record log (--record).
"""

import datetime
import json
import os
import pathlib

from absl import flags

from llmjax import config, errors
from llmjax.errors import ConfigError
from llmjax.experiments import recipes, runs
from llmjax.paths import atomic_write_text

_RECIPE = flags.DEFINE_string("recipe", "baseline", f"One of {sorted(recipes.RECIPES)}.")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1"], "Seeds (initialisation and data order).")
_FLORES_EVERY = flags.DEFINE_integer("flores_every", 100, "FLORES-dev evaluation interval.")
_TARGET = flags.DEFINE_string("target", "auto", "FLORES-dev bits/char to reach; auto: the "
                              "baseline's, from RESULTS/baseline.json.")
_WORKDIR_ROOT = flags.DEFINE_string("workdir_root", "runs/speedrun", "Runs go to "
                                    "ROOT/<recipe>-s<seed>.")
_RESULTS = flags.DEFINE_string("results", "reports/speedrun", "Folder of <recipe>.json.")
_RECORD = flags.DEFINE_string("record", "reports/speedrun/README.md",
                              "Record log the result row is appended to ('' = none).")
_SCORE_ONLY = flags.DEFINE_bool("score_only", False, "Score the workdirs as they are "
                                "(no training).")


def _target(results: pathlib.Path) -> float | None:
  if _TARGET.value != "auto":
    return float(_TARGET.value)
  base = results / "baseline.json"
  if _RECIPE.value == "baseline":
    return None  # the baseline sets the target
  if not base.is_file():
    raise ConfigError(f"no target: run --recipe=baseline first (it writes {base}), or give "
                      "--target=BITS_PER_CHAR")
  return json.loads(base.read_text())["target"]


def _row(name: str, summary: dict, target: float, command: str) -> str:
  def fmt(key, digits, scale=1.0):
    v, spread = summary[key], summary[key + "_spread"]
    if v is None:
      return "not reached"
    text = f"{v * scale:.{digits}f}"
    return text + (f" ± {spread * scale / 2:.{digits}f}" if spread is not None else "")
  return (f"| {datetime.date.today().isoformat()} | {name}: {recipes.RECIPES[name].description} "
          f"| {fmt('tokens_to_target', 2, 1e-6)}M ({summary['reached']}/{summary['seeds']} "
          f"seeds) | {fmt('wall_minutes_to_target', 1)} | {fmt('flores_at_best', 4)} | "
          f"{target:.4f} | `{command}` |")


def main(argv):
  del argv
  name = _RECIPE.value
  seeds = [int(s) for s in _SEEDS.value]
  results = pathlib.Path(_RESULTS.value)
  target = _target(results)
  cfg = config.from_config(config.load(recipes.BASE_CONFIG,
                                       recipes.recipe_overrides(name, 0, _FLORES_EVERY.value)))
  tokens_per_step = cfg.data.batch_size * cfg.data.seq_len
  workdirs = []
  for seed in seeds:
    wd = pathlib.Path(_WORKDIR_ROOT.value) / f"{name}-s{seed}"
    workdirs.append(wd)
    if not _SCORE_ONLY.value:
      wd.mkdir(parents=True, exist_ok=True)
      runs.run_cli(runs.train_command(
          recipes.BASE_CONFIG, dict(o.split("=", 1) for o in
                                    recipes.recipe_overrides(name, seed, _FLORES_EVERY.value)),
          wd), wd / "speedrun_train.log")
  scored = [recipes.score_run(wd, target, tokens_per_step) for wd in workdirs]
  if target is None:  # the baseline: its own best checkpoints set the target
    target = recipes.summarize(scored)["flores_at_best"]
    scored = [recipes.score_run(wd, target, tokens_per_step) for wd in workdirs]
  summary = recipes.summarize(scored)
  command = f"python -m llmjax.experiments.speedrun --recipe={name} --seeds={_SEEDS.value[0]}"
  command += "".join(f",{s}" for s in _SEEDS.value[1:])
  report = {"recipe": name, "description": recipes.RECIPES[name].description,
            "overrides": list(recipes.RECIPES[name].overrides), "target": target,
            "tokens_per_step": tokens_per_step, "summary": summary, "runs": scored,
            "device": runs.device_kind(), "command": command}
  atomic_write_text(results / f"{name}.json", json.dumps(report, indent=1) + "\n")
  if _RECORD.value:
    record = pathlib.Path(_RECORD.value)
    text = record.read_text(encoding="utf-8") if record.is_file() else ""
    atomic_write_text(record, text.rstrip("\n") + "\n" + _row(name, summary, target, command)
                      + "\n")
  print(json.dumps({"recipe": name, "target": target, **summary}))


if __name__ == "__main__":
  os.environ.setdefault("PYTHONUNBUFFERED", "1")
  errors.run(main)
