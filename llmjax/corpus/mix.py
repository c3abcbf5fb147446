"""Where the training text comes from (`training_text`), and `data.sources`: several
weighted sources (local text, Leipzig, TFDS) as one document list.

A weight w repeats every document of a source floor(w) times and once more for a
hash-chosen share frac(w) of them (deterministic: the same config gives the same mix).
Entries look like `text:/data/tt`, `leipzig:tat_news_2015_1M:2`, `tfds:wikipedia/20230601.tt:0.5`
(see llmjax.config.parse_sources).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import Callable, Sequence

from llmjax import paths
from llmjax.config import DataConfig, parse_sources
from llmjax.corpus import cleaning, sources
from llmjax.corpus.text import doc_hash_fraction, list_text_files, read_documents
from llmjax.errors import DataError


def _tfds_documents(name: str) -> list[str]:
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top  (heavy, optional)
  if name.startswith("leipzig_tatar"):
    from llmjax.corpus import tfds_leipzig  # noqa: F401  pylint: disable=g-import-not-at-top  (registers the builder)
  try:
    ds = tfds.data_source(name, split="train")  # data_dir: $TFDS_DATA_DIR or ~/tensorflow_datasets
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


def read_sources(spec: str, clean: bool = True, log: Callable[[str], None] = lambda msg: None
                 ) -> tuple[list[pathlib.Path], list[str]]:
  """(files whose change must invalidate caches, documents) of all sources, mixed in order;
  Leipzig corpora are cleaned first when clean=True."""
  files: list[pathlib.Path] = []
  docs: list[str] = []
  for kind, target, weight in parse_sources(spec):
    if kind == "text":
      src_files = list_text_files(target)
      src_docs = read_documents(src_files)
    elif kind == "leipzig":
      src_files = list_text_files(leipzig_folder(target, clean, log))
      src_docs = read_documents(src_files)
    else:
      src_files, src_docs = [], _tfds_documents(target)
    files.extend(src_files)
    docs.extend(weighted(src_docs, weight, f"{kind}:{target}"))
  if not docs:
    raise DataError(f"data.sources={spec!r} gives no documents")
  return files, docs


@dataclasses.dataclass(frozen=True)
class TrainingText:
  files: list[pathlib.Path]  # files whose change must invalidate caches
  docs: list[str]
  description: str  # where the text came from, in words


NO_TEXT = ("no training text: the default corpus cannot be downloaded (offline?); set "
           "--config.data.text_dir=DIR, the env var LLMJAX_TEXT_DIR, or "
           "--config.data.sources=text:DIR")


def leipzig_folder(name: str, clean: bool, log: Callable[[str], None]) -> pathlib.Path:
  """A Leipzig corpus downloaded (cached) and, with clean=True, cleaned (cached)."""
  folder = sources.fetch_leipzig(name, log=log)
  if not clean:
    return folder
  eval_dir = paths.eval_dir()
  return cleaning.clean_cached(folder, paths.cache_dir() / "clean" / name,
                               sources.archive_digest(folder),
                               eval_dir=eval_dir if eval_dir and eval_dir.is_dir() else None,
                               workers=os.cpu_count() or 1, log=log)


def _default_corpus(data_cfg: DataConfig, log: Callable[[str], None]) -> TrainingText:
  """The Leipzig default corpus; offline, the development corpus (said in one line)."""
  names = [n.strip() for n in data_cfg.default_corpus.split(",") if n.strip()]
  try:
    folders = [leipzig_folder(n, data_cfg.clean, log) for n in names]
  except sources.Offline as e:
    dev = paths.dev_train_dir()
    if dev is None:
      raise DataError(f"{NO_TEXT} ({e})") from e
    log(f"offline ({e}): training on the development corpus {dev}")
    files = list_text_files(dev)
    return TrainingText(files, read_documents(files), f"{dev} (the development corpus)")
  files = [f for folder in folders for f in list_text_files(folder)]
  how = "cleaned " if data_cfg.clean else ""
  return TrainingText(files, read_documents(files),
                      f"Leipzig {', '.join(names)} ({how}data.default_corpus)")


def training_text(data_cfg: DataConfig, log: Callable[[str], None] = lambda msg: None
                  ) -> TrainingText:
  """The documents to train on: data.sources, else data.text_dir, else $LLMJAX_TEXT_DIR,
  else data.default_corpus (downloaded, cleaned), else offline the development corpus, else
  a DataError naming the options."""
  if data_cfg.sources:
    files, docs = read_sources(data_cfg.sources, clean=data_cfg.clean, log=log)
    return TrainingText(files, docs, f"data.sources={data_cfg.sources}")
  folder, how = data_cfg.text_dir, "data.text_dir"
  if not folder and paths.env_text_dir():
    folder, how = paths.env_text_dir(), "LLMJAX_TEXT_DIR"
  if not folder:
    return _default_corpus(data_cfg, log)
  files = list_text_files(folder)
  return TrainingText(files, read_documents(files), f"{folder} ({how})")
