#!/usr/bin/env bash
# One GPU node, all local GPUs data-parallel; extra --config.* overrides pass through.
# Usage: bash launch/gpu.sh --config.data.text_dir=/path/to/text
# One process drives every local GPU (the mesh's `data` axis spans them; FSDP / tensor
# parallel via --config.mesh.*). Several nodes: run this on each node with
# JAX_COORDINATOR_ADDRESS=<node0>:1234 JAX_NUM_PROCESSES=<nodes> JAX_PROCESS_ID=<rank>.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d .venv ]; then
  python3 -m venv .venv
  . .venv/bin/activate
  pip install -e ".[cuda]"
else
  . .venv/bin/activate
fi
# Let XLA use most of the GPU memory up front, and keep cuDNN attention on.
export XLA_PYTHON_CLIENT_MEM_FRACTION=${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.9}
exec python -m llmjax.train --config=configs/tatar_small.py "$@"
