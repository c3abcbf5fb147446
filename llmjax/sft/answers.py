"""Does a model answer like the assistant? Greedy answers to held-out conversations, scored.

For each conversation the prompt is everything before its last assistant message (which is
the gold answer); the model answers greedily (KV-cached, batched: llmjax.model.decode
.generate) with at most max_new_tokens tokens. Per answer:
  stops   the first chat piece the model writes is the end-of-turn <|end|> (within budget);
  format  it stops, and the answer before <|end|> is non-empty: a well-formed assistant turn
          (a model that writes <|user|>, BOS or EOS first, or never stops, fails both);
and over all answers, chrF against the gold answers: character 1..6-grams, beta = 2,
whitespace ignored, statistics summed over the corpus and the per-order F-scores averaged
(sacrebleu's default chrF, implemented here without the dependency).
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any, Sequence

import jax

from llmjax.config import ModelConfig
from llmjax.errors import DataError
from llmjax.model import decode
from llmjax.sft import template
from llmjax.sft.template import ChatTokens, Message


@dataclasses.dataclass(frozen=True)
class Answer:
  prompt: str  # the last user message
  gold: str
  text: str  # the model's answer, up to the first chat piece
  stops: bool
  format: bool


def split(messages: Sequence[Message]) -> tuple[list[Message], str]:
  """(the prompt messages, the gold answer): everything before the last assistant turn."""
  last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
  return list(messages[:last]), messages[last]["content"]


def answer(params: Any, cfg: ModelConfig, tokenizer, conversations: Sequence[list[Message]],
           *, max_new_tokens: int = 96, batch_size: int = 32) -> list[Answer]:
  """Greedy answers to each conversation's last question, batch by batch."""
  chat = ChatTokens.of(tokenizer)
  prompts, golds = zip(*(split(c) for c in conversations)) if conversations else ((), ())
  ids = [template.prompt(tokenizer, p) for p in prompts]
  longest = max((len(x) for x in ids), default=0)
  budget = min(max_new_tokens, cfg.max_seq_len - longest)
  if budget < 1:
    raise DataError(f"a prompt of {longest} tokens leaves no room in the model's window of "
                    f"{cfg.max_seq_len} tokens")
  out = []
  for start in range(0, len(ids), batch_size):
    rows = decode.generate(params, cfg, ids[start:start + batch_size],
                           max_new_tokens=budget, rng=jax.random.key(0),
                           eos_id=chat.end, pad_multiple=16)
    for row, p, gold in zip(rows.tolist(), prompts[start:], golds[start:]):
      first = next((i for i, t in enumerate(row) if t in chat.specials), None)
      text = tokenizer.decode(row if first is None else row[:first])
      stops = first is not None and row[first] == chat.end
      out.append(Answer(p[-1]["content"], gold, text, stops, stops and bool(text.strip())))
  return out


def _char_ngrams(text: str, n: int) -> collections.Counter:
  s = "".join(text.split())
  return collections.Counter(s[i:i + n] for i in range(len(s) - n + 1))


def chrf(hypotheses: Sequence[str], references: Sequence[str], order: int = 6,
         beta: float = 2.0) -> float:
  """Corpus chrF in [0, 100] (see the module docstring)."""
  stats = [[0, 0, 0] for _ in range(order)]  # per n: hypothesis, reference, matched n-grams
  for hyp, ref in zip(hypotheses, references, strict=True):
    for n in range(1, order + 1):
      h, r = _char_ngrams(hyp, n), _char_ngrams(ref, n)
      stats[n - 1][0] += sum(h.values())
      stats[n - 1][1] += sum(r.values())
      stats[n - 1][2] += sum((h & r).values())
  eps, factor, score, effective = 1e-16, beta ** 2, 0.0, 0
  for n_hyp, n_ref, n_match in stats:
    precision = n_match / n_hyp if n_hyp else eps
    recall = n_match / n_ref if n_ref else eps
    denom = factor * precision + recall
    score += (1 + factor) * precision * recall / denom if denom > 0 else eps
    effective += int(n_hyp > 0 and n_ref > 0)
  return 100.0 * score / effective if effective else 0.0


def summarize(answers: Sequence[Answer], examples: int = 5) -> dict[str, Any]:
  """Rates, chrF and a few examples (the first ones, in file order)."""
  n = max(len(answers), 1)
  return {"answers": len(answers),
          "format_rate": sum(a.format for a in answers) / n,
          "stop_rate": sum(a.stops for a in answers) / n,
          "chrf": chrf([a.text for a in answers], [a.gold for a in answers]),
          "mean_answer_chars": sum(len(a.text) for a in answers) / n,
          "examples": [dataclasses.asdict(a) for a in answers[:examples]]}
