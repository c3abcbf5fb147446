"""The command-line contract: train / evaluate / generate / bench / export, their one-line
errors for bad input (exit status 2), and `evaluate --suite` (slow).

`trained` (tests/conftest.py) is one tiny run of `python -m llmjax.train` on the fixture
corpus, shared by every test that needs a checkpoint.
"""

import json

import pytest

from llmjax.experiments import runs
from tests.helpers import run


def _one_error_line(proc) -> str:
  """The `error:` line of a failed command: exit status 2, exactly one such line, last."""
  assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
  errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
  assert len(errors) == 1, proc.stderr[-2000:]
  assert proc.stderr.strip().splitlines()[-1] == errors[0]
  return errors[0]


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
  # The data summary is a file for scripts, not a line of the log.
  stats = runs.data_stats(trained)
  assert stats["train_docs"] > 0 and stats["vocab_size"] == 512 and "source" in stats
  log = (trained.parent / f"{trained.name}.log").read_text()
  assert "data: {" not in log and "done: step 60" in log


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
  assert "nonsense" in _one_error_line(proc)


def test_bad_config_value_fails(tmp_path):
  proc = run("llmjax.train", "--config=configs/tiny.py", "--config.model.n_kv_heads=3",
             f"--config.workdir={tmp_path}", check=False)
  assert proc.returncode == 2 and "n_kv_heads" in proc.stderr


def test_evaluate_missing_checkpoint_fails(tmp_path):
  proc = run("llmjax.evaluate", f"--workdir={tmp_path}", "--text_file=README.md", check=False)
  assert proc.returncode == 2 and "no checkpoint" in proc.stderr


# --- the evaluation suite ----------------------------------------------------------------------

@pytest.mark.slow  # the QA benchmark and greedy answers on CPU: a minute or two
def test_evaluate_suite_cli(trained, tmp_path):
  flores = tmp_path / "flores.txt"
  flores.write_text("Казан — Татарстанның башкаласы.\nИдел елгасы зур.\n", encoding="utf-8")
  out_json, out_md = tmp_path / "r.json", tmp_path / "r.md"
  proc = run("llmjax.evaluate", f"--workdir={trained}", "--suite=bpc,qa",
             f"--text_file={flores}", "--qa_greedy=2", f"--output={out_json}",
             f"--report={out_md}")
  result = json.loads(proc.stdout.strip().splitlines()[-1])
  assert result == json.loads(out_json.read_text(encoding="utf-8"))
  assert result["bpc"]["lines"] == 2 and result["bpc"]["bits_per_char"] > 0
  q = result["qa"]
  assert q["facts"] >= 80 and q["prompts"] >= 320 and q["chance"]["accuracy"] == 0.25
  for mode in ("raw", "per_char", "pmi", "prior"):
    m = q["modes"][mode]
    assert 0 <= m["consistent_and_correct"] <= min(m["consistency"], m["accuracy"] + 1e-9)
  assert len(q["greedy"]) >= 2 and all("generated" in g for g in q["greedy"])
  report = out_md.read_text(encoding="utf-8")
  assert "## Headline numbers" in report and "## Paraphrase-consistency QA benchmark" in report
  assert f"{q['modes']['per_char']['accuracy']:.3f}" in report


def test_evaluate_suite_rejects_unknown_benchmark(trained):
  proc = run("llmjax.evaluate", f"--workdir={trained}", "--suite=qa,nope", check=False)
  assert proc.returncode == 2 and "error: --suite='qa,nope'" in proc.stderr


# --- the evaluation report and the leak check --------------------------------------------------

def test_eval_report_command(tmp_path):
  result = {"model": {"step": 400, "params": 5_835_008}, "tatblimp": {"accuracy": 0.625}}
  (tmp_path / "r.json").write_text(json.dumps(result))
  out = tmp_path / "report.md"
  run("llmjax.evals.report", f"--result=trained={tmp_path / 'r.json'}", f"--out={out}")
  assert "| trained | 400 | 5.84M |" in out.read_text(encoding="utf-8")
  assert "at least one --result" in _one_error_line(run("llmjax.evals.report", check=False))


def test_leakcheck_command(tmp_path):
  from llmjax.evals import qa
  facts = qa.load()
  fact = next(f for f in facts if f["part"] == "corpus")
  filled, _ = qa.filled_prompts(fact)[0]
  (tmp_path / "text").mkdir()
  (tmp_path / "text" / "a.txt").write_text(f"Беренче юл.\n{filled}\n", encoding="utf-8")
  proc = run("llmjax.evals.leakcheck", f"--train_dir={tmp_path / 'text'}", check=False)
  result = json.loads(proc.stdout.strip().splitlines()[-1])
  assert proc.returncode == 1 and result["leaked"] == [filled]
  assert result["facts"] == len(facts) and result["train_files"] == 1
