"""Fault sweep: run every command the way a user gets it wrong, and record what happened.

  python reports/faults/sweep.py            # about 10 minutes on a 2-core CPU
  python reports/faults/sweep.py --only=12  # one case

Each case runs the real command (micro models on the project's own fixture text, in a temp
folder) and is judged on three things: the exit status, the stderr (a failure must end in
exactly one `error:` line with no traceback), and what is left on disk. The table goes to
reports/faults/README.md. tests/test_faults.py automates the most important of these.
The full-disk cases need root (a 3 MB tmpfs is mounted); they are marked "not run" elsewhere.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Callable

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from tests.fixture_text import fixture_lines, write_fixture_corpus  # noqa: E402
from tests.test_faults import MICRO  # noqa: E402  (the same micro model as the tests)



@dataclasses.dataclass
class Outcome:
  command: str
  code: int | None
  last_line: str
  ok: bool
  note: str = ""


@dataclasses.dataclass
class Ctx:
  root: pathlib.Path
  text: pathlib.Path
  trained: pathlib.Path

  def fresh(self, name: str) -> pathlib.Path:
    return self.root / name


def _env(**extra: str) -> dict[str, str]:
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO), **extra}
  env.pop("XLA_FLAGS", None)
  return env


def run(args: list[str], env: dict | None = None, timeout: float = 300,
        cwd: pathlib.Path = REPO) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env or _env(),
                        capture_output=True, text=True, timeout=timeout)


def train(workdir: pathlib.Path, text: pathlib.Path, steps: int = 10, every: int = 5,
          *extra: str) -> list[str]:
  return ["llmjax.train", *MICRO, f"--config.data.text_dir={text}",
          f"--config.workdir={workdir}", f"--config.train.total_steps={steps}",
          f"--config.train.log_every={every}", f"--config.train.eval_every={every}",
          f"--config.train.checkpoint_every={every}", *extra]


def shown(args: list[str], ctx: Ctx) -> str:
  """The command as a reader would type it: temp paths shortened, the micro flags elided."""
  text = " ".join(["python -m", *args])
  text = text.replace(" ".join(MICRO), "MICRO").replace(str(ctx.root), "$T")
  return text.replace(str(REPO) + "/", "")


def last_line(proc) -> str:
  lines = (proc.stderr or "").rstrip().splitlines()
  return lines[-1] if lines else ""


def one_error(proc, code: int = 2, contains: str = "") -> tuple[bool, str]:
  """Failed with `code`, the last stderr line is the only `error:` line, no traceback."""
  lines = (proc.stderr or "").rstrip().splitlines()
  errors = [x for x in lines if x.startswith("error:")]
  ok = (proc.returncode == code and len(errors) == 1 and lines[-1] == errors[0]
        and "Traceback" not in proc.stderr and contains in errors[0])
  return ok, "" if ok else f"expected exit {code} and one error line containing {contains!r}"


def outcome(args, proc, ctx, ok_note, note: str = "") -> Outcome:
  ok, why = ok_note
  return Outcome(shown(args, ctx), proc.returncode, last_line(proc), ok,
                 note if ok else why or note)


def checkpoints(workdir: pathlib.Path) -> list[int]:
  d = workdir / "checkpoints"
  return sorted(int(p.name) for p in d.iterdir() if p.name.isdigit()) if d.is_dir() else []


def losses(workdir: pathlib.Path) -> dict[int, float]:
  rows = [json.loads(x) for x in (workdir / "metrics.jsonl").read_text().splitlines() if x]
  return {r["step"]: r["loss"] for r in rows if "loss" in r}


CASES: list[tuple[str, Callable[[Ctx], Outcome]]] = []


def case(title: str):
  def register(fn):
    CASES.append((title, fn))
    return fn
  return register


# --- command lines and settings -----------------------------------------------------------

def _bad_train_flag(title: str, flag: str, contains: str):
  @case(title)
  def _(ctx: Ctx) -> Outcome:
    wd = ctx.fresh(f"flag{len(CASES)}")
    args = train(wd, ctx.text, 5, 5, flag)
    proc = run(args, timeout=120)
    ok = one_error(proc, 2, contains)
    if wd.exists():
      ok = (False, "the workdir was created")
    return outcome(args, proc, ctx, ok)


_bad_train_flag("misspelt key", "--config.train.totl_steps=5", "did you mean train.total_steps")
_bad_train_flag("value of the wrong type", "--config.train.total_steps=ten", "invalid literal")
_bad_train_flag("negative step count", "--config.train.total_steps=-1", "total_steps")
_bad_train_flag("eval cadence 0", "--config.train.eval_every=0", "eval_every")
_bad_train_flag("checkpoint cadence 0", "--config.train.checkpoint_every=0", "checkpoint_every")
_bad_train_flag("keep no checkpoints", "--config.train.keep_checkpoints=0", "keep_checkpoints")
_bad_train_flag("learning rate 0", "--config.optim.lr=0", "lr")
_bad_train_flag("unknown optimizer", "--config.optim.optimizer=sgdd", "optimizer")
_bad_train_flag("heads do not divide", "--config.model.n_kv_heads=3", "n_kv_heads")
_bad_train_flag("sequence longer than the model", "--config.data.seq_len=64", "seq_len")
_bad_train_flag("unknown attention kernel", "--config.model.attention_impl=flash3",
                "attention_impl")
_bad_train_flag("negative skip budget", "--config.train.skip_nonfinite_steps=-1",
                "skip_nonfinite_steps")


@case("config file that does not exist")
def _(ctx):
  args = ["llmjax.train", "--config=configs/nope.py"]
  proc = run(args, timeout=60)
  return outcome(args, proc, ctx, one_error(proc, 2, "does not exist"))


@case("stray positional argument")
def _(ctx):
  args = ["llmjax.train", "--config=configs/tiny.py", "extra"]
  proc = run(args, timeout=60)
  return outcome(args, proc, ctx, one_error(proc, 2, "unexpected arguments"))


# --- training text ------------------------------------------------------------------------

@case("text folder that does not exist")
def _(ctx):
  args = train(ctx.fresh("t1"), ctx.root / "missing_text")
  proc = run(args, timeout=60)
  return outcome(args, proc, ctx, one_error(proc, 2, "does not exist"))


@case("empty text folder")
def _(ctx):
  empty = ctx.fresh("empty_text")
  empty.mkdir()
  args = train(ctx.fresh("t2"), empty)
  proc = run(args, timeout=60)
  return outcome(args, proc, ctx, one_error(proc, 2))


@case("text folder with only binary junk")
def _(ctx):
  junk = ctx.fresh("junk_text")
  junk.mkdir()
  (junk / "a.txt").write_bytes(os.urandom(200_000))
  args = train(ctx.fresh("t3"), junk)
  proc = run(args, timeout=120)
  return outcome(args, proc, ctx, one_error(proc, 2))


@case("text too short for one validation batch")
def _(ctx):
  small = ctx.fresh("small_text")
  small.mkdir()
  (small / "a.txt").write_text("Казан шәһәре.\n" * 3, encoding="utf-8")
  args = train(ctx.fresh("t4"), small)
  proc = run(args, timeout=120)
  return outcome(args, proc, ctx, one_error(proc, 2))


@case("no text anywhere and no network")
def _(ctx):
  home = ctx.fresh("home")
  home.mkdir()
  args = ["llmjax.train", *MICRO, f"--config.workdir={ctx.fresh('t5')}"]
  env = _env(HOME=str(home), LLMJAX_DEV_DATA=str(ctx.root / "nowhere"),
             LLMJAX_LEIPZIG_URL="http://127.0.0.1:9/{name}.tar.gz", LLMJAX_CACHE=str(home / "cache"))
  env.pop("LLMJAX_TEXT_DIR", None)
  t0 = time.time()
  proc = run(args, env=env, timeout=120)
  seconds = time.time() - t0
  ok = one_error(proc, 2)
  return outcome(args, proc, ctx, ok, f"{seconds:.0f} s")


# --- workdirs and disks -------------------------------------------------------------------

@case("workdir below a file")
def _(ctx):
  blocker = ctx.fresh("a_file")
  blocker.write_text("x")
  args = train(blocker / "run", ctx.text)
  proc = run(args, timeout=60)
  return outcome(args, proc, ctx, one_error(proc, 2, "cannot create the workdir"))


@case("read-only workdir parent")
def _(ctx):
  if os.geteuid() == 0:
    return Outcome("(chmod 555 parent)", None, "", True, "not run: root ignores permissions")
  parent = ctx.fresh("ro")
  parent.mkdir()
  parent.chmod(0o555)
  args = train(parent / "run", ctx.text)
  proc = run(args, timeout=60)
  parent.chmod(0o755)
  return outcome(args, proc, ctx, one_error(proc, 2))


def _tmpfs(path: pathlib.Path, size: str) -> bool:
  path.mkdir(parents=True, exist_ok=True)
  return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                        capture_output=True).returncode == 0


@case("disk full while writing the first checkpoint")
def _(ctx):
  disk = ctx.fresh("tiny_disk")
  if os.geteuid() != 0 or not _tmpfs(disk, "3m"):
    return Outcome("(3 MB tmpfs)", None, "", True, "not run: needs root to mount a tmpfs")
  try:
    wd = disk / "run"
    args = train(wd, ctx.text, 10, 5, "--config.model.vocab_size=2048",
                 "--config.model.d_model=128", "--config.model.head_dim=32")
    proc = run(args, timeout=300)
    ok = one_error(proc, 2, "No space left on device")
    if ok[0] and any((wd / "checkpoints").glob("*tmp*")):
      ok = (False, "a half-written checkpoint was left")
    return outcome(args, proc, ctx, ok)
  finally:
    subprocess.run(["umount", str(disk)])


@case("disk full while cleaning a corpus")
def _(ctx):
  disk = ctx.fresh("tiny_disk2")
  if os.geteuid() != 0 or not _tmpfs(disk, "64k"):
    return Outcome("(64 KB tmpfs)", None, "", True, "not run: needs root to mount a tmpfs")
  try:
    args = ["llmjax.corpus.clean", f"--text_dir={ctx.text}", f"--out={disk / 'clean'}",
            "--eval_dir="]
    proc = run(args, timeout=300)
    ok = one_error(proc, 2, "No space left on device")
    if ok[0] and (disk / "clean").exists():
      ok = (False, "a partial output folder was left under the final name")
    return outcome(args, proc, ctx, ok)
  finally:
    subprocess.run(["umount", str(disk)])


@case("a second run in the same workdir")
def _(ctx):
  wd = ctx.fresh("locked")
  first = subprocess.Popen([sys.executable, "-m", *train(wd, ctx.text, 400, 50)], cwd=REPO,
                           env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.time() + 120
  while not (wd / ".lock").exists() and time.time() < deadline:
    time.sleep(0.5)
  args = train(wd, ctx.text, 400, 50)
  proc = run(args, timeout=120)
  first.send_signal(signal.SIGTERM)
  first.wait(120)
  return outcome(args, proc, ctx, one_error(proc, 2, "in use by another run"))


@case("a stale lock (kill -9 left it)")
def _(ctx):
  wd = ctx.fresh("stale")
  wd.mkdir()
  (wd / ".lock").write_text(json.dumps({"pid": 999999, "host": socket.gethostname(),
                                        "started": time.time() - 3600}))
  args = train(wd, ctx.text, 5, 5)
  proc = run(args)
  ok = (proc.returncode == 0 and checkpoints(wd) == [5], "expected a normal run")
  return outcome(args, proc, ctx, ok, "took the lock over")


# --- interruptions ------------------------------------------------------------------------

def _interrupt(ctx, name: str, sig: int, after: str, code: int, steps=200):
  wd = ctx.fresh(name)
  args = train(wd, ctx.text, steps, 10)
  proc = subprocess.Popen([sys.executable, "-m", *args], cwd=REPO, env=_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  for line in proc.stdout:
    if after in line:
      break
  proc.send_signal(sig)
  out, err = proc.communicate(timeout=300)
  done = subprocess.CompletedProcess(args, proc.returncode, out, err)
  return wd, args, done


@case("Ctrl-C while the tokenizer trains")
def _(ctx):
  wd, args, proc = _interrupt(ctx, "int_tok", signal.SIGINT, "tokenizer", 130)
  ok = one_error(proc, 130, "interrupted")
  if ok[0] and (wd / "tokenizer.model").exists() and not (wd / "tokenizer.model.json").exists():
    ok = (False, "a tokenizer without its metadata was left")
  return outcome(args, proc, ctx, ok)


@case("Ctrl-C during training")
def _(ctx):
  wd, args, proc = _interrupt(ctx, "int_train", signal.SIGINT, "step 20/", 130)
  saved = checkpoints(wd)
  ok = (proc.returncode == 130 and "run the same command to resume" in proc.stdout + proc.stderr
        and saved and saved[-1] >= 20, "expected a checkpoint at the stop and exit 130")
  return outcome(args, proc, ctx, ok, f"checkpoints {saved}")


@case("SIGTERM during training (a preempted VM)")
def _(ctx):
  wd, args, proc = _interrupt(ctx, "term_train", signal.SIGTERM, "step 20/", 0)
  saved = checkpoints(wd)
  ok = (proc.returncode == 0 and saved and saved[-1] >= 20, "expected exit 0 and a checkpoint")
  return outcome(args, proc, ctx, ok, f"checkpoints {saved}")


@case("resume after Ctrl-C gives the same losses")
def _(ctx):
  wd, args, first = _interrupt(ctx, "int_resume", signal.SIGINT, "step 20/", 130, steps=60)
  stopped = checkpoints(wd)[-1]
  proc = run(args)
  ref = run(train(ctx.fresh("straight"), ctx.text, 60, 10))
  a, b = losses(wd), losses(ctx.fresh("straight"))
  same = (first.returncode == 130 and ref.returncode == 0 and len(b) > 3
          and all(a[s] == b[s] for s in b))
  return outcome(args, proc, ctx, (proc.returncode == 0 and same, "losses differ"),
                 f"stopped at {stopped}; every loss equals an uninterrupted run's")


@case("kill -9 mid-run, then resume")
def _(ctx):
  wd = ctx.fresh("kill9")
  args = train(wd, ctx.text, 60, 10)
  p = subprocess.Popen([sys.executable, "-m", *args], cwd=REPO, env=_env(),
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
  for line in p.stdout:
    if "step 35/" in line:
      break
  p.kill()
  p.wait()
  proc = run(args)
  ref_wd = ctx.fresh("kill9_ref")
  run(train(ref_wd, ctx.text, 60, 10))
  a, b = losses(wd), losses(ref_wd)
  same = all(a[s] == b[s] for s in b if s in a)
  return outcome(args, proc, ctx, (proc.returncode == 0 and same, "losses differ"),
                 f"resumed; losses equal an uninterrupted run's: {same}")


@case("torn checkpoint (a file deleted inside the latest)")
def _(ctx):
  wd = ctx.fresh("torn")
  args = train(wd, ctx.text, 10, 5)
  run(args)
  latest = wd / "checkpoints" / "10"
  victim = next(p for p in sorted(latest.rglob("*")) if p.is_file() and p.stat().st_size > 0
                and "state" in str(p))
  victim.unlink()
  args = train(wd, ctx.text, 15, 5)
  proc = run(args)
  return outcome(args, proc, ctx, one_error(proc, 2, "checkpoint"),
                 f"deleted {victim.relative_to(wd)}")


@case("an unfinished orbax temp folder beside the checkpoints")
def _(ctx):
  wd = ctx.fresh("tmpdir")
  run(train(wd, ctx.text, 10, 5))
  junk = wd / "checkpoints" / "15.orbax-checkpoint-tmp-1234"
  junk.mkdir()
  args = train(wd, ctx.text, 15, 5)
  proc = run(args)
  ok = (proc.returncode == 0 and checkpoints(wd)[-1] == 15 and not junk.exists(),
        "expected a normal resume and the temp folder gone")
  return outcome(args, proc, ctx, ok)


@case("torn last line of metrics.jsonl, then resume")
def _(ctx):
  wd = ctx.fresh("torn_metrics")
  run(train(wd, ctx.text, 10, 5))
  with open(wd / "metrics.jsonl", "a") as f:
    f.write('{"step": 11, "lo')
  args = train(wd, ctx.text, 15, 5)
  proc = run(args)
  lines = (wd / "metrics.jsonl").read_text().splitlines()
  valid = all(_is_json(x) for x in lines)
  return outcome(args, proc, ctx, (proc.returncode == 0 and valid, "metrics.jsonl invalid"),
                 "every line valid JSON afterwards" if valid else "")


def _is_json(line: str) -> bool:
  try:
    json.loads(line)
    return True
  except ValueError:
    return False


@case("TensorBoard folder deleted, then resume")
def _(ctx):
  wd = ctx.fresh("tb")
  run(train(wd, ctx.text, 10, 5))
  shutil.rmtree(wd / "tensorboard")
  args = train(wd, ctx.text, 15, 5)
  proc = run(args)
  rebuilt = any((wd / "tensorboard").rglob("events*"))
  return outcome(args, proc, ctx, (proc.returncode == 0 and rebuilt, "not rebuilt"),
                 "rebuilt from metrics.jsonl")


@case("corrupt tokenizer.model in the workdir")
def _(ctx):
  wd = ctx.fresh("badtok")
  run(train(wd, ctx.text, 5, 5))
  (wd / "tokenizer.model").write_bytes(b"not a sentencepiece model")
  args = train(wd, ctx.text, 10, 5)
  proc = run(args)
  return outcome(args, proc, ctx, one_error(proc, 2, "tokenizer"))


@case("resume with a different model shape")
def _(ctx):
  wd = ctx.fresh("shape")
  run(train(wd, ctx.text, 5, 5))
  args = train(wd, ctx.text, 10, 5, "--config.model.d_ff=96")
  proc = run(args)
  ok = one_error(proc, 2, "d_ff")
  if checkpoints(wd) != [5]:
    ok = (False, "checkpoints changed")
  return outcome(args, proc, ctx, ok)


@case("resume with a new learning rate")
def _(ctx):
  wd = ctx.fresh("newlr")
  run(train(wd, ctx.text, 5, 5))
  args = train(wd, ctx.text, 10, 5, "--config.optim.lr=1e-4")
  proc = run(args)
  noted = "optim.lr" in proc.stdout + proc.stderr
  return outcome(args, proc, ctx, (proc.returncode == 0 and noted, "no note"),
                 "continues with a note naming optim.lr")


@case("divergence (learning rate 1e4)")
def _(ctx):
  wd = ctx.fresh("diverge")
  run(train(wd, ctx.text, 10, 5))
  args = train(wd, ctx.text, 30, 5, "--config.optim.lr=1e4", "--config.optim.warmup_steps=0")
  proc = run(args)
  ok = one_error(proc, 3, "diverged")
  kept = checkpoints(wd)
  if 10 not in kept:
    ok = (False, f"good checkpoints lost: {kept}")
  return outcome(args, proc, ctx, ok, f"checkpoints kept {kept}")


@case("non-finite steps within a skip budget")
def _(ctx):
  wd = ctx.fresh("skip")
  args = train(wd, ctx.text, 10, 5, "--config.train.skip_nonfinite_steps=100",
               "--config.optim.lr=1e4", "--config.optim.warmup_steps=0")
  proc = run(args)
  warned = proc.stdout.count("its update was skipped") + proc.stderr.count("its update was skipped")
  ok = (proc.returncode == 0 and warned > 0, "expected skipped steps, each with a warning")
  return outcome(args, proc, ctx, ok, f"{warned} steps skipped, each with a warning line")


# --- the other commands -------------------------------------------------------------------

def _cmd_case(title: str, make_args: Callable[[Ctx], list[str]], code: int, contains: str):
  @case(title)
  def _(ctx: Ctx) -> Outcome:
    args = make_args(ctx)
    proc = run(args, timeout=180)
    return outcome(args, proc, ctx, one_error(proc, code, contains))


_cmd_case("evaluate: workdir that does not exist",
          lambda c: ["llmjax.evaluate", f"--workdir={c.root / 'nope'}", "--text_file=README.md"],
          2, "")
_cmd_case("evaluate: workdir with no checkpoint",
          lambda c: ["llmjax.evaluate", f"--workdir={c.text}", "--text_file=README.md"], 2, "")
_cmd_case("evaluate: misspelt checkpoint name",
          lambda c: ["llmjax.evaluate", f"--workdir={c.trained}", "--checkpoint=bset",
                     "--text_file=README.md"], 2, "bset")
_cmd_case("evaluate: unknown suite",
          lambda c: ["llmjax.evaluate", f"--workdir={c.trained}", "--suite=blimpp"], 2, "blimpp")
_cmd_case("evaluate: text file that does not exist",
          lambda c: ["llmjax.evaluate", f"--workdir={c.trained}", "--text_file=nope.txt"],
          2, "nope.txt")
_cmd_case("generate: negative temperature",
          lambda c: ["llmjax.generate", f"--workdir={c.trained}", "--prompt=Казан",
                     "--temperature=-1"], 2, "temperature")
_cmd_case("generate: top_p above 1",
          lambda c: ["llmjax.generate", f"--workdir={c.trained}", "--prompt=Казан",
                     "--top_p=1.5"], 2, "top_p")
_cmd_case("generate: no --workdir",
          lambda c: ["llmjax.generate", "--prompt=Казан"], 2, "workdir")
_cmd_case("generate: checkpoint step that was never saved",
          lambda c: ["llmjax.generate", f"--workdir={c.trained}", "--prompt=Казан",
                     "--checkpoint=999"], 2, "999")
_cmd_case("export: output folder not empty",
          lambda c: ["llmjax.export", f"--workdir={c.trained}", f"--out={c.text}"], 2, "")
_cmd_case("bench: config file missing",
          lambda c: ["llmjax.bench", "--config=configs/nope.py"], 2, "does not exist")
_cmd_case("finetune: base workdir without a checkpoint",
          lambda c: ["llmjax.finetune", "--config=configs/sft_tatar.py",
                     f"--config.finetune.init_from={c.root / 'nope'}",
                     f"--config.workdir={c.root / 'sft'}"], 2, "")
_cmd_case("chat: adapter folder that does not exist",
          lambda c: ["llmjax.chat", f"--workdir={c.trained}", f"--adapter={c.root / 'nope'}"],
          2, "")
_cmd_case("corpus.clean: input folder missing",
          lambda c: ["llmjax.corpus.clean", f"--text_dir={c.root / 'nope'}",
                     f"--out={c.root / 'clean_out'}"], 2, "")
@case("tokenizer.train: vocabulary larger than the text fills")
def _(ctx):
  small = ctx.fresh("small_text2")
  small.mkdir()
  (small / "a.txt").write_text("Казан шәһәре.\n" * 3, encoding="utf-8")
  args = ["llmjax.tokenizer.train", f"--text_dir={small}", f"--out={ctx.root / 'tok.model'}",
          "--vocab_size=50000"]
  proc = run(args, timeout=120)
  ok = (proc.returncode == 0 and last_line(proc).startswith("warning: the text fills only"),
        "expected a model padded to the size asked for, with a warning")
  return outcome(args, proc, ctx, ok, "padded with never-used pieces, and says so")


@case("corpus.clean interrupted")
def _(ctx):
  out, big = ctx.fresh("clean_int"), ctx.fresh("big_text")
  big.mkdir()
  (big / "a.txt").write_text("\n".join(fixture_lines(400_000)) + "\n", encoding="utf-8")
  args = ["llmjax.corpus.clean", f"--text_dir={big}", f"--out={out}", "--workers=2"]
  proc = subprocess.Popen([sys.executable, "-m", *args], cwd=REPO, env=_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  time.sleep(10)
  proc.send_signal(signal.SIGINT)
  o, e = proc.communicate(timeout=120)
  done = subprocess.CompletedProcess(args, proc.returncode, o, e)
  finished = done.returncode == 0
  ok = (True, "") if finished else one_error(done, 130, "interrupted")
  if not finished and out.exists():
    ok = (False, "a partial output folder was left under the final name")
  return outcome(args, done, ctx, ok, "finished before the signal" if finished else "")


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument("--only", type=int, default=0, help="Run case N only (1-based).")
  parser.add_argument("--out", default=str(REPO / "reports/faults/README.md"))
  opts = parser.parse_args()
  with tempfile.TemporaryDirectory() as tmp:
    root = pathlib.Path(tmp)
    text = write_fixture_corpus(root / "text")
    trained = root / "trained"
    subprocess.run([sys.executable, "-m", *train(trained, text, 10, 5)], cwd=REPO, env=_env(),
                   capture_output=True, check=True)
    ctx = Ctx(root, text, trained)
    rows = []
    for i, (title, fn) in enumerate(CASES, 1):
      if opts.only and i != opts.only:
        continue
      t0 = time.time()
      try:
        result = fn(ctx)
      except Exception as e:  # a broken case is a row, not a crash of the sweep
        result = Outcome("", None, "", False, f"sweep error: {type(e).__name__}: {e}")
      print(f"[{i}/{len(CASES)}] {'ok  ' if result.ok else 'FAIL'} {title} "
            f"(exit {result.code}, {time.time() - t0:.0f} s) {result.last_line[:100]}",
            flush=True)
      rows.append((i, title, result))
  if opts.only:
    return
  head = pathlib.Path(__file__).with_name("header.md").read_text(encoding="utf-8")
  table = ["| # | case | command | exit | last stderr line | verdict |", "|---|---|---|---|---|---|"]
  for i, title, r in rows:
    esc = lambda s: s.replace("|", "\\|")  # noqa: E731
    verdict = ("ok" if r.ok else "**FAIL**") + (f": {r.note}" if r.note else "")
    table.append(f"| {i} | {title} | `{esc(r.command)}` | {r.code} | {esc(r.last_line[:160])} "
                 f"| {esc(verdict)} |")
  passed = sum(r.ok for _, _, r in rows)
  summary = f"\n{passed} of {len(rows)} cases behave as specified.\n"
  pathlib.Path(opts.out).write_text(head + "\n" + "\n".join(table) + "\n" + summary,
                                    encoding="utf-8")


if __name__ == "__main__":
  main()
