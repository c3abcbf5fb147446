"""`data.sources`: several weighted sources (local text, Leipzig, TFDS) as one document list.

A weight w repeats every document of a source floor(w) times and once more for a
hash-chosen share frac(w) of them (deterministic: the same config gives the same mix).
Entries look like `text:/data/tt`, `leipzig:tat_news_2015_1M:2`, `tfds:wikipedia/20230601.tt:0.5`
(see llmjax.config.parse_sources).
"""

from __future__ import annotations

import os
import pathlib
from typing import Sequence

from llmjax.config import parse_sources
from llmjax.data.text import doc_hash_fraction, list_text_files, read_documents
from llmjax.errors import DataError


def _tfds_documents(name: str) -> list[str]:
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  if name.startswith("leipzig_tatar"):
    from llmjax.corpus import tfds_leipzig  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  try:
    ds = tfds.data_source(name, split="train", data_dir=os.environ.get("TFDS_DATA_DIR"))
  except Exception as e:  # tfds raises many types for a dataset that is not prepared
    raise DataError(f"cannot open TFDS dataset {name!r} (prepare it as array_record first; "
                    f"see README 'Corpus'): {e}") from e
  docs = []
  for i in range(len(ds)):
    t = ds[i]["text"]
    t = t.decode("utf-8") if isinstance(t, bytes) else str(t)
    docs.extend(line.strip() for line in t.split("\n") if line.strip())
  return docs


def weighted(docs: Sequence[str], weight: float, salt: str) -> list[str]:
  """floor(weight) copies of every doc, plus one more for a hash-chosen share frac(weight)."""
  whole, frac = int(weight), weight - int(weight)
  out = []
  for d in docs:
    n = whole + (1 if frac and doc_hash_fraction(salt + d) < frac else 0)
    out.extend([d] * n)
  return out


def read_sources(spec: str, leipzig_cache: str | None = None
                 ) -> tuple[list[pathlib.Path], list[str]]:
  """(files whose change must invalidate caches, documents) of all sources, mixed in order."""
  from llmjax.corpus import sources  # pylint: disable=g-import-not-at-top
  files: list[pathlib.Path] = []
  docs: list[str] = []
  for kind, target, weight in parse_sources(spec):
    if kind == "text":
      src_files = list_text_files(target)
      src_docs = read_documents(src_files)
    elif kind == "leipzig":
      folder = sources.fetch_leipzig(
          target, leipzig_cache or os.environ.get("LLMJAX_LEIPZIG_CACHE", sources.DEFAULT_CACHE),
          base_url=os.environ.get("LLMJAX_LEIPZIG_URL", sources.LEIPZIG_URL))  # or a mirror
      src_files = [folder / "sentences.txt"]
      src_docs = read_documents(src_files)
    else:
      src_files, src_docs = [], _tfds_documents(target)
    files.extend(src_files)
    docs.extend(weighted(src_docs, weight, f"{kind}:{target}"))
  if not docs:
    raise DataError(f"data.sources={spec!r} gives no documents")
  return files, docs
