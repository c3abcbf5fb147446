"""Markdown report of one or more suite results side by side (e.g. trained vs random init).

Rendered by `python -m llmjax.evaluate --suite=... --report=...` and by the command
`python -m llmjax.evals.report`. Every number comes from the results (the JSON written by
`python -m llmjax.evaluate --suite`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


Result = tuple[str, dict[str, Any]]


def _f(x: Any, digits: int = 3) -> str:
  if x is None:
    return "–"
  if isinstance(x, float):
    return f"{x:.{digits}f}"
  return str(x)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
  out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  out += ["| " + " | ".join(_f(c) for c in row) + " |" for row in rows]
  return out + [""]


def _get(result: dict, *path: str) -> Any:
  for p in path:
    if not isinstance(result, dict) or p not in result:
      return None
    result = result[p]
  return result


def _models(results: Sequence[Result]) -> list[str]:
  rows = []
  for label, r in results:
    m = r.get("model", {})
    rows.append([label, m.get("step"), f"{m.get('params', 0) / 1e6:.2f}M",
                 f"{m.get('d_model')}×{m.get('n_layers')} (ff {m.get('d_ff')})",
                 m.get("vocab_size"), m.get("seq_len"), m.get("tokens_seen"), r.get("workdir")])
  return _table(["model", "step", "params", "d_model×layers", "vocab", "context",
                 "tokens seen", "workdir"], rows)


def _headline(results: Sequence[Result]) -> list[str]:
  labels = [label for label, _ in results]
  specs = [  # (name, path in the result, chance / reference)
      ("FLORES dev bits/char (lower is better)", ("bpc", "bits_per_char"), "–"),
      ("FLORES dev bits/byte", ("bpc", "bits_per_byte"), "–"),
      ("FLORES dev second-half bits per sentence (Goldfish's measure)",
       ("bpc", "second_half_bits"), "–"),
      ("TatBLiMP accuracy", ("tatblimp", "accuracy"), 0.5),
      ("QA accuracy (per-char)", ("qa", "modes", "per_char", "accuracy"),
       ("qa", "chance", "accuracy")),
      ("QA consistency (per-char)", ("qa", "modes", "per_char", "consistency"),
       ("qa", "chance", "consistency")),
      ("QA consistent-and-correct (per-char)",
       ("qa", "modes", "per_char", "consistent_and_correct"),
       ("qa", "chance", "consistent_and_correct")),
      ("QA accuracy (PMI)", ("qa", "modes", "pmi", "accuracy"), ("qa", "chance", "accuracy")),
      ("QA consistent-and-correct (PMI)", ("qa", "modes", "pmi", "consistent_and_correct"),
       ("qa", "chance", "consistent_and_correct")),
      ("QA consistent-and-correct (prior only: no question)",
       ("qa", "modes", "prior", "consistent_and_correct"),
       ("qa", "chance", "consistent_and_correct")),
      ("SIB-200 accuracy (k-shot, raw)", ("sib", "accuracy", "raw"), ("sib", "chance")),
      ("SIB-200 accuracy (k-shot, per-char)", ("sib", "accuracy", "per_char"),
       ("sib", "chance")),
      ("TUMLU accuracy (5-shot)", ("tumlu", "accuracy"), 0.25),
  ]
  rows = []
  for name, path, chance in specs:
    values = [_get(r, *path) for _, r in results]
    if all(v is None for v in values):
      continue
    if isinstance(chance, tuple):
      chance = next((_get(r, *chance) for _, r in results if _get(r, *chance) is not None),
                    None)
    rows.append([name, *values, chance])
  return _table(["metric", *labels, "chance"], rows) if rows else []


def _qa_details(results: Sequence[Result]) -> list[str]:
  out = []
  for label, r in results:
    q = r.get("qa")
    if not q:
      continue
    out.append(f"**{label}** — {q['facts']} facts, {q['prompts']} prompts")
    out.append("")
    rows = []
    for part, d in [("all", q), *q.get("by_part", {}).items()]:
      for mode, m in d["modes"].items():
        rows.append([part, mode, m["accuracy"], m["consistency"],
                     m["consistent_and_correct"]])
      ch = d["chance"]
      rows.append([part, "*chance*", ch["accuracy"], ch["consistency"],
                   ch["consistent_and_correct"]])
    out += _table(["facts", "choice by", "accuracy", "consistency", "consistent & correct"],
                  rows)
  return out


def _greedy(results: Sequence[Result]) -> list[str]:
  with_greedy = [(label, r["qa"]["greedy"]) for label, r in results if _get(r, "qa", "greedy")]
  if not with_greedy:
    return []
  first = with_greedy[0][1]
  rows = []
  for i, g in enumerate(first):
    row = [g["id"], g["prompt"].strip(), g["expected"]]
    for _, gs in with_greedy:
      gi = gs[i] if i < len(gs) else {}
      mark = " ✓" if gi.get("match") else ""
      row.append(("`" + gi.get("generated", "").strip().replace("|", "/") + "`" + mark)
                 if gi else "–")
    rows.append(row)
  rates = ", ".join(f"{label}: {sum(g['match'] for g in gs)}/{len(gs)}"
                    for label, gs in with_greedy)
  intro = ("Greedy continuations of the question prompts, cut at the first line break "
           f"(empty = a line break first; ✓ = starts with the expected answer; {rates}):")
  return [intro, ""] + _table(
              ["fact", "prompt", "expected", *[label for label, _ in with_greedy]], rows)


def _per_key(results: Sequence[Result], bench: str, key: str, title: str) -> list[str]:
  keys = sorted({k for _, r in results for k in (_get(r, bench, key) or {})})
  if not keys:
    return []
  rows = [[k, *[_get(r, bench, key, k) for _, r in results]] for k in keys]
  return _table([title, *[label for label, _ in results]], rows)


def _leak(leak: dict | None) -> list[str]:
  if not leak:
    return []
  out = [f"Checked {leak['prompts']} prompts of {leak['facts']} facts against "
         f"{leak['train_files']} training files: **{leak['filled_prompts_in_training_text']}** "
         "prompts (with the right answer filled in) occur verbatim in the training text; "
         f"{len(leak['bad_sources'])} cited source lines are missing. "
         f"{leak['contexts_in_training_text']} question stems (the text before the blank, "
         "≥ 12 characters) do occur, which is expected for short stems such as "
         "«Атнаның беренче көне —»: "
         + ", ".join(f"«{c}»" for c in leak["contexts"]) + ".", ""]
  return out


_FEWSHOT_COLUMNS = [("val_bits_per_char", "val bits/char"),
                    ("fewshot_flores_bits_per_char", "FLORES sample bits/char"),
                    ("fewshot_tatblimp_accuracy", "TatBLiMP sample acc"),
                    ("fewshot_qa_accuracy", "QA acc"),
                    ("fewshot_qa_consistency", "QA consistency"),
                    ("fewshot_qa_consistent_and_correct", "QA consistent & correct")]


def _history(histories: Sequence[tuple[str, list[dict]]]) -> list[str]:
  """The few-shot validation rows of a run's metrics.jsonl: when the model learns what."""
  out = []
  for label, rows in histories:
    by_step: dict[int, dict] = {}
    for r in rows:
      by_step.setdefault(r["step"], {}).update(r)
    steps = [s for s, r in sorted(by_step.items()) if "fewshot_qa_accuracy" in r]
    if not steps:
      continue
    out += [f"**{label}** (`train.fewshot_every`: the fast subset the training loop logs to "
            "TensorBoard and metrics.jsonl)", ""]
    out += _table(["step"] + [name for _, name in _FEWSHOT_COLUMNS],
                  [[s] + [by_step[s].get(k) for k, _ in _FEWSHOT_COLUMNS] for s in steps])
  return out


