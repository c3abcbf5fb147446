"""Packing tokenized documents into fixed-length rows with segment ids.

Every document becomes (input, target) pairs; documents longer than a row are cut
into consecutive pieces, and pieces are packed best-fit-decreasing. Each piece gets
its own segment id, so attention masks built from segment ids never cross a piece.
A document may come with a per-token loss mask (fine-tuning scores the assistant's tokens
only); the rows then carry `loss_mask`, which the loss honours (llmjax.training.sharded).
"""

from __future__ import annotations

import bisect
import dataclasses
from typing import Sequence

import numpy as np

FIELDS = ("inputs", "targets", "segment_ids", "positions")
LOSS_MASK = "loss_mask"  # an optional field: 1 = the target is scored


@dataclasses.dataclass
class PackedRows:
  """Packed rows, each array [N, T] int32; loss weight = segment_ids > 0."""

  inputs: np.ndarray
  targets: np.ndarray
  segment_ids: np.ndarray  # 0 = padding, 1..k = pieces within the row
  positions: np.ndarray  # restart at 0 for each segment
  num_docs: int = 0
  num_chars: int = 0  # Unicode code points of the packed documents
  num_bytes: int = 0  # UTF-8 bytes of the packed documents
  num_tokens: int = 0  # target tokens (sum of loss weights)
  loss_mask: np.ndarray | None = None  # [N, T] int32, 1 = scored; None = every real target

  def __len__(self) -> int:
    return int(self.inputs.shape[0])

  @property
  def seq_len(self) -> int:
    return int(self.inputs.shape[1])

  @property
  def padding_share(self) -> float:
    total = self.inputs.size
    return 1.0 - self.num_tokens / total if total else 0.0

  @property
  def fields(self) -> tuple[str, ...]:
    """The batch keys: FIELDS, plus loss_mask when the rows carry one."""
    return FIELDS if self.loss_mask is None else FIELDS + (LOSS_MASK,)

  def take(self, index) -> dict[str, np.ndarray]:
    """The batch dict for a row index array (or slice)."""
    return {k: getattr(self, k)[index] for k in self.fields}


def tokenize_documents(tokenizer, docs: Sequence[str]) -> list[np.ndarray]:
  """Each doc -> int32 [bos] + ids + [eos]."""
  bos, eos = tokenizer.bos_id, tokenizer.eos_id
  out = []
  for ids in tokenizer.encode_batch(docs):
    arr = np.empty(len(ids) + 2, np.int32)
    arr[0], arr[1:-1], arr[-1] = bos, ids, eos
    out.append(arr)
  return out


def _pieces(token_docs: Sequence[np.ndarray], seq_len: int) -> list[tuple[int, int, int]]:
  """(doc index, start token, number of pairs) of each piece of <= seq_len pairs."""
  pieces = []
  for d, toks in enumerate(token_docs):
    pairs = len(toks) - 1
    for start in range(0, pairs, seq_len):
      pieces.append((d, start, min(seq_len, pairs - start)))
  return pieces


def _best_fit_decreasing(lengths: Sequence[int], capacity: int) -> list[list[int]]:
  """Rows (lists of item indices); each item goes to the fullest row it fits in.

  Rows are bucketed by remaining capacity; `caps` is the sorted list of capacities
  that have a row, so the best row is found with one bisect.
  """
  order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
  rows: list[list[int]] = []
  buckets: dict[int, list[int]] = {}
  caps: list[int] = []
  for i in order:
    n = lengths[i]
    k = bisect.bisect_left(caps, n)
    if k == len(caps):
      row, left = len(rows), capacity - n
      rows.append([i])
    else:
      cap = caps[k]
      bucket = buckets[cap]
      row = bucket.pop()
      if not bucket:
        del buckets[cap]
        caps.pop(k)
      rows[row].append(i)
      left = cap - n
    if left > 0:
      if left not in buckets:
        buckets[left] = []
        bisect.insort(caps, left)
      buckets[left].append(row)
  return rows


def pack_documents(token_docs: Sequence[np.ndarray], seq_len: int, *, num_chars: int = 0,
                   num_bytes: int = 0, loss_masks: Sequence[np.ndarray] | None = None
                   ) -> PackedRows:
  """Packs docs of tokens into [N, seq_len] rows; no (input, target) pair is dropped.

  loss_masks: one array per doc, aligned with its tokens (1 = the token is scored when it
  is a target); the rows then carry loss_mask."""
  if seq_len < 1:
    raise ValueError(f"seq_len={seq_len} must be positive")
  if loss_masks is not None and [len(m) for m in loss_masks] != [len(t) for t in token_docs]:
    raise ValueError("loss_masks must match token_docs one to one, token for token")
  pieces = _pieces(token_docs, seq_len)
  rows = _best_fit_decreasing([p[2] for p in pieces], seq_len)
  shape = (len(rows), seq_len)
  inputs, targets = np.zeros(shape, np.int32), np.zeros(shape, np.int32)
  segment_ids, positions = np.zeros(shape, np.int32), np.zeros(shape, np.int32)
  loss_mask = None if loss_masks is None else np.zeros(shape, np.int32)
  arange = np.arange(seq_len, dtype=np.int32)
  for r, items in enumerate(rows):
    col = 0
    for seg, i in enumerate(items, start=1):
      d, start, n = pieces[i]
      toks = token_docs[d]
      inputs[r, col:col + n] = toks[start:start + n]
      targets[r, col:col + n] = toks[start + 1:start + n + 1]
      segment_ids[r, col:col + n] = seg
      positions[r, col:col + n] = arange[:n]
      if loss_mask is not None:
        loss_mask[r, col:col + n] = loss_masks[d][start + 1:start + n + 1]
      col += n
  return PackedRows(inputs=inputs, targets=targets, segment_ids=segment_ids,
                    positions=positions, num_docs=len(token_docs), num_chars=num_chars,
                    num_bytes=num_bytes, num_tokens=sum(p[2] for p in pieces),
                    loss_mask=loss_mask)
