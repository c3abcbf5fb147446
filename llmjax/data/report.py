"""Corpus statistics report (the corpus "analysis"): cleaning, language ID, dedup, Zipf, Heaps.

  python -m llmjax.data.report --text_dir=../shared/data/tatar/train --out=reports/corpus

Cleans --text_dir (or reuses a finished `python -m llmjax.corpus.clean` output given as
--cleaned_dir) and writes out/README.md with PNG plots. Needs matplotlib
(`pip install -e ".[corpus]"`).
"""

from __future__ import annotations

import os
import sys
from typing import Sequence

from absl import app, flags

from llmjax.errors import DataError, exit_on_error

flags.DEFINE_string("text_dir", None, "folder of raw *.txt files")
flags.DEFINE_string("out", "reports/corpus", "folder for README.md and the PNG plots")
flags.DEFINE_string("cleaned_dir", None, "a finished clean run to reuse (default: clean now)")
flags.DEFINE_string("eval_dir", "../shared/data/tatar/eval", "evaluation sets ('' to skip)")
flags.DEFINE_string("shared_dir", "../shared/data", "labelled mix for language ID ('' to skip)")
flags.DEFINE_integer("workers", 1, "processes for cleaning")
FLAGS = flags.FLAGS


def main(argv: Sequence[str]) -> None:
  del argv
  try:
    import matplotlib  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  except ImportError as e:
    raise DataError("the report needs matplotlib: pip install -e '.[corpus]'") from e
  from llmjax.corpus import report  # pylint: disable=g-import-not-at-top
  eval_dir = FLAGS.eval_dir if FLAGS.eval_dir and os.path.isdir(FLAGS.eval_dir) else None
  if FLAGS.eval_dir and eval_dir is None:
    print(f"warning: {FLAGS.eval_dir} not found: no eval-overlap check", file=sys.stderr)
  command = ("python -m llmjax.data.report " +
             " ".join(a for a in sys.argv[1:] if not a.startswith("--workers")))
  report.generate(FLAGS.text_dir, FLAGS.out, FLAGS.cleaned_dir, eval_dir,
                  FLAGS.shared_dir or None, FLAGS.workers, command=command,
                  log=lambda m: print(m, file=sys.stderr))
  print(f"wrote {os.path.join(FLAGS.out, 'README.md')}")


if __name__ == "__main__":
  flags.mark_flag_as_required("text_dir")
  app.run(exit_on_error(main))
