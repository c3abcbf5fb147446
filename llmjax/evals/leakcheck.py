"""Command: check that the QA benchmark's prompts do not occur verbatim in the training
text, and that every corpus fact's cited source line exists (llmjax.evals.qa.leak_check).

  python -m llmjax.evals.leakcheck [--train_dir=DIR]

Prints one JSON object: filled prompts (the prompt with the right answer in the blank,
compared case-insensitively, whitespace collapsed, end punctuation stripped) found verbatim
inside a training line (must be 0), prompt contexts (the text before the blank)
found verbatim (informational: short question stems such as a country name + "capital"
may occur), and bad source references. Exit status 1 when a filled prompt leaks.
"""

import json
import sys

from absl import flags

from llmjax import errors, paths
from llmjax.evals import qa

_TRAIN_DIR = flags.DEFINE_string("train_dir", "", "Training text folder (default "
                                 "$LLMJAX_TEXT_DIR, else the development corpus).")
_QA = flags.DEFINE_string("qa", str(qa.DEFAULT_PATH), "QA benchmark file.")


def main(argv):
  del argv
  train_dir = _TRAIN_DIR.value or paths.env_text_dir() or paths.dev_train_dir()
  if not train_dir:
    errors.fail("no training text to check against: give --train_dir=DIR")
  result = qa.leak_check(qa.load(_QA.value), train_dir)
  print(json.dumps(result, ensure_ascii=False))
  if result["leaked"] or result["bad_sources"]:
    sys.exit(1)


if __name__ == "__main__":
  errors.run(main)
