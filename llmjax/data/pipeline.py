"""From a text folder to packed train / validation rows and batch iterators."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import tempfile
from typing import Any, Iterator, Sequence

import grain
import numpy as np

from llmjax.config import DataConfig
from llmjax.data.packing import FIELDS, PackedRows, pack_documents, tokenize_documents
from llmjax.data.text import TEXT_DIR_HINT, list_text_files, read_documents, split_documents
from llmjax.errors import DataError
from llmjax.tokenizer import Tokenizer, load_or_train_tokenizer

CACHE_VERSION = 1  # bump when packing changes, to invalidate old caches


@dataclasses.dataclass
class PreparedData:
  tokenizer: Tokenizer
  train: PackedRows
  val: PackedRows
  stats: dict[str, Any]


def _cap_validation(val_docs: Sequence[str], token_docs: list[np.ndarray],
                    budget: int) -> int:
  """How many leading val docs to keep: about `budget` target tokens."""
  if budget <= 0:
    return len(val_docs)
  total = 0
  for i, toks in enumerate(token_docs):
    if total >= budget:
      return i
    total += len(toks) - 1
  return len(token_docs)


def _pack(docs: Sequence[str], token_docs: list[np.ndarray], seq_len: int) -> PackedRows:
  return pack_documents(token_docs, seq_len, num_chars=sum(len(d) for d in docs),
                        num_bytes=sum(len(d.encode("utf-8")) for d in docs))


def _cache_key(files: Sequence[pathlib.Path], tok: Tokenizer, data_cfg: DataConfig) -> str:
  """Changes whenever the text files, tokenizer or packing settings change."""
  meta = {
      "version": CACHE_VERSION,
      "files": [(str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files],
      "tokenizer": tok.sha256,
      "seq_len": data_cfg.seq_len,
      "val_fraction": data_cfg.val_fraction,
      "max_val_rows": data_cfg.max_val_rows,
  }
  if data_cfg.sources:  # weights and TFDS sources are not visible in `files`
    meta["sources"] = data_cfg.sources
  return hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:16]


def _save_cache(path: pathlib.Path, train: PackedRows, val: PackedRows) -> None:
  arrays = {}
  for name, rows in (("train", train), ("val", val)):
    for f in dataclasses.fields(PackedRows):
      arrays[f"{name}.{f.name}"] = np.asarray(getattr(rows, f.name))
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
  try:
    with os.fdopen(fd, "wb") as f:
      np.savez(f, **arrays)
    os.replace(tmp, path)  # atomic: a crash never leaves a partial cache
  except BaseException:
    pathlib.Path(tmp).unlink(missing_ok=True)
    raise
  for old in path.parent.glob("packed-*.npz"):  # stale caches of changed inputs
    if old != path:
      old.unlink(missing_ok=True)


def _load_cache(path: pathlib.Path) -> tuple[PackedRows, PackedRows] | None:
  try:
    with np.load(path) as z:
      out = []
      for name in ("train", "val"):
        kw = {f.name: z[f"{name}.{f.name}"] for f in dataclasses.fields(PackedRows)}
        for k in ("num_docs", "num_chars", "num_bytes", "num_tokens"):
          kw[k] = int(kw[k])
        out.append(PackedRows(**kw))
      return out[0], out[1]
  except (OSError, KeyError, ValueError):
    return None  # unreadable cache: rebuild


def prepare_data(data_cfg: DataConfig, vocab_size: int, workdir: str | os.PathLike,
                 *, use_cache: bool = True) -> PreparedData:
  """Reads, splits, tokenizes (tokenizer trained on the train split only) and packs."""
  workdir = pathlib.Path(workdir)
  if data_cfg.sources:  # weighted mix of text / Leipzig / TFDS sources instead of text_dir
    from llmjax.corpus.mix import read_sources  # pylint: disable=g-import-not-at-top
    files, docs = read_sources(data_cfg.sources)
  else:
    if not data_cfg.text_dir:
      raise DataError(f"data.text_dir is empty: {TEXT_DIR_HINT}")
    files = list_text_files(data_cfg.text_dir)
    docs = read_documents(files)
  train_docs, val_docs = split_documents(docs, data_cfg.val_fraction)
  if not train_docs or not val_docs:
    raise DataError(
        f"{len(docs)} documents in {data_cfg.text_dir!r} give {len(train_docs)} train and "
        f"{len(val_docs)} validation documents at data.val_fraction="
        f"{data_cfg.val_fraction}: add text or change --config.data.val_fraction")
  tok = load_or_train_tokenizer(data_cfg, vocab_size, workdir, train_docs)

  cache = workdir / "data_cache" / f"packed-{_cache_key(files, tok, data_cfg)}.npz"
  loaded = _load_cache(cache) if use_cache and cache.is_file() else None
  if loaded is not None:
    train, val = loaded
  else:
    train = _pack(train_docs, tokenize_documents(tok, train_docs), data_cfg.seq_len)
    val_tokens = tokenize_documents(tok, val_docs)
    n_val = _cap_validation(val_docs, val_tokens,
                            data_cfg.max_val_rows * data_cfg.seq_len)
    val = _pack(val_docs[:n_val], val_tokens[:n_val], data_cfg.seq_len)
    if use_cache:
      _save_cache(cache, train, val)
  return PreparedData(tokenizer=tok, train=train, val=val,
                      stats=_stats(train, val, len(val_docs), len(files), tok))


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
