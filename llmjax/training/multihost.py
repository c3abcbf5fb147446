"""Multi-process (multi-host) runs: joining `jax.distributed`, and each process's rows.

Every process runs the same program. They agree on one global sequence of batches: the
grain iterator shuffles and batches all packed rows with the same seed in every process,
and each process keeps only the rows its devices hold (`make_array_from_process_local_data`
then assembles the global batch). So the batches — and the losses — do not depend on how
many processes there are, and the iterator state in a checkpoint is the same for every
process: a run checkpointed by N processes resumes on M.
"""

from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import Sharding

from llmjax.errors import ConfigError

# Launchers set these (see launch/README.md). JAX_COORDINATOR_ADDRESS is also read by
# jax itself; the process count and id are ours to pass on.
COORDINATOR, NUM_PROCESSES, PROCESS_ID = (
    "JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID")
AUTO = "LLMJAX_DISTRIBUTED"  # "auto": JAX detects the cluster (Cloud TPU pod, SLURM, MPI)


def distributed_args(env: dict[str, str] | None = None) -> dict | None:
  """jax.distributed.initialize keyword arguments from the environment; None = one process.

  JAX_COORDINATOR_ADDRESS=host:port with JAX_NUM_PROCESSES and JAX_PROCESS_ID: explicit
  (multi-GPU nodes, CPU tests). LLMJAX_DISTRIBUTED=auto: let JAX detect everything.
  """
  env = os.environ if env is None else env
  address = env.get(COORDINATOR, "")
  if not address:
    if env.get(AUTO, "") == "auto":
      return {}
    return None
  args: dict = {"coordinator_address": address}
  for name, key in ((NUM_PROCESSES, "num_processes"), (PROCESS_ID, "process_id")):
    if env.get(name, "") != "":
      try:
        args[key] = int(env[name])
      except ValueError:
        raise ConfigError(f"{name}={env[name]!r} is not an integer") from None
  if ("num_processes" in args) != ("process_id" in args):
    raise ConfigError(f"set both {NUM_PROCESSES} and {PROCESS_ID} (or neither, to let JAX "
                      "detect them) together with JAX_COORDINATOR_ADDRESS")
  if "num_processes" in args and not 0 <= args["process_id"] < args["num_processes"]:
    raise ConfigError(f"{PROCESS_ID}={args['process_id']} is out of range for "
                      f"{NUM_PROCESSES}={args['num_processes']}")
  return args


def maybe_initialize_distributed() -> bool:
  """Joins the multi-process run the launcher asked for (before any other JAX call).

  Returns True when this call joined one. On CPU the processes talk over gloo (JAX's
  default `jax_cpu_collectives_implementation`).
  """
  args = distributed_args()
  if args is None or jax.distributed.is_initialized():
    return False
  jax.distributed.initialize(**args)
  return True


def process_rows(batch_sharding: Sharding, global_batch_size: int, seq_len: int) -> slice:
  """The rows of every global [B, T] batch that this process's devices hold."""
  index_map = batch_sharding.addressable_devices_indices_map((global_batch_size, seq_len))
  rows = np.zeros(global_batch_size, bool)
  for index in index_map.values():
    rows[index[0]] = True
  held = np.flatnonzero(rows)
  lo, hi = int(held[0]), int(held[-1]) + 1
  if hi - lo != held.size:
    raise ConfigError("this process's devices hold non-contiguous rows of the batch; "
                      "order the mesh so each process's devices are adjacent")
  return slice(lo, hi)

