"""One run per workdir: a lock file holding the owner's pid, host and start time.

A second run in the same workdir stops at once with one line naming the holder. A lock left
by a run that died (its pid no longer exists on this host) is taken over with a warning.
Multi-process runs take it on process 0 only.
"""

from __future__ import annotations

import json
import os
import pathlib
import socket
import time
from typing import Callable

import psutil

from llmjax.errors import CheckpointError
from llmjax.paths import atomic_write_text

LOCK = ".lock"


def _holder(path: pathlib.Path) -> dict:
  try:
    return json.loads(path.read_text())
  except (OSError, ValueError):
    return {}  # unreadable or half-written: treated as stale


def _alive_here(holder: dict) -> bool:
  """Whether the holder may still run: another host's run, or a live pid on this host."""
  if holder.get("host") != socket.gethostname():
    return bool(holder)
  pid = holder.get("pid")
  if not isinstance(pid, int) or not psutil.pid_exists(pid):
    return False
  try:  # a recycled pid belongs to a process started after the lock was written
    return psutil.Process(pid).create_time() <= holder.get("started", 0) + 1
  except psutil.Error:
    return False


class WorkdirLock:
  """Context manager: holds workdir/.lock for the duration of a run."""

  def __init__(self, workdir: str | os.PathLike, enabled: bool = True,
               warn: Callable[[str], None] = print):
    self.path = pathlib.Path(workdir) / LOCK
    self.enabled = enabled
    self.warn = warn
    self.info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}

  def __enter__(self) -> WorkdirLock:
    if not self.enabled:
      return self
    text = json.dumps(self.info)
    try:
      fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
      holder = _holder(self.path)
      if _alive_here(holder):
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("started", 0)))
        raise CheckpointError(
            f"{self.path.parent} is in use by another run (pid {holder.get('pid')} on "
            f"{holder.get('host')}, since {since}); wait for it to finish, or use another "
            "workdir") from None
      self.warn(f"warning: taking over the lock of a run that is gone ({self.path}: "
                f"pid {holder.get('pid')} on {holder.get('host')})")
      atomic_write_text(self.path, text)
      return self
    except OSError as e:
      raise CheckpointError(f"cannot write {str(self.path)!r}: {e.strerror or e}") from e
    with os.fdopen(fd, "w") as f:
      f.write(text)
    return self

  def __exit__(self, *exc) -> None:
    if self.enabled and _holder(self.path).get("pid") == self.info["pid"]:
      self.path.unlink(missing_ok=True)
