"""The downstream effect of the vocabulary size: one model shape, several vocabularies,
the same training FLOP budget, compared in bits per character.

  python -m llmjax.tokenizer.downstream --config=configs/tiny.py \
      --vocab_sizes=1024,4096,16384 --ref_vocab=4096 \
      --out=reports/tokenizer/downstream_tiny.json

Budget matching: every run uses the config's batch and sequence length; the reference
vocabulary gets the config's train.total_steps and every other vocabulary
round(total_steps * F(ref) / F(V)) steps, where F(V) is the training FLOPs per token of
llmjax.model.flops_per_token (the D x V output projection is the part that changes).
Each run trains its own tokenizer on the training split (llmjax.train does that in its
workdir), evaluates the full validation split (data.max_val_rows=0, so every run scores
the same documents) and then scores FLORES dev with llmjax.evaluate. Bits per character
do not depend on the tokenizer, so the runs compare directly. The result is one JSON file
that llmjax.tokenizer.sweep turns into a table and a plot.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import pathlib
import sys
import time
from typing import Sequence

from llmjax.runs import (data_stats, define_experiment_flags, device_kind, evaluate_file,
                         load_config, parse_overrides, run_cli, val_history)
from llmjax.tokenizer.spm import _atomic_write


def flops_per_token(config: str, vocab_size: int, overrides: dict) -> tuple[float, dict]:
  from llmjax import model  # pylint: disable=g-import-not-at-top
  from llmjax.config import from_config  # pylint: disable=g-import-not-at-top
  cfg = from_config(load_config(config, {**overrides, "model.vocab_size": vocab_size}))
  return model.flops_per_token(cfg.model, cfg.data.seq_len), {
      "batch_size": cfg.data.batch_size, "seq_len": cfg.data.seq_len,
      "total_steps": cfg.train.total_steps, "name": cfg.name}


def matched_steps(ref_steps: int, ref_flops: float, flops: float) -> int:
  """Steps that spend ref_steps * ref_flops FLOPs at `flops` per token-step."""
  return max(1, round(ref_steps * ref_flops / flops))


def run_one(config: str, vocab_size: int, steps: int, model_type: str, workdir: pathlib.Path,
            overrides: dict, flores: str) -> dict:
  args = [f"--config.{k}={v}" for k, v in overrides.items()]
  # The matched settings come last: absl keeps the last value of a repeated flag.
  train_cmd = [sys.executable, "-m", "llmjax.train", f"--config={config}", *args,
               f"--config.model.vocab_size={vocab_size}",
               f"--config.data.tokenizer_model_type={model_type}",
               f"--config.train.total_steps={steps}", "--config.data.max_val_rows=0",
               f"--config.workdir={workdir}"]
  workdir.mkdir(parents=True, exist_ok=True)
  start = time.perf_counter()
  out = run_cli(train_cmd, workdir / "downstream_train.log")
  train_s = time.perf_counter() - start
  vals = val_history(workdir)
  result = {"vocab_size": vocab_size, "model_type": model_type, "steps": steps,
            "train_seconds": round(train_s, 1), "data": data_stats(out),
            "val_bits_per_char_last": vals[-1]["val_bits_per_char"],
            "val_bits_per_char_best": min(v["val_bits_per_char"] for v in vals),
            "val_history": [(v["step"], v["val_bits_per_char"]) for v in vals]}
  if flores:
    result["flores_dev"] = evaluate_file(workdir, flores, workdir / "downstream_eval.log")
  return result


def main(argv: Sequence[str] | None = None) -> None:
  from absl import app, flags  # pylint: disable=g-import-not-at-top

  from llmjax.errors import exit_on_error  # pylint: disable=g-import-not-at-top

  define_experiment_flags(flags, workdir_root="runs/tok_downstream", what="<name>-<type>-<V>",
                          out="reports/tokenizer/downstream_tiny.json")
  flags.DEFINE_list("vocab_sizes", ["1024", "4096", "16384"], "Vocabulary sizes to compare.")
  flags.DEFINE_integer("ref_vocab", 4096, "Vocabulary that gets the config's total_steps.")
  flags.DEFINE_enum("model_type", "unigram", ["unigram", "bpe"], "Tokenizer model type.")
  FLAGS = flags.FLAGS

  @exit_on_error
  def run(argv):
    if len(argv) > 1:
      raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    overrides = {"data.text_dir": FLAGS.text_dir} | parse_overrides(FLAGS.set)
    vocabs = [int(v) for v in FLAGS.vocab_sizes]
    ref_flops, shape = flops_per_token(FLAGS.config, FLAGS.ref_vocab, overrides)
    runs, device = [], device_kind()
    for v in vocabs:
      f, _ = flops_per_token(FLAGS.config, v, overrides)
      steps = matched_steps(shape["total_steps"], ref_flops, f)
      wd = pathlib.Path(FLAGS.workdir_root) / f"{shape['name']}-{FLAGS.model_type}-{v}"
      r = run_one(FLAGS.config, v, steps, FLAGS.model_type, wd, overrides, FLAGS.flores)
      r["flops_per_token"] = f
      r["tokens"] = steps * shape["batch_size"] * shape["seq_len"]
      r["train_flops"] = r["tokens"] * f
      runs.append(r)
      print(json.dumps({k: r[k] for k in ("vocab_size", "steps", "val_bits_per_char_best")}
                       | {"flores_bits_per_char": r.get("flores_dev", {}).get(
                           "bits_per_char")}), flush=True)
      # Written after every run, so an interrupted sweep keeps what it finished.
      report = {"config": FLAGS.config, "overrides": overrides,
                "model_type": FLAGS.model_type, "ref_vocab": FLAGS.ref_vocab,
                "ref_steps": shape["total_steps"], "batch_size": shape["batch_size"],
                "seq_len": shape["seq_len"], "device": device,
                "sentencepiece": importlib.metadata.version("sentencepiece"), "runs": runs}
      _atomic_write(pathlib.Path(FLAGS.out), (json.dumps(report, indent=1) + "\n").encode())
    print(f"wrote {FLAGS.out}")

  app.run(run, argv)


if __name__ == "__main__":
  os.environ.setdefault("PYTHONUNBUFFERED", "1")
  main()
