"""From text to packed train / validation rows and batch iterators.

prepare_data: the training text (llmjax.corpus.mix.training_text) is split into training and
validation documents by a hash of each document; the tokenizer is trained on the training
split only (or reused: the workdir's tokenizer.model, or data.tokenizer_path); both splits
are tokenised into memory-mapped token shards in workdir/data_cache (llmjax.tokenizer.shards,
reused while text and tokenizer are unchanged) and packed into rows with segment ids.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import time
from typing import Any, Callable, Iterator, Sequence

import grain
import numpy as np

from llmjax.config import DataConfig
from llmjax.corpus.mix import training_text
from llmjax.corpus.text import corpus_sha256, split_documents
from llmjax.data.packing import FIELDS, PackedRows, pack_documents
from llmjax.errors import DataError
from llmjax.tokenizer import shards
from llmjax.tokenizer.spm import (TOKENIZER_FILENAME, Tokenizer, TokenizerSpec, load_checked,
                                  load_or_train)

Log = Callable[[str], None]


@dataclasses.dataclass
class PreparedData:
  tokenizer: Tokenizer
  train: PackedRows
  val: PackedRows
  stats: dict[str, Any]
  source: str  # where the text came from, in words


def _cap_validation(token_docs: Sequence[np.ndarray], budget: int) -> int:
  """How many leading val docs to keep: about `budget` target tokens."""
  if budget <= 0:
    return len(token_docs)
  total = 0
  for i, toks in enumerate(token_docs):
    if total >= budget:
      return i
    total += len(toks) - 1
  return len(token_docs)


def _pack(docs: Sequence[str], token_docs: Sequence[np.ndarray], seq_len: int) -> PackedRows:
  return pack_documents(token_docs, seq_len, num_chars=sum(len(d) for d in docs),
                        num_bytes=sum(len(d.encode("utf-8")) for d in docs))


def load_tokenizer(data_cfg: DataConfig, vocab_size: int, workdir: pathlib.Path,
                   train_docs: Sequence[str], log: Log) -> Tokenizer:
  """data.tokenizer_path if set; else the workdir's tokenizer.model, trained on first use."""
  if data_cfg.tokenizer_path:
    return load_checked(data_cfg.tokenizer_path, vocab_size)
  spec = TokenizerSpec(vocab_size, data_cfg.tokenizer_model_type,
                       data_cfg.tokenizer_max_sentences, data_cfg.shuffle_seed)
  tok, reused = load_or_train(workdir / TOKENIZER_FILENAME, train_docs, spec,
                              keep_existing=True, log=log)
  if not reused and tok.filler_pieces:
    log(f"note: the text fills only {vocab_size - tok.filler_pieces:,} of model.vocab_size="
        f"{vocab_size:,} pieces; the other {tok.filler_pieces:,} are never used")
  return tok


