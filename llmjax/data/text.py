"""Reading UTF-8 text folders (one document per line) and splitting them."""

from __future__ import annotations

import hashlib
import os
import pathlib
from typing import Iterable, Sequence

from llmjax.errors import DataError

PathLike = str | os.PathLike
TEXT_DIR_HINT = "set --config.data.text_dir=DIR or the env var LLMJAX_TEXT_DIR"


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


def _iter_lines(path: pathlib.Path) -> Iterable[str]:
  """Non-empty stripped lines; a decoding error names the file and line."""
  try:
    f = open(path, "rb")
  except OSError as e:
    raise DataError(f"cannot read {str(path)!r}: {e.strerror}") from e
  with f:
    for lineno, raw in enumerate(f, start=1):
      try:
        line = raw.decode("utf-8")
      except UnicodeDecodeError as e:
        raise DataError(f"{str(path)!r} line {lineno} is not valid UTF-8 "
                        f"(byte offset {e.start} in the line)") from e
      line = line.strip()  # also drops '\r' of Windows line ends and stray spaces
      if line:
        yield line


def read_lines(path: PathLike) -> list[str]:
  """Documents of one text file; DataError if it has none."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise DataError(f"text file {str(path)!r} does not exist")
  lines = list(_iter_lines(path))
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
    docs.extend(_iter_lines(path))
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
