"""Command: ablations, one config and a few named variants x seeds, in bits per character.

  python -m llmjax.experiments.ablate --config=configs/tiny.py --variants=block \
      --seeds=0,1 --config.train.total_steps=300 --out=runs/ablations/block_tiny.json

The --config.* overrides apply to every run (they are passed on to each
`python -m llmjax.train` command); see llmjax.experiments.ablation. The JSON is written after
every run, so an interrupted ablation keeps what it finished; --markdown renders the table.
"""

import json
import os
import pathlib

from absl import flags
from ml_collections import config_flags

from llmjax import config, errors
from llmjax.errors import ConfigError
from llmjax.experiments import ablation, runs
from llmjax.paths import atomic_write_text

_CONFIG = config_flags.DEFINE_config_file("config", "configs/tiny.py",
                                          "Base config file; --config.a.b=v overrides it.")
_VARIANTS = flags.DEFINE_string("variants", "block",
                                f"Variant set: one of {sorted(ablation.VARIANT_SETS)}.")
_ONLY = flags.DEFINE_list("only", [], "Run only these variants of the set (default: all).")
_SEEDS = flags.DEFINE_list("seeds", ["0"], "Seeds (config `seed`: initialisation, dropout, "
                           "shuffle).")
_FLORES = flags.DEFINE_string("flores", "auto", "Held-out text scored with the best "
                              "checkpoint ('' = skip; auto: FLORES dev when found).")
_WORKDIR_ROOT = flags.DEFINE_string("workdir_root", "runs/ablate",
                                    "Runs go to ROOT/<variant>-s<seed>.")
_OUT = flags.DEFINE_string("out", "runs/ablations/ablation.json", "Result JSON.")
_MARKDOWN = flags.DEFINE_string("markdown", "", "Also write the summary table here (Markdown).")


def main(argv):
  del argv
  config = config_flags.get_config_filename(flags.FLAGS["config"])
  base = {"data.max_val_rows": 0, **config_flags.get_override_values(flags.FLAGS["config"])}
  flores = runs.default_flores() if _FLORES.value == "auto" else _FLORES.value
  variants = ablation.variant_overrides(_VARIANTS.value, config, base)
  unknown = set(_ONLY.value) - set(variants)
  if unknown:
    raise ConfigError(f"--only: unknown variants {sorted(unknown)}; {_VARIANTS.value!r} has "
                      f"{list(variants)}")
  chosen = {k: v for k, v in variants.items() if not _ONLY.value or k in _ONLY.value}
  report = {"config": config, "variant_set": _VARIANTS.value, "base_overrides": base,
            "seeds": [int(s) for s in _SEEDS.value], "device": runs.device_kind(), "runs": []}
  for name, ov in chosen.items():
    stats = runs.model_stats(config, base | ov)
    stats = {"params": stats["params"], "flops_per_token": stats["flops_per_token"]}
    for seed in report["seeds"]:
      wd = pathlib.Path(_WORKDIR_ROOT.value) / f"{name}-s{seed}"
      r = ablation.run_variant(config, base | ov | {"seed": seed}, wd, flores)
      report["runs"].append({"variant": name, "overrides": ov, "seed": seed, **stats, **r})
      print(json.dumps({"variant": name, "seed": seed,
                        "val_bits_per_char_best": r["val_bits_per_char_best"],
                        "flores_bits_per_char": r.get("flores_bits_per_char")}), flush=True)
      atomic_write_text(_OUT.value, json.dumps(report, indent=1) + "\n")
      if _MARKDOWN.value:
        atomic_write_text(_MARKDOWN.value, ablation.markdown(report))
  print(f"wrote {_OUT.value}")


if __name__ == "__main__":
  os.environ.setdefault("PYTHONUNBUFFERED", "1")
  errors.run(main, config.parse_command_line)
