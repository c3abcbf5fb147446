"""Score text under a trained model: bits per character and per byte (see llmjax.scoring).

  python -m llmjax.evaluate --workdir=runs/tiny \
      --text_file=../shared/data/tatar/eval/flores200/tat_Cyrl.dev
"""

import json
import pathlib

from absl import app, flags

from llmjax import inference, scoring
from llmjax.data import packing, text
from llmjax.errors import exit_on_error

_WORKDIR = flags.DEFINE_string("workdir", None, "Training workdir holding checkpoints.")
_TEXT_FILE = flags.DEFINE_string("text_file", "../shared/data/tatar/eval/flores200/tat_Cyrl.dev",
                                 "UTF-8 text; every non-empty line is scored on its own.")
_CHECKPOINT = flags.DEFINE_string("checkpoint", "auto",
                                  "'auto' (best, else latest), 'best', 'latest' or a step.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 0, "Rows per batch; 0 = the config's.")


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
  loaded = inference.load(_WORKDIR.value, _CHECKPOINT.value)
  print(json.dumps(evaluate_file(loaded, pathlib.Path(_TEXT_FILE.value), _BATCH_SIZE.value)))


if __name__ == "__main__":
  flags.mark_flag_as_required("workdir")
  app.run(main)
