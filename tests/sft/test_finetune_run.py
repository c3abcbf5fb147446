"""Fine-tuning through the training loop: an adapter run resumes exactly, its checkpoints
hold the adapters only, merging it gives the model it trained, full fine-tuning starts from
the pretrained weights, and the commands (finetune, chat, merge) work end to end."""

import json
import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from llmjax.config import load
from llmjax.errors import ConfigError
from llmjax.evals import bpc
from llmjax.sft import adapters, lora
from llmjax.sft import config as sft_config
from llmjax.sft import recipe
from llmjax.training import checkpoint, loop, restore
from tests.helpers import REPO, run

STEPS = 8


def _resolved(base_workdir, sft_files, workdir, **overrides):
  train, val = sft_files
  args = {"finetune.init_from": str(base_workdir), "finetune.train_file": str(train),
          "finetune.val_file": str(val), "workdir": str(workdir),
          "train.total_steps": STEPS, "train.log_every": 1, "train.eval_every": 4,
          "train.checkpoint_every": 2, "data.batch_size": 8, "optim.warmup_steps": 2,
          **overrides}
  return sft_config.resolve(load(REPO / "configs" / "sft_tatar.py", args).to_dict())


def _train(resolved, **kw):
  return loop.train(resolved.cfg, resolved.cfg_dict, loop.Evaluators(bpc.validation),
                    recipe=recipe.build(resolved), **kw)


