"""Small shared helpers for the benchmark readers."""

from __future__ import annotations

import json
import pathlib
import random
from collections.abc import Sequence
from typing import TypeVar

from llmjax.errors import DataError

T = TypeVar("T")


def read_jsonl(path: str | pathlib.Path) -> list[dict]:
  """Records of a JSON-lines file; DataError naming the file and line on bad input."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise DataError(f"benchmark file {str(path)!r} does not exist")
  out = []
  with path.open(encoding="utf-8") as f:
    for lineno, line in enumerate(f, 1):
      if line.strip():
        try:
          out.append(json.loads(line))
        except json.JSONDecodeError as e:
          raise DataError(f"{str(path)!r} line {lineno}: not JSON ({e.msg})") from e
  if not out:
    raise DataError(f"benchmark file {str(path)!r} holds no records")
  return out


def sample(items: Sequence[T], n: int, seed: int = 0) -> list[T]:
  """A deterministic sample of n items in their original order (all when n <= 0)."""
  if n <= 0 or n >= len(items):
    return list(items)
  keep = sorted(random.Random(seed).sample(range(len(items)), n))
  return [items[i] for i in keep]


def argmax(values: Sequence[float]) -> int:
  """Index of the largest value; the first one on ties (deterministic)."""
  return max(range(len(values)), key=lambda i: (values[i], -i))
