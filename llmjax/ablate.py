"""Ablations: one config, a few named variants x seeds, compared in bits per character.

  python -m llmjax.ablate --config=configs/tiny.py --variants=block --seeds=0,1 \
      --set=train.total_steps=300 --out=reports/ablations/block_tiny.json

Every run is the ordinary `python -m llmjax.train` command with the variant's overrides
(plus --set and the seed), so any row can be re-run by hand. All variants train the same
steps on the same batches (same tokens; FLOPs per token are reported beside, as variants
may differ slightly). Scores: the best validation bits/char of the run (full validation
split, data.max_val_rows=0) and FLORES-200 dev bits/char of the best checkpoint
(llmjax.evaluate). The JSON is written after every run; `--markdown` renders the table.
"""

from __future__ import annotations

import json
import os
import pathlib
import statistics
import sys
import time
from typing import Callable, Sequence

from llmjax.errors import ConfigError
from llmjax.runs import (data_stats, define_experiment_flags, device_kind, evaluate_file,
                         load_config, parse_overrides, run_cli, val_history)
from llmjax.tokenizer.spm import _atomic_write

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


def variant_overrides(set_name: str, config: str, base: dict[str, str]) -> dict[str, dict]:
  """{variant name: its overrides} for one of VARIANT_SETS, resolved against the config."""
  if set_name not in VARIANT_SETS:
    raise ConfigError(f"--variants={set_name!r}: choose one of {sorted(VARIANT_SETS)}")
  cfg = load_config(config, base)
  return {name: fn(cfg) for name, fn in VARIANT_SETS[set_name].items()}


def model_stats(config: str, overrides: dict) -> dict:
  """Parameters and training FLOPs per token of one variant (no training)."""
  from llmjax import model  # pylint: disable=g-import-not-at-top
  from llmjax.config import from_config  # pylint: disable=g-import-not-at-top
  cfg = from_config(load_config(config, {k: str(v) for k, v in overrides.items()}))
  params = model.count_params(model.abstract_params(cfg.model))["total"]
  return {"params": params, "flops_per_token": model.flops_per_token(cfg.model, cfg.data.seq_len)}


def run_variant(config: str, overrides: dict, workdir: pathlib.Path, flores: str) -> dict:
  """Trains one run (resuming if its workdir has checkpoints) and scores it."""
  args = [f"--config.{k}={v}" for k, v in overrides.items()]
  workdir.mkdir(parents=True, exist_ok=True)
  start = time.perf_counter()
  out = run_cli([sys.executable, "-m", "llmjax.train", f"--config={config}", *args,
                 f"--config.workdir={workdir}"], workdir / "ablate_train.log")
  vals = val_history(workdir)
  best = min(vals, key=lambda v: v["val_bits_per_char"])
  result = {"train_seconds": round(time.perf_counter() - start, 1),
            "val_bits_per_char_best": best["val_bits_per_char"], "best_step": best["step"],
            "val_history": [(v["step"], v["val_bits_per_char"]) for v in vals],
            "train_chars_per_token": data_stats(out).get("train_chars_per_token")}
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


def main(argv: Sequence[str] | None = None) -> None:
  from absl import app, flags  # pylint: disable=g-import-not-at-top

  from llmjax.errors import exit_on_error  # pylint: disable=g-import-not-at-top

  define_experiment_flags(flags, workdir_root="runs/ablate", what="<variant>-s<seed>",
                          out="reports/ablations/block_tiny.json")
  flags.DEFINE_string("variants", "block", f"Variant set: one of {sorted(VARIANT_SETS)}.")
  flags.DEFINE_list("only", [], "Run only these variants of the set (default: all).")
  flags.DEFINE_list("seeds", ["0"], "Seeds (config `seed`: initialisation, dropout, shuffle).")
  flags.DEFINE_string("markdown", "", "Also write the summary table here (Markdown).")
  FLAGS = flags.FLAGS

  @exit_on_error
  def run(argv):
    if len(argv) > 1:
      raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    base = {"data.text_dir": FLAGS.text_dir, "data.max_val_rows": "0"} | parse_overrides(FLAGS.set)
    variants = variant_overrides(FLAGS.variants, FLAGS.config, base)
    unknown = set(FLAGS.only) - set(variants)
    if unknown:
      raise ConfigError(f"--only: unknown variants {sorted(unknown)}; {FLAGS.variants!r} has "
                        f"{list(variants)}")
    chosen = {k: v for k, v in variants.items() if not FLAGS.only or k in FLAGS.only}
    report = {"config": FLAGS.config, "variant_set": FLAGS.variants, "base_overrides": base,
              "seeds": [int(s) for s in FLAGS.seeds], "device": device_kind(), "runs": []}
    for name, ov in chosen.items():
      stats = model_stats(FLAGS.config, base | ov)
      for seed in report["seeds"]:
        wd = pathlib.Path(FLAGS.workdir_root) / f"{name}-s{seed}"
        r = run_variant(FLAGS.config, base | ov | {"seed": seed}, wd, FLAGS.flores)
        report["runs"].append({"variant": name, "overrides": ov, "seed": seed, **stats, **r})
        print(json.dumps({"variant": name, "seed": seed,
                          "val_bits_per_char_best": r["val_bits_per_char_best"],
                          "flores_bits_per_char": r.get("flores_bits_per_char")}), flush=True)
        # Written after every run, so an interrupted ablation keeps what it finished.
        _atomic_write(pathlib.Path(FLAGS.out), (json.dumps(report, indent=1) + "\n").encode())
        if FLAGS.markdown:
          _atomic_write(pathlib.Path(FLAGS.markdown), markdown(report).encode())
    print(f"wrote {FLAGS.out}")

  app.run(run, argv)


if __name__ == "__main__":
  os.environ.setdefault("PYTHONUNBUFFERED", "1")
  main()
