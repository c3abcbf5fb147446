"""Fault injection: a run never loses work and never lies (the longer cases are `slow`).

Each test runs the real commands (tiny models, CPU) and checks the exit status, the single
`error:` line (the last line of stderr) and what is on disk afterwards: divergence,
Ctrl-C / SIGTERM, a second run in the same workdir, invalid settings, unwritable places, bad
sampling flags, TensorBoard after a kill, resuming with a changed config, interrupted
cleaning, and the kill -9 resume guarantee.
"""

import json
import os
import pathlib
import signal
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.fixture_text import fixture_lines
from tests.helpers import REPO

MICRO = ["--config=configs/tiny.py", "--config.model.d_model=32", "--config.model.n_layers=2",
         "--config.model.n_heads=4", "--config.model.n_kv_heads=2", "--config.model.head_dim=8",
         "--config.model.d_ff=64", "--config.model.vocab_size=384",
         "--config.model.max_seq_len=32", "--config.data.seq_len=32",
         "--config.data.batch_size=8", "--config.data.max_val_rows=8",
         "--config.optim.warmup_steps=2"]


def _env():
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO)}
  env.pop("XLA_FLAGS", None)
  return env


def run(*args, timeout=600):
  return subprocess.run([sys.executable, "-m", *args], cwd=REPO, env=_env(),
                        capture_output=True, text=True, timeout=timeout)


