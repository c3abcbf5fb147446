"""Command: build the Tatar SFT set (dictionary questions and answers) from the training split.

  python -m llmjax.sft.make_set [--train_dir=DIR] [--out=runs/sft_tatar_data]

Reads DIR/explanatory_dictionary.txt (DIR: --train_dir, else $LLMJAX_TEXT_DIR, else the
development corpus) and writes OUT/{train,val,test_headwords,test_phrasings}.jsonl and
OUT/manifest.json (counts, phrasings, the source's sha256, the leak check), all at once:
see llmjax.sft.dictionary for the format and the splits. The same input gives the same
files. Before anything is written, the set is checked against the evaluation sets
(llmjax.paths.eval_dir()): any evaluation text in it, or any of its answers in them, is an
error and nothing is written.
"""

import hashlib
import json
import pathlib

from absl import flags

from llmjax import errors, paths
from llmjax.errors import DataError
from llmjax.sft import dictionary

_TRAIN_DIR = flags.DEFINE_string("train_dir", "", "Training text folder holding "
                                 f"{dictionary.FILENAME} (default $LLMJAX_TEXT_DIR, else the "
                                 "development corpus).")
_OUT = flags.DEFINE_string("out", "runs/sft_tatar_data", "Folder to write (replaced).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the phrasing choices and the shuffle.")
_MAX_CHARS = flags.DEFINE_integer("max_answer_chars", 160,
                                  "Longest answer, in characters (cut at a word).")


def main(argv):
  del argv
  train_dir = _TRAIN_DIR.value or paths.env_text_dir() or paths.dev_train_dir()
  if not train_dir:
    raise DataError("no training text: give --train_dir=DIR (the folder holding "
                    f"{dictionary.FILENAME})")
  source = pathlib.Path(train_dir) / dictionary.FILENAME
  eval_root = paths.eval_dir()
  if eval_root is None:
    raise DataError(f"cannot check the set for leaks: {paths.EVAL_HINT}")
  if source.resolve().is_relative_to(eval_root.resolve()):
    raise DataError(f"{source} is inside the evaluation sets ({eval_root}): never train on "
                    "them")
  if not source.is_file():
    raise DataError(f"{source} does not exist: --train_dir must hold {dictionary.FILENAME}")
  items = dictionary.entries(source, _MAX_CHARS.value)
  splits = dictionary.build(items, _SEED.value)
  leaks = dictionary.leak_check(splits, eval_root)
  if dictionary.leaked(leaks):
    raise DataError(f"the SFT set shares text with the evaluation sets: {json.dumps(leaks, ensure_ascii=False)}")
  manifest = {
      "source": str(source.resolve()),
      "source_sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
      "entries": len(items), "seed": _SEED.value, "max_answer_chars": _MAX_CHARS.value,
      "conversations": {s: len(c) for s, c in splits.items()},
      "train_phrasings": dictionary.TRAIN_PHRASINGS,
      "test_phrasings": dictionary.TEST_PHRASINGS, "system": dictionary.SYSTEM,
      "leak_check": leaks}
  out = pathlib.Path(_OUT.value)
  with paths.atomic_directory(out, replace=True) as tmp:
    for name, conversations in splits.items():
      paths.atomic_write_lines(tmp / f"{name}.jsonl", (
          json.dumps({"messages": c}, ensure_ascii=False) for c in conversations))
    paths.atomic_write_text(tmp / "manifest.json",
                            json.dumps(manifest, ensure_ascii=False, indent=1) + "\n")
  print(json.dumps({"out": str(out), **manifest["conversations"],
                    "leaks": 0, **{k: v for k, v in leaks.items() if k.startswith("shared")}},
                   ensure_ascii=False))


if __name__ == "__main__":
  errors.run(main)
