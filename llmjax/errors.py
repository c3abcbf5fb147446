"""Errors that commands turn into one clear line and a non-zero exit, and the command runner.

Library code raises an LlmjaxError subclass for a problem with the user's input (data,
config, checkpoint, disk) and never prints it; `run` (every command's entry point) prints
`error: <message>` on stderr and exits with status 2, with nothing after it.
"""

from __future__ import annotations

import functools
import logging as std_logging
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


class Diverged(LlmjaxError):
  """Training produced a non-finite loss or gradient (nothing non-finite was saved)."""
  exit_code = 3


def fail(message: str, code: int = 2) -> None:
  """Prints `error: message` (one line) on stderr and exits."""
  print(f"error: {' '.join(str(message).split())}", file=sys.stderr, flush=True)
  sys.exit(code)


class _NotOrbax(std_logging.Filter):
  """Drops orbax's own log records: it logs every save at INFO and a failed background save
  as tracebacks at ERROR, and llmjax reports that failure itself, in one line."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    return "/orbax/" not in record.pathname.replace("\\", "/")


def _quiet_closed_loops(unraisable) -> None:
  """After a failed background save, orbax's asyncio callbacks may find their event loop
  closed while the process exits; that is noise, not news (the error was reported)."""
  exc = unraisable.exc_value
  if isinstance(exc, RuntimeError) and "Event loop is closed" in str(exc):
    return
  sys.__unraisablehook__(unraisable)


def exit_on_error(main: Callable) -> Callable:
  """Wraps an absl main: LlmjaxError -> `error: ...` on stderr and exit status 2.

  Also quiets library logs (INFO, and orbax's) unless --verbosity is given.
  """

  @functools.wraps(main)
  def wrapped(*args, **kwargs):
    if not flags.FLAGS["verbosity"].present:
      logging.set_verbosity(logging.WARNING)
      logging.get_absl_handler().addFilter(_NotOrbax())
      sys.unraisablehook = _quiet_closed_loops
    try:
      return main(*args, **kwargs)
    except LlmjaxError as e:
      fail(str(e), getattr(e, "exit_code", 2))

  return wrapped


def flag_error_message(e: BaseException) -> str:
  """One readable line from a flag-parsing exception (ml_collections' --config.* overrides
  raise KeyError / AttributeError whose text carries quotes and newlines)."""
  text = str(e.args[0] if isinstance(e, KeyError) and e.args else e)
  text = " ".join(text.replace("\\n", " ").replace("\\'", "'").split())
  if text.count("'") % 2:  # ml_collections cuts a quoted value's closing quote
    text = text.rstrip("'") + "'" if not text.endswith("'") else text.rstrip("'")
  return text.strip("\"")


def parse_flags(argv: Sequence[str]) -> list[str]:
  """absl's flag parsing, with a bad flag or config override reported as one error line."""
  try:
    return flags.FLAGS(argv)
  except (flags.Error, AttributeError, KeyError, TypeError, ValueError, OSError) as e:
    fail(flag_error_message(e))
  return []  # not reached


def run(main: Callable[[list[str]], Any],
        flags_parser: Callable[[Sequence[str]], list[str]] = parse_flags) -> None:
  """A command's entry point: absl flags (all defined at the command's module level),
  LlmjaxError and bad flags as one `error:` line with exit status 2; Ctrl-C before the work
  could be saved as one line with exit status 130."""

  def checked(argv: list[str]) -> Any:
    if len(argv) > 1:
      fail(f"unexpected arguments {argv[1:]}; flags look like --name=value (see --help)")
    try:
      return main(argv)
    except KeyboardInterrupt:
      fail("interrupted", code=130)

  app.run(exit_on_error(checked), flags_parser=flags_parser)