# Goldfish (monolingual models for 350 languages): FLORES second-half bits per sentence of
# their Tatar models by training text size, the published reference llmjax is put beside.
GOLDFISH_TATAR = {"5 MB": 122.96, "10 MB": 116.40, "100 MB": 89.36, "1 GB": 76.67}


def _generation(results: Sequence[Result]) -> list[str]:
  """Generation quality: the model's continuations beside the human ones (the ceiling)."""
  gens = [(label, r["generation"]) for label, r in results if r.get("generation")]
  if not gens:
    return []
  keys = [("vocabulary_share", "words in the training vocabulary"),
          ("tatar_share", "continuations identified as Tatar"),
          ("distinct_2", "distinct word bigrams"), ("repetition", "repeated word 3-grams"),
          ("words_per_text", "words per continuation")]
  rows = [[title, *[g["model"][k] for _, g in gens], gens[0][1]["human"][k]]
          for k, title in keys]
  out = ["## Generation quality", "",
         (f"Continuations of the first halves of {gens[0][1]['prompts']} FLORES-dev sentences "
          f"(sampling: {gens[0][1]['options']}), measured beside the human second halves, the "
          "ceiling (llmjax/evals/generation.py)."), ""]
  out += _table(["measure", *[label for label, _ in gens], "human text"], rows)
  for label, g in gens:
    out += [f"Samples ({label}):", ""]
    for s in g["samples"]:
      out += [f"- *{s['prompt']}* → {s['generated']}  ", f"  (human: {s['human']})"]
    out.append("")
  return out


