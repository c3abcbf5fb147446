"""Experiment runs as commands: the train command line, model statistics without training,
FLOP-matched steps, and what a run leaves in its workdir."""

import json
import sys

from llmjax.experiments import runs


def test_matched_steps_equalise_flops():
  def flops(vocab):
    stats = runs.model_stats("configs/tiny.py", {"model.vocab_size": vocab})
    return stats["flops_per_token"], stats

  ref, shape = flops(4096)
  for v in (1024, 16384):
    f, _ = flops(v)
    steps = runs.matched_steps(shape["total_steps"], ref, f)
    assert abs(steps * f - shape["total_steps"] * ref) <= f / 2  # within half a step
  assert flops(1024)[0] < ref
  assert runs.matched_steps(10, 1.0, 1e9) == 1  # at least one step


def test_model_stats_follow_the_overrides():
  base = runs.model_stats("configs/tiny.py", {})
  assert (base["name"], base["seq_len"], base["batch_size"], base["total_steps"]) == (
      "tiny", 128, 16, 200)
  wider = runs.model_stats("configs/tiny.py", ["model.d_ff=768", "data.seq_len=64"])
  assert wider["params"] > base["params"] and wider["seq_len"] == 64


def test_train_command_is_the_documented_command_line(tmp_path):
  cmd = runs.train_command("configs/tiny.py", {"model.qk_norm": True, "seed": 3},
                           tmp_path / "w")
  assert cmd == [sys.executable, "-m", "llmjax.train", "--config=configs/tiny.py",
                 "--config.model.qk_norm=True", "--config.seed=3",
                 f"--config.workdir={tmp_path / 'w'}"]


def test_data_stats_and_val_history_read_the_workdir(tmp_path):
  assert runs.data_stats(tmp_path) == {}
  (tmp_path / "data.json").write_text(json.dumps({"source": "x", "train_chars_per_token": 3.5}))
  assert runs.data_stats(tmp_path)["train_chars_per_token"] == 3.5
  rows = [{"step": 0, "val_bits_per_char": 4.0}, {"step": 5, "loss": 2.0},
          {"step": 10, "val_bits_per_char": 3.0}]
  (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
  assert runs.val_history(tmp_path) == [rows[0], rows[2]]


def test_default_flores_comes_from_the_evaluation_folder(tmp_path, monkeypatch):
  monkeypatch.setenv("LLMJAX_EVAL_DIR", str(tmp_path))
  assert runs.default_flores() == ""
  (tmp_path / "flores200").mkdir()
  (tmp_path / "flores200" / "tat_Cyrl.dev").write_text("Казан.\n", encoding="utf-8")
  assert runs.default_flores() == str(tmp_path / "flores200" / "tat_Cyrl.dev")
