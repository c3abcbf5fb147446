"""Command: the corpus statistics report (cleaning, language ID, dedup, Zipf, Heaps).

  python -m llmjax.corpus.report --text_dir=DIR [--out=runs/corpus_report]

Cleans --text_dir (or reuses a finished `python -m llmjax.corpus.clean` output given as
--cleaned_dir) and writes out/README.md with PNG plots (llmjax.corpus.analysis). The committed
report is reports/corpus/: pass --out=reports/corpus to re-create it. Needs matplotlib
(`pip install -e ".[corpus]"`).
"""

import os
import sys

from absl import flags

from llmjax import errors, paths
from llmjax.corpus import analysis

_TEXT_DIR = flags.DEFINE_string("text_dir", None, "Folder of raw *.txt files.")
_OUT = flags.DEFINE_string("out", "runs/corpus_report", "Folder for README.md and the PNG plots.")
_CLEANED_DIR = flags.DEFINE_string("cleaned_dir", None,
                                   "A finished clean run to reuse (default: clean now).")
_EVAL_DIR = flags.DEFINE_string("eval_dir", "auto", "Evaluation sets for the overlap check "
                                "('' to skip; auto: $LLMJAX_EVAL_DIR or the development sets).")
_MIX_DIR = flags.DEFINE_string("mix_dir", "auto", "Labelled mix for the language-ID table "
                               "('' to skip; auto: the development data when present).")
_WORKERS = flags.DEFINE_integer("workers", 1, "Processes for cleaning.")


def _auto(value: str, found) -> str | None:
  if value != "auto":
    return value or None
  return str(found) if found is not None and os.path.isdir(found) else None


def main(argv):
  del argv
  try:
    import matplotlib  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    errors.fail("the report needs matplotlib: pip install -e '.[corpus]'")
  eval_dir = _auto(_EVAL_DIR.value, paths.eval_dir())
  if _EVAL_DIR.value and eval_dir is None:
    print("warning: no evaluation sets found: no eval-overlap check", file=sys.stderr)
  command = ("python -m llmjax.corpus.report " +
             " ".join(a for a in sys.argv[1:] if not a.startswith("--workers")))
  analysis.generate(_TEXT_DIR.value, _OUT.value, _CLEANED_DIR.value, eval_dir,
                    _auto(_MIX_DIR.value, paths.labelled_mix_dir()), _WORKERS.value,
                    command=command, log=lambda m: print(m, file=sys.stderr))
  print(f"wrote {os.path.join(_OUT.value, 'README.md')}")


if __name__ == "__main__":
  flags.mark_flag_as_required("text_dir")
  errors.run(main)
