"""Ablations: one config, a few named variants x seeds, compared in bits per character.

Run by `python -m llmjax.experiments.ablate`. Every run is the ordinary
`python -m llmjax.train` command with the variant's overrides (plus the driver's own
--config.* overrides and the seed), so any row can be re-run by hand. All variants train the
same steps on the same batches (same tokens; FLOPs per token are reported beside, as
variants may differ slightly). Scores: the best validation bits/char of the run (full
validation split, data.max_val_rows=0) and FLORES-200 dev bits/char of the best checkpoint.
"""

from __future__ import annotations

import pathlib
import statistics
import time
from typing import Any, Callable, Mapping

from llmjax import config as config_lib
from llmjax.errors import ConfigError
from llmjax.experiments.runs import data_stats, evaluate_file, run_cli, train_command, val_history

# A variant maps the base config (ml_collections) to overrides {dotted key: value}.
Variant = Callable[[object], dict]

# The block options of README "Model variants", each against the config's own defaults.
VARIANT_SETS: dict[str, dict[str, Variant]] = {
    "block": {
        "baseline": lambda c: {},
        "learned_positions": lambda c: {"model.position_embedding": "learned"},
        "rope_theta_500k": lambda c: {"model.rope_theta": 500_000.0},
        "mha": lambda c: {"model.n_kv_heads": c.model.n_heads},
        "mqa": lambda c: {"model.n_kv_heads": 1},
        "qk_norm": lambda c: {"model.qk_norm": True},
        "attn_softcap_30": lambda c: {"model.attn_logit_softcap": 30.0},
        "final_softcap_30": lambda c: {"model.final_logit_softcap": 30.0},
    },
}


def variant_overrides(set_name: str, config: str, base: Mapping[str, Any]) -> dict[str, dict]:
  """{variant name: its overrides} for one of VARIANT_SETS, resolved against the config."""
  if set_name not in VARIANT_SETS:
    raise ConfigError(f"--variants={set_name!r}: choose one of {sorted(VARIANT_SETS)}")
  cfg = config_lib.load(config, base)
  return {name: fn(cfg) for name, fn in VARIANT_SETS[set_name].items()}


def run_variant(config: str, overrides: Mapping[str, Any], workdir: pathlib.Path,
                flores: str) -> dict:
  """Trains one run (resuming if its workdir has checkpoints) and scores it."""
  workdir.mkdir(parents=True, exist_ok=True)
  start = time.perf_counter()
  run_cli(train_command(config, overrides, workdir), workdir / "ablate_train.log")
  vals = val_history(workdir)
  best = min(vals, key=lambda v: v["val_bits_per_char"])
  result = {"train_seconds": round(time.perf_counter() - start, 1),
            "val_bits_per_char_best": best["val_bits_per_char"], "best_step": best["step"],
            "val_history": [(v["step"], v["val_bits_per_char"]) for v in vals],
            "train_chars_per_token": data_stats(workdir).get("train_chars_per_token")}
  if flores:
    result["flores_bits_per_char"] = evaluate_file(workdir, flores,
                                                   workdir / "ablate_eval.log")["bits_per_char"]
  return result


def summarize(report: dict) -> list[dict]:
  """One row per variant: means over seeds and the difference to the first variant."""
  rows, by_name = [], {}
  for r in report["runs"]:
    by_name.setdefault(r["variant"], []).append(r)
  for name, runs in by_name.items():
    row = {"variant": name, "overrides": runs[0]["overrides"], "seeds": len(runs),
           "params": runs[0]["params"], "flops_per_token": runs[0]["flops_per_token"]}
    for key in ("val_bits_per_char_best", "flores_bits_per_char"):
      vals = [r[key] for r in runs if r.get(key) is not None]
      row[key] = statistics.fmean(vals) if vals else None
      row[key + "_spread"] = (max(vals) - min(vals)) if len(vals) > 1 else None
    rows.append(row)
  for row in rows:
    for key in ("val_bits_per_char_best", "flores_bits_per_char"):
      base = rows[0][key]
      row["delta_" + key] = None if base is None or row[key] is None else row[key] - base
  return rows


def markdown(report: dict) -> str:
  """The summary table of an ablation report (every number read from the JSON)."""
  def fmt(x, d="+.4f"):
    return "–" if x is None else format(x, d)
  lines = [f"Config `{report['config']}` with {report['base_overrides']}, seeds "
           f"{report['seeds']}, device {report['device']}. Mean over seeds; spread = max - min "
           f"over seeds; Δ = against `{summarize(report)[0]['variant']}` (lower is better).", "",
           "| variant | overrides | params | FLOPs/token | val bits/char (best) | spread | Δ "
           "| FLORES dev bits/char | spread | Δ |", "|---|---|---|---|---|---|---|---|---|---|"]
  for r in summarize(report):
    ov = ", ".join(f"`{k}={v}`" for k, v in r["overrides"].items()) or "(config defaults)"
    lines.append(
        f"| {r['variant']} | {ov} | {r['params'] / 1e6:.3f}M | {r['flops_per_token']:.3g} | "
        f"{fmt(r['val_bits_per_char_best'], '.4f')} | {fmt(r['val_bits_per_char_best_spread'], '.4f')} | "
        f"{fmt(r['delta_val_bits_per_char_best'])} | {fmt(r['flores_bits_per_char'], '.4f')} | "
        f"{fmt(r['flores_bits_per_char_spread'], '.4f')} | {fmt(r['delta_flores_bits_per_char'])} |")
  return "\n".join(lines) + "\n"
