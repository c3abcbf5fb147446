"""Command: cleaning throughput, MB/s of the full pipeline on ~100 MB synthesised from the
development data's labelled mix (Tatar + Russian/Bashkir/English).

  nice -n 10 python -m llmjax.corpus.bench --mb=100 --workers=2

Synthetic lines join the first half of one real line with the second half of another
(mostly unique, like web text), plus 5% exact repeats and 5% Russian/Bashkir/English lines
so that every filter has work. Prints one JSON object: input MB, seconds, MB/s, lines kept
and removed by reason, peak memory of the main process and of the workers.
"""

import json
import pathlib
import random
import resource
import tempfile
import time

from absl import flags

from llmjax import errors, paths
from llmjax.corpus import cleaning, langid
from llmjax.errors import DataError

_MB = flags.DEFINE_float("mb", 100.0, "Input size to synthesise.")
_WORKERS = flags.DEFINE_integer("workers", 2, "Processes for the per-line steps.")
_MIX_DIR = flags.DEFINE_string("mix_dir", "", "Folder with tatar/ and other_languages/ "
                               "(default: the development data folder).")
_EVAL_DIR = flags.DEFINE_string("eval_dir", "auto", "Eval-overlap check ('' to skip; auto: "
                                "$LLMJAX_EVAL_DIR or the development sets).")
_TMP_DIR = flags.DEFINE_string("tmp_dir", None, "Where the synthetic input and output go.")


def _pool(root: pathlib.Path) -> tuple[list[str], list[str]]:
  tat = []
  for p in sorted((root / "tatar" / "train").glob("*.txt")):
    tat.extend(l.strip() for l in p.read_text(encoding="utf-8").splitlines() if l.strip())
  other = []
  for p in sorted((root / "other_languages").glob("ntrex128.*.txt")):
    other.extend(l.strip() for l in p.read_text(encoding="utf-8").splitlines() if l.strip())
  if not tat or not other:
    raise DataError(f"the benchmark needs the shared text under {str(root)!r}")
  return tat, other


def synthesise(path: pathlib.Path, mb: float, root: pathlib.Path, seed: int = 0) -> int:
  """Writes about `mb` MB of lines to path; returns the byte count."""
  tat, other = _pool(root)
  rng = random.Random(seed)
  target, size = int(mb * 1e6), 0
  recent: list[str] = []
  with open(path, "w", encoding="utf-8") as f:
    while size < target:
      r = rng.random()
      if r < 0.05 and recent:
        line = rng.choice(recent)
      elif r < 0.10:
        line = rng.choice(other)
      else:
        a, b = rng.choice(tat).split(), rng.choice(tat).split()
        line = " ".join(a[:max(1, len(a) // 2)] + b[len(b) // 2:])
        recent.append(line)
        if len(recent) > 1000:
          recent.pop(rng.randrange(len(recent)))
      f.write(line + "\n")
      size += len(line.encode("utf-8")) + 1
  return size


def main(argv):
  del argv
  mix = _MIX_DIR.value or paths.labelled_mix_dir()
  if not mix:
    errors.fail("no labelled mix to synthesise from: give --mix_dir=DIR")
  eval_dir = _EVAL_DIR.value
  if eval_dir == "auto":
    found = paths.eval_dir()
    eval_dir = str(found) if found is not None and found.is_dir() else ""
  with tempfile.TemporaryDirectory(prefix="llmjax_bench_", dir=_TMP_DIR.value) as tmp:
    tmp = pathlib.Path(tmp)
    (tmp / "in").mkdir()
    nbytes = synthesise(tmp / "in" / "synthetic.txt", _MB.value, pathlib.Path(mix))
    langid.default_model()  # loaded before timing (also inherited by forked workers)
    start = time.perf_counter()
    stats = cleaning.run(tmp / "in", tmp / "out", eval_dir=eval_dir or None,
                         workers=_WORKERS.value)
    secs = time.perf_counter() - start
  t = stats["totals"]
  print(json.dumps({
      "input_mb": round(nbytes / 1e6, 1), "seconds": round(secs, 1),
      "mb_per_s": round(nbytes / 1e6 / secs, 2), "workers": _WORKERS.value,
      "lines_in": t["input"]["lines"], "lines_out": t["output"]["lines"],
      "removed": {k: v["lines"] for k, v in sorted(t["removed"].items())},
      "peak_rss_mb_main": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
      "peak_rss_mb_workers": round(
          resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)}))


if __name__ == "__main__":
  errors.run(main)
