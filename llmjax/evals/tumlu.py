"""TUMLU (Tatar): school-exam 4-way multiple choice, 5-shot, MMLU style.

Each subject's dev questions (with answers) are the shots; each test question is asked as

  Сорау: <question>\nA. <choice>\nB. ...\nD. <choice>\nҖавап: <letter>\n\n

and the prediction is the letter with the highest log-likelihood after `Җавап:`. When the
prompt exceeds the model's context the oldest shots are dropped. Chance = 0.25. Expected
near chance for small models; reported anyway.
"""

from __future__ import annotations

import collections
import pathlib
from collections.abc import Sequence

from llmjax import paths
from llmjax.errors import DataError
from llmjax.evals.common import argmax, read_jsonl, sample
from llmjax.evals.loglik import LoglikFn, Request

RELATIVE = "tumlu"  # under the evaluation folder (llmjax.paths)
LETTERS = "ABCD"


def read(directory: str | pathlib.Path | None = None) -> dict[str, tuple[list, list]]:
  """subject -> (dev questions, test questions), subjects with both only."""
  directory = pathlib.Path(directory or paths.require_eval(RELATIVE))
  if not (directory / "dev").is_dir() or not (directory / "test").is_dir():
    raise DataError(f"TUMLU folder {str(directory)!r} needs dev/ and test/")
  out = {}
  for dev in sorted((directory / "dev").glob("*.jsonl")):
    test = directory / "test" / dev.name
    if test.is_file() and test.stat().st_size:
      qs = read_jsonl(dev), read_jsonl(test)
      for q in qs[0] + qs[1]:
        if len(q.get("choices", [])) != 4 or q.get("answer") not in LETTERS:
          raise DataError(f"{str(dev.parent.parent)!r}: question {q.get('question')!r} "
                          "needs 4 choices and an answer letter A-D")
      out[dev.stem] = qs
  return out


def question(q: dict, with_answer: bool) -> str:
  lines = [f"Сорау: {q['question']}"]
  lines += [f"{letter}. {c}" for letter, c in zip(LETTERS, q["choices"])]
  return "\n".join(lines) + "\nҖавап:" + (f" {q['answer']}\n\n" if with_answer else "")


def score(loglik: LoglikFn, subjects: dict[str, tuple[Sequence[dict], Sequence[dict]]],
          shots: int = 5, per_subject: int = 0, seed: int = 0) -> dict:
  requests, gold, subj = [], [], []
  for name, (dev, test) in sorted(subjects.items()):
    prefix = "".join(question(q, True) for q in list(dev)[:shots])
    for q in sample(list(test), per_subject, seed):
      requests += [Request(prefix + question(q, False), " " + letter) for letter in LETTERS]
      gold.append(LETTERS.index(q["answer"]))
      subj.append(name)
  scores = loglik(requests)
  per = collections.defaultdict(list)
  for i, g in enumerate(gold):
    pred = argmax([s.logprob for s in scores[4 * i:4 * i + 4]])
    per[subj[i]].append(pred == g)
  total = [x for v in per.values() for x in v]
  return {"shots": shots, "questions": len(total), "accuracy": sum(total) / max(len(total), 1),
          "chance": 0.25, "per_subject": {k: sum(v) / len(v) for k, v in per.items()}}
