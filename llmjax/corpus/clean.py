"""Command: clean a folder of text for training (llmjax.corpus.cleaning does the work).

  python -m llmjax.corpus.clean --text_dir=DIR --out=DIR [--workers=2]

Normalise, quality rules, language ID, removal of lines that overlap the evaluation sets,
exact and near-duplicate removal; writes the kept lines under the same relative paths and
clean_stats.json, and prints one JSON summary line.
"""

import json
import sys

from absl import flags

from llmjax import errors, paths
from llmjax.corpus import cleaning

_TEXT_DIR = flags.DEFINE_string("text_dir", None, "Folder of *.txt files (one document per line).")
_OUT = flags.DEFINE_string("out", None, "Output folder for the cleaned *.txt and clean_stats.json.")
_EVAL_DIR = flags.DEFINE_string(
    "eval_dir", "auto", "Evaluation text that must not enter training ('' to skip; auto: "
    "$LLMJAX_EVAL_DIR or the development evaluation sets when present, else a warning).")
_LANGID = flags.DEFINE_bool("langid", True, "Drop lines that are not Tatar.")
_NEAR_DUP = flags.DEFINE_bool("near_dup", True, "MinHash/LSH near-duplicate removal.")
_STRICT_UTF8 = flags.DEFINE_bool("strict_utf8", False,
                                 "Fail on non-UTF-8 lines instead of skipping them.")
_WORKERS = flags.DEFINE_integer("workers", 1, "Processes for the per-line steps.")


def main(argv):
  del argv
  cfg = cleaning.CleanConfig(langid=_LANGID.value, near_dup=_NEAR_DUP.value,
                             strict_utf8=_STRICT_UTF8.value)
  eval_dir = _EVAL_DIR.value
  if eval_dir == "auto":
    found = paths.eval_dir()
    eval_dir = str(found) if found is not None and found.is_dir() else ""
    if not eval_dir:
      print("warning: no evaluation sets found ($LLMJAX_EVAL_DIR): no eval-overlap check",
            file=sys.stderr)
  stats = cleaning.run(_TEXT_DIR.value, _OUT.value, cfg, eval_dir or None, _WORKERS.value,
                       log=lambda m: print(m, file=sys.stderr))
  t = stats["totals"]
  if stats.get("empty_files"):
    print(f"warning: {len(stats['empty_files'])} input files hold no text: "
          f"{', '.join(stats['empty_files'][:5])}", file=sys.stderr)
  if stats["invalid_utf8"]:
    print(f"warning: skipped {len(stats['invalid_utf8'])} non-UTF-8 lines, first: "
          f"{stats['invalid_utf8'][0]}", file=sys.stderr)
  print(json.dumps({"input_lines": t["input"]["lines"], "output_lines": t["output"]["lines"],
                    "input_chars": t["input"]["chars"], "output_chars": t["output"]["chars"],
                    "removed": {k: v["lines"] for k, v in sorted(t["removed"].items())}},
                   ensure_ascii=False))


if __name__ == "__main__":
  flags.mark_flags_as_required(["text_dir", "out"])
  errors.run(main)
