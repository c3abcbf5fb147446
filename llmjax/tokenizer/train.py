"""Command: train a tokenizer on a text folder's training split (cached by its inputs).

  python -m llmjax.tokenizer.train --text_dir=DIR --out=runs/tok/unigram-8192.model \
      --vocab_size=8192 --model_type=unigram

The documents are split exactly as the training pipeline splits them, so the tokenizer never
sees validation text. Beside the model, `<out>.json` records what it was trained on; a second
call with the same inputs reuses the model (llmjax.tokenizer.spm.load_or_train).
"""

import json
import sys
import time

from absl import flags

from llmjax import errors, paths
from llmjax.corpus.text import training_split
from llmjax.tokenizer.spm import TokenizerSpec, load_or_train

_TEXT_DIR = flags.DEFINE_string("text_dir", paths.env_text_dir() or None,
                                "Folder of UTF-8 *.txt files (default $LLMJAX_TEXT_DIR).")
_OUT = flags.DEFINE_string("out", None, "Where to write the SentencePiece model.")
_VOCAB_SIZE = flags.DEFINE_integer("vocab_size", 8192, "Pieces in the vocabulary (exact).")
_MODEL_TYPE = flags.DEFINE_enum("model_type", "unigram", ["unigram", "bpe"],
                                "SentencePiece model type.")
_MAX_SENTENCES = flags.DEFINE_integer("max_sentences", 200_000,
                                      "Deterministic sample cap on training documents (0 = all).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the sample.")
_VAL_FRACTION = flags.DEFINE_float("val_fraction", 0.02, "Held-out share, as "
                                   "data.val_fraction: those documents are not used.")


def main(argv):
  del argv
  start = time.perf_counter()
  docs = training_split(_TEXT_DIR.value, _VAL_FRACTION.value)
  spec = TokenizerSpec(_VOCAB_SIZE.value, _MODEL_TYPE.value, _MAX_SENTENCES.value, _SEED.value)
  tok, reused = load_or_train(_OUT.value, docs, spec)
  print(json.dumps({"out": _OUT.value, "reused": reused, "vocab_size": tok.vocab_size,
                    "model_type": tok.model_type, "train_docs": len(docs),
                    "docs_used": min(len(docs), spec.max_sentences or len(docs)),
                    "filler_pieces": tok.filler_pieces, "tokenizer_sha256": tok.sha256,
                    "seconds": round(time.perf_counter() - start, 2)}))
  if tok.filler_pieces:  # allowed (tiny test models use it), but never silently
    print(f"warning: the text fills only {tok.vocab_size - tok.filler_pieces:,} of "
          f"{tok.vocab_size:,} pieces; the other {tok.filler_pieces:,} are never used "
          "(a smaller --vocab_size fits this text)", file=sys.stderr)


if __name__ == "__main__":
  flags.mark_flags_as_required(["text_dir", "out"])
  errors.run(main)
