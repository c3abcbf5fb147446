"""Command: the fine-tuning report (reports/sft/README.md) from the runs and their logs.

  bash reports/sft/run.sh     # trains, fine-tunes, answers, chats; then runs this:
  python -m llmjax.sft.report --runs=runs/sft_report --results=reports/sft/results \
      --out=reports/sft/README.md

Reads RUNS/{base,lora,full} (checkpoints, metrics.jsonl), RESULTS/{lora,full}.log (the
`/usr/bin/time -v` output of each fine-tuning run: peak memory), RESULTS/answers_*.json
(python -m llmjax.sft.answer) and RESULTS/chat.txt (a scripted chat session), and writes
the tables: trainable parameters, checkpoint size on disk, step time, peak memory,
validation bits/char; answer format, stop rate and chrF before vs after, per test split.
"""

import json
import pathlib
import re
import statistics

import jax
from absl import flags

from llmjax import errors, model, paths
from llmjax.config import from_config, upgrade_saved
from llmjax.errors import DataError
from llmjax.sft import adapters, answers, data, lora
from llmjax.training import checkpoint, records

_RUNS = flags.DEFINE_string("runs", "runs/sft_report", "Folder holding base/, lora/, full/.")
_RESULTS = flags.DEFINE_string("results", "reports/sft/results", "Logs and answer JSONs.")
_OUT = flags.DEFINE_string("out", "reports/sft/README.md", "Markdown file to write.")
_HEADER = flags.DEFINE_string("header", "reports/sft/header.md", "Text put before the "
                              "tables (what was run, and how to read it).")

RUNS = ("lora", "full")
MODELS = (("base", "pretrained only"), ("lora", "LoRA"), ("full", "full fine-tune"))
SPLITS = (("test_headwords", "held-out headwords, training phrasings"),
          ("test_phrasings", "held-out headwords, held-out phrasings"))


def _size(path: pathlib.Path) -> int:
  return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _peak_mb(log: pathlib.Path) -> float | None:
  m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", log.read_text())
  return int(m.group(1)) / 1024 if m else None


def run_row(workdir: pathlib.Path, log: pathlib.Path) -> dict:
  """Trainable parameters, sizes, step time, memory and the best val bits/char of a run."""
  ref = checkpoint.find(workdir, "best")
  cfg = from_config(upgrade_saved(ref.meta["config"]))
  total = model.count_params(model.abstract_params(cfg.model))["total"]
  spec = adapters.lora_spec(ref.meta)
  trainable = total if spec is None else lora.count(jax.eval_shape(
      lambda: lora.init(model.abstract_params(cfg.model), spec, jax.random.key(0))))
  rows = records.read(workdir)
  step_tokens = cfg.data.batch_size * cfg.data.seq_len
  step_s = [step_tokens / r["tokens_per_sec"] for r in rows
            if r.get("tokens_per_sec") and r["step"] > 1]
  last = max(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
  return {"trainable": trainable, "total": total, "rank": spec.rank if spec else 0,
          "best_bytes": _size(ref.path), "resume_bytes": _size(workdir / "checkpoints" /
                                                               str(last)),
          "step_s": statistics.median(step_s), "peak_mb": _peak_mb(log),
          "lr": cfg.optim.lr, "steps": cfg.train.total_steps,
          "best_val_bpc": ref.meta.get("val_bits_per_char"), "best_step": ref.step}


def _mb(n: float) -> str:
  return f"{n / 2**20:.2f} MB" if n >= 2**20 else f"{n / 2**10:.0f} KB"


def render(runs: pathlib.Path, results: pathlib.Path, header: str) -> str:
  rows = {name: run_row(runs / name, results / f"{name}.log") for name in RUNS}
  base_val = [r["val_bits_per_char"] for r in records.read(runs / "lora") if r["step"] == 0
              and "val_bits_per_char" in r][0]
  out = [header.rstrip(), "", "## Full fine-tuning vs LoRA", "",
         "| | trainable parameters | best checkpoint on disk | resume checkpoint on disk | "
         "step time (median) | peak memory (RSS) | lr | best val bits/char (step) |",
         "|---|---:|---:|---:|---:|---:|---:|---:|"]
  for name, label in MODELS[1:]:
    r = rows[name]
    what = f"LoRA r={r['rank']}" if r["rank"] else label
    out.append(f"| {what} | {r['trainable']:,} of {r['total']:,} "
               f"({100 * r['trainable'] / r['total']:.1f}%) | {_mb(r['best_bytes'])} | "
               f"{_mb(r['resume_bytes'])} | {r['step_s']:.3f} s | "
               f"{(r['peak_mb'] or 0):,.0f} MB | {r['lr']:g} | "
               f"{r['best_val_bpc']:.4f} ({r['best_step']}) |")
  out += ["", f"Validation bits/char (per character of the held-out answers) of the base "
          f"model before fine-tuning: {base_val:.4f}.", ""]
  out += ["## Answers before vs after fine-tuning", "",
          "| test set | model | answers | assistant format | stops at end-of-turn | chrF | "
          "mean answer length |", "|---|---|---:|---:|---:|---:|---:|"]
  examples = []
  for split, split_label in SPLITS:
    for name, label in MODELS:
      path = results / f"answers_{name}_{split}.json"
      if not path.is_file():
        raise DataError(f"{path} is missing: run reports/sft/run.sh")
      a = json.loads(path.read_text())
      out.append(f"| {split_label} | {label} | {a['answers']} | {a['format_rate']:.1%} | "
                 f"{a['stop_rate']:.1%} | {a['chrf']:.1f} | {a['mean_answer_chars']:.0f} "
                 "chars |")
      examples.append((split, label, a["examples"]))
    golds = [answers.split(c)[1] for c in data.read_conversations(a["file"])[:a["answers"]]]
    other = golds[1:] + golds[:1]  # each word answered with the next word's definition
    out.append(f"| {split_label} | *another word's definition* | {len(golds)} | | | "
               f"{answers.chrf(other, golds):.1f} | "
               f"{sum(map(len, golds)) / max(len(golds), 1):.0f} chars |")
  out += ["", "### Side by side (the first answers of test_phrasings)", "",
          "| question | gold | " + " | ".join(label for _, label in MODELS) + " |",
          "|---|---|" + "---|" * len(MODELS)]
  by_model = {label: ex for split, label, ex in examples if split == "test_phrasings"}
  first = by_model[MODELS[0][1]]
  for i, e in enumerate(first):
    cells = [e["prompt"], e["gold"]] + [
        by_model[label][i]["text"] + (" ⏎" if by_model[label][i]["stops"] else " …")
        for _, label in MODELS]
    out.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells)
               + " |")
  out += ["", "⏎ = the answer ended with <|end|>; … = it ran to the token budget.", "",
          "## A chat session (LoRA adapter on the base model)", "", "```",
          (results / "chat.txt").read_text().rstrip(), "```", ""]
  return "\n".join(out)


def main(argv):
  del argv
  header = pathlib.Path(_HEADER.value)
  text = render(pathlib.Path(_RUNS.value), pathlib.Path(_RESULTS.value),
                header.read_text(encoding="utf-8") if header.is_file() else "# Fine-tuning")
  paths.atomic_write_text(_OUT.value, text)
  print(f"wrote {_OUT.value}")


if __name__ == "__main__":
  errors.run(main)