def _piped(stdin: str, *args):
  """A command with `stdin` piped in (tests.helpers.run's environment)."""
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO)}
  env.pop("XLA_FLAGS", None)
  proc = subprocess.run([sys.executable, "-m", *args], cwd=REPO, env=env, input=stdin,
                        capture_output=True, text=True, timeout=600, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc


def _losses(workdir):
  return {r["step"]: r["loss"] for r in map(json.loads, (workdir / "metrics.jsonl").open())
          if "loss" in r}


@pytest.fixture(scope="module")
def lora_run(base_workdir, sft_files, tmp_path_factory):
  workdir = tmp_path_factory.mktemp("lora")
  resolved = _resolved(base_workdir, sft_files, workdir)
  result = _train(resolved)
  return workdir, resolved, result


def test_the_config_comes_from_the_base_workdir(lora_run, base_workdir):
  _, resolved, _ = lora_run
  base = restore.load(base_workdir)
  assert resolved.cfg.model == base.cfg.model  # dropout 0 and float32 in both
  assert resolved.cfg.data.seq_len == base.cfg.model.max_seq_len
  with pytest.raises(ConfigError, match="cannot change when fine-tuning"):
    sft_config.resolve({**resolved.cfg_dict, "model": {"d_model": 64}})
  with pytest.raises(ConfigError, match="init_from is required"):
    sft_config.resolve({**resolved.cfg_dict, "finetune": {"init_from": ""}})


def test_adapter_checkpoints_hold_only_the_adapters(lora_run):
  workdir, resolved, result = lora_run
  assert result.step == STEPS and result.best_val_bits_per_char < result.first_val[
      "val_bits_per_char"]
  ref = checkpoint.find(workdir, "best")
  spec = adapters.lora_spec(ref.meta)
  assert spec == recipe.lora_spec(resolved)
  base = restore.load(resolved.cfg_dict["finetune"]["init_from"])
  restored = adapters.restore_adapters(ref, spec, base)
  assert jax.tree.structure(restored) == jax.tree.structure(
      jax.eval_shape(lambda: lora.init(base.params, spec, jax.random.key(0))))
  with pytest.raises(Exception):  # a whole model's parameters are not in there
    checkpoint.restore_params(ref, base.model.abstract_params())


def test_adapter_resume_gives_identical_losses(lora_run, base_workdir, sft_files, tmp_path):
  straight_dir, _, _ = lora_run
  resolved = _resolved(base_workdir, sft_files, tmp_path / "killed")
  first = _train(resolved, stop_after=5)  # "killed" after step 5; checkpoints 2, 4 and 5
  assert first.step == 5
  shutil.rmtree(tmp_path / "killed" / "checkpoints" / "5")  # the crash lost step 5
  resumed = _train(resolved)
  assert resumed.step == STEPS and resumed.first_val is None
  a, b = _losses(straight_dir), _losses(tmp_path / "killed")
  assert sorted(a) == sorted(b) == list(range(1, STEPS + 1))
  for step in range(1, STEPS + 1):
    assert b[step] == pytest.approx(a[step], rel=1e-6), step
  assert resumed.last_val["val_bits_per_char"] == pytest.approx(
      lora_run[2].last_val["val_bits_per_char"], rel=1e-6)


def test_merged_workdir_is_the_adapted_model(lora_run, tmp_path):
  workdir, _, result = lora_run
  out = adapters.merge_workdir(workdir, tmp_path / "merged")
  merged = restore.load(out)  # an ordinary workdir: what export and chat load
  adapted = adapters.load(workdir, which="best")
  assert merged.step == adapted.step and merged.tokenizer.sha256 == adapted.tokenizer.sha256
  tokens = np.asarray([[merged.tokenizer.bos_id, *merged.tokenizer.encode("Мин китап укыйм.")]])
  forward = jax.jit(lambda p, t: merged.model.model.apply({"params": p}, t)[0])
  np.testing.assert_allclose(np.asarray(forward(merged.params, tokens)),
                             np.asarray(forward(adapted.params, tokens)), rtol=0, atol=1e-5)
  base = restore.load(adapted.meta["finetune"]["init_from"])
  assert not np.allclose(np.asarray(forward(base.params, tokens)),
                         np.asarray(forward(merged.params, tokens)), atol=1e-4)
  assert (out / "tokenizer.model").is_file() and not adapters.is_adapter(out)
  with pytest.raises(ConfigError, match="holds LoRA adapters"):
    sft_config.base_checkpoint(sft_config.FinetuneConfig(init_from=str(workdir)))


def test_full_fine_tuning_starts_from_the_pretrained_weights(base_workdir, sft_files,
                                                             tmp_path):
  resolved = _resolved(base_workdir, sft_files, tmp_path / "full",
                       **{"finetune.lora_rank": 0, "train.total_steps": 2,
                          "train.eval_every": 2, "optim.lr": 3e-4})
  result = _train(resolved)
  base = restore.load(base_workdir)
  # Step 0's validation is the base model's: the same weights.
  base_val = bpc.score_rows(base.model, base.params, recipe.build(resolved).prepare_data(
      resolved.cfg, tmp_path, print).val, 8)["bits_per_char"]
  assert result.first_val["val_bits_per_char"] == pytest.approx(base_val, rel=1e-5)
  tuned = restore.load(tmp_path / "full")  # a whole model: an ordinary workdir
  assert tuned.cfg.model == base.cfg.model and not adapters.is_adapter(tmp_path / "full")


def test_commands_end_to_end(lora_run, base_workdir, tmp_path):
  """finetune resumes / refuses; chat answers piped lines and remembers; merge writes."""
  workdir, resolved, _ = lora_run
  train, val = resolved.finetune.train_file, resolved.finetune.val_file
  proc = run("llmjax.finetune", "--config=configs/sft_tatar.py",
             f"--config.finetune.init_from={base_workdir}", f"--config.workdir={workdir}",
             f"--config.finetune.train_file={train}", f"--config.finetune.val_file={val}",
             f"--config.train.total_steps={STEPS}", "--config.data.batch_size=8",
             "--config.finetune.lora_rank=2", check=False)
  assert proc.returncode == 2 and "finetune.lora_rank (8 -> 2)" in proc.stderr.splitlines()[-1]
  proc = _piped("Сәлам!\nТагын?\n/reset\n/quit\n", "llmjax.chat",
                f"--workdir={base_workdir}", f"--adapter={workdir}", "--max_new_tokens=6")
  lines = proc.stdout.splitlines()
  assert lines[0].startswith("chat with") and "> Сәлам!" in lines and "> Тагын?" in lines
  assert "(a new conversation)" in lines
  proc = run("llmjax.sft.merge", f"--adapter={workdir}", f"--out={tmp_path / 'm'}")
  assert json.loads(proc.stdout.splitlines()[-1])["files"] == ["best", "tokenizer.model"]


def test_merged_model_exports_to_hugging_face(lora_run, tmp_path):
  """The folded adapter is an ordinary workdir: the Hugging Face export takes it, and
  transformers computes the same logits (the parity check of tests/hf/test_export.py)."""
  torch = pytest.importorskip("torch")
  transformers = pytest.importorskip("transformers")
  pytest.importorskip("safetensors")
  from llmjax.hf import export as export_hf
  workdir, _, _ = lora_run
  merged = adapters.merge_workdir(workdir, tmp_path / "merged")
  out = export_hf.export_hf_dir(merged, tmp_path / "hf")
  loaded = restore.load(merged)
  hf = transformers.AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
  ids = [loaded.tokenizer.bos_id, *loaded.tokenizer.encode("<|user|>Сәлам!<|end|><|assistant|>")]
  ours = jax.jit(lambda p, t: loaded.model.model.apply({"params": p}, t)[0])(
      loaded.params, np.asarray([ids]))
  with torch.no_grad():
    theirs = hf(torch.tensor([ids])).logits.numpy()
  np.testing.assert_allclose(theirs, np.asarray(ours), rtol=0, atol=1e-4)
