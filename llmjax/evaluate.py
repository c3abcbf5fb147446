"""Command: score text under a trained model (bits per character and per byte), or run
the evaluation suite with --suite.

  python -m llmjax.evaluate --workdir=runs/tiny                      # FLORES dev
  python -m llmjax.evaluate --workdir=runs/tiny --text_file=my.txt
  python -m llmjax.evaluate --workdir=runs/tiny --suite=all --output=runs/tiny/eval.json \
      --report=runs/tiny/eval.md

FLORES dev and the suite's benchmarks are read from the evaluation folder
($LLMJAX_EVAL_DIR; see docs/evaluation.md).
"""

import dataclasses
import json
import math
import pathlib
import sys

from absl import flags

from llmjax import errors, paths
from llmjax.evals import bpc, markdown, suite
from llmjax.paths import atomic_write_text
from llmjax.training import restore

_WORKDIR = flags.DEFINE_string("workdir", None, "Training workdir holding checkpoints.")
_TEXT_FILE = flags.DEFINE_string("text_file", "", "UTF-8 text; every non-empty line is scored "
                                 "on its own (default: FLORES dev in the evaluation folder).")
_CHECKPOINT = flags.DEFINE_string("checkpoint", "auto",
                                  "'auto' (best, else latest), 'best', 'latest' or a step.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 0, "Rows per batch; 0 = the config's.")
_SUITE = flags.DEFINE_string("suite", "", "Run benchmarks instead of scoring --text_file: "
                             f"'all' or a comma list of {', '.join(suite.ALL)}.")
_OUTPUT = flags.DEFINE_string("output", "", "--suite: also write the JSON result here.")
_REPORT = flags.DEFINE_string("report", "", "--suite: also write a markdown report here.")
_TATBLIMP_LIMIT = flags.DEFINE_integer("tatblimp_limit", 0, "--suite: pairs (0 = all).")
_TUMLU_PER_SUBJECT = flags.DEFINE_integer("tumlu_per_subject", 0,
                                          "--suite: test questions per subject (0 = all).")
_SIB_K = flags.DEFINE_integer("sib_k", 3, "--suite: SIB-200 shots.")
_QA_GREEDY = flags.DEFINE_integer("qa_greedy", 12, "--suite: facts answered by generation.")


def _print_json(result: dict) -> None:
  """Valid JSON always (a non-finite number becomes null); then, if there was one, an
  error line and a non-zero exit."""
  bad = []

  def clean(x, path=""):
    if isinstance(x, float) and not math.isfinite(x):
      bad.append(path)
      return None
    if isinstance(x, dict):
      return {k: clean(v, f"{path}.{k}" if path else k) for k, v in x.items()}
    if isinstance(x, list):
      return [clean(v, path) for v in x]
    return x

  print(json.dumps(clean(result), ensure_ascii=False, allow_nan=False), flush=True)
  if bad:
    errors.fail(f"non-finite scores ({', '.join(sorted(set(bad))[:5])}): the model's outputs "
                "overflow or its parameters are not finite", code=3)


def main(argv):
  del argv
  names = suite.parse_names(_SUITE.value) if _SUITE.value else None  # fail before loading
  text_file = _TEXT_FILE.value
  if names is None and not text_file:
    text_file = str(paths.require_eval(paths.FLORES_DEV))
  restored = restore.load(_WORKDIR.value, _CHECKPOINT.value)
  if names is None:
    _print_json(bpc.score_file(restored, text_file, _BATCH_SIZE.value))
    return
  opts = suite.SuiteOptions(flores=text_file, tatblimp_limit=_TATBLIMP_LIMIT.value,
                            tumlu_per_subject=_TUMLU_PER_SUBJECT.value, sib_k=_SIB_K.value,
                            qa_greedy=_QA_GREEDY.value, batch_size=_BATCH_SIZE.value or 32)
  result = suite.run(restored, names, opts)
  result.update(workdir=str(_WORKDIR.value), options=dataclasses.asdict(opts),
                command="python -m llmjax.evaluate " + " ".join(sys.argv[1:]))
  if _OUTPUT.value:
    atomic_write_text(_OUTPUT.value, json.dumps(result, ensure_ascii=False, indent=1))
  if _REPORT.value:
    atomic_write_text(_REPORT.value,
                      markdown.render([(pathlib.Path(_WORKDIR.value).name, result)]))
  _print_json(result)


if __name__ == "__main__":
  flags.mark_flag_as_required("workdir")
  errors.run(main)
