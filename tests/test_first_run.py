"""A student's first run, as on a machine without the development data: the main command
downloads the default corpus (from a 127.0.0.1 mirror in Leipzig's exact layout), cleans it,
trains a tokenizer and a (shrunk) model, evaluates and checkpoints; the second run reuses
every cache. Offline with no text: one error line, fast.

Each run uses a copy of the package in a temporary folder, so no development data sits
beside it, and a temporary HOME, so every cache starts empty.
"""

import os
import shutil
import subprocess
import sys
import time

import pytest

from tests.fixture_text import fixture_lines
from tests.helpers import REPO
from tests.leipzig_mirror import Mirror, archive

DEFAULT = "tat_mixed_2015_1M"  # data.default_corpus
SHRINK = ["--config.model.d_model=32", "--config.model.n_layers=2", "--config.model.n_heads=4",
          "--config.model.n_kv_heads=2", "--config.model.head_dim=8", "--config.model.d_ff=64",
          "--config.model.vocab_size=512", "--config.model.max_seq_len=32",
          "--config.model.dtype=float32", "--config.data.seq_len=32",
          "--config.data.batch_size=8", "--config.data.max_val_rows=8",
          "--config.train.total_steps=6", "--config.train.log_every=3",
          "--config.train.eval_every=3", "--config.train.checkpoint_every=3",
          "--config.optim.warmup_steps=2"]
PRIVATE = ("LLMJAX_TEXT_DIR", "LLMJAX_EVAL_DIR", "LLMJAX_CACHE", "LLMJAX_LEIPZIG_CACHE",
           "LLMJAX_DEV_DATA", "XLA_FLAGS", "PYTHONPATH")


def _fresh_checkout(tmp_path):
  clone = tmp_path / "clone"
  for part in ("llmjax", "configs"):
    shutil.copytree(REPO / part, clone / part, ignore=shutil.ignore_patterns("__pycache__"))
  return clone


def _run(clone, home, url, *args, timeout=900):
  env = {k: v for k, v in os.environ.items() if k not in PRIVATE}
  env.update(HOME=str(home), LLMJAX_LEIPZIG_URL=url, JAX_PLATFORMS="cpu")
  start = time.perf_counter()
  proc = subprocess.run([sys.executable, "-m", "llmjax.train", *args], cwd=clone, env=env,
                        capture_output=True, text=True, timeout=timeout)
  return proc, time.perf_counter() - start


@pytest.fixture
def mirror():
  server = Mirror()
  yield server
  server.close()


@pytest.mark.slow
def test_main_command_on_a_fresh_machine(tmp_path, mirror):
  mirror.add(DEFAULT, archive(DEFAULT, fixture_lines(3000)))
  clone, home = _fresh_checkout(tmp_path), tmp_path / "home"
  assert not (clone.parent / "shared").exists()
  args = ["--config=configs/tatar_small.py", *SHRINK]
  first, _ = _run(clone, home, mirror.base, *args)
  assert first.returncode == 0, first.stderr[-3000:]
  log = first.stdout
  for phase in (f"downloading {DEFAULT}", "extracting the sentences", "cleaning ",
                "cleaned in", "training a unigram tokenizer", "tokenised the training split",
                "compiling the train step", "microbatch:", "evaluating step 0", "step 1/6",
                "the first step took", "step 6/6 | val_loss", "done: step 6"):
    assert phase in log, f"{phase!r} missing from the log:\n{log}"
  assert mirror.downloads(DEFAULT) == 1
  cache = home / ".cache" / "llmjax"
  assert (cache / "leipzig" / f"{DEFAULT}.tar.gz").is_file()
  assert list((cache / "clean" / DEFAULT).glob("*/clean_stats.json"))
  workdir = clone / "runs" / "tatar_small"
  assert (workdir / "best").is_dir() and (workdir / "checkpoints" / "6").is_dir()
  assert "Leipzig tat_mixed_2015_1M" in (workdir / "data.json").read_text()

  again, _ = _run(clone, home, mirror.base, *args)
  assert again.returncode == 0, again.stderr[-3000:]
  log = again.stdout
  assert mirror.downloads(DEFAULT) == 1  # nothing downloaded again
  assert "downloading" not in log and "cleaning " not in log and "training a" not in log
  assert "reusing the cleaned text" in log and "reusing runs/tatar_small/tokenizer.model" in log
  assert "already done: step 6 of 6" in log


def test_offline_without_text_is_one_error_line_within_30s(tmp_path):
  clone, home = _fresh_checkout(tmp_path), tmp_path / "home"
  # Port 9 (discard) on 127.0.0.1: nothing listens, the connection is refused at once.
  proc, seconds = _run(clone, home, "http://127.0.0.1:9/{name}.tar.gz",
                       "--config=configs/tiny.py", timeout=60)
  assert proc.returncode == 2 and seconds < 30, (seconds, proc.stderr[-2000:])
  errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
  assert len(errors) == 1 and proc.stderr.rstrip().splitlines()[-1] == errors[0]
  for option in ("--config.data.text_dir", "LLMJAX_TEXT_DIR", "--config.data.sources"):
    assert option in errors[0]


def test_offline_falls_back_to_the_development_corpus(tmp_path, tatar_fixture_dir):
  clone, home = _fresh_checkout(tmp_path), tmp_path / "home"
  dev = tmp_path / "shared" / "data" / "tatar"
  shutil.copytree(tatar_fixture_dir, dev / "train")  # now beside the copy, as on CI
  proc, _ = _run(clone, home, "http://127.0.0.1:9/{name}.tar.gz", "--config=configs/tiny.py",
                 *SHRINK[:-6], "--config.train.total_steps=2", "--config.train.log_every=1",
                 "--config.train.eval_every=2", "--config.train.checkpoint_every=2")
  assert proc.returncode == 0, proc.stderr[-2000:]
  notices = [line for line in proc.stdout.splitlines() if "training on the development corpus" in line]
  assert len(notices) == 1 and str(dev / "train") in notices[0]
