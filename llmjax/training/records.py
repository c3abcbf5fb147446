"""metrics.jsonl, the run's record: one JSON object per line (no jax here, so that experiment
drivers and reports can read runs without loading it)."""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any

FILE = "metrics.jsonl"


def parse(line: str) -> dict[str, Any] | None:
  """One record; None for a blank line or one a killed run left half-written."""
  try:
    record = json.loads(line) if line.strip() else None
  except ValueError:
    return None
  return record if isinstance(record, dict) else None


def read(workdir: str | os.PathLike) -> list[dict[str, Any]]:
  """Every whole record of a run, in file order ([] when the run has none yet)."""
  path = pathlib.Path(workdir) / FILE
  if not path.is_file():
    return []
  return [r for r in map(parse, path.read_text(encoding="utf-8").splitlines()) if r is not None]