def start(*args):
  return subprocess.Popen([sys.executable, "-m", *args], cwd=REPO, env=_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def train_args(workdir, text_dir, steps=20, every=5, *extra):
  return ["llmjax.train", *MICRO, f"--config.data.text_dir={text_dir}",
          f"--config.workdir={workdir}", f"--config.train.total_steps={steps}",
          f"--config.train.log_every={every}", f"--config.train.eval_every={every}",
          f"--config.train.checkpoint_every={every}", *extra]


def one_error(proc, code=2) -> str:
  """The process failed with `code` and exactly one error line, the last line of stderr."""
  assert proc.returncode == code, (proc.returncode, proc.stderr[-3000:])
  lines = proc.stderr.rstrip().splitlines()
  errors = [line for line in lines if line.startswith("error:")]
  assert len(errors) == 1 and lines[-1] == errors[0], proc.stderr[-3000:]
  return errors[0]


def losses(workdir) -> dict[int, float]:
  rows = [json.loads(x) for x in (workdir / "metrics.jsonl").read_text().splitlines()]
  return {r["step"]: r["loss"] for r in rows if "loss" in r}


def wait_for(proc, text: str, timeout: float = 300) -> str:
  """Reads the process's stdout until a line contains `text`."""
  seen, deadline = [], time.time() + timeout
  while time.time() < deadline:
    line = proc.stdout.readline()
    if not line:
      break
    seen.append(line)
    if text in line:
      return "".join(seen)
  raise AssertionError(f"{text!r} never appeared:\n{''.join(seen)}")


# --- 1. divergence ---------------------------------------------------------------------------


@pytest.mark.slow
def test_divergence_stops_at_once_and_keeps_the_good_checkpoints(tmp_path, tatar_fixture_dir):
  wd = tmp_path / "run"
  assert run(*train_args(wd, tatar_fixture_dir, 10)).returncode == 0
  good = sorted(p.name for p in (wd / "checkpoints").iterdir())
  best = sorted(p.name for p in (wd / "best").iterdir())
  # Resumed with an absurd learning rate: the loss becomes non-finite within a few steps.
  proc = run(*train_args(wd, tatar_fixture_dir, 40, 5, "--config.optim.lr=1e6"))
  err = one_error(proc, code=3)
  assert "training diverged at step" in err and "optim.lr" in err
  # Nothing after the last good step was saved, nothing rotated out, best untouched.
  assert sorted(p.name for p in (wd / "checkpoints").iterdir()) == good
  assert sorted(p.name for p in (wd / "best").iterdir()) == best
  # evaluate always prints valid JSON.
  out = run("llmjax.evaluate", f"--workdir={wd}", "--text_file=README.md")
  assert out.returncode == 0 and np.isfinite(json.loads(out.stdout)["bits_per_char"])


@pytest.mark.slow
def test_nonfinite_steps_can_be_skipped_within_a_budget(tmp_path, tatar_fixture_dir):
  proc = run(*train_args(tmp_path / "run", tatar_fixture_dir, 20, 5, "--config.optim.lr=1e6",
                         "--config.train.skip_nonfinite_steps=1000"))
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert "had a non-finite loss or gradient; its update was skipped" in proc.stdout
  rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
  assert max(r.get("nonfinite_steps", 0) for r in rows) > 0


# --- 2. Ctrl-C and preemption ----------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 0)])
def test_signal_saves_a_checkpoint_and_resumes_exactly(sig, code, tmp_path, tatar_fixture_dir):
  straight = tmp_path / "straight"
  assert run(*train_args(straight, tatar_fixture_dir, 30, 10)).returncode == 0
  wd = tmp_path / "run"
  proc = start(*train_args(wd, tatar_fixture_dir, 30, 10, "--config.train.log_every=1"))
  wait_for(proc, "step 7/30")
  proc.send_signal(sig)
  out, err = proc.communicate(timeout=120)
  assert proc.returncode == code, err[-2000:]
  stopped = [line for line in out.splitlines() if "stopped at step" in line]
  assert len(stopped) == 1 and "run the same command to resume" in stopped[0]
  step = int(stopped[0].split("stopped at step ")[1].split(";")[0])
  assert (wd / "checkpoints" / str(step)).is_dir() and "Traceback" not in err
  assert run(*train_args(wd, tatar_fixture_dir, 30, 10, "--config.train.log_every=1")
             ).returncode == 0
  a, b = losses(straight), losses(wd)
  assert all(a[s] == b[s] for s in a), (a, b)  # the same losses as never interrupted


@pytest.mark.slow
def test_second_ctrl_c_aborts_at_once(tmp_path, tatar_fixture_dir):
  proc = start(*train_args(tmp_path / "run", tatar_fixture_dir, 100000, 1000,
                           "--config.train.log_every=1"))
  wait_for(proc, "step 2/")
  proc.send_signal(signal.SIGINT)
  proc.send_signal(signal.SIGINT)
  proc.communicate(timeout=60)
  assert proc.returncode == 130


# --- 3. one run per workdir ------------------------------------------------------------------


def test_second_run_in_the_same_workdir_fails_fast(tmp_path, tatar_fixture_dir):
  wd = tmp_path / "run"
  first = start(*train_args(wd, tatar_fixture_dir, 100000, 1000, "--config.train.log_every=1"))
  try:
    wait_for(first, "step 1/")
    second = run(*train_args(wd, tatar_fixture_dir, 20), timeout=60)
    err = one_error(second)
    assert f"pid {first.pid}" in err and "in use by another run" in err
  finally:
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=120)
  assert not (wd / ".lock").exists()  # released when the run ended


def test_a_stale_lock_is_taken_over(tmp_path, tatar_fixture_dir):
  wd = tmp_path / "run"
  wd.mkdir()
  dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                        capture_output=True, text=True)
  (wd / ".lock").write_text(json.dumps({"pid": int(dead.stdout), "host": os.uname().nodename,
                                        "started": time.time() - 100}))
  proc = run(*train_args(wd, tatar_fixture_dir, 5))
  assert proc.returncode == 0 and "taking over the lock of a run that is gone" in proc.stdout


# --- 4. values the loop divides or counts with -------------------------------------------------


@pytest.mark.parametrize("flag", [
    "--config.train.keep_checkpoints=0", "--config.train.log_every=0",
    "--config.train.eval_every=0", "--config.train.checkpoint_every=0",
    "--config.train.total_steps=-5", "--config.optim.lr=0",
    "--config.data.max_val_rows=-1", "--config.train.skip_nonfinite_steps=-1"])
