"""Log-likelihood of continuations given contexts, batched, under a trained model.

Every benchmark in llmjax.evals reduces to one question: how likely is text `continuation`
right after text `context`? A request is scored on its own row, starting from BOS:

  tokens = [BOS] + encode(context) + encode(continuation) (+ [EOS] if add_eos)

and its score is the summed natural-log probability of the continuation tokens (and EOS).
Context and continuation are encoded separately, so every candidate continuation is
scored on exactly its own tokens whatever the context. Scores are returned raw (nats) and
with the continuation's character count, so callers can length-normalise per character
(tokenizer independent). Rows are bucketed by length (powers of two) and batched, so a
benchmark compiles a handful of shapes, not one per request.

Scorers take any `LoglikFn` (a function of a list of Requests), which keeps them testable
with a stub instead of a model.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from llmjax.errors import ConfigError
from llmjax.model import decode
from llmjax.training.restore import Restored
from llmjax.training.sharded import ShardedModel


@dataclasses.dataclass(frozen=True)
class Request:
  context: str
  continuation: str
  add_eos: bool = False  # also score the end of the text (whole-sentence scoring)


@dataclasses.dataclass(frozen=True)
class Score:
  logprob: float  # summed natural-log probability of the continuation tokens (+ EOS)
  tokens: int  # scored tokens
  chars: int  # Unicode code points of the continuation
  greedy: bool = False  # every continuation token was the model's argmax

  @property
  def per_char(self) -> float:
    """Length-normalised score: nats per character of the continuation."""
    return self.logprob / max(self.chars, 1)


LoglikFn = Callable[[Sequence[Request]], list[Score]]


def _bucket(n: int, limit: int, smallest: int = 16) -> int:
  size = smallest
  while size < n:
    size *= 2
  return min(size, limit)


class ModelScorer:
  """Scores Requests with a placed model and parameters (a restored checkpoint, or the
  training loop's current state). Callable as a LoglikFn."""

  def __init__(self, model: ShardedModel, params: Any, tokenizer, batch_size: int = 32):
    shards = model.batch_shards
    self.model, self.params, self.tok = model, params, tokenizer
    self.batch_size = max(shards, -(-batch_size // shards) * shards)  # a multiple of shards
    self.max_len = model.model_cfg.max_seq_len
    self._row_scores = jax.jit(functools.partial(_row_scores, model.model))

  def fits(self, text: str) -> bool:
    """Whether `text` can be scored whole (from BOS, with EOS) in the model's context."""
    return len(self.tok.encode(text)) + 1 <= self.max_len

  def _encode(self, req: Request) -> tuple[list[int], int]:
    ctx = [self.tok.bos_id] + self.tok.encode(req.context)
    cont = self.tok.encode(req.continuation) + ([self.tok.eos_id] if req.add_eos else [])
    if not cont:
      raise ConfigError(f"empty continuation for context {req.context[:60]!r}")
    if len(cont) > self.max_len:
      raise ConfigError(f"continuation of {len(cont)} tokens does not fit the model's "
                        f"context of {self.max_len}: {req.continuation[:60]!r}")
    ids = ctx + cont
    if len(ids) > self.max_len + 1:  # keep the continuation, drop the oldest context
      ids = ids[len(ids) - self.max_len - 1:]
    return ids, len(cont)

  def _batches(self, encoded: list[tuple[list[int], int]]):
    """(request indices, inputs, targets, mask), longest rows first, one length each."""
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i][0]))
    for start in range(0, len(order), self.batch_size):
      idx = order[start:start + self.batch_size]
      T = _bucket(max(len(encoded[i][0]) for i in idx) - 1, self.max_len)
      inputs = np.zeros((self.batch_size, T), np.int32)
      targets = np.zeros((self.batch_size, T), np.int32)
      mask = np.zeros((self.batch_size, T), np.float32)
      for r, i in enumerate(idx):
        ids, n_cont = encoded[i]
        n = len(ids) - 1
        inputs[r, :n], targets[r, :n] = ids[:-1], ids[1:]
        mask[r, n - n_cont:n] = 1.0
      yield idx, inputs, targets, mask

  def __call__(self, requests: Sequence[Request]) -> list[Score]:
    encoded = [self._encode(r) for r in requests]
    scored = self.score_encoded(encoded)
    return [Score(lp, n_cont, len(r.continuation), greedy)
            for r, (_, n_cont), (lp, greedy) in zip(requests, encoded, scored)]

  def score_encoded(self, encoded: Sequence[tuple[list[int], int]]) -> list[tuple[float, bool]]:
    """(summed log-prob, all greedy) of the last n tokens of each id row, for
    (ids, n) pairs (ids start with BOS and fit the context)."""
    out: list[tuple[float, bool] | None] = [None] * len(encoded)
    for idx, inputs, targets, mask in self._batches(list(encoded)):
      batch = self.model.put_batch({"inputs": inputs, "targets": targets, "mask": mask})
      with self.model.context():
        lp_B, greedy_B = self._row_scores(self.params, batch)
      lp_B, greedy_B = np.asarray(lp_B), np.asarray(greedy_B)
      for r, i in enumerate(idx):
        out[i] = (float(lp_B[r]), bool(greedy_B[r]))
    return out  # type: ignore[return-value]

  def greedy(self, prompts: Sequence[str], max_new_tokens: int = 12,
             stop: str = "\n") -> list[str]:
    """Greedy continuations of many prompts (the KV-cached decoder, a batch at a time);
    prompts too long for the context keep their last tokens."""
    out = []
    for start in range(0, len(prompts), self.batch_size):
      out += decode.continue_text(self.params, self.model.model_cfg, self.tok,
                                  prompts[start:start + self.batch_size],
                                  max_new_tokens=max_new_tokens, stop=stop, truncate=True)
    return out


def _row_scores(model, params, batch: dict) -> tuple[jax.Array, jax.Array]:
  """Per row: summed log-prob of the masked targets, and whether each was the argmax."""
  logits_BTV, _ = model.apply({"params": params}, batch["inputs"], deterministic=True)
  logp_BTV = jax.nn.log_softmax(logits_BTV.astype(jnp.float32), axis=-1)
  tok_lp_BT = jnp.take_along_axis(logp_BTV, batch["targets"][..., None], axis=-1)[..., 0]
  hit_BT = jnp.argmax(logits_BTV, axis=-1) == batch["targets"]
  mask_BT = batch["mask"]
  return (jnp.sum(tok_lp_BT * mask_BT, axis=-1),
          jnp.all(hit_BT | (mask_BT == 0), axis=-1))


def from_restored(restored: Restored, batch_size: int = 32) -> ModelScorer:
  """A ModelScorer for a restored checkpoint (llmjax.training.restore.load)."""
  return ModelScorer(restored.model, restored.params, restored.tokenizer, batch_size)
