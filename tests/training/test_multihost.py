"""Multi-host training on one machine: two JAX processes on 127.0.0.1 (CPU, gloo).

The two-process run must see the same global batches and give the same losses as one
process with the same global batch and mesh, and its checkpoint (written collectively by
both processes) must resume in a single process exactly where an uninterrupted run is.
"""

import json
import pathlib
import socket
import subprocess
import sys

import pytest

from llmjax.training import multihost
from llmjax.errors import ConfigError
from tests.helpers import REPO

STEPS = 6


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _run(workdir, text_dir, *, processes: int, local_devices: int, stop_after=None):
  """Runs the worker in `processes` processes; returns each one's JSON report."""
  overrides = dict(workdir=str(workdir), data__text_dir=str(text_dir),
                   train__total_steps=STEPS, train__log_every=1, train__eval_every=3,
                   train__checkpoint_every=3, mesh__data=2, mesh__fsdp=2)
  port = _free_port()
  procs = []
  logs = pathlib.Path(str(workdir) + f"-logs-{processes}")
  logs.mkdir(parents=True, exist_ok=True)
  for pid in range(processes):
    spec = dict(local_devices=local_devices, num_processes=processes, process_id=pid,
                port=port, overrides=overrides, stop_after=stop_after)
    # Output to files, not pipes: a full pipe would stall one process at a collective.
    with (logs / f"{pid}.out").open("w") as out, (logs / f"{pid}.err").open("w") as err:
      procs.append(subprocess.Popen(
          [sys.executable, "-m", "tests.multihost_worker", json.dumps(spec)], cwd=REPO,
          stdout=out, stderr=err))
  try:
    for p in procs:
      p.wait(timeout=300)
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
  reports = []
  for pid, p in enumerate(procs):
    assert p.returncode == 0, (logs / f"{pid}.err").read_text()[-3000:]
    reports.append(json.loads((logs / f"{pid}.out").read_text().strip().splitlines()[-1]))
  return reports


def _losses(report) -> dict[int, float]:
  return {r["step"]: r["loss"] for r in report["history"] if "loss" in r}


def _val(report) -> dict[int, float]:
  return {r["step"]: r["val_loss"] for r in report["history"] if "val_loss" in r}


@pytest.mark.slow
def test_two_processes_match_one_and_checkpoint_resumes_in_one(tatar_fixture_dir, tmp_path):
  # One process holding all 4 devices, uninterrupted.
  (single,) = _run(tmp_path / "single", tatar_fixture_dir, processes=1, local_devices=4)
  assert (single["processes"], single["devices"]) == (1, 4)
  # Two processes with 2 devices each, same mesh (data=2, fsdp=2) and global batch,
  # "killed" after step 3 (the last checkpoint).
  two = _run(tmp_path / "multi", tatar_fixture_dir, processes=2, local_devices=2,
             stop_after=3)
  assert [(r["process"], r["processes"], r["devices"]) for r in two] == [(0, 2, 4), (1, 2, 4)]
  ref, ref_val = _losses(single), _val(single)
  for report in two:  # both processes see the same (global) loss
    losses = _losses(report)
    assert sorted(losses) == [1, 2, 3]
    for step, loss in losses.items():
      assert loss == pytest.approx(ref[step], rel=1e-5, abs=1e-6), (step, losses, ref)
    assert _val(report) == pytest.approx({s: ref_val[s] for s in (0, 3)}, rel=1e-5)
  # Only process 0 wrote the log: every step once.
  logged = [json.loads(line) for line in
            (tmp_path / "multi" / "metrics.jsonl").read_text().splitlines()]
  assert [r["step"] for r in logged if "loss" in r] == [1, 2, 3]
  assert [r["step"] for r in logged if "val_loss" in r] == [0, 3]
  # The two-process checkpoint resumes in one process and continues exactly.
  (resumed,) = _run(tmp_path / "multi", tatar_fixture_dir, processes=1, local_devices=4)
  losses = _losses(resumed)
  assert sorted(losses) == [4, 5, 6]
  for step, loss in losses.items():
    assert loss == pytest.approx(ref[step], rel=1e-5, abs=1e-6), (step, losses, ref)
  assert _val(resumed)[6] == pytest.approx(ref_val[6], rel=1e-5)
  print("losses 1 process:", [round(ref[s], 6) for s in sorted(ref)])
  print("losses 2 processes (steps 1-3) + resumed in 1 (4-6):",
        [round(_losses(two[0])[s], 6) for s in (1, 2, 3)]
        + [round(losses[s], 6) for s in (4, 5, 6)])


def test_distributed_args_from_environment():
  assert multihost.distributed_args({}) is None
  assert multihost.distributed_args({"LLMJAX_DISTRIBUTED": "auto"}) == {}
  env = {"JAX_COORDINATOR_ADDRESS": "10.0.0.1:1234", "JAX_NUM_PROCESSES": "4",
         "JAX_PROCESS_ID": "3"}
  assert multihost.distributed_args(env) == {
      "coordinator_address": "10.0.0.1:1234", "num_processes": 4, "process_id": 3}
  with pytest.raises(ConfigError, match="out of range"):
    multihost.distributed_args({**env, "JAX_PROCESS_ID": "4"})
  with pytest.raises(ConfigError, match="both"):
    multihost.distributed_args({**env, "JAX_PROCESS_ID": ""})
  with pytest.raises(ConfigError, match="not an integer"):
    multihost.distributed_args({**env, "JAX_NUM_PROCESSES": "two"})


def test_process_rows_single_process_is_whole_batch():
  import jax

  from llmjax.training import sharding
  from llmjax.config import MeshConfig
  mesh = sharding.make_mesh(MeshConfig(data=2, fsdp=2), jax.devices()[:4])
  rows = multihost.process_rows(sharding.batch_sharding(mesh, MeshConfig()), 8, 16)
  assert rows == slice(0, 8)
