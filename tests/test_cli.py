"""The command-line contract: train / evaluate / generate / bench, and bad input."""

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO

TINY = ["--config=configs/tiny.py", "--config.train.total_steps=60",
        "--config.train.eval_every=30", "--config.train.log_every=10",
        "--config.train.checkpoint_every=30", "--config.model.vocab_size=512",
        "--config.data.seq_len=64", "--config.model.max_seq_len=96",
        "--config.data.max_val_rows=32"]


def run(*args, check=True):
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO)}
  env.pop("XLA_FLAGS", None)
  proc = subprocess.run([sys.executable, "-m", *args], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=600)
  if check and proc.returncode != 0:
    raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
  return proc


@pytest.fixture(scope="module")
def trained(tatar_fixture_dir, tmp_path_factory):
  workdir = tmp_path_factory.mktemp("cli_run")
  run("llmjax.train", *TINY, f"--config.workdir={workdir}",
      f"--config.data.text_dir={tatar_fixture_dir}")
  return workdir


def test_train_outputs_and_learns(trained):
  records = [json.loads(line) for line in (trained / "metrics.jsonl").open()]
  train_recs = [r for r in records if "loss" in r]
  val_recs = [r for r in records if "val_bits_per_char" in r]
  for key in ("step", "loss", "learning_rate", "grad_norm", "tokens_per_sec", "mfu"):
    assert all(key in r for r in train_recs), key
  for key in ("val_loss", "val_bits_per_char", "val_bits_per_byte"):
    assert all(key in r for r in val_recs), key
  assert [r["step"] for r in val_recs] == [0, 30, 60]
  assert val_recs[-1]["val_bits_per_char"] < 0.6 * val_recs[0]["val_bits_per_char"]
  assert (trained / "tokenizer.model").is_file()
  assert list((trained / "tensorboard").glob("events.out.tfevents.*"))
  assert (trained / "checkpoints" / "60").is_dir() and (trained / "best").is_dir()


def test_evaluate_cli(trained, tmp_path):
  text = tmp_path / "eval.txt"
  text.write_text("Казан — Татарстанның башкаласы.\n\nИдел елгасы зур.\n", encoding="utf-8")
  out = json.loads(run("llmjax.evaluate", f"--workdir={trained}",
                       f"--text_file={text}").stdout.strip().splitlines()[-1])
  assert out["lines"] == 2
  assert out["chars"] == len("Казан — Татарстанның башкаласы.") + len("Идел елгасы зур.")
  assert out["bytes"] > out["chars"]
  assert out["bits_per_char"] == pytest.approx(out["bits_per_byte"] * out["bytes"] / out["chars"])
  assert 0 < out["bits_per_char"] < 20 and out["tokens"] > 0


def test_generate_cli_is_seeded(trained):
  args = ("llmjax.generate", f"--workdir={trained}", "--prompt=Казан", "--max_new_tokens=12")
  a, b = run(*args, "--seed=3").stdout, run(*args, "--seed=3").stdout
  assert a == b and a.strip()
  greedy = run(*args, "--temperature=0").stdout
  assert greedy.strip()


def test_bench_cli():
  out = run("llmjax.bench", "--config=configs/tiny.py", "--steps=3", "--warmup=1",
            "--config.model.n_layers=1", "--config.data.batch_size=4").stdout
  result = json.loads(out.strip().splitlines()[-1])
  assert result["tokens_per_sec"] > 0 and result["step_ms"] > 0 and result["params"] > 0
  assert result["mfu"] is None and result["device"]  # CPU: no peak FLOPs, so no MFU


@pytest.mark.parametrize("case", ["empty_dir", "not_utf8", "missing_dir"])
def test_bad_data_gives_one_line_error(case, tmp_path):
  data = tmp_path / "data"
  if case != "missing_dir":
    data.mkdir()
  if case == "not_utf8":
    (data / "a.txt").write_bytes("Казан\n".encode("utf-8") + b"\xff\xfe bad\n")
  proc = run("llmjax.train", "--config=configs/tiny.py", f"--config.workdir={tmp_path / 'w'}",
             f"--config.data.text_dir={data}", check=False)
  assert proc.returncode != 0
  errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
  assert len(errors) == 1, proc.stderr[-2000:]
  if case == "not_utf8":
    assert "a.txt" in errors[0] and "UTF-8" in errors[0]
  if case == "missing_dir":
    assert "--config.data.text_dir" in errors[0] and "LLMJAX_TEXT_DIR" in errors[0]
  assert not (tmp_path / "w" / "checkpoints").exists()


def test_unknown_config_key_fails(tmp_path):
  proc = run("llmjax.train", "--config=configs/tiny.py", "--config.model.nonsense=3",
             f"--config.workdir={tmp_path}", check=False)
  assert proc.returncode != 0 and "nonsense" in proc.stderr


def test_bad_config_value_fails(tmp_path):
  proc = run("llmjax.train", "--config=configs/tiny.py", "--config.model.n_kv_heads=3",
             f"--config.workdir={tmp_path}", check=False)
  assert proc.returncode == 2 and "n_kv_heads" in proc.stderr


def test_evaluate_missing_checkpoint_fails(tmp_path):
  proc = run("llmjax.evaluate", f"--workdir={tmp_path}", "--text_file=README.md", check=False)
  assert proc.returncode == 2 and "no checkpoint" in proc.stderr
