"""Bits per character / per byte of packed text under a model.

Definition (used for validation during training and by `python -m llmjax.evaluate`):
every document (line) is scored on its own, starting from the BOS token; the bits are the
model's negative log2-likelihood of all its tokens including the end-of-line EOS token;
bits/char = summed bits / summed Unicode code points of the lines (newlines not counted);
bits/byte uses UTF-8 bytes instead. Both are independent of the tokenizer.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from llmjax.data.packing import PackedRows
from llmjax.data.pipeline import eval_batches

LN2 = math.log(2.0)


def local_share(batch: dict, process_index: int, process_count: int) -> dict:
  """This process's contiguous block of a global batch."""
  n = next(iter(batch.values())).shape[0] // process_count
  return {k: v[process_index * n:(process_index + 1) * n] for k, v in batch.items()}


def score_rows(trainer, params, rows: PackedRows, batch_size: int) -> dict[str, float]:
  """Loss (nats/token), bits/char and bits/byte of every row in `rows`."""
  nats = jnp.zeros((), jnp.float32)
  tokens = jnp.zeros((), jnp.float32)
  for batch in eval_batches(rows, batch_size):
    local = local_share(batch, jax.process_index(), jax.process_count())
    n, t = trainer.eval_step(params, trainer.put_batch(local))
    nats, tokens = nats + n, tokens + t  # stays on device: one transfer at the end
  nats, tokens = float(nats), float(tokens)
  bits = nats / LN2
  return {"loss": nats / max(tokens, 1.0),
          "bits_per_char": bits / max(rows.num_chars, 1),
          "bits_per_byte": bits / max(rows.num_bytes, 1),
          "tokens": int(tokens), "chars": int(rows.num_chars), "bytes": int(rows.num_bytes)}
