#!/usr/bin/env bash
# Try multi-host training on one machine: N CPU processes on 127.0.0.1, each with its own
# simulated CPU devices, joined through jax.distributed exactly as hosts of a pod are.
#   bash launch/local_multiprocess.sh 2 --config=configs/tiny.py --config.workdir=runs/mp
# The losses equal a one-process run with the same global batch (tests/test_multihost.py).
set -euo pipefail
N=${1:?usage: launch/local_multiprocess.sh NUM_PROCESSES --config=... [--config.*=...]}
shift
cd "$(dirname "$0")/.."
PORT=${PORT:-$((20000 + RANDOM % 20000))}
export JAX_PLATFORMS=cpu JAX_COORDINATOR_ADDRESS=127.0.0.1:$PORT JAX_NUM_PROCESSES=$N
export XLA_FLAGS="--xla_force_host_platform_device_count=${LOCAL_DEVICES:-1}"
pids=()
for ((i = 0; i < N; i++)); do
  JAX_PROCESS_ID=$i python -m llmjax.train "$@" &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
exit $status
