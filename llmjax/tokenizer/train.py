"""Train a tokenizer on a text folder's training split, cached by its inputs.

  python -m llmjax.tokenizer.train --text_dir=../shared/data/tatar/train \
      --out=runs/tok/unigram-8192.model --vocab_size=8192 --model_type=unigram

The documents are split exactly as the training pipeline splits them
(llmjax.data.text.split_documents), so the tokenizer never sees validation text. Next to
the model a `<out>.json` records what it was trained on (corpus hash, vocab size, model
type, sample cap, seed); a second call with the same inputs reuses the model instead of
training again.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import time
from typing import Sequence

from llmjax.data.text import read_documents, split_documents
from llmjax.errors import ConfigError, DataError
from llmjax.tokenizer.spm import Tokenizer, _atomic_write, train_tokenizer

DEFAULT_VAL_FRACTION = 0.02  # DataConfig's default: the same split as training runs
DEFAULT_MAX_SENTENCES = 200_000


def corpus_sha256(docs: Sequence[str]) -> str:
  """A hash of the documents' text and order (what a tokenizer or shard set is built from)."""
  h = hashlib.sha256()
  for doc in docs:
    h.update(doc.encode("utf-8"))
    h.update(b"\n")
  return h.hexdigest()


def training_split(text_dir: str | os.PathLike,
                   val_fraction: float = DEFAULT_VAL_FRACTION) -> list[str]:
  """The training documents of a text folder, as llmjax.data.pipeline splits them."""
  train, _ = split_documents(read_documents(text_dir), val_fraction)
  return train


def _meta(docs_sha: str, vocab_size: int, model_type: str, max_sentences: int,
          seed: int) -> dict:
  return {"corpus_sha256": docs_sha, "vocab_size": vocab_size, "model_type": model_type,
          "max_sentences": max_sentences, "seed": seed}


def _cached(out: pathlib.Path, meta: dict) -> Tokenizer | None:
  meta_path = out.with_name(out.name + ".json")
  if not (out.is_file() and meta_path.is_file()):
    return None
  try:
    saved = json.loads(meta_path.read_text())
    tok = Tokenizer.from_file(out)
  except (OSError, ValueError, DataError):  # corrupt cache: retrain
    return None
  same = {k: saved.get(k) for k in meta} == meta
  return tok if same and saved.get("tokenizer_sha256") == tok.sha256 else None


def train_cached(docs: Sequence[str], out: str | os.PathLike, *, vocab_size: int,
                 model_type: str = "unigram", max_sentences: int = DEFAULT_MAX_SENTENCES,
                 seed: int = 0, docs_sha: str | None = None) -> tuple[Tokenizer, bool]:
  """(tokenizer, reused): trains unless `out` was trained on the same inputs."""
  if vocab_size < 1:
    raise ConfigError(f"--vocab_size={vocab_size} must be positive")
  out = pathlib.Path(out)
  meta = _meta(docs_sha or corpus_sha256(docs), vocab_size, model_type, max_sentences, seed)
  tok = _cached(out, meta)
  if tok is not None:
    return tok, True
  tok = train_tokenizer(docs, vocab_size=vocab_size, model_type=model_type, out_path=out,
                        max_sentences=max_sentences, seed=seed)
  meta["tokenizer_sha256"] = tok.sha256
  meta["docs_used"] = min(len(docs), max_sentences or len(docs))
  _atomic_write(out.with_name(out.name + ".json"),
                (json.dumps(meta, indent=1) + "\n").encode())
  return tok, False


def main(argv: Sequence[str] | None = None) -> None:
  from absl import app, flags  # pylint: disable=g-import-not-at-top

  from llmjax.errors import exit_on_error  # pylint: disable=g-import-not-at-top

  flags.DEFINE_string("text_dir", os.environ.get("LLMJAX_TEXT_DIR",
                                                 "../shared/data/tatar/train"),
                      "Folder of UTF-8 *.txt files (one document per line).")
  flags.DEFINE_string("out", None, "Where to write the SentencePiece model.")
  flags.DEFINE_integer("vocab_size", 8192, "Pieces in the vocabulary (exact).")
  flags.DEFINE_enum("model_type", "unigram", ["unigram", "bpe"], "SentencePiece model type.")
  flags.DEFINE_integer("max_sentences", DEFAULT_MAX_SENTENCES,
                       "Deterministic sample cap on training documents (0 = all).")
  flags.DEFINE_integer("seed", 0, "Seed of the sample.")
  flags.DEFINE_float("val_fraction", DEFAULT_VAL_FRACTION,
                     "Held-out share, as data.val_fraction: those documents are not used.")
  flags.mark_flag_as_required("out")
  FLAGS = flags.FLAGS

  @exit_on_error
  def run(argv):
    if len(argv) > 1:
      raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    start = time.perf_counter()
    docs = training_split(FLAGS.text_dir, FLAGS.val_fraction)
    tok, reused = train_cached(docs, FLAGS.out, vocab_size=FLAGS.vocab_size,
                               model_type=FLAGS.model_type,
                               max_sentences=FLAGS.max_sentences, seed=FLAGS.seed)
    print(json.dumps({"out": FLAGS.out, "reused": reused, "vocab_size": tok.vocab_size,
                      "model_type": tok.model_type, "train_docs": len(docs),
                      "docs_used": min(len(docs), FLAGS.max_sentences or len(docs)),
                      "tokenizer_sha256": tok.sha256,
                      "seconds": round(time.perf_counter() - start, 2)}))

  app.run(run, argv)


if __name__ == "__main__":
  main()
