"""Where data lives, and how files are written there.

The only module that knows the development data folder: on the machines llmjax is developed
and tested on, real Tatar text and the evaluation sets sit in `shared/data/` beside the
checkout. A user's machine has no such folder, so every location is resolved here, in this
order: an environment variable, then a documented default, then (evaluation sets and the
offline fallback only) the development folder when it exists.

  LLMJAX_TEXT_DIR       training text folder (else: data.sources, the Leipzig download, ...)
  LLMJAX_EVAL_DIR       evaluation sets: flores200/, sib200/, tatblimp/, tumlu/, sart/
  LLMJAX_CACHE          downloads and cleaned corpora (default ~/.cache/llmjax)
  LLMJAX_LEIPZIG_CACHE  Leipzig archives (default $LLMJAX_CACHE/leipzig)
  LLMJAX_LEIPZIG_URL    Leipzig URL template with {name} (a mirror, or a local test server)
  LLMJAX_DEV_DATA       the development data folder ('' = pretend there is none)

Files are written atomically (a temporary file beside the target, then a rename), so an
interrupted run or a full disk never leaves a half-written file that looks complete.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import tempfile
from typing import Any, Iterable, Iterator

from llmjax.errors import DataError

PathLike = str | os.PathLike
LEIPZIG_URL = "https://downloads.wortschatz-leipzig.de/corpora/{name}.tar.gz"
_CHECKOUT = pathlib.Path(__file__).resolve().parents[1]
_DEV_DATA = _CHECKOUT.parent / "shared" / "data"  # development machines and CI only
FLORES_DEV = "flores200/tat_Cyrl.dev"  # under the evaluation folder
EVAL_HINT = ("set LLMJAX_EVAL_DIR to a folder holding flores200/, sib200/, tatblimp/, tumlu/ "
             "(docs/evaluation.md says where to get them)")


# --- where data lives -------------------------------------------------------------------------


def dev_data_dir() -> pathlib.Path | None:
  """The development data folder (tatar/train, tatar/eval, other_languages) if present."""
  env = os.environ.get("LLMJAX_DEV_DATA")
  root = _DEV_DATA if env is None else (pathlib.Path(env) if env else None)
  return root if root is not None and root.is_dir() else None


def dev_train_dir() -> pathlib.Path | None:
  """The development training corpus, the offline fallback of the main command."""
  root = dev_data_dir()
  return root / "tatar" / "train" if root and (root / "tatar" / "train").is_dir() else None


def env_text_dir() -> str:
  return os.environ.get("LLMJAX_TEXT_DIR", "")


def eval_dir() -> pathlib.Path | None:
  """LLMJAX_EVAL_DIR, else the development evaluation sets, else None."""
  env = os.environ.get("LLMJAX_EVAL_DIR")
  if env:
    return pathlib.Path(env)
  root = dev_data_dir()
  return root / "tatar" / "eval" if root and (root / "tatar" / "eval").is_dir() else None


def eval_path(relative: str) -> pathlib.Path:
  """A file or folder under the evaluation folder; a path that may not exist when there is
  none (readers report it with EVAL_HINT)."""
  root = eval_dir()
  return (root if root is not None else pathlib.Path("$LLMJAX_EVAL_DIR")) / relative


def require_eval(relative: str) -> pathlib.Path:
  """eval_path, or DataError naming how to provide the evaluation sets."""
  path = eval_path(relative)
  if not path.exists():
    raise DataError(f"evaluation data {str(path)!r} not found: {EVAL_HINT}")
  return path


def labelled_mix_dir() -> pathlib.Path | None:
  """Tatar + Russian/Bashkir/English text for measuring language ID (development only)."""
  root = dev_data_dir()
  return root if root and (root / "other_languages").is_dir() else None


def cache_dir() -> pathlib.Path:
  return pathlib.Path(os.environ.get("LLMJAX_CACHE")
                      or pathlib.Path.home() / ".cache" / "llmjax").expanduser()


def leipzig_cache() -> pathlib.Path:
  return pathlib.Path(os.environ.get("LLMJAX_LEIPZIG_CACHE")
                      or cache_dir() / "leipzig").expanduser()


def leipzig_url() -> str:
  return os.environ.get("LLMJAX_LEIPZIG_URL") or LEIPZIG_URL


# --- writing files ----------------------------------------------------------------------------

_UMASK = os.umask(0)
os.umask(_UMASK)


def _cannot_write(path: pathlib.Path, e: OSError) -> DataError:
  return DataError(f"cannot write {str(path)!r}: {e.strerror or e}")


@contextlib.contextmanager
def _atomic_file(path: PathLike, mode: str) -> Iterator[Any]:
  """An open temp file beside `path`, renamed to `path` when the block ends without an
  error, removed otherwise. Disk errors (full disk, no permission, read-only) become one
  DataError naming the path."""
  path = pathlib.Path(path)
  try:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
  except OSError as e:
    raise _cannot_write(path, e) from e
  try:
    text = {"encoding": "utf-8", "newline": "\n"} if "b" not in mode else {}
    with os.fdopen(fd, mode, **text) as f:
      yield f
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except OSError as e:
    pathlib.Path(tmp).unlink(missing_ok=True)
    raise _cannot_write(path, e) from e
  except BaseException:
    pathlib.Path(tmp).unlink(missing_ok=True)
    raise


def atomic_write_lines(path: PathLike, lines: Iterable[str]) -> int:
  """Writes newline-terminated lines atomically; streams (the lines may be a generator).
  Returns the line count."""
  n = 0
  with _atomic_file(path, "w") as f:
    for line in lines:
      f.write(line)
      f.write("\n")
      n += 1
  return n


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
  with _atomic_file(path, "wb") as f:
    f.write(data)


def atomic_write_text(path: PathLike, text: str) -> None:
  atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_directory(path: PathLike, replace: bool = False) -> Iterator[pathlib.Path]:
  """Yields a new temporary folder beside `path`, renamed to `path` when the block ends
  without an error (and removed when it fails or is interrupted): readers see all of it or
  nothing. `path` must not exist, or be an empty folder; with replace=True an existing
  `path` is replaced (moved aside, then deleted, once the new folder is in place)."""
  path = pathlib.Path(path)
  if not replace and path.exists() and (not path.is_dir() or any(path.iterdir())):
    raise DataError(f"{str(path)!r} exists and is not empty")
  try:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="." + path.name + ".", suffix=".tmp",
                                        dir=path.parent))
    tmp.chmod(0o777 & ~_UMASK)  # mkdtemp makes 0700; give the usual permissions
  except OSError as e:
    raise _cannot_write(path, e) from e
  try:
    yield tmp
    old = None
    if path.exists():
      old = path.with_name(f".{path.name}.{os.getpid()}.old")
      os.replace(path, old)
    os.replace(tmp, path)
    if old is not None:
      shutil.rmtree(old, ignore_errors=True)
  except OSError as e:
    shutil.rmtree(tmp, ignore_errors=True)
    raise _cannot_write(path, e) from e
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
