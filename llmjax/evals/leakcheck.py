"""Checks that the QA benchmark's prompts do not occur verbatim in the training text, and
that every corpus fact's cited source line exists.

  python -m llmjax.evals.leakcheck [--train_dir=../shared/data/tatar/train]

Prints one JSON object: filled prompts (the prompt with the right answer in the blank,
compared case-insensitively, whitespace collapsed, end punctuation stripped) found verbatim
inside a training line (must be 0), prompt contexts (the text before the blank)
found verbatim (informational: short question stems such as a country name + "capital"
may occur), and bad source references. Exit status 1 when a filled prompt leaks.
"""

from __future__ import annotations

import json
import pathlib
import sys
from collections.abc import Sequence

from absl import app, flags

from llmjax.config import SHARED_TRAIN_DIR
from llmjax.data import text
from llmjax.errors import exit_on_error
from llmjax.evals import qa

_TRAIN_DIR = flags.DEFINE_string("train_dir", SHARED_TRAIN_DIR, "Training text folder.")
_QA = flags.DEFINE_string("qa", str(qa.DEFAULT_PATH), "QA benchmark file.")


def filled_prompts(fact: dict) -> list[tuple[str, str]]:
  """(filled prompt, context before the blank) for every prompt of a fact."""
  out = []
  for p in fact["prompts"]:
    form = p.get("fill", fact["candidates"])[fact["answer"]]
    before, after = p["text"].split(qa.BLANK)
    out.append((before + form + after, before.strip()))
  return out


def _norm(s: str) -> str:
  """Lower case, single spaces, no punctuation at the ends: a leak is a leak even when
  the corpus sentence goes on after it or starts with a capital letter."""
  return " ".join(s.lower().split()).strip(" .,;:!?—–-«»\"'")


def check(facts: Sequence[dict], train_dir: str | pathlib.Path) -> dict:
  files = text.list_text_files(train_dir)
  corpus = "\n".join(" ".join(line.lower().split())
                     for path in files for line in text.read_lines(path))
  line_counts = {p.name: sum(1 for _ in p.open(encoding="utf-8")) for p in files}
  leaked, contexts, bad_sources = [], [], []
  for f in facts:
    for filled, before in filled_prompts(f):
      if _norm(filled) in corpus:
        leaked.append(filled)
      if len(before) >= 12 and _norm(before) in corpus:
        contexts.append(before)
    for s in f.get("source", []):
      if not 1 <= s["line"] <= line_counts.get(s["file"], 0):
        bad_sources.append(f"{f['id']}: {s['file']}:{s['line']}")
  return {"facts": len(facts), "prompts": sum(len(f["prompts"]) for f in facts),
          "filled_prompts_in_training_text": len(leaked), "leaked": leaked,
          "contexts_in_training_text": len(contexts), "contexts": contexts,
          "bad_sources": bad_sources, "train_files": len(files)}


@exit_on_error
def main(argv):
  del argv
  result = check(qa.load(_QA.value), _TRAIN_DIR.value)
  print(json.dumps(result, ensure_ascii=False))
  if result["leaked"] or result["bad_sources"]:
    sys.exit(1)


if __name__ == "__main__":
  app.run(main)
