#!/usr/bin/env bash
# Train on a multi-host Cloud TPU pod slice (v4-32, v5litepod-16, ...): one llmjax process
# per host, started on all hosts at once with --worker=all. Run from your machine, in the
# repository root; needs the gcloud CLI and a Cloud Storage bucket.
#
#   TPU_NAME=llmjax-pod ZONE=us-central2-b ACCELERATOR=v4-32 RUNTIME=tpu-ubuntu2204-base \
#   BUCKET=my-bucket TEXT_DIR=/path/to/your/txt bash launch/tpu_pod.sh [--config.*=...]
#
# Every host runs the same command with LLMJAX_DISTRIBUTED=auto: the training loop calls
# jax.distributed.initialize(), which finds the other hosts from the TPU metadata. Each
# process loads only its rows of every global batch. The workdir (checkpoints, written by
# all hosts together; logs, written by host 0) must be the SAME folder on every host: the
# bucket is mounted with gcsfuse at /mnt/llmjax on each one.
set -euo pipefail
: "${TPU_NAME:?set TPU_NAME}" "${ZONE:?set ZONE}" "${BUCKET:?set BUCKET (a gs:// bucket name, without gs://)}"
: "${TEXT_DIR:?set TEXT_DIR (folder of *.txt)}"
ACCELERATOR=${ACCELERATOR:-v4-32}
RUNTIME=${RUNTIME:-tpu-ubuntu2204-base}
CONFIG=${CONFIG:-configs/tatar_small.py}
RUN=${RUN:-tatar_small}
cd "$(dirname "$0")/.."
. launch/tpu_common.sh

tpu_create_if_absent
# Install on every host, and mount the bucket at the same path everywhere.
tpu_copy_and_install "if ! mountpoint -q /mnt/llmjax; then
    command -v gcsfuse >/dev/null || { sudo apt-get update -q && sudo apt-get install -yq gcsfuse; }
    sudo mkdir -p /mnt/llmjax && sudo chown \$USER /mnt/llmjax
    gcsfuse --implicit-dirs $BUCKET /mnt/llmjax
  fi"
# The same command on all hosts at once; host 0 prints the log.
tpu ssh "$TPU_NAME" --worker=all --command="cd llmjax && . .venv/bin/activate &&
  LLMJAX_DISTRIBUTED=auto python -m llmjax.train --config=$CONFIG \
    --config.workdir=/mnt/llmjax/$RUN --config.data.text_dir=\$HOME/text $*"
echo "done: the run is in gs://$BUCKET/$RUN (checkpoints/, best/, metrics.jsonl)."
echo "Delete the slice when finished: gcloud compute tpus tpu-vm delete $TPU_NAME --zone=$ZONE"
