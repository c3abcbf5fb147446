"""Command: the tokenizer sweep, vocab sizes x model types, written up as a report.

  python -m llmjax.tokenizer.sweep --text_dir=DIR [--out_dir=runs/tokenizer_report]

See llmjax.tokenizer.lab. The committed report is reports/tokenizer/ (pass
--out_dir=reports/tokenizer to re-create it); FLORES dev is measured when the evaluation sets
are found ($LLMJAX_EVAL_DIR).
"""

import pathlib

from absl import flags

from llmjax import errors, paths
from llmjax.tokenizer import lab

_TEXT_DIR = flags.DEFINE_string("text_dir", paths.env_text_dir() or None,
                                "Folder of UTF-8 *.txt files (default $LLMJAX_TEXT_DIR).")
_FLORES = flags.DEFINE_string("flores", "auto", "Held-out text file ('' = none; auto: FLORES "
                              "dev under $LLMJAX_EVAL_DIR or the development sets, if found).")
_VOCAB_SIZES = flags.DEFINE_list("vocab_sizes", ["1024", "2048", "4096", "8192", "16384", "32768"],
                                 "Vocabulary sizes.")
_MODEL_TYPES = flags.DEFINE_multi_enum("model_types", ["bpe", "unigram"], ["bpe", "unigram"],
                                       "SentencePiece model types.")
_MAX_SENTENCES = flags.DEFINE_integer("max_sentences", 200_000,
                                      "Deterministic cap on training documents.")
_CACHE_DIR = flags.DEFINE_string("cache_dir", "runs/tok_sweep", "Where the tokenizers are kept.")
_OUT_DIR = flags.DEFINE_string("out_dir", "runs/tokenizer_report", "Report folder.")
_DOWNSTREAM_DIR = flags.DEFINE_string("downstream_dir", "reports/tokenizer",
                                      "Folder of downstream_*.json results to tabulate.")


def main(argv):
  del argv
  flores = _FLORES.value
  if flores == "auto":
    path = paths.eval_path(paths.FLORES_DEV)
    flores = str(path) if path.is_file() else ""
  sweep = lab.run_sweep(_TEXT_DIR.value, flores, [int(v) for v in _VOCAB_SIZES.value],
                        _MODEL_TYPES.value, _CACHE_DIR.value, _MAX_SENTENCES.value)
  settings = {"text_dir": _TEXT_DIR.value, "flores": flores, "vocab_sizes": _VOCAB_SIZES.value,
              "model_types": _MODEL_TYPES.value, "max_sentences": _MAX_SENTENCES.value}
  out = pathlib.Path(_OUT_DIR.value)
  plots = lab.write_report(sweep, out, pathlib.Path(_DOWNSTREAM_DIR.value), settings)
  print(f"wrote {out / 'README.md'}, results.json and {len(plots)} plots")


if __name__ == "__main__":
  flags.mark_flag_as_required("text_dir")
  errors.run(main)
