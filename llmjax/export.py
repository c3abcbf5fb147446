"""Command: export a trained workdir for others, as Hugging Face files transformers loads.

  python -m llmjax.evaluate --workdir=runs/tiny > runs/tiny/eval_flores.json   # optional
  python -m llmjax.export --workdir=runs/tiny --out=export/tiny --format=hf \
      --eval_json=runs/tiny/eval_flores.json

Writes --out (which must not exist, or be empty) all at once; see llmjax.hf.export for the
files and for the variants that are refused because transformers would compute them
differently. Needs the `export` extra (`pip install -e ".[export]"`).
"""

import json

from absl import flags

from llmjax import errors
from llmjax.hf import export

_WORKDIR = flags.DEFINE_string("workdir", None, "Training workdir holding checkpoints.")
_OUT = flags.DEFINE_string("out", None, "Folder to write (must not exist, or be empty).")
_FORMAT = flags.DEFINE_enum("format", "hf", ["hf"], "Export format: hf = Hugging Face "
                            "Llama / Qwen3 / Mixtral + tokenizer + model card.")
_CHECKPOINT = flags.DEFINE_string("checkpoint", "auto",
                                  "'auto' (best, else latest), 'best', 'latest' or a step.")
_DTYPE = flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"],
                           "dtype of the exported weights.")
_EVAL_JSON = flags.DEFINE_multi_string(
    "eval_json", [], "Output of `python -m llmjax.evaluate` for this checkpoint, one JSON "
    "object per file; each becomes a row of the model card's evaluation table (repeatable).")


def main(argv):
  del argv
  out = export.export_hf_dir(_WORKDIR.value, _OUT.value, which=_CHECKPOINT.value,
                                dtype=_DTYPE.value, eval_json_files=tuple(_EVAL_JSON.value))
  print(json.dumps({"out": str(out), "files": sorted(p.name for p in out.iterdir())}))


if __name__ == "__main__":
  flags.mark_flags_as_required(["workdir", "out"])
  errors.run(main)
