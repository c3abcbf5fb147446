"""SIB-200 topic classification (7 labels) by k-shot prompting.

The prompt is k labelled training sentences followed by the test sentence:

  Текст: <sentence>\nТема: <label>\n\n ... Текст: <test sentence>\nТема:

and the predicted topic is the label whose name (in Tatar, see LABELS) has the highest
log-likelihood after it (raw and per character). Shots are drawn deterministically from
train.tsv, the same shots for every test sentence; when the prompt is longer than the
model's context the oldest text is dropped. Chance = 1/7; the majority-class rate of the
test set is reported too.
"""

from __future__ import annotations

import collections
import csv
import pathlib
import random
from collections.abc import Sequence

from llmjax import paths
from llmjax.errors import DataError
from llmjax.evals.common import argmax
from llmjax.evals.loglik import LoglikFn, Request

RELATIVE = "sib200"  # under the evaluation folder (llmjax.paths)
LABELS = {"science/technology": "фән", "travel": "сәяхәт", "politics": "сәясәт",
          "sports": "спорт", "health": "сәламәтлек", "entertainment": "күңел ачу",
          "geography": "география"}


def read_split(directory: str | pathlib.Path | None, split: str) -> list[dict]:
  path = pathlib.Path(directory or paths.require_eval(RELATIVE)) / f"{split}.tsv"
  if not path.is_file():
    raise DataError(f"SIB-200 file {str(path)!r} does not exist")
  with path.open(encoding="utf-8", newline="") as f:
    rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
  for r in rows:
    if r.get("category") not in LABELS or not r.get("text"):
      raise DataError(f"{str(path)!r}: row {r.get('index_id')!r} has an unknown category "
                      f"{r.get('category')!r} or no text")
  return rows


def shots(train: Sequence[dict], k: int, seed: int = 0) -> list[dict]:
  """k training rows, covering as many labels as possible (round-robin over labels)."""
  rng = random.Random(seed)
  by_label = collections.defaultdict(list)
  for r in train:
    by_label[r["category"]].append(r)
  for rows in by_label.values():
    rng.shuffle(rows)
  labels = sorted(by_label)
  rng.shuffle(labels)
  out = []
  while len(out) < k and any(by_label.values()):
    for lab in labels:
      if by_label[lab] and len(out) < k:
        out.append(by_label[lab].pop())
  return out


def example(text: str, label: str | None = None) -> str:
  return f"Текст: {text}\nТема:" + ("" if label is None else f" {LABELS[label]}\n\n")


def score(loglik: LoglikFn, train: Sequence[dict], test: Sequence[dict], k: int = 3,
          seed: int = 0) -> dict:
  prefix = "".join(example(r["text"], r["category"]) for r in shots(train, k, seed))
  labels = list(LABELS)
  requests = [Request(prefix + example(r["text"]), " " + LABELS[lab])
              for r in test for lab in labels]
  scores = loglik(requests)
  n = len(labels)
  hits = {"raw": 0, "per_char": 0}
  for i, r in enumerate(test):
    row = scores[i * n:(i + 1) * n]
    gold = labels.index(r["category"])
    hits["raw"] += argmax([s.logprob for s in row]) == gold
    hits["per_char"] += argmax([s.per_char for s in row]) == gold
  counts = collections.Counter(r["category"] for r in test)
  total = max(len(test), 1)
  return {"k": k, "examples": len(test),
          "accuracy": {m: h / total for m, h in hits.items()},
          "chance": 1.0 / n, "majority": max(counts.values()) / total if test else 0.0}
