"""TatBLiMP: does the model give the grammatical sentence of a minimal pair the higher
log-likelihood? Each sentence is scored whole, from BOS to EOS (raw nats: both sentences of
a pair are about the same length, and that is the published protocol). Chance = 0.5."""

from __future__ import annotations

import collections
import pathlib
from collections.abc import Sequence

from llmjax import paths
from llmjax.errors import DataError
from llmjax.evals.common import read_jsonl, sample
from llmjax.evals.loglik import LoglikFn, Request

RELATIVE = "tatblimp/test.jsonl"  # under the evaluation folder (llmjax.paths)
PUBLISHED = {"Goldfish-125M": 0.974, "mGPT-1.3B": 0.736}


def load_pairs(path: str | pathlib.Path | None = None, limit: int = 0,
               seed: int = 0) -> list[dict]:
  path = path or paths.require_eval(RELATIVE)
  pairs = read_jsonl(path)
  for i, p in enumerate(pairs):
    if not (isinstance(p.get("good"), str) and isinstance(p.get("bad"), str)):
      raise DataError(f"{str(path)!r} record {i + 1} needs string fields 'good' and 'bad'")
  return sample(pairs, limit, seed)


def score(loglik: LoglikFn, pairs: Sequence[dict]) -> dict:
  """Accuracy (good scored strictly above bad) overall and per phenomenon."""
  requests = [Request("", p[k], add_eos=True) for p in pairs for k in ("good", "bad")]
  scores = loglik(requests)
  per = collections.defaultdict(list)
  correct = []
  for i, p in enumerate(pairs):
    ok = scores[2 * i].logprob > scores[2 * i + 1].logprob
    correct.append(ok)
    per[p.get("phenomenon", "all")].append(ok)
  return {"accuracy": sum(correct) / max(len(correct), 1), "chance": 0.5, "pairs": len(pairs),
          "per_phenomenon": {k: sum(v) / len(v) for k, v in sorted(per.items())},
          "published": PUBLISHED}
