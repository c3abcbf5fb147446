"""Score text under a trained model: bits per character and per byte (see llmjax.scoring),
or run the evaluation suite (llmjax.evals) with --suite.

  python -m llmjax.evaluate --workdir=runs/tiny \
      --text_file=../shared/data/tatar/eval/flores200/tat_Cyrl.dev
  python -m llmjax.evaluate --workdir=runs/tiny --suite=all --output=runs/tiny/eval.json \
      --report=runs/tiny/eval.md
"""

import dataclasses
import json
import pathlib
import sys

from absl import app, flags

from llmjax import inference, scoring
from llmjax.data import packing, text
from llmjax.errors import exit_on_error
from llmjax.evals import report, suite
from llmjax.evals.common import write_text

_WORKDIR = flags.DEFINE_string("workdir", None, "Training workdir holding checkpoints.")
_TEXT_FILE = flags.DEFINE_string("text_file", "../shared/data/tatar/eval/flores200/tat_Cyrl.dev",
                                 "UTF-8 text; every non-empty line is scored on its own.")
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


def evaluate_file(loaded: inference.Loaded, path: pathlib.Path, batch_size: int = 0) -> dict:
  lines = text.read_lines(path)
  rows = packing.pack_documents(
      packing.tokenize_documents(loaded.tokenizer, lines), loaded.cfg.data.seq_len,
      num_chars=sum(len(line) for line in lines),
      num_bytes=sum(len(line.encode("utf-8")) for line in lines))
  result = scoring.score_rows(loaded.trainer, loaded.params, rows,
                              batch_size or loaded.cfg.data.batch_size)
  return {**result, "lines": len(lines), "text_file": str(path), "step": loaded.step}


@exit_on_error
def main(argv):
  del argv
  names = suite.parse_names(_SUITE.value) if _SUITE.value else None  # fail before loading
  loaded = inference.load(_WORKDIR.value, _CHECKPOINT.value)
  if names is None:
    print(json.dumps(evaluate_file(loaded, pathlib.Path(_TEXT_FILE.value), _BATCH_SIZE.value)))
    return
  opts = suite.SuiteOptions(flores=_TEXT_FILE.value, tatblimp_limit=_TATBLIMP_LIMIT.value,
                            tumlu_per_subject=_TUMLU_PER_SUBJECT.value, sib_k=_SIB_K.value,
                            qa_greedy=_QA_GREEDY.value, batch_size=_BATCH_SIZE.value or 32)
  result = suite.run(loaded, names, opts, file_scorer=evaluate_file)
  result.update(workdir=str(_WORKDIR.value), options=dataclasses.asdict(opts),
                command="python -m llmjax.evaluate " + " ".join(sys.argv[1:]))
  if _OUTPUT.value:
    write_text(_OUTPUT.value, json.dumps(result, ensure_ascii=False, indent=1))
  if _REPORT.value:
    write_text(_REPORT.value, report.render([(pathlib.Path(_WORKDIR.value).name, result)]))
  print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
  flags.mark_flag_as_required("workdir")
  app.run(main)
