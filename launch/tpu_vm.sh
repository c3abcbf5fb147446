#!/usr/bin/env bash
# Train on ONE Cloud TPU VM (a single host: v4-8, v5litepod-8, v6e-8, ...). Run from your
# machine, in the repository root; needs the gcloud CLI, logged in, with a project set.
#
#   TPU_NAME=llmjax-1 ZONE=us-central1-a ACCELERATOR=v5litepod-8 \
#   TEXT_DIR=/path/to/your/txt bash launch/tpu_vm.sh --config.train.total_steps=2000
#
# Steps: create the VM if it does not exist; copy this checkout and TEXT_DIR to it; install
# llmjax with the TPU extra; train with configs/tatar_small.py (CONFIG=... to change) in
# the foreground. Extra arguments are --config.* overrides. One process drives all local
# TPU chips, so no jax.distributed is needed.
set -euo pipefail
: "${TPU_NAME:?set TPU_NAME}" "${ZONE:?set ZONE}" "${TEXT_DIR:?set TEXT_DIR (folder of *.txt)}"
ACCELERATOR=${ACCELERATOR:-v5litepod-8}
RUNTIME=${RUNTIME:-v2-alpha-tpuv5-lite}  # the TPU software version for ACCELERATOR
CONFIG=${CONFIG:-configs/tatar_small.py}
WORKDIR=${WORKDIR:-runs/tpu}
cd "$(dirname "$0")/.."
. launch/tpu_common.sh

tpu_create_if_absent
tpu_copy_and_install
tpu ssh "$TPU_NAME" --worker=all --command="cd llmjax && . .venv/bin/activate &&
  python -m llmjax.train --config=$CONFIG --config.workdir=$WORKDIR \
    --config.data.text_dir=\$HOME/text $*"
echo "done. Copy the run back with:"
echo "  gcloud compute tpus tpu-vm scp --recurse $TPU_NAME:~/llmjax/$WORKDIR . --zone=$ZONE"
echo "and delete the VM when finished: gcloud compute tpus tpu-vm delete $TPU_NAME --zone=$ZONE"
