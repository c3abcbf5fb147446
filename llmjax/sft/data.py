"""Conversations from JSONL to packed rows: token ids, segment ids and the loss mask.

Input: one JSON object per line, {"messages": [{"role": ..., "content": ...}, ...]}; a
malformed line is a DataError naming file:line. Each conversation is encoded by
llmjax.sft.template (BOS + turns; mask 1 on the assistant's tokens) and packed into rows
like pretraining documents (llmjax.data.packing, segment ids keep conversations apart); the
rows carry loss_mask, so only assistant tokens are scored. A conversation longer than a row
is cut to its first row (its later turns are lost, and counted); one whose first answer
starts past the row is dropped. bits/char of these rows is per character of the assistant's
answers.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any, Callable, Sequence

import numpy as np

from llmjax.config import Config
from llmjax.data.packing import PackedRows, pack_documents
from llmjax.data.pipeline import PreparedData
from llmjax.errors import DataError
from llmjax.sft import template
from llmjax.sft.template import Message

Log = Callable[[str], None]


def read_conversations(path: str | pathlib.Path, *, for_training: bool = True
                       ) -> list[list[Message]]:
  """The conversations of a JSONL file; DataError with file:line on the first bad line."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise DataError(f"conversation file {str(path)!r} does not exist (python -m "
                    "llmjax.sft.make_set writes the Tatar set)")
  out = []
  with path.open(encoding="utf-8") as f:
    for lineno, line in enumerate(f, 1):
      if not line.strip():
        continue
      try:
        record = json.loads(line)
      except json.JSONDecodeError as e:
        raise DataError(f"{path}:{lineno}: not JSON ({e.msg}, column {e.colno})") from None
      if not isinstance(record, dict) or "messages" not in record:
        raise DataError(f"{path}:{lineno}: expected an object "
                        '{"messages": [{"role": ..., "content": ...}, ...]}')
      try:
        out.append(template.check(record["messages"], for_training=for_training))
      except DataError as e:
        raise DataError(f"{path}:{lineno}: {e}") from None
  if not out:
    raise DataError(f"conversation file {str(path)!r} holds no conversations")
  return out


def with_system(conversations: Sequence[list[Message]], system: str) -> list[list[Message]]:
  """Each conversation with `system` put first where it has no system message ('' = as is)."""
  if not system:
    return list(conversations)
  return [c if c[0]["role"] == "system" else [{"role": "system", "content": system}, *c]
          for c in conversations]


def encode_conversations(tokenizer, conversations: Sequence[list[Message]], seq_len: int
                         ) -> tuple[list[np.ndarray], list[np.ndarray], dict[str, int]]:
  """(ids per conversation, loss mask per conversation, counts): cut to seq_len + 1 tokens
  (one row of seq_len pairs); dropped when nothing scored is left."""
  docs, masks = [], []
  counts = {"truncated": 0, "dropped": 0, "answer_chars": 0, "answer_bytes": 0}
  for messages, (ids, mask) in zip(conversations,
                                  template.encode_many(tokenizer, conversations)):
    if len(ids) > seq_len + 1:
      counts["truncated"] += 1
      ids, mask = ids[:seq_len + 1], mask[:seq_len + 1]
    if not mask[1:].any():  # targets are tokens 1..: nothing left to learn from
      counts["dropped"] += 1
      continue
    docs.append(ids)
    masks.append(mask)
    answers = [m["content"] for m in messages if m["role"] == "assistant"]
    counts["answer_chars"] += sum(map(len, answers))
    counts["answer_bytes"] += sum(len(a.encode("utf-8")) for a in answers)
  return docs, masks, counts


def pack_conversations(tokenizer, conversations: Sequence[list[Message]], seq_len: int,
                       max_rows: int = 0) -> tuple[PackedRows, dict[str, int]]:
  """Packed rows with loss_mask, and counts; max_rows > 0 keeps the leading conversations
  that fill about that many rows (validation stays quick)."""
  if max_rows > 0:
    conversations = _leading(tokenizer, conversations, max_rows * seq_len)
  docs, masks, counts = encode_conversations(tokenizer, conversations, seq_len)
  if not docs:
    raise DataError("no conversation has an assistant token within data.seq_len="
                    f"{seq_len}")
  rows = pack_documents(docs, seq_len, loss_masks=masks, num_chars=counts["answer_chars"],
                        num_bytes=counts["answer_bytes"])
  counts["scored_tokens"] = int(rows.loss_mask.sum())
  return rows, counts


def _leading(tokenizer, conversations: Sequence[list[Message]], budget: int) -> list:
  total = 0
  for i, (ids, _) in enumerate(template.encode_many(tokenizer, conversations)):
    if total >= budget:
      return list(conversations[:i])
    total += len(ids) - 1
  return list(conversations)


def prepare(cfg: Config, train_file: str, val_file: str, tokenizer, *, system: str = "",
            log: Log = lambda msg: None) -> PreparedData:
  """The training loop's data for fine-tuning (see llmjax.training.loop.Recipe)."""
  train_convs = with_system(read_conversations(train_file), system)
  val_convs = with_system(read_conversations(val_file), system)
  seq_len = cfg.data.seq_len
  train, train_counts = pack_conversations(tokenizer, train_convs, seq_len)
  val, val_counts = pack_conversations(tokenizer, val_convs, seq_len, cfg.data.max_val_rows)
  if val_counts["dropped"] or train_counts["dropped"]:
    log(f"dropped {train_counts['dropped']} training and {val_counts['dropped']} validation "
        f"conversations whose first answer starts past data.seq_len={seq_len}")
  if train_counts["truncated"]:
    log(f"cut {train_counts['truncated']} of {len(train_convs)} training conversations to "
        f"data.seq_len={seq_len} tokens")
  stats = _stats(train, val, train_counts, val_counts, len(val_convs), tokenizer)
  source = (f"conversations {train_file} ({len(train_convs):,}), validation {val_file} "
            f"({len(val_convs):,})")
  return PreparedData(tokenizer=tokenizer, train=train, val=val, stats=stats, source=source)


def _stats(train: PackedRows, val: PackedRows, train_counts: dict, val_counts: dict,
           val_total: int, tokenizer) -> dict[str, Any]:
  """The keys the training loop reports (as llmjax.data.pipeline's), per conversation;
  chars are the assistant's answers' (what bits/char is measured on)."""
  stats: dict[str, Any] = {"files": 2, "vocab_size": tokenizer.vocab_size,
                           "tokenizer_sha256": tokenizer.sha256, "val_docs_total": val_total}
  for name, rows, counts in (("train", train, train_counts), ("val", val, val_counts)):
    stats |= {f"{name}_docs": rows.num_docs, f"{name}_chars": rows.num_chars,
              f"{name}_bytes": rows.num_bytes, f"{name}_tokens": rows.num_tokens,
              f"{name}_rows": len(rows), f"{name}_padding": rows.padding_share,
              f"{name}_scored_tokens": counts["scored_tokens"],
              f"{name}_truncated": counts["truncated"],
              f"{name}_chars_per_token": rows.num_chars / max(counts["scored_tokens"], 1)}
  stats["chars_per_token"] = stats["train_chars_per_token"]
  return stats
