"""The gcloud launchers, run against a fake `gcloud` that records its arguments.

No TPU here: this checks what the scripts would ask gcloud to do (create, copy to and run
on --worker=all, the multi-host switch), and that they stop on missing settings.
"""

import os
import subprocess

import pytest

from tests.helpers import REPO

FAKE_GCLOUD = """#!/usr/bin/env bash
printf '%s\\x1e' "$*" >> "$GCLOUD_LOG"  # one record per call
[ "$4" = describe ] && exit 1   # "does not exist yet": the script creates it
exit 0
"""


def _run(script, tmp_path, **env):
  fake = tmp_path / "bin"
  fake.mkdir(exist_ok=True)
  (fake / "gcloud").write_text(FAKE_GCLOUD)
  (fake / "gcloud").chmod(0o755)
  text = tmp_path / "text"
  text.mkdir(exist_ok=True)
  (text / "a.txt").write_text("Сәлам!\n")
  log = tmp_path / "gcloud.log"
  full_env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", "GCLOUD_LOG": str(log),
              "TEXT_DIR": str(text), **env}
  run = subprocess.run(["bash", f"launch/{script}", "--config.train.total_steps=5"],
                       cwd=REPO, env=full_env, capture_output=True, text=True, check=False)
  calls = log.read_text().split("\x1e")[:-1] if log.exists() else []
  return run, calls


def test_tpu_vm(tmp_path):
  run, calls = _run("tpu_vm.sh", tmp_path, TPU_NAME="t1", ZONE="z1")
  assert run.returncode == 0, run.stderr
  assert calls[0].startswith("compute tpus tpu-vm describe t1")
  assert calls[1].startswith("compute tpus tpu-vm create t1 --accelerator-type=v5litepod-8")
  assert all("--zone=z1" in c for c in calls)
  train = calls[-1]
  assert "--worker=all" in train and "python -m llmjax.train" in train
  assert "--config.train.total_steps=5" in train and "LLMJAX_DISTRIBUTED" not in train


def test_tpu_pod_runs_every_host_distributed(tmp_path):
  run, calls = _run("tpu_pod.sh", tmp_path, TPU_NAME="p1", ZONE="z2", BUCKET="b")
  assert run.returncode == 0, run.stderr
  assert any(c.startswith("compute tpus tpu-vm create p1 --accelerator-type=v4-32")
             for c in calls)
  assert any("gcsfuse --implicit-dirs b /mnt/llmjax" in c for c in calls)
  train = calls[-1]
  assert "--worker=all" in train and "LLMJAX_DISTRIBUTED=auto python -m llmjax.train" in train
  assert "--config.workdir=/mnt/llmjax/" in train


@pytest.mark.parametrize("script", ["tpu_vm.sh", "tpu_pod.sh"])
def test_missing_settings_stop_before_gcloud(script, tmp_path):
  run, calls = _run(script, tmp_path, ZONE="z")
  assert run.returncode != 0 and "TPU_NAME" in run.stderr and calls == []