def render(results: Sequence[Result], leak: dict | None = None, preamble: str = "",
           histories: Sequence[tuple[str, list[dict]]] = ()) -> str:
  lines = ["# Evaluation report", ""]
  if preamble:
    lines += [preamble.strip(), ""]
  lines += ["## Models", ""] + _models(results)
  headline = _headline(results)
  if headline:  # a --suite=generation run has no headline numbers
    lines += ["## Headline numbers", "",
              ("Chance = the expected score of a uniformly random choice. QA choice by "
               "per-char = candidate log-likelihood divided by its characters; PMI = minus the "
               "same text's log-likelihood without the question (removes word-frequency priors); "
               "prior only = the choice made without seeing the question at all, the baseline a "
               "model that knows the fact must beat. Consistency alone is easy for a model that "
               "ignores the question (it always picks the same frequent word): read it together "
               "with consistent-and-correct."),
              ""] + headline
  if any(_get(r, "bpc", "second_half_bits") is not None for _, r in results):
    lines += ["Goldfish's Tatar models, FLORES second-half bits per sentence by training text: "
              + ", ".join(f"{k} {v}" for k, v in GOLDFISH_TATAR.items()) + ".", ""]
  blimp_pub = next((_get(r, "tatblimp", "published") for _, r in results
                    if _get(r, "tatblimp", "published")), None)
  if blimp_pub:
    lines += ["Published TatBLiMP points: " + ", ".join(f"{k} {v}" for k, v in
                                                         blimp_pub.items()) + ".", ""]
  qa_lines = _qa_details(results)
  if qa_lines:
    lines += ["## Paraphrase-consistency QA benchmark", "",
              ("`llmjax/evals/data/tatar_qa.jsonl`: part *corpus* = facts stated in the "
               "training text (file and line cited per fact), part *general* = general "
               "knowledge. A fact is *consistent* when all its phrasings choose the same "
               "candidate, *consistent & correct* when they all choose the right one."), ""]
    lines += qa_lines + _greedy(results)
  lines += _leak(leak)
  history = _history(histories)
  if history:
    lines += ["## Few-shot validation during training", ""] + history
  for bench, key, title, head in [
      ("tatblimp", "per_phenomenon", "phenomenon", "TatBLiMP per phenomenon"),
      ("tumlu", "per_subject", "subject", "TUMLU per subject (5-shot)")]:
    block = _per_key(results, bench, key, title)
    if block:
      lines += [f"## {head}", ""] + block
  lines += _generation(results)
  sib_rows = [[label, _get(r, "sib", "k"), _get(r, "sib", "examples"),
               _get(r, "sib", "accuracy", "raw"), _get(r, "sib", "accuracy", "per_char"),
               _get(r, "sib", "chance"), _get(r, "sib", "majority")]
              for label, r in results if r.get("sib")]
  if sib_rows:
    lines += ["## SIB-200 topic classification", ""] + _table(
        ["model", "shots", "test sentences", "acc (raw)", "acc (per-char)", "chance",
         "majority class"], sib_rows)
  cmds = [(label, r.get("command"), r.get("seconds")) for label, r in results]
  lines += ["## How these numbers were produced", ""]
  for label, cmd, secs in cmds:
    if cmd:
      lines += [f"{label} ({', '.join(f'{k} {v}s' for k, v in (secs or {}).items())}):", "",
                "```bash", cmd, "```", ""]
  return "\n".join(lines).rstrip() + "\n"
