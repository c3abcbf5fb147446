"""Command: tokenisation speed, MB/s on one core and time to shard 100 MB with N processes.

  python -m llmjax.tokenizer.speed --tokenizer=runs/tok_sweep/unigram-8192.model \
      --text_dir=DIR --workers=2 --target_mb=100

Prints one JSON object. MB are UTF-8 megabytes (10^6 bytes) of document text. The
one-core figure is the median of --repeats passes of encode_batch with one thread over the
training split; the sharding figure is llmjax.tokenizer.shards.write_token_shards
(processes, .npy writes and all) on the training split repeated until it reaches
--target_mb. Timings on a shared machine are noisy; the median is reported for that reason.
"""

import json
import os
import statistics
import tempfile
import time
from typing import Sequence

from absl import flags

from llmjax import errors, paths
from llmjax.corpus.text import training_split
from llmjax.tokenizer.shards import write_token_shards
from llmjax.tokenizer.spm import Tokenizer

_TOKENIZER = flags.DEFINE_string("tokenizer", None, "SentencePiece model file.")
_TEXT_DIR = flags.DEFINE_string("text_dir", paths.env_text_dir() or None,
                                "Text folder (default $LLMJAX_TEXT_DIR).")
_WORKERS = flags.DEFINE_integer("workers", 2, "Processes for the sharding run.")
_TARGET_MB = flags.DEFINE_float("target_mb", 100.0, "MB to shard (the corpus repeated).")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Passes for the one-core median.")


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
  mb = sum(len(d.encode("utf-8")) for d in docs) / 1e6
  reps = max(1, -(-int(target_mb * 1e6) // int(mb * 1e6)))
  big = list(docs) * reps
  with tempfile.TemporaryDirectory() as d:
    start = time.perf_counter()
    write_token_shards(big, tok, os.path.join(d, "tokens"), num_workers=workers)
    return mb * reps, time.perf_counter() - start


def main(argv):
  del argv
  tok = Tokenizer.from_file(_TOKENIZER.value)
  docs = training_split(_TEXT_DIR.value, 0.02)
  per_core = one_core_mb_per_s(tok, docs, _REPEATS.value)
  mb, secs = shard_seconds(tok, docs, _TARGET_MB.value, _WORKERS.value)
  print(json.dumps({"tokenizer": _TOKENIZER.value, "vocab_size": tok.vocab_size,
                    "model_type": tok.model_type, "cpu_count": os.cpu_count(),
                    "one_core_mb_per_s": round(per_core, 2),
                    "sharded_mb": round(mb, 1), "workers": _WORKERS.value,
                    "shard_seconds": round(secs, 1),
                    "shard_mb_per_s": round(mb / secs, 2)}))


if __name__ == "__main__":
  flags.mark_flags_as_required(["tokenizer", "text_dir"])
  errors.run(main)