def test_invalid_settings_are_one_error_line(flag, tmp_path):
  proc = run("llmjax.train", *MICRO, f"--config.workdir={tmp_path / 'w'}", flag, timeout=60)
  err = one_error(proc)
  assert flag.split("=")[0].removeprefix("--config.") in err
  assert not (tmp_path / "w").exists()  # nothing created


# --- 5. one error line instead of a traceback ------------------------------------------------


@pytest.mark.parametrize("args, expected", [
    (["--config=configs/tiny.py", "--config.model.n_layer=3"], "did you mean model.n_layers?"),
    (["--config=configs/nope.py"], "config file 'configs/nope.py' does not exist"),
    (["--config=configs/tiny.py", "--config.model.n_layers=x"], "invalid literal"),
    (["--config=configs/tiny.py", "extra"], "unexpected arguments"),
])
def test_bad_command_lines(args, expected):
  assert expected in one_error(run("llmjax.train", *args, timeout=60))


def test_workdir_under_a_file_is_one_error_line(tmp_path, tatar_fixture_dir):
  blocker = tmp_path / "file"
  blocker.write_text("x")
  err = one_error(run(*train_args(blocker / "run", tatar_fixture_dir, 5), timeout=60))
  assert "cannot create the workdir" in err and str(blocker) in err


# --- 6. sampling and checkpoint flags ----------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tatar_fixture_dir, tmp_path_factory):
  wd = tmp_path_factory.mktemp("faults") / "run"
  assert run(*train_args(wd, tatar_fixture_dir, 10)).returncode == 0
  return wd


@pytest.mark.parametrize("flag, expected", [
    ("--temperature=-1", "temperature=-1.0 must be >= 0"),
    ("--top_p=0", "top_p=0.0 must be in (0, 1]"), ("--top_p=1.5", "top_p=1.5 must be in (0, 1]"),
    ("--top_k=-3", "top_k=-3 must be >= 0"), ("--checkpoint=bset", "checkpoint 'bset'"),
    ("--checkpoint=999", "no checkpoint of step 999")])
def test_generate_refuses_bad_flags(trained, flag, expected):
  proc = run("llmjax.generate", f"--workdir={trained}", "--prompt=Казан", flag, timeout=120)
  assert expected in one_error(proc)


def test_evaluate_refuses_an_unknown_checkpoint_name(trained):
  proc = run("llmjax.evaluate", f"--workdir={trained}", "--checkpoint=bset",
             "--text_file=README.md", timeout=120)
  assert "checkpoint 'bset'" in one_error(proc)


# --- 7. TensorBoard ----------------------------------------------------------------------------


def _tb_steps(workdir: pathlib.Path, tag: str) -> list[int]:
  """Steps of one scalar tag in a run's event files (TFRecord framing, Event protos)."""
  from tensorboardX.proto import event_pb2
  steps = []
  for path in sorted((workdir / "tensorboard").glob("events.out.tfevents.*")):
    data = path.read_bytes()
    pos = 0
    while pos + 12 <= len(data):
      (length,) = struct.unpack("<Q", data[pos:pos + 8])
      event = event_pb2.Event.FromString(data[pos + 12:pos + 12 + length])
      pos += 12 + length + 4
      steps += [event.step for v in event.summary.value if v.tag == tag]
  return steps


@pytest.mark.slow
def test_tensorboard_survives_a_kill_and_a_resume_without_duplicates(tmp_path, tatar_fixture_dir):
  wd = tmp_path / "run"
  proc = start(*train_args(wd, tatar_fixture_dir, 40, 10, "--config.train.log_every=2"))
  wait_for(proc, "step 14/40")
  proc.kill()  # kill -9: no chance to flush
  proc.communicate()
  assert set(range(2, 13, 2)) <= set(_tb_steps(wd, "loss"))  # what was logged is on disk
  assert run(*train_args(wd, tatar_fixture_dir, 40, 10, "--config.train.log_every=2")
             ).returncode == 0
  steps = _tb_steps(wd, "loss")
  assert sorted(steps) == sorted(set(steps)) == [1] + list(range(2, 41, 2))
  assert _tb_steps(wd, "val_loss") == [0, 10, 20, 30, 40]


