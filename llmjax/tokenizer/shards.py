"""Tokenised documents on disk: compact memory-mapped shards with random access.

A shard set is one folder `tokens-<key>/`:

  meta.json          format version, dtype, vocab size, corpus and tokenizer sha256, shards
  offsets.npy        int64 [num_docs + 1]: where each document starts in the token stream
  shard-00000.npy    the token stream of a contiguous run of documents, uint16 when every
  shard-00001.npy    id fits (vocab <= 65535), else uint32; each document is [bos] ids [eos]

<key> hashes (format version, corpus sha256, tokenizer sha256), so a changed corpus or
tokenizer gets a new folder and an unchanged one is reused (load_or_build). Shards are
written by worker processes in parallel into a temporary folder that is renamed into
place at the end: a crash never leaves a half-written set where a reader would find it.

TokenShards is a grain random-access data source (len + getitem): document i comes back as
int32 [bos, ids..., eos] (what llmjax.data.packing packs), and is read
from the memory map, so opening a set costs no time and memory whatever its size.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import pathlib
import shutil
import sys
from typing import Sequence

import numpy as np
import tqdm.auto as tqdm

from llmjax.corpus.text import corpus_sha256 as docs_sha256
from llmjax.errors import DataError
from llmjax.paths import atomic_directory
from llmjax.tokenizer.spm import Tokenizer

FORMAT_VERSION = 1
META = "meta.json"
OFFSETS = "offsets.npy"
SHARD = "shard-{:05d}.npy"


def token_dtype(vocab_size: int) -> np.dtype:
  """uint16 when every id fits (vocab_size <= 65535), else uint32."""
  if vocab_size < 1:
    raise DataError(f"vocab_size={vocab_size} must be positive")
  return np.dtype(np.uint16 if vocab_size <= 65535 else np.uint32)


def shard_key(corpus_sha256: str, tokenizer_sha256: str) -> str:
  meta = {"version": FORMAT_VERSION, "corpus": corpus_sha256, "tokenizer": tokenizer_sha256}
  return hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:16]


class TokenShards:
  """Random access to the documents of a shard set (a grain MapDataset source)."""

  def __init__(self, path: str | os.PathLike):
    self.path = pathlib.Path(path)
    try:
      self.meta = json.loads((self.path / META).read_text())
      self._offsets = np.load(self.path / OFFSETS, mmap_mode="r")
      self._shards = [np.load(self.path / s["file"], mmap_mode="r")
                      for s in self.meta["shards"]]
    except (OSError, ValueError, KeyError) as e:
      raise DataError(f"token shards {str(self.path)!r} are unreadable: {e}") from e
    if self.meta.get("version") != FORMAT_VERSION:
      raise DataError(f"token shards {str(self.path)!r} have format "
                      f"{self.meta.get('version')}, expected {FORMAT_VERSION}")
    # Global token offset where each shard starts, to find a document's shard.
    self._shard_start = np.cumsum([0] + [s["tokens"] for s in self.meta["shards"]])
    if len(self._offsets) != self.meta["num_docs"] + 1 or \
        self._shard_start[-1] != self.meta["num_tokens"]:
      raise DataError(f"token shards {str(self.path)!r} are inconsistent: rebuild them")

  def __len__(self) -> int:
    return int(self.meta["num_docs"])

  def __getitem__(self, i: int) -> np.ndarray:
    i = int(i)
    if not -len(self) <= i < len(self):
      raise IndexError(f"document {i} out of range ({len(self)} documents)")
    i %= len(self)
    start, end = int(self._offsets[i]), int(self._offsets[i + 1])
    s = int(np.searchsorted(self._shard_start, start, side="right")) - 1
    base = int(self._shard_start[s])
    return np.asarray(self._shards[s][start - base:end - base], dtype=np.int32)

  @property
  def dtype(self) -> np.dtype:
    return np.dtype(self.meta["dtype"])

  @property
  def num_tokens(self) -> int:
    return int(self.meta["num_tokens"])

  def documents(self) -> list[np.ndarray]:
    """Every document, in order (what pack_documents takes)."""
    return [self[i] for i in range(len(self))]


# --- writing ---------------------------------------------------------------------------------

_WORKER_TOKENIZER = None


def _set_worker_tokenizer(tokenizer) -> None:
  global _WORKER_TOKENIZER
  _WORKER_TOKENIZER = tokenizer


def _init_worker(model_proto: bytes) -> None:
  _set_worker_tokenizer(Tokenizer(model_proto))


def _write_shard(args: tuple[list[str], str, str, int]) -> np.ndarray:
  """Tokenises one run of documents into one .npy file; returns their token counts."""
  docs, path, dtype, threads = args
  tok = _WORKER_TOKENIZER
  ids = tok.encode_batch(docs, num_threads=threads)
  lengths = np.fromiter((len(x) + 2 for x in ids), dtype=np.int64, count=len(ids))
  out = np.empty(int(lengths.sum()), dtype=dtype)
  pos = 0
  for x in ids:
    out[pos] = tok.bos_id
    out[pos + 1:pos + 1 + len(x)] = x
    out[pos + 1 + len(x)] = tok.eos_id
    pos += len(x) + 2
  with open(path, "wb") as f:
    np.save(f, out)
  return lengths


def _chunks(n: int, num_shards: int) -> list[tuple[int, int]]:
  bounds = np.linspace(0, n, num_shards + 1).round().astype(int)
  return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def write_token_shards(docs: Sequence[str], tokenizer, out_dir: str | os.PathLike, *,
                       corpus_sha256: str = "", num_workers: int = 2,
                       docs_per_shard: int = 50_000, progress: bool = False) -> TokenShards:
  """Tokenises docs into a new shard set at out_dir (must not exist), atomically; with
  progress=True a bar counts the documents."""
  out_dir = pathlib.Path(out_dir)
  if not docs:
    raise DataError("cannot write token shards of zero documents")
  dtype = token_dtype(tokenizer.vocab_size)
  num_shards = max(num_workers, -(-len(docs) // docs_per_shard))
  chunks = _chunks(len(docs), num_shards)
  # One process per core and no threads, or (num_workers <= 1) all cores' threads here.
  threads = 1 if num_workers > 1 else -1
  with atomic_directory(out_dir) as tmp:  # readers see all of it or nothing
    jobs = [(list(docs[a:b]), str(tmp / SHARD.format(k)), dtype.str, threads)
            for k, (a, b) in enumerate(chunks)]
    bar = tqdm.tqdm(total=len(docs), unit=" docs", desc="tokenise", disable=not progress,
                    file=sys.stderr)
    if num_workers <= 1:
      _set_worker_tokenizer(tokenizer)  # in this process: any object with encode_batch
      lengths = []
      for job in jobs:
        lengths.append(_write_shard(job))
        bar.update(len(job[0]))
    else:
      # spawn: the parent may hold jax's threads, which fork would copy half-locked.
      ctx = multiprocessing.get_context("spawn")
      with ctx.Pool(num_workers, initializer=_init_worker,
                    initargs=(tokenizer.model_proto,)) as pool:
        lengths = []
        for job, found in zip(jobs, pool.imap(_write_shard, jobs, chunksize=1)):
          lengths.append(found)
          bar.update(len(job[0]))
    bar.close()
    offsets = np.concatenate([[0], np.cumsum(np.concatenate(lengths))]).astype(np.int64)
    np.save(tmp / OFFSETS, offsets)
    meta = {"version": FORMAT_VERSION, "dtype": dtype.name,
            "vocab_size": tokenizer.vocab_size, "bos_id": tokenizer.bos_id,
            "eos_id": tokenizer.eos_id, "corpus_sha256": corpus_sha256,
            "tokenizer_sha256": tokenizer.sha256, "num_docs": len(docs),
            "num_tokens": int(offsets[-1]),
            "shards": [{"file": SHARD.format(k), "docs": b - a, "tokens": int(l.sum())}
                       for k, ((a, b), l) in enumerate(zip(chunks, lengths))]}
    (tmp / META).write_text(json.dumps(meta, indent=1) + "\n")
  return TokenShards(out_dir)


def load_or_build(cache_root: str | os.PathLike, docs: Sequence[str], tokenizer, *,
                  corpus_sha256: str | None = None, num_workers: int = 2,
                  docs_per_shard: int = 50_000, progress: bool = False
                  ) -> tuple[TokenShards, bool]:
  """(shards, reused): the set for (corpus, tokenizer) under cache_root, built if missing."""
  if corpus_sha256 is None:
    corpus_sha256 = docs_sha256(docs)
  path = pathlib.Path(cache_root) / f"tokens-{shard_key(corpus_sha256, tokenizer.sha256)}"
  if path.is_dir():
    try:
      shards = TokenShards(path)
      if (shards.meta["tokenizer_sha256"], shards.meta["corpus_sha256"]) == \
          (tokenizer.sha256, corpus_sha256):
        return shards, True
    except DataError:
      pass
    shutil.rmtree(path, ignore_errors=True)  # unreadable or foreign: rebuild
  try:
    return write_token_shards(docs, tokenizer, path, corpus_sha256=corpus_sha256,
                              num_workers=num_workers, docs_per_shard=docs_per_shard,
                              progress=progress), False
  except DataError:
    if path.is_dir():  # another process (multi-host) finished the same set first
      return TokenShards(path), True
    raise


__all__ = ["FORMAT_VERSION", "TokenShards", "load_or_build", "shard_key", "token_dtype",
           "write_token_shards"]
