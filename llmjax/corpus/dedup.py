"""Exact (normalised hash) and near-duplicate (MinHash + LSH over character shingles) dedup.

Memory is bounded by 8 bytes per kept line for the exact set and BANDS x 8 bytes for the
LSH keys, held in sorted numpy arrays (no Python object per line), so 100 MB of text
(~1M lines) needs ~80 MB. First occurrence wins: the pipeline feeds lines in a fixed order.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Sequence

import numpy as np

SHINGLE = 5  # characters per shingle
NUM_PERM = 64
BANDS = 8  # 8 bands x 8 rows: a pair with Jaccard 0.8 collides in some band with p=0.77,
ROWS = NUM_PERM // BANDS  # 0.9 -> 0.99, 0.5 -> 0.03
MAX_KEY_CHARS = 400
_GROUP = 256  # lines per vectorised step
_rng = np.random.default_rng(20240601)  # fixed: signatures must be reproducible
_A = _rng.integers(1, 1 << 32, size=(NUM_PERM, 1), dtype=np.uint64).astype(np.uint32) | np.uint32(1)
_B = _rng.integers(0, 1 << 32, size=(NUM_PERM, 1), dtype=np.uint64).astype(np.uint32)
_BAND_SALT = (np.arange(BANDS, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15))
_NON_WORD = re.compile(r"[\W_]+")


def dedup_key(line: str) -> str:
  """Case, punctuation and spacing do not make a line new."""
  return _NON_WORD.sub(" ", unicodedata.normalize("NFC", line).lower()).strip()


def key_hash(key: str) -> int:
  """63-bit hash of a dedup key (stable across runs, unlike hash())."""
  return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(),
                        "little") >> 1


def exact_hash(line: str) -> int:
  return key_hash(dedup_key(line))


def minhash_signatures(keys: Sequence[str]) -> np.ndarray:
  """[N, NUM_PERM] uint32 MinHash signatures of the keys' character 5-gram sets.

  Keys longer than MAX_KEY_CHARS are cut there: the cost stays linear in the number of
  lines, and lines sharing their first 400 characters are near-duplicates anyway.
  """
  sig = np.full((len(keys), NUM_PERM), np.iinfo(np.uint32).max, np.uint32)
  for start in range(0, len(keys), _GROUP):  # groups keep the temporaries in cache
    _signatures_into(keys[start:start + _GROUP], sig[start:start + _GROUP])
  return sig


def _signatures_into(keys: Sequence[str], sig: np.ndarray) -> None:
  cps = []
  for k in keys:
    k = f" {k[:MAX_KEY_CHARS]} ".ljust(SHINGLE)
    cps.append(np.frombuffer(k.encode("utf-32-le"), np.uint32))
  if not cps:
    return
  lengths = np.array([len(a) for a in cps])
  n_sh = lengths - SHINGLE + 1
  flat = np.concatenate(cps)
  owner = np.repeat(np.arange(len(keys)), n_sh)
  # Start of every shingle in `flat`: its line's start plus its offset in the line.
  line_start = np.concatenate([[0], np.cumsum(lengths)[:-1]])
  first = np.concatenate([[0], np.cumsum(n_sh)[:-1]])
  pos = np.arange(len(owner)) - first[owner] + line_start[owner]
  h = np.zeros(len(pos), np.uint32)
  for j in range(SHINGLE):  # polynomial hash of 5 code points (wraps mod 2**32)
    h = h * np.uint32(1_000_003) + flat[pos + j]
  h ^= h >> np.uint32(15)
  h *= np.uint32(0x2C1B3C6D)
  h ^= h >> np.uint32(12)
  # Universal hashing a*h + b (mod 2**32), then the minimum per line.
  perm = _A * h[None, :] + _B
  sig[:] = np.minimum.reduceat(perm, first, axis=1).T


def band_keys(sig: np.ndarray) -> np.ndarray:
  """[N, BANDS] uint64 keys: lines sharing any key are near-duplicate candidates."""
  rows = sig.reshape(len(sig), BANDS, ROWS).astype(np.uint64)
  key = np.zeros(rows.shape[:2], np.uint64)
  for r in range(ROWS):
    key = (key * np.uint64(0x100000001B3)) ^ rows[:, :, r]
  return key ^ _BAND_SALT[None, :]


class _SortedSet:
  """A growing set of uint64 as a few sorted arrays of doubling sizes (a log-structured merge).

  Adding n values costs O(n log n) overall; membership is one binary search per level.
  """

  def __init__(self):
    self.levels: list[np.ndarray] = []

  def __len__(self) -> int:
    return sum(len(v) for v in self.levels)

  def contains(self, x: np.ndarray) -> np.ndarray:
    found = np.zeros(x.shape, bool)
    for v in self.levels:
      i = np.minimum(np.searchsorted(v, x), len(v) - 1)
      found |= v[i] == x
    return found

  def add(self, x: np.ndarray) -> None:
    new = np.sort(np.asarray(x, np.uint64).ravel())
    if not len(new):
      return
    while self.levels and len(self.levels[-1]) <= 2 * len(new):
      # Two sorted runs: the stable sort (timsort) merges them in linear time.
      new = np.sort(np.concatenate([self.levels.pop(), new]), kind="stable")
    self.levels.append(new)


class Deduplicator:
  """Streaming dedup: feed batches in order; returns the reason for each line or None."""

  def __init__(self, near: bool = True):
    self.near = near
    self.exact = _SortedSet()
    self.bands = _SortedSet()

  def add_reference(self, lines: Sequence[str]) -> None:
    """Marks lines as already seen (used for eval text that must not enter training)."""
    self.process(lines)

  def process(self, lines: Sequence[str], hashes: np.ndarray | None = None,
              keys: np.ndarray | None = None) -> list[str | None]:
    """'exact_dup' / 'near_dup' / None per line; the new lines join the seen set."""
    if hashes is None:
      hashes = np.array([exact_hash(l) for l in lines], np.uint64)
    if keys is None and self.near:
      keys = band_keys(minhash_signatures([dedup_key(l) for l in lines]))
    reasons: list[str | None] = [None] * len(lines)
    seen_exact = self.exact.contains(hashes)
    seen_near = self.bands.contains(keys).any(axis=1) if self.near else np.zeros(len(lines), bool)
    batch_exact: set[int] = set()
    batch_bands: set[int] = set()
    keep = np.zeros(len(lines), bool)
    for i in range(len(lines)):  # within the batch: earlier lines win
      h = int(hashes[i])
      if seen_exact[i] or h in batch_exact:
        reasons[i] = "exact_dup"
        continue
      batch_exact.add(h)
      if self.near:
        ks = [int(k) for k in keys[i]]
        if seen_near[i] or any(k in batch_bands for k in ks):
          reasons[i] = "near_dup"
          continue
        batch_bands.update(ks)
      keep[i] = True
    self.exact.add(hashes[keep])
    if self.near:
      self.bands.add(keys[keep])
    return reasons


def jaccard(a: str, b: str, k: int = SHINGLE) -> float:
  """Exact Jaccard similarity of two lines' character shingle sets (for reports/tests)."""
  sa = {f" {dedup_key(a)} "[i:i + k] for i in range(len(dedup_key(a)) + 3 - k)}
  sb = {f" {dedup_key(b)} "[i:i + k] for i in range(len(dedup_key(b)) + 3 - k)}
  return len(sa & sb) / max(len(sa | sb), 1)
