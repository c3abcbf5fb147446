"""Tokenisation speed: MB/s on one core, and time to shard 100 MB with N worker processes.

  python -m llmjax.tokenizer.speed --tokenizer=runs/tok_sweep/unigram-8192.model \
      --text_dir=../shared/data/tatar/train --workers=2 --target_mb=100

Prints one JSON object. MB are UTF-8 megabytes (10^6 bytes) of document text. The
one-core figure is the median of --repeats passes of encode_batch with one thread over the
training split; the sharding figure is llmjax.data.token_shards.write_token_shards
(processes, .npy writes and all) on the training split repeated until it reaches
--target_mb. Timings on a shared machine are noisy; the median is reported for that reason.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from typing import Sequence


def one_core_mb_per_s(tok, docs: Sequence[str], repeats: int = 3) -> float:
  mb = sum(len(d.encode("utf-8")) for d in docs) / 1e6
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    tok.encode_batch(docs, num_threads=1)
    times.append(time.perf_counter() - start)
  return mb / statistics.median(times)


def shard_seconds(tok, docs: Sequence[str], target_mb: float, workers: int) -> tuple[float, float]:
  """(MB written, seconds) for sharding docs repeated up to target_mb."""
  from llmjax.data.token_shards import write_token_shards  # pylint: disable=g-import-not-at-top
  mb = sum(len(d.encode("utf-8")) for d in docs) / 1e6
  reps = max(1, -(-int(target_mb * 1e6) // int(mb * 1e6)))
  big = list(docs) * reps
  with tempfile.TemporaryDirectory() as d:
    start = time.perf_counter()
    write_token_shards(big, tok, os.path.join(d, "tokens"), num_workers=workers)
    return mb * reps, time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> None:
  from absl import app, flags  # pylint: disable=g-import-not-at-top

  from llmjax.errors import exit_on_error  # pylint: disable=g-import-not-at-top
  from llmjax.tokenizer.spm import Tokenizer  # pylint: disable=g-import-not-at-top
  from llmjax.tokenizer.train import training_split  # pylint: disable=g-import-not-at-top

  flags.DEFINE_string("tokenizer", None, "SentencePiece model file.")
  flags.DEFINE_string("text_dir", os.environ.get("LLMJAX_TEXT_DIR",
                                                 "../shared/data/tatar/train"), "Text folder.")
  flags.DEFINE_integer("workers", 2, "Processes for the sharding run.")
  flags.DEFINE_float("target_mb", 100.0, "MB to shard (the corpus repeated).")
  flags.DEFINE_integer("repeats", 3, "Passes for the one-core median.")
  flags.mark_flag_as_required("tokenizer")
  FLAGS = flags.FLAGS

  @exit_on_error
  def run(argv):
    if len(argv) > 1:
      raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    tok = Tokenizer.from_file(FLAGS.tokenizer)
    docs = training_split(FLAGS.text_dir)
    per_core = one_core_mb_per_s(tok, docs, FLAGS.repeats)
    mb, secs = shard_seconds(tok, docs, FLAGS.target_mb, FLAGS.workers)
    print(json.dumps({"tokenizer": FLAGS.tokenizer, "vocab_size": tok.vocab_size,
                      "model_type": tok.model_type, "cpu_count": os.cpu_count(),
                      "one_core_mb_per_s": round(per_core, 2),
                      "sharded_mb": round(mb, 1), "workers": FLAGS.workers,
                      "shard_seconds": round(secs, 1),
                      "shard_mb_per_s": round(mb / secs, 2)}))

  app.run(run, argv)


if __name__ == "__main__":
  main()
