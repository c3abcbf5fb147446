"""Atomic file writes shared by the corpus modules: a crash never leaves a half file."""

from __future__ import annotations

import os
import pathlib
import tempfile
from typing import Iterable

from llmjax.errors import DataError

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_lines(path: os.PathLike | str, lines: Iterable[str]) -> int:
  """Writes lines (newline-terminated) to a temp file beside `path`, then renames it.

  Returns the number of lines. Disk errors (full disk, no permission) become DataError.
  """
  path = pathlib.Path(path)
  n = 0
  try:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name, suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
  except OSError as e:
    raise DataError(f"cannot write {str(path)!r}: {e.strerror or e}") from e
  try:
    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
      for line in lines:
        f.write(line)
        f.write("\n")
        n += 1
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except OSError as e:
    pathlib.Path(tmp).unlink(missing_ok=True)
    raise DataError(f"cannot write {str(path)!r}: {e.strerror or e}") from e
  except BaseException:
    pathlib.Path(tmp).unlink(missing_ok=True)
    raise
  return n


def atomic_write_text(path: os.PathLike | str, text: str) -> None:
  atomic_write_lines(path, [text.rstrip("\n")])
