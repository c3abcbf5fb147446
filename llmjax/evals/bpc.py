"""Bits per character / per byte of lines of text through the loglik interface (the same
definition as llmjax.scoring: each line from BOS, its tokens and EOS, summed bits over
summed characters). Used for quick samples (the training-time few-shot check); the suite
scores whole files with llmjax.evaluate.evaluate_file."""

from __future__ import annotations

import math
from collections.abc import Sequence

from llmjax.evals.loglik import LoglikFn, Request


def score(loglik: LoglikFn, lines: Sequence[str]) -> dict:
  scores = loglik([Request("", line, add_eos=True) for line in lines])
  bits = -sum(s.logprob for s in scores) / math.log(2.0)
  chars = sum(len(line) for line in lines)
  nbytes = sum(len(line.encode("utf-8")) for line in lines)
  return {"bits_per_char": bits / max(chars, 1), "bits_per_byte": bits / max(nbytes, 1),
          "lines": len(lines), "chars": chars}
