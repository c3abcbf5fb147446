# Sourced by tpu_vm.sh and tpu_pod.sh (not run on its own). Needs TPU_NAME, ZONE,
# ACCELERATOR, RUNTIME and TEXT_DIR; run from the repository root.

tpu() { gcloud compute tpus tpu-vm "$@" --zone="$ZONE"; }

# Creates the TPU VM / pod slice unless it exists already.
tpu_create_if_absent() {
  if ! tpu describe "$TPU_NAME" >/dev/null 2>&1; then
    tpu create "$TPU_NAME" --accelerator-type="$ACCELERATOR" --version="$RUNTIME"
  fi
}

# Copies the git-tracked source and TEXT_DIR to every host (~/llmjax, ~/text) and installs
# llmjax with the TPU extra in ~/llmjax/.venv. $1: more shell commands to run there after.
tpu_copy_and_install() {
  git ls-files -z | tar --null -T - -czf /tmp/llmjax-src.tgz
  tar -C "$TEXT_DIR" -czf /tmp/llmjax-text.tgz .
  tpu scp /tmp/llmjax-src.tgz /tmp/llmjax-text.tgz "$TPU_NAME":~/ --worker=all
  tpu ssh "$TPU_NAME" --worker=all --command="set -e
    mkdir -p llmjax text && tar -xzf llmjax-src.tgz -C llmjax && tar -xzf llmjax-text.tgz -C text
    cd llmjax && python3 -m venv .venv && . .venv/bin/activate && pip install -q -e '.[tpu]'
    ${1:-}"
}