# --- 8. resuming with a changed config ---------------------------------------------------------


def test_resume_with_a_shape_change_is_refused_before_anything_changes(trained,
                                                                      tatar_fixture_dir):
  before = {p: p.stat().st_mtime_ns for p in trained.rglob("*") if p.is_file()}
  for flag, key in (("--config.model.d_model=48", "model.d_model"),
                    ("--config.data.batch_size=16", "data.batch_size"),
                    ("--config.data.seq_len=16", "data.seq_len"),
                    ("--config.model.vocab_size=512", "model.vocab_size")):
    err = one_error(run(*train_args(trained, tatar_fixture_dir, 20, 5, flag)))
    assert key in err and "use a new workdir, or put the old values back" in err
    assert "delete" not in err
  after = {p: p.stat().st_mtime_ns for p in trained.rglob("*") if p.is_file()}
  assert after == before  # no file was touched


@pytest.mark.slow
def test_resume_with_a_new_learning_rate_is_a_note(tmp_path, tatar_fixture_dir):
  wd = tmp_path / "run"
  assert run(*train_args(wd, tatar_fixture_dir, 10)).returncode == 0
  proc = run(*train_args(wd, tatar_fixture_dir, 15, 5, "--config.optim.lr=1e-3"))
  assert proc.returncode == 0
  assert "note: resuming with changed optim.lr (0.003 -> 0.001), train.total_steps" in proc.stdout


# --- 9. interrupted cleaning -------------------------------------------------------------------


@pytest.mark.slow
def test_clean_interrupted_leaves_nothing_that_looks_complete(tmp_path):
  big = tmp_path / "big"
  big.mkdir()
  # Enough distinct lines that cleaning takes far longer than the wait below (repeated text
  # is dropped as duplicates in a moment, and the run would finish before the signal).
  lines = fixture_lines(640_000, seed=1)
  for i in range(8):  # several files, so the run is partway when interrupted
    (big / f"part{i}.txt").write_text("\n".join(lines[i::8]) + "\n", encoding="utf-8")
  out = tmp_path / "clean"
  proc = start("llmjax.corpus.clean", f"--text_dir={big}", f"--out={out}", "--workers=2",
               "--eval_dir=")
  seen = b""
  deadline = time.time() + 120
  while b"part0.txt:" not in seen and time.time() < deadline:  # the first file is done
    seen += os.read(proc.stderr.fileno(), 4096) or b""
  assert b"part0.txt:" in seen, seen[-2000:]
  proc.send_signal(signal.SIGINT)
  start_wait = time.time()
  _, err = proc.communicate(timeout=60)
  assert time.time() - start_wait < 10
  assert proc.returncode == 130 and err.rstrip().splitlines()[-1] == "error: interrupted"
  assert not out.exists() and not list(tmp_path.glob(".clean*"))


# --- the guarantee that already held: kill -9 anywhere resumes exactly ---------------------------


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["step 6/30", "step 10/30 | val_loss", "step 21/30"])
def test_kill_9_resumes_with_identical_losses(moment, tmp_path, tatar_fixture_dir):
  straight = tmp_path / "straight"
  assert run(*train_args(straight, tatar_fixture_dir, 30, 10, "--config.train.log_every=1")
             ).returncode == 0
  wd = tmp_path / "run"
  proc = start(*train_args(wd, tatar_fixture_dir, 30, 10, "--config.train.log_every=1"))
  wait_for(proc, moment)
  proc.kill()
  proc.communicate()
  assert run(*train_args(wd, tatar_fixture_dir, 30, 10, "--config.train.log_every=1")
             ).returncode == 0
  a, b = losses(straight), losses(wd)
  assert sorted(a) == sorted(b) and all(a[s] == b[s] for s in a)
