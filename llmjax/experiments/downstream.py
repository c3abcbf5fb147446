"""Command: the downstream effect of the vocabulary size. One model shape, several
vocabularies, the same training FLOP budget, compared in bits per character.

  python -m llmjax.experiments.downstream --config=configs/tiny.py \
      --vocab_sizes=1024,4096,16384 --ref_vocab=4096 \
      --out=runs/tokenizer_downstream/downstream_tiny.json

Budget matching: every run uses the config's batch and sequence length; the reference
vocabulary gets the config's train.total_steps and every other vocabulary
round(total_steps * F(ref) / F(V)) steps, where F(V) is the training FLOPs per token of
llmjax.model.flops_per_token (the D x V output projection is the part that changes).
Each run trains its own tokenizer on the training split (llmjax.train does that in its
workdir), evaluates the full validation split (data.max_val_rows=0, so every run scores
the same documents) and then scores FLORES dev with llmjax.evaluate. Bits per character
do not depend on the tokenizer, so the runs compare directly. The result is one JSON file
that `python -m llmjax.tokenizer.sweep --downstream_dir=...` turns into a table and a plot.
The --config.* overrides apply to every run.
"""

import importlib.metadata
import json
import os
import pathlib
import time

from absl import flags
from ml_collections import config_flags

from llmjax import config, errors
from llmjax.experiments import runs
from llmjax.paths import atomic_write_text

_CONFIG = config_flags.DEFINE_config_file("config", "configs/tiny.py",
                                          "Base config file; --config.a.b=v overrides it.")
_VOCAB_SIZES = flags.DEFINE_list("vocab_sizes", ["1024", "4096", "16384"],
                                 "Vocabulary sizes to compare.")
_REF_VOCAB = flags.DEFINE_integer("ref_vocab", 4096, "Vocabulary that gets the config's "
                                  "total_steps.")
_MODEL_TYPE = flags.DEFINE_enum("model_type", "unigram", ["unigram", "bpe"],
                                "Tokenizer model type.")
_FLORES = flags.DEFINE_string("flores", "auto", "Held-out text scored with the best "
                              "checkpoint ('' = skip; auto: FLORES dev when found).")
_WORKDIR_ROOT = flags.DEFINE_string("workdir_root", "runs/tok_downstream",
                                    "Runs go to ROOT/<name>-<type>-<V>.")
_OUT = flags.DEFINE_string("out", "runs/tokenizer_downstream/downstream.json", "Result JSON.")


def run_one(config: str, vocab_size: int, steps: int, model_type: str, workdir: pathlib.Path,
            overrides: dict, flores: str) -> dict:
  # The matched settings come last, so they win over the driver's overrides.
  matched = {**overrides, "model.vocab_size": vocab_size,
             "data.tokenizer_model_type": model_type, "train.total_steps": steps,
             "data.max_val_rows": 0}
  workdir.mkdir(parents=True, exist_ok=True)
  start = time.perf_counter()
  runs.run_cli(runs.train_command(config, matched, workdir), workdir / "downstream_train.log")
  train_s = time.perf_counter() - start
  vals = runs.val_history(workdir)
  result = {"vocab_size": vocab_size, "model_type": model_type, "steps": steps,
            "train_seconds": round(train_s, 1), "data": runs.data_stats(workdir),
            "val_bits_per_char_last": vals[-1]["val_bits_per_char"],
            "val_bits_per_char_best": min(v["val_bits_per_char"] for v in vals),
            "val_history": [(v["step"], v["val_bits_per_char"]) for v in vals]}
  if flores:
    result["flores_dev"] = runs.evaluate_file(workdir, flores, workdir / "downstream_eval.log")
  return result


def main(argv):
  del argv
  config = config_flags.get_config_filename(flags.FLAGS["config"])
  overrides = config_flags.get_override_values(flags.FLAGS["config"])
  flores = runs.default_flores() if _FLORES.value == "auto" else _FLORES.value
  ref = runs.model_stats(config, {**overrides, "model.vocab_size": _REF_VOCAB.value})
  records, device = [], runs.device_kind()
  for v in [int(x) for x in _VOCAB_SIZES.value]:
    f = runs.model_stats(config, {**overrides, "model.vocab_size": v})["flops_per_token"]
    steps = runs.matched_steps(ref["total_steps"], ref["flops_per_token"], f)
    wd = pathlib.Path(_WORKDIR_ROOT.value) / f"{ref['name']}-{_MODEL_TYPE.value}-{v}"
    r = run_one(config, v, steps, _MODEL_TYPE.value, wd, overrides, flores)
    r["flops_per_token"] = f
    r["tokens"] = steps * ref["batch_size"] * ref["seq_len"]
    r["train_flops"] = r["tokens"] * f
    records.append(r)
    print(json.dumps({k: r[k] for k in ("vocab_size", "steps", "val_bits_per_char_best")}
                     | {"flores_bits_per_char": r.get("flores_dev", {}).get("bits_per_char")}),
          flush=True)
    # Written after every run, so an interrupted sweep keeps what it finished.
    report = {"config": config, "overrides": overrides, "model_type": _MODEL_TYPE.value,
              "ref_vocab": _REF_VOCAB.value, "ref_steps": ref["total_steps"],
              "batch_size": ref["batch_size"], "seq_len": ref["seq_len"], "device": device,
              "sentencepiece": importlib.metadata.version("sentencepiece"), "runs": records}
    atomic_write_text(_OUT.value, json.dumps(report, indent=1) + "\n")
  print(f"wrote {_OUT.value}")


if __name__ == "__main__":
  os.environ.setdefault("PYTHONUNBUFFERED", "1")
  errors.run(main, config.parse_command_line)