def _tokens(docs: Sequence[str], tok: Tokenizer, cache: pathlib.Path, what: str,
            log: Log) -> list[np.ndarray]:
  """Each doc as int32 [bos] + ids + [eos], through the token-shard cache."""
  start = time.perf_counter()
  workers = min(os.cpu_count() or 1, max(1, len(docs) // 100_000))
  token_shards, reused = shards.load_or_build(cache, docs, tok, corpus_sha256=corpus_sha256(docs),
                                              num_workers=workers, progress=len(docs) > 100_000)
  if not reused:
    log(f"tokenised the {what} split: {len(docs):,} documents, {token_shards.num_tokens:,} "
        f"tokens in {time.perf_counter() - start:.1f}s")
  return token_shards.documents()


def prepare_data(data_cfg: DataConfig, vocab_size: int, workdir: str | os.PathLike,
                 *, log: Log = lambda msg: None) -> PreparedData:
  """Reads, splits, tokenizes (tokenizer trained on the train split only) and packs."""
  workdir = pathlib.Path(workdir)
  text = training_text(data_cfg, log)
  train_docs, val_docs = split_documents(text.docs, data_cfg.val_fraction)
  if not train_docs or not val_docs:
    raise DataError(
        f"{len(text.docs)} documents in {text.description} give {len(train_docs)} train and "
        f"{len(val_docs)} validation documents at data.val_fraction="
        f"{data_cfg.val_fraction}: add text or change --config.data.val_fraction")
  tok = load_tokenizer(data_cfg, vocab_size, workdir, train_docs, log)
  cache = workdir / "data_cache"
  train_tokens = _tokens(train_docs, tok, cache, "training", log)
  start = time.perf_counter()
  train = _pack(train_docs, train_tokens, data_cfg.seq_len)
  log(f"packed {len(train):,} training rows of {data_cfg.seq_len} tokens in "
      f"{time.perf_counter() - start:.1f}s")
  val_tokens = _tokens(val_docs, tok, cache, "validation", log)
  n_val = _cap_validation(val_tokens, data_cfg.max_val_rows * data_cfg.seq_len)
  val = _pack(val_docs[:n_val], val_tokens[:n_val], data_cfg.seq_len)
  return PreparedData(tokenizer=tok, train=train, val=val, source=text.description,
                      stats=_stats(train, val, len(val_docs), len(text.files), tok))


def _stats(train: PackedRows, val: PackedRows, val_docs_total: int, num_files: int,
           tok: Tokenizer) -> dict[str, Any]:
  stats: dict[str, Any] = {"files": num_files, "vocab_size": tok.vocab_size,
                           "tokenizer_sha256": tok.sha256,
                           "val_docs_total": val_docs_total}
  for name, rows in (("train", train), ("val", val)):
    stats[f"{name}_docs"] = rows.num_docs
    stats[f"{name}_chars"] = rows.num_chars
    stats[f"{name}_bytes"] = rows.num_bytes
    stats[f"{name}_tokens"] = rows.num_tokens
    stats[f"{name}_rows"] = len(rows)
    stats[f"{name}_padding"] = rows.padding_share
    stats[f"{name}_chars_per_token"] = rows.num_chars / max(rows.num_tokens, 1)
  stats["chars_per_token"] = stats["train_chars_per_token"]
  return stats


class _Gather:
  """Maps a global batch of row indices to this process's batch dict (only its rows are
  read: one fancy index per field)."""

  def __init__(self, rows: PackedRows, local_rows: slice):
    self.rows, self.local_rows = rows, local_rows

  def __call__(self, index: np.ndarray) -> dict[str, np.ndarray]:
    return self.rows.take(np.asarray(index, np.int64)[self.local_rows])


def train_iterator(rows: PackedRows, *, global_batch_size: int, seed: int,
                   local_rows: slice | None = None,
                   read_options: grain.ReadOptions | None = None) -> grain.DatasetIterator:
  """Infinite iterator of batches: rows `local_rows` of each [global_batch_size, T] batch.

  Every process walks the same shuffled sequence of global batches (so the stream does not
  depend on the process count, and a checkpoint resumes on another count) but reads only
  the rows its devices hold (`multihost.process_rows`); None = the whole batch. grain
  reshuffles every epoch (shuffle before repeat), batches run across epoch boundaries, and
  get_state() / set_state() restore exactly the next batch.
  """
  if len(rows) == 0:
    raise DataError("no training rows (0 packed rows): add text to data.text_dir")
  local_rows = slice(0, global_batch_size) if local_rows is None else local_rows
  start, stop, step = local_rows.indices(global_batch_size)
  if step != 1 or stop <= start:
    raise DataError(f"local rows {local_rows} of a batch of {global_batch_size} must be a "
                    "non-empty contiguous slice")
  ds = (grain.MapDataset.range(len(rows))
        .shuffle(seed=seed)
        .repeat(None)
        .batch(global_batch_size)
        .map(_Gather(rows, slice(start, stop))))
  options = read_options or grain.ReadOptions(num_threads=2, prefetch_buffer_size=4)
  return iter(ds.to_iter_dataset(options))


def eval_batches(rows: PackedRows, batch_size: int) -> Iterator[dict[str, np.ndarray]]:
  """Every row once, in order; the last batch is filled with all-zero rows."""
  for start in range(0, len(rows), batch_size):
    batch = rows.take(slice(start, start + batch_size))
    short = batch_size - batch["inputs"].shape[0]
    if short:
      batch = {k: np.pad(v, ((0, short), (0, 0))) for k, v in batch.items()}
    yield batch


__all__ = ["FIELDS", "PreparedData", "prepare_data", "train_iterator", "eval_batches"]
