"""Bits per character / per byte: the one definition, used everywhere.

Validation during training (`validation`), `python -m llmjax.evaluate` (`score_file`), the
suite's FLORES score and the few-shot probe (`score_lines`) all come here. Every document
(line) is scored on its own, starting from the BOS token; its bits are the model's negative
log2-likelihood of all its tokens including the end-of-line EOS token; bits/char = summed
bits / summed Unicode code points of the lines (newlines not counted); bits/byte uses UTF-8
bytes instead. Both are independent of the tokenizer, so models with different
vocabularies compare directly. Lines are packed into rows (segment ids keep them apart),
and a line longer than a row continues in the next piece without the earlier context.
"""

from __future__ import annotations

import math
import pathlib
from typing import Any, Sequence

import jax
import jax.numpy as jnp

from llmjax.corpus.text import read_lines
from llmjax.data.packing import PackedRows, pack_documents, tokenize_documents
from llmjax.data.pipeline import eval_batches
from llmjax.evals.loglik import ModelScorer
from llmjax.training.loop import EvalContext
from llmjax.training.restore import Restored
from llmjax.training.sharded import ShardedModel

LN2 = math.log(2.0)


def local_share(batch: dict, process_index: int, process_count: int) -> dict:
  """This process's contiguous block of a global batch."""
  n = next(iter(batch.values())).shape[0] // process_count
  return {k: v[process_index * n:(process_index + 1) * n] for k, v in batch.items()}


def score_rows(model: ShardedModel, params: Any, rows: PackedRows, batch_size: int
               ) -> dict[str, float]:
  """Loss (nats/token), bits/char and bits/byte of every row in `rows`."""
  nats = jnp.zeros((), jnp.float32)
  tokens = jnp.zeros((), jnp.float32)
  for batch in eval_batches(rows, batch_size):
    local = local_share(batch, jax.process_index(), jax.process_count())
    n, t = model.eval_step(params, model.put_batch(local))
    nats, tokens = nats + n, tokens + t  # stays on device: one transfer at the end
  nats, tokens = float(nats), float(tokens)
  bits = nats / LN2
  return {"loss": nats / max(tokens, 1.0),
          "bits_per_char": bits / max(rows.num_chars, 1),
          "bits_per_byte": bits / max(rows.num_bytes, 1),
          "tokens": int(tokens), "chars": int(rows.num_chars), "bytes": int(rows.num_bytes)}


def pack_lines(tokenizer, lines: Sequence[str], seq_len: int) -> PackedRows:
  """Each line from BOS to EOS, packed into rows of seq_len tokens."""
  return pack_documents(tokenize_documents(tokenizer, lines), seq_len,
                        num_chars=sum(len(line) for line in lines),
                        num_bytes=sum(len(line.encode("utf-8")) for line in lines))


def score_lines(model: ShardedModel, params: Any, tokenizer, lines: Sequence[str],
                seq_len: int, batch_size: int) -> dict[str, float]:
  result = score_rows(model, params, pack_lines(tokenizer, lines, seq_len), batch_size)
  return {**result, "lines": len(lines)}


def score_file(restored: Restored, path: str | pathlib.Path, batch_size: int = 0) -> dict:
  """bits/char of every non-empty line of a text file under a restored checkpoint, and the
  mean bits of each line's second half given its first (`second_half_bits`)."""
  lines = read_lines(path)
  batch_size = batch_size or restored.cfg.data.batch_size
  result = score_lines(restored.model, restored.params, restored.tokenizer, lines,
                       restored.cfg.data.seq_len, batch_size)
  scorer = ModelScorer(restored.model, restored.params, restored.tokenizer, batch_size)
  halves = second_half_bits(scorer, restored.tokenizer, lines)
  return {**result, **halves, "text_file": str(path), "step": restored.step}


def split_at_middle(tokenizer, line: str) -> tuple[list[int], int]:
  """The line's token ids and k: the token boundary nearest its character midpoint (at least
  one token on each side)."""
  ids = tokenizer.encode(line)
  if len(ids) < 2:
    return ids, len(ids)
  half = len(line) / 2
  return ids, min(range(1, len(ids)), key=lambda k: abs(len(tokenizer.decode(ids[:k])) - half))


def second_half_bits(scorer, tokenizer, lines: Sequence[str]) -> dict[str, float]:
  """Goldfish's FLORES measure: the mean total bits of each sentence's second half given
  its first half (split at the character midpoint, rounded to a token boundary), from BOS,
  without the end-of-sentence token. `scorer` is an llmjax.evals.loglik.ModelScorer. A
  sentence longer than the model's context loses the start of its first half; one whose
  second half alone does not fit is left out (second_half_lines counts the scored ones)."""
  rows = []
  for line in lines:
    ids, k = split_at_middle(tokenizer, line)
    row, n = [tokenizer.bos_id] + ids, len(ids) - k
    if 0 < n <= scorer.max_len:
      rows.append((row[-(scorer.max_len + 1):], n))
  scored = scorer.score_encoded(rows)
  bits = [-lp / LN2 for lp, _ in scored]
  return {"second_half_bits": sum(bits) / max(len(bits), 1), "second_half_lines": len(bits)}


def validation(ctx: EvalContext) -> dict[str, float]:
  """The training loop's validation: the held-out split's loss and bits/char."""
  val = score_rows(ctx.model, ctx.params, ctx.data.val, ctx.batch_size)
  return {"val_loss": val["loss"], "val_bits_per_char": val["bits_per_char"],
          "val_bits_per_byte": val["bits_per_byte"]}
