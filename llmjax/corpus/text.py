"""Reading UTF-8 text folders (one document per line), splitting and hashing documents."""

from __future__ import annotations

import hashlib
import os
import pathlib
from typing import Callable, Iterator, Sequence

from llmjax.errors import DataError

PathLike = str | os.PathLike
TEXT_DIR_HINT = ("set --config.data.text_dir=DIR (--text_dir=DIR for the corpus and tokenizer "
                 "tools) or the env var LLMJAX_TEXT_DIR")


def list_text_files(text_dir: PathLike) -> list[pathlib.Path]:
  """All *.txt files under text_dir (recursive), sorted for determinism."""
  if not str(text_dir):
    raise DataError(f"no text folder given: {TEXT_DIR_HINT}")
  root = pathlib.Path(text_dir)
  if not root.is_dir():
    raise DataError(f"text folder {str(root)!r} does not exist: {TEXT_DIR_HINT}")
  files = sorted(p for p in root.rglob("*.txt") if p.is_file())
  if not files:
    raise DataError(f"text folder {str(root)!r} holds no *.txt files: {TEXT_DIR_HINT}")
  return files


def iter_lines(path: PathLike, on_bad_utf8: Callable[[str], None] | None = None
               ) -> Iterator[str]:
  """Non-empty stripped lines of a UTF-8 file (the one line reader).

  A line that is not valid UTF-8 is a DataError naming the file and line, or, given
  `on_bad_utf8`, is reported to it (one message) and skipped.
  """
  path = pathlib.Path(path)
  try:
    f = open(path, "rb")
  except OSError as e:
    raise DataError(f"cannot read {str(path)!r}: {e.strerror}") from e
  with f:
    for lineno, raw in enumerate(f, start=1):
      try:
        line = raw.decode("utf-8")
      except UnicodeDecodeError as e:
        msg = f"{path}:{lineno}: not valid UTF-8 (byte {e.start} of the line)"
        if on_bad_utf8 is None:
          raise DataError(msg) from e
        on_bad_utf8(msg)
        continue
      line = line.strip()  # also drops '\r' of Windows line ends and stray spaces
      if line:
        yield line


def read_lines(path: PathLike) -> list[str]:
  """Documents of one text file; DataError if it has none."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise DataError(f"text file {str(path)!r} does not exist")
  lines = list(iter_lines(path))
  if not lines:
    raise DataError(f"text file {str(path)!r} holds no non-empty lines")
  return lines


def read_documents(paths_or_dir: PathLike | Sequence[PathLike]) -> list[str]:
  """Documents (non-empty lines) of a folder or of a list of files, in file order."""
  if isinstance(paths_or_dir, (str, os.PathLike)):
    paths = list_text_files(paths_or_dir)
  else:
    paths = [pathlib.Path(p) for p in paths_or_dir]
  docs: list[str] = []
  for path in paths:
    docs.extend(iter_lines(path))
  if not docs:
    where = str(paths_or_dir) if isinstance(paths_or_dir, (str, os.PathLike)) else \
        f"{len(paths)} files"
    raise DataError(f"no non-empty lines in {where!r}: {TEXT_DIR_HINT}")
  return docs


def doc_hash_fraction(doc: str) -> float:
  """A stable value in [0, 1) per document text (independent of PYTHONHASHSEED)."""
  digest = hashlib.blake2b(doc.encode("utf-8"), digest_size=8).digest()
  return int.from_bytes(digest, "big") / 2.0**64


def split_documents(docs: Sequence[str],
                    val_fraction: float) -> tuple[list[str], list[str]]:
  """Splits by a hash of the text, so duplicates always land in the same split."""
  if not 0.0 <= val_fraction < 1.0:
    raise DataError(f"val_fraction={val_fraction} must be in [0, 1)")
  train, val = [], []
  for doc in docs:
    (val if doc_hash_fraction(doc) < val_fraction else train).append(doc)
  return train, val


def training_split(text_dir: PathLike, val_fraction: float) -> list[str]:
  """The training documents of a text folder, exactly as the training pipeline splits them."""
  return split_documents(read_documents(text_dir), val_fraction)[0]


def corpus_sha256(docs: Sequence[str]) -> str:
  """A hash of the documents' text and order (what a tokenizer or shard set is built from)."""
  h = hashlib.sha256()
  for doc in docs:
    h.update(doc.encode("utf-8"))
    h.update(b"\n")
  return h.hexdigest()
