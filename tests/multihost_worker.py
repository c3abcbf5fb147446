"""One process of tests/training/test_multihost.py: python -m tests.multihost_worker '<spec json>'.

spec: local_devices, num_processes, process_id, port, overrides (micro_config keyword
arguments), stop_after. Prints one JSON line: process index / count, devices, history.
"""

import json
import os
import sys


def main() -> None:
  spec = json.loads(sys.argv[1])
  os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={spec['local_devices']}"
  os.environ["JAX_PLATFORMS"] = "cpu"
  if spec["num_processes"] > 1:
    os.environ.update(JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{spec['port']}",
                      JAX_NUM_PROCESSES=str(spec["num_processes"]),
                      JAX_PROCESS_ID=str(spec["process_id"]))
  import jax  # noqa: PLC0415 (after the environment is set)

  from llmjax import evals  # noqa: PLC0415
  from llmjax.training import loop  # noqa: PLC0415
  from tests.helpers import micro_config  # noqa: PLC0415

  cfg, d = micro_config(**spec["overrides"])
  result = loop.train(cfg, d, evals.for_training(cfg), stop_after=spec.get("stop_after"))
  print(json.dumps({"process": jax.process_index(), "processes": jax.process_count(),
                    "devices": jax.device_count(), "step": result.step,
                    "history": result.history}), flush=True)


if __name__ == "__main__":
  main()
