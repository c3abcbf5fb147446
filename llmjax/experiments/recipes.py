"""The CPU speedrun: named recipes (changes to configs/tatar_cpu_baseline.py), and how a run
is scored against the target.

The target is the baseline's FLORES-dev bits/char (mean over its seeds), read at its best
checkpoint by validation bits/char. A run reaches it at the first evaluation step where the
checkpoint that was best by validation *at that point* scores at or below the target on
FLORES dev: what a user who keeps the best checkpoint would hold. Tokens-to-target counts
training tokens up to that step; wall-to-target sums the measured training time of the steps
up to it (evaluations excluded), from the run's own log.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import statistics

from llmjax.errors import ConfigError
from llmjax.training import records

BASE_CONFIG = "configs/tatar_cpu_baseline.py"


@dataclasses.dataclass(frozen=True)
class Recipe:
  description: str
  overrides: tuple[str, ...] = ()  # key=value, on top of BASE_CONFIG


# One change at a time against the baseline (short: at half the baseline's tokens), and the
# combinations that were kept. reports/speedrun/README.md records what each one measured.
RECIPES: dict[str, Recipe] = {
    "baseline": Recipe("the CPU recipe of reports/eval: AdamW 2e-3, cosine, 2000 steps"),
    "half": Recipe("the baseline's schedule compressed to 1000 steps", ("train.total_steps=1000",)),
    "half_muon": Recipe("Muon for the hidden matrices, AdamW for embeddings and norms "
                        "(configs/tatar_cpu.py)",
                        ("train.total_steps=1000", "optim.optimizer=muon")),
    "half_lr4e3": Recipe("AdamW learning rate 4e-3", ("train.total_steps=1000", "optim.lr=4e-3")),
    "half_wsd": Recipe("warmup-stable-decay instead of cosine",
                       ("train.total_steps=1000", "optim.schedule=wsd")),
    "half_relu2_zero": Recipe(
        "ReLU² MLP (same parameters: d_ff 1056) and zero-initialised output projections",
        ("train.total_steps=1000", "model.mlp_activation=relu2", "model.d_ff=1056",
         "model.zero_init_out=True")),
    "half_b4": Recipe("batch 4 (2000 steps of half the tokens: the same tokens, twice the "
                      "updates)", ("train.total_steps=2000", "data.batch_size=4",
                                   "train.eval_every=200", "train.flores_every=200")),
    "half_seq128": Recipe("128-token context, batch 16 (same tokens per step)",
                          ("train.total_steps=1000", "data.seq_len=128", "data.batch_size=16")),
    # On top of Muon (the first change kept): one more change at a time.
    "half_muon_wsd": Recipe("Muon + warmup-stable-decay",
                            ("train.total_steps=1000", "optim.optimizer=muon",
                             "optim.schedule=wsd")),
    "half_muon_lr04": Recipe("Muon at muon_lr 0.04 (twice the default)",
                             ("train.total_steps=1000", "optim.optimizer=muon",
                              "optim.muon_lr=0.04")),
    "half_muon_seq128": Recipe("Muon + 128-token context, batch 16",
                               ("train.total_steps=1000", "optim.optimizer=muon",
                                "data.seq_len=128", "data.batch_size=16")),
    "half_muon_relu2_zero": Recipe(
        "Muon + ReLU² MLP (d_ff 1056) and zero-initialised output projections",
        ("train.total_steps=1000", "optim.optimizer=muon", "model.mlp_activation=relu2",
         "model.d_ff=1056", "model.zero_init_out=True")),
    # The kept recipe in the baseline's full budget.
    "full_muon": Recipe("Muon, the baseline's full 2000 steps",
                        ("optim.optimizer=muon",)),
    # Architecture variants at equal active compute (reports/experiments): quality per token.
    "half_moe": Recipe("mixture of experts: 8 experts of d_ff 352, top-2 (same active "
                       "parameters as the dense d_ff 704)",
                       ("train.total_steps=1000", "model.moe.experts=8", "model.moe.top_k=2",
                        "model.moe.d_ff=352")),
    "half_swa": Recipe("sliding window: 3 local layers (64-token window) per global layer",
                       ("train.total_steps=1000", "model.sliding_window=64",
                        "model.global_every=4")),
}


def recipe_overrides(name: str, seed: int, flores_every: int) -> list[str]:
  if name not in RECIPES:
    raise ConfigError(f"--recipe={name!r}: choose one of {sorted(RECIPES)}")
  # The recipe's own settings come after the defaults: a later key=value wins.
  return [f"train.flores_every={flores_every}", *RECIPES[name].overrides, f"seed={seed}",
          f"data.shuffle_seed={seed}"]


def flores_curve(workdir: pathlib.Path) -> dict[int, float]:
  """step -> FLORES-dev bits/char: the in-loop evaluations (train.flores_every), or the
  per-checkpoint `llmjax.evaluate` results a run kept in workdir/flores.jsonl."""
  curve = {r["step"]: r["flores_bits_per_char"] for r in records.read(workdir)
           if r.get("flores_bits_per_char") is not None}
  kept = workdir / "flores.jsonl"
  if not curve and kept.is_file():
    for line in kept.read_text().splitlines():
      if line.strip():
        r = json.loads(line)
        curve[int(r["step"])] = r["bits_per_char"]
  return curve


def score_run(workdir: pathlib.Path, target: float | None, tokens_per_step: int) -> dict:
  """The run's curve, its best-by-validation FLORES score, and when it reached the target."""
  rows = records.read(workdir)
  val = {r["step"]: r["val_bits_per_char"] for r in rows
         if r.get("val_bits_per_char") is not None}
  flores = flores_curve(workdir)
  # Measured training time per step, from the log points (evaluations excluded).
  train_rows = sorted((r["step"], r["tokens_per_sec"]) for r in rows
                      if r.get("tokens_per_sec"))
  seconds, prev, elapsed = {}, 0, 0.0
  for step, rate in train_rows:
    elapsed += (step - prev) * tokens_per_step / rate
    seconds[step], prev = elapsed, step
  best_step, best_val, reached = None, float("inf"), None
  held = []  # (step, FLORES of the checkpoint best by validation so far)
  for step in sorted(set(val) & set(flores)):
    if val[step] < best_val:
      best_val, best_step = val[step], step
    held.append((step, flores[best_step]))
    if reached is None and target is not None and flores[best_step] <= target:
      reached = step
  wall = None
  if reached is not None:
    wall = max((t for s, t in seconds.items() if s <= reached), default=0.0)
  return {"workdir": str(workdir), "best_step": best_step, "best_val_bits_per_char": best_val,
          "flores_at_best": flores.get(best_step), "steps_to_target": reached,
          "tokens_to_target": None if reached is None else reached * tokens_per_step,
          "wall_minutes_to_target": None if wall is None else round(wall / 60, 1),
          "train_minutes": round(max(seconds.values(), default=0.0) / 60, 1),
          "held_flores": held}


def summarize(runs: list[dict]) -> dict:
  """Means and spreads over seeds (spread = max - min)."""
  def stat(key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    if not vals:
      return None, None
    return statistics.fmean(vals), (max(vals) - min(vals)) if len(vals) > 1 else None
  out = {"seeds": len(runs), "reached": sum(r["steps_to_target"] is not None for r in runs)}
  for key in ("flores_at_best", "tokens_to_target", "wall_minutes_to_target", "train_minutes"):
    out[key], out[key + "_spread"] = stat(key)
  return out
