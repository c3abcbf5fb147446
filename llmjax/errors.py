"""Errors that entry points turn into one clear line and a non-zero exit."""

from __future__ import annotations

import functools
import sys
from typing import Callable


class LlmjaxError(Exception):
  """A problem with the user's input (data, config, checkpoint), not a bug."""


class ConfigError(LlmjaxError):
  pass


class DataError(LlmjaxError):
  pass


class CheckpointError(LlmjaxError):
  pass


def exit_on_error(main: Callable) -> Callable:
  """Wraps an absl main: LlmjaxError -> `error: ...` on stderr and exit status 2.

  Also quiets library INFO logs (orbax logs every save at INFO) unless --verbosity is given.
  """

  @functools.wraps(main)
  def wrapped(*args, **kwargs):
    from absl import flags, logging  # pylint: disable=g-import-not-at-top
    if not flags.FLAGS["verbosity"].present:
      logging.set_verbosity(logging.WARNING)
    try:
      return main(*args, **kwargs)
    except LlmjaxError as e:
      print(f"error: {e}", file=sys.stderr)
      sys.exit(2)

  return wrapped
