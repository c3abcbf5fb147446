"""The streaming cleaning pipeline: normalise -> quality -> language ID -> eval overlap -> dedup.

Run by `python -m llmjax.corpus.clean --text_dir=DIR --out=DIR`. Reads every *.txt under --text_dir (one document per line) in sorted order and writes the
kept lines to --out under the same relative paths, each file atomically (temp file + rename),
plus clean_stats.json with the lines and characters every step removed, per source, and a
few short examples. The result is deterministic (same input -> byte-identical output, also
with --workers > 1: chunks are processed in parallel but merged in order) and idempotent
(cleaning the output again removes nothing). Memory is bounded: lines stream through in
chunks; dedup keeps only 8-byte hashes (see dedup.py).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import hashlib
import json
import multiprocessing
import os
import pathlib
import signal
import sys
import time
import unicodedata
from typing import Iterable, Iterator, Sequence

import numpy as np
import tqdm.auto as tqdm

from llmjax.corpus import dedup as dedup_lib
from llmjax.corpus.langid import default_model
from llmjax.corpus.normalize import normalize_line
from llmjax.corpus.quality import QualityConfig, quality_reason
from llmjax.corpus.text import corpus_sha256, iter_lines, list_text_files
from llmjax.errors import DataError
from llmjax.paths import atomic_directory, atomic_write_lines, atomic_write_text

STEPS = ("input", "decode", "normalize", "quality", "langid", "eval_overlap", "exact_dup",
         "near_dup")
QUALITY_REASONS = ("too_short", "too_long", "too_few_words", "numbers_or_urls", "few_letters",
                   "repeated_chars", "repeated_words", "boilerplate")
CHUNK = 4096  # lines per unit of work
EXAMPLES_PER_REASON = 3
EXAMPLE_CHARS = 60  # examples in the stats/report stay short
STATS_FILE = "clean_stats.json"
CACHE_VERSION = 1  # bump when cleaning changes what it keeps: cached corpora are redone


def step_of(reason: str) -> str:
  if reason == "invalid_utf8":
    return "decode"
  if reason == "empty":
    return "normalize"
  if reason in QUALITY_REASONS:
    return "quality"
  if reason.startswith("lang_"):
    return "langid"
  return reason  # eval_overlap, exact_dup, near_dup


@dataclasses.dataclass(frozen=True)
class CleanConfig:
  langid: bool = True
  keep_langs: tuple[str, ...] = ("tat",)
  quality: QualityConfig = QualityConfig()
  near_dup: bool = True
  strict_utf8: bool = False  # True: a non-UTF-8 line is an error, not a skipped line


@dataclasses.dataclass
class _Line:
  source: str
  text: str  # normalised text (or the raw line for removed ones)
  raw_chars: int
  reason: str | None


_QUOTES = set('"\'“”„‟″‘’‚‛′`')
_DASHES = set("-‐‑‒–—―−")


def normalize_kind(before: str, after: str) -> str:
  """Which kind of normalisation changed a line (for the statistics)."""
  if unicodedata.normalize("NFC", before) == after:
    return "NFC composition"
  if len(before) == len(after):
    for a, b in zip(before, after):
      if a != b:
        if a in _QUOTES:
          return "quotes"
        if a in _DASHES:
          return "dashes"
        if a.isspace():
          return "spaces"
        if a.isalpha():
          return "look-alike letters"
        return "other"
  if "<" in before or "&" in before or "[[" in before or "{{" in before or "''" in before:
    return "markup"
  return "spaces / invisible or control characters"


def _diff_window(before: str, after: str, width: int = EXAMPLE_CHARS) -> tuple[str, str]:
  """Short snippets of both lines around their first difference."""
  i = next((k for k, (a, b) in enumerate(zip(before, after)) if a != b),
           min(len(before), len(after)))
  start = max(0, i - width // 3)
  cut = lambda x: ("…" if start else "") + x[start:start + width] + (
      "…" if len(x) > start + width else "")
  return cut(before), cut(after)


def _short(s: str) -> str:
  return s if len(s) <= EXAMPLE_CHARS else s[:EXAMPLE_CHARS - 1] + "…"


def _classify_chunk(args: tuple[list[str], CleanConfig]):
  """Per-line work that needs no global state (runs in worker processes).

  Returns (texts, reasons, exact hashes [N], LSH band keys [N, BANDS]); the hashes of
  removed lines are 0 and unused.
  """
  lines, cfg = args
  model = default_model() if cfg.langid else None
  texts = [normalize_line(raw) for raw in lines]
  reasons = [quality_reason(t, cfg.quality) if t else "empty" for t in texts]
  if model is not None:
    todo = [i for i, r in enumerate(reasons) if r is None]
    for i, lang in zip(todo, model.predict_batch([texts[i] for i in todo])):
      if lang not in cfg.keep_langs:
        reasons[i] = f"lang_{lang}"
  keep = [i for i, r in enumerate(reasons) if r is None]
  hashes = np.zeros(len(texts), np.uint64)
  keys = np.zeros((len(texts), dedup_lib.BANDS), np.uint64)
  if keep:
    dkeys = [dedup_lib.dedup_key(texts[i]) for i in keep]
    hashes[keep] = [dedup_lib.key_hash(k) for k in dkeys]
    keys[keep] = dedup_lib.band_keys(dedup_lib.minhash_signatures(dkeys))
  return texts, reasons, hashes, keys


def read_eval_texts(eval_dir: os.PathLike | str) -> list[str]:
  """Sentences of the evaluation sets (FLORES, SIB, TatBLiMP, TUMLU, ...), normalised."""
  root = pathlib.Path(eval_dir)
  if not root.is_dir():
    raise DataError(f"eval folder {str(root)!r} does not exist (use --eval_dir='' to skip "
                    "the overlap check)")
  texts = []
  for p in sorted(root.rglob("*")):
    if not p.is_file() or p.name.upper().startswith("LICENSE"):
      continue
    with open(p, encoding="utf-8", errors="replace") as f:
      if p.suffix == ".jsonl":
        for line in f:
          try:
            obj = json.loads(line)
          except ValueError:
            continue
          vals = obj.values() if isinstance(obj, dict) else []
          for v in vals:
            for s in (v if isinstance(v, list) else [v]):
              if isinstance(s, str):
                texts.append(s)
      elif p.suffix == ".tsv":
        for line in f:
          texts.append(line.rstrip("\n").split("\t")[-1])
      else:
        texts.extend(f)
  texts = [normalize_line(t) for t in texts]
  return [t for t in texts if len(t.split()) >= 3]


class Cleaner:
  """Holds the dedup state and the statistics across files (one run = one Cleaner)."""

  def __init__(self, cfg: CleanConfig = CleanConfig(), eval_texts: Sequence[str] = (),
               workers: int = 1):
    self.cfg = cfg
    self.workers = workers
    self.dedup = dedup_lib.Deduplicator(near=cfg.near_dup)
    self.eval_index = dedup_lib.Deduplicator(near=True)
    self.eval_index.process(list(eval_texts))
    self.eval_lines = len(eval_texts)
    self.stats: dict = {"sources": {}, "examples": {}, "invalid_utf8": [], "normalized": {}}
    self._pool = None

  # -- statistics ---------------------------------------------------------------------------
  def _src(self, source: str) -> dict:
    return self.stats["sources"].setdefault(source, {
        "input": {"lines": 0, "chars": 0}, "normalized_lines": 0, "normalized_chars": 0,
        "removed": {}, "output": {"lines": 0, "chars": 0}})

  def _count(self, source: str, raw: str, text: str, reason: str | None) -> None:
    s = self._src(source)
    s["input"]["lines"] += 1
    s["input"]["chars"] += len(raw.strip())
    if reason != "invalid_utf8" and text != raw.strip():
      s["normalized_lines"] += 1
      s["normalized_chars"] += len(raw.strip()) - len(text)
      kind = normalize_kind(raw.strip(), text)
      kinds = self.stats.setdefault("normalized_kinds", {})
      kinds[kind] = kinds.get(kind, 0) + 1
      ex = self.stats["examples"].setdefault(f"normalize:{kind}", [])
      if len(ex) < 2 and text:
        ex.append([source, *_diff_window(raw.strip(), text)])
    if reason is None:
      s["output"]["lines"] += 1
      s["output"]["chars"] += len(text)
      return
    r = s["removed"].setdefault(reason, {"lines": 0, "chars": 0})
    r["lines"] += 1
    r["chars"] += len(text)
    ex = self.stats["examples"].setdefault(reason, [])
    if len(ex) < EXAMPLES_PER_REASON and text:
      ex.append([source, _short(text)])

  # -- processing ---------------------------------------------------------------------------
  def _map(self, chunks: Iterable[list[str]]) -> Iterator[list[tuple[str, str | None]]]:
    if self.workers <= 1:
      for c in chunks:
        yield _classify_chunk((c, self.cfg))
      return
    if self._pool is None:
      # Workers ignore Ctrl-C: the main process stops them (close(abort=True)). Spawned,
      # not forked, when JAX is loaded (the training command cleans its default corpus):
      # forking a process that runs JAX's threads can deadlock.
      method = "spawn" if "jax" in sys.modules else "fork"
      self._pool = multiprocessing.get_context(method).Pool(
          self.workers, initializer=signal.signal, initargs=(signal.SIGINT, signal.SIG_IGN))
    # At most 2 chunks per worker in flight: memory stays bounded when the writer is slower.
    pending: collections.deque = collections.deque()
    for c in chunks:
      pending.append(self._pool.apply_async(_classify_chunk, ((c, self.cfg),)))
      if len(pending) >= 2 * self.workers:
        yield pending.popleft().get()
    while pending:
      yield pending.popleft().get()

  def close(self, abort: bool = False) -> None:
    if self._pool is not None:
      if abort:
        self._pool.terminate()
      else:
        self._pool.close()
      self._pool.join()
      self._pool = None

  def _global_step(self, reasons: list[str | None], hashes: np.ndarray,
                   keys: np.ndarray) -> None:
    """Eval overlap and dedup over the lines that survived the per-line steps."""
    idx = np.array([i for i, r in enumerate(reasons) if r is None], np.int64)
    if not len(idx):
      return
    h, k = hashes[idx], keys[idx]
    in_eval = self.eval_index.exact.contains(h) | self.eval_index.bands.contains(k).any(axis=1)
    for i in idx[in_eval]:
      reasons[i] = "eval_overlap"
    rest = idx[~in_eval]
    dup = self.dedup.process([""] * len(rest), hashes[rest],
                             keys[rest] if self.cfg.near_dup else None)
    for i, r in zip(rest, dup):
      reasons[i] = r

  def bad_utf8(self, source: str, message: str) -> None:
    """Counts a skipped non-UTF-8 line of `source` (the reader reports it here)."""
    self.stats["invalid_utf8"].append(message)
    self._count(source, "", "", "invalid_utf8")

  def clean_lines(self, source: str, raw_lines: Iterable[str]) -> Iterator[str]:
    """Kept lines of one source, in order; statistics are updated as they stream."""
    self._src(source)

    def chunks():
      buf: list[str] = []
      for line in raw_lines:
        buf.append(line)
        if len(buf) >= CHUNK:
          yield buf
          buf = []
      if buf:
        yield buf

    # Two chunk streams in step: the raw chunks (for statistics) and their classification.
    raw_chunks: collections.deque = collections.deque()

    def to_classify():
      for c in chunks():
        raw_chunks.append(c)
        yield c

    for c_texts, c_reasons, c_hashes, c_keys in self._map(to_classify()):
      raws = raw_chunks.popleft()
      self._global_step(c_reasons, c_hashes, c_keys)
      for raw, t, r in zip(raws, c_texts, c_reasons):
        self._count(source, raw, t, r)
        if r is None:
          yield t


def _metered(lines: Iterable[str], bar) -> Iterator[str]:
  for line in lines:
    bar.update(len(line.encode("utf-8")) + 1)
    yield line


def run(text_dir: os.PathLike | str, out: os.PathLike | str, cfg: CleanConfig = CleanConfig(),
        eval_dir: os.PathLike | str | None = None, workers: int = 1, log=None,
        progress: bool = False) -> dict:
  """Cleans every *.txt under text_dir into out/ (same relative paths); returns the stats.

  The output folder appears (or replaces an earlier one) only when complete, with
  clean_stats.json: an interrupted run leaves nothing that looks like a cleaned corpus.
  """
  text_dir, out = pathlib.Path(text_dir), pathlib.Path(out)
  files = list_text_files(text_dir)
  if out.resolve().is_relative_to(text_dir.resolve()):
    raise DataError(f"--out={str(out)!r} must lie outside --text_dir={str(text_dir)!r} "
                    "(a second run would read its own output)")
  eval_texts = read_eval_texts(eval_dir) if eval_dir else []
  cleaner = Cleaner(cfg, eval_texts, workers)
  total = sum(f.stat().st_size for f in files)
  with atomic_directory(out, replace=True) as tmp, \
      tqdm.tqdm(total=total, unit="B", unit_scale=True, desc="clean", disable=not progress,
                file=sys.stderr) as bar:
    try:
      for f in files:
        rel = f.relative_to(text_dir).as_posix()
        on_bad = None if cfg.strict_utf8 else functools.partial(cleaner.bad_utf8, rel)
        lines = _metered(iter_lines(f, on_bad), bar)
        n = atomic_write_lines(tmp / rel, cleaner.clean_lines(rel, lines))
        s = cleaner.stats["sources"][rel]
        if s["input"]["lines"] == 0:
          cleaner.stats.setdefault("empty_files", []).append(rel)
        if log:
          log(f"{rel}: {s['input']['lines']} -> {n} lines")
      cleaner.close()
    except BaseException:
      cleaner.close(abort=True)  # Ctrl-C: stop the workers now, do not wait for them
      raise
    stats = cleaner.stats
    stats["eval_lines"] = cleaner.eval_lines
    stats["steps"] = list(STEPS)
    stats["totals"] = totals(stats)
    if stats["totals"]["input"]["lines"] == 0:
      raise DataError(f"no non-empty lines in the *.txt files under {str(text_dir)!r}")
    stats["config"] = {"langid": cfg.langid, "keep_langs": list(cfg.keep_langs),
                       "near_dup": cfg.near_dup, "quality": dataclasses.asdict(cfg.quality),
                       "eval_dir": str(eval_dir or "")}
    atomic_write_text(tmp / STATS_FILE, json.dumps(stats, ensure_ascii=False, indent=1,
                                                   sort_keys=True))
  return stats


def eval_texts_sha256(eval_dir: os.PathLike | str | None) -> str:
  """A hash of the evaluation sentences the overlap check removes ('' without a folder)."""
  return corpus_sha256(read_eval_texts(eval_dir)) if eval_dir else ""


def clean_cached(text_dir: os.PathLike | str, cache_root: os.PathLike | str, source_key: str,
                 cfg: CleanConfig = CleanConfig(), eval_dir: os.PathLike | str | None = None,
                 workers: int = 1, log=lambda msg: None) -> pathlib.Path:
  """The cleaned copy of text_dir under cache_root, made once: keyed by `source_key` (e.g. the
  archive's sha256), the cleaning settings and the evaluation text. Returns its folder."""
  settings = {"version": CACHE_VERSION, "source": source_key, "config": dataclasses.asdict(cfg),
              "eval": eval_texts_sha256(eval_dir)}
  key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
  out = pathlib.Path(cache_root) / key
  if (out / STATS_FILE).is_file():
    log(f"reusing the cleaned text in {out}")
    return out
  start = time.perf_counter()
  steps = "language ID, quality rules, " + ("evaluation overlap, " if eval_dir else "")
  log(f"cleaning {text_dir} ({steps}duplicates) into {out}")
  stats = run(text_dir, out, cfg, eval_dir, workers, progress=True)
  t = stats["totals"]
  removed = ", ".join(f"{k} {v['lines']:,}" for k, v in
                      sorted(t["removed"].items(), key=lambda kv: -kv[1]["lines"]))
  log(f"cleaned in {time.perf_counter() - start:.0f}s: kept {t['output']['lines']:,} of "
      f"{t['input']['lines']:,} lines (removed: {removed or 'none'})")
  return out


def after_steps(src: dict) -> dict[str, dict[str, int]]:
  """Lines/characters left after each step, for one source's statistics."""
  lines, chars = src["input"]["lines"], src["input"]["chars"]
  left = {"input": {"lines": lines, "chars": chars}}
  for step in STEPS[1:]:
    for reason, r in src["removed"].items():
      if step_of(reason) == step:
        lines -= r["lines"]
        chars -= r["chars"]
    if step == "normalize":
      chars -= src["normalized_chars"]
      # removed lines count their normalised length; add back the normalisation delta of
      # lines removed later so that the running total ends at the output size exactly.
    left[step] = {"lines": lines, "chars": chars}
  return left


def totals(stats: dict) -> dict:
  tot = {"input": {"lines": 0, "chars": 0}, "output": {"lines": 0, "chars": 0}, "removed": {}}
  for s in stats["sources"].values():
    for k in ("input", "output"):
      for m in ("lines", "chars"):
        tot[k][m] += s[k][m]
    for reason, r in s["removed"].items():
      t = tot["removed"].setdefault(reason, {"lines": 0, "chars": 0})
      t["lines"] += r["lines"]
      t["chars"] += r["chars"]
  return tot
