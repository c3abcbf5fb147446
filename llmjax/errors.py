"""Errors that commands turn into one clear line and a non-zero exit, and the command runner.

Library code raises an LlmjaxError subclass for a problem with the user's input (data,
config, checkpoint, disk) and never prints it; `run` (every command's entry point) prints
`error: <message>` on stderr and exits with status 2, with nothing after it.
"""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable, Sequence

from absl import app, flags, logging


class LlmjaxError(Exception):
  """A problem with the user's input (data, config, checkpoint), not a bug."""


class ConfigError(LlmjaxError):
  pass


class DataError(LlmjaxError):
  pass


class CheckpointError(LlmjaxError):
  pass


def fail(message: str, code: int = 2) -> None:
  """Prints `error: message` (one line) on stderr and exits."""
  print(f"error: {' '.join(str(message).split())}", file=sys.stderr, flush=True)
  sys.exit(code)


def exit_on_error(main: Callable) -> Callable:
  """Wraps an absl main: LlmjaxError -> `error: ...` on stderr and exit status 2.

  Also quiets library INFO logs (orbax logs every save at INFO) unless --verbosity is given.
  """

  @functools.wraps(main)
  def wrapped(*args, **kwargs):
    if not flags.FLAGS["verbosity"].present:
      logging.set_verbosity(logging.WARNING)
    try:
      return main(*args, **kwargs)
    except LlmjaxError as e:
      fail(str(e))

  return wrapped


def _parse_flags(argv: Sequence[str]) -> list[str]:
  """absl's flag parsing, with a bad flag or config override reported as one error line."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    fail(str(e))
  except (AttributeError, KeyError, TypeError, ValueError, OSError) as e:
    # ml_collections' --config.* overrides and config files fail with these.
    text = str(e.args[0] if isinstance(e, KeyError) and e.args else e)
    fail(text.replace("\\n", " ").replace("\\'", "'").strip("'\""))
  return []  # not reached


def run(main: Callable[[list[str]], Any]) -> None:
  """A command's entry point: absl flags (all defined at the command's module level),
  LlmjaxError and bad flags as one `error:` line with exit status 2."""

  def checked(argv: list[str]) -> Any:
    if len(argv) > 1:
      fail(f"unexpected arguments {argv[1:]}; flags look like --name=value (see --help)")
    return main(argv)

  app.run(exit_on_error(checked), flags_parser=_parse_flags)
