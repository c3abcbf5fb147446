#!/usr/bin/env bash
# A student's first run, re-created: a copy of the repository in a temp folder with no
# ../shared beside it, an empty HOME (so every cache starts empty) and a Leipzig mirror on
# 127.0.0.1 serving tat_mixed_2015_1M in the exact upstream layout (built from the
# development text, which never leaves this machine). Then the README's main command, twice.
#   bash reports/first_run/run.sh [OUT]     # OUT: where the logs go (default /tmp/first_run)
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
OUT="${1:-/tmp/first_run}"
TMP="$(mktemp -d)"
rm -rf "$OUT" && mkdir -p "$OUT"
mkdir -p "$TMP/clone" && cp -r "$REPO/llmjax" "$REPO/configs" "$TMP/clone/"
test ! -e "$TMP/shared"
PY="$REPO/.venv/bin/python"
# The mirror: one archive built from the development training text (id<TAB>sentence lines).
PYTHONPATH="$REPO" "$PY" - "$TMP/mirror.port" <<'PYEOF' &
import pathlib, sys, time
from llmjax import paths
from tests.leipzig_mirror import Mirror, archive
lines = [l for f in sorted(paths.dev_train_dir().glob("*.txt"))
         for l in f.read_text(encoding="utf-8").splitlines() if l.strip()]
m = Mirror()
m.add("tat_mixed_2015_1M", archive("tat_mixed_2015_1M", lines))
pathlib.Path(sys.argv[1]).write_text(m.base)
time.sleep(36000)
PYEOF
MIRROR_PID=$!
trap 'kill $MIRROR_PID 2>/dev/null; rm -rf "$TMP"' EXIT
while [ ! -s "$TMP/mirror.port" ]; do sleep 1; done
run() {  # the main command, from the copy, with nothing of the developer's environment
  (cd "$TMP/clone" && env -u LLMJAX_TEXT_DIR -u LLMJAX_EVAL_DIR -u LLMJAX_CACHE -u LLMJAX_DEV_DATA \
    -u PYTHONPATH HOME="$TMP/home" LLMJAX_LEIPZIG_URL="$(cat "$TMP/mirror.port")" \
    /usr/bin/time -v "$PY" -m llmjax.train --config=configs/tatar_small.py "$@")
}
run --config.train.total_steps=3 > "$OUT/first.log" 2> "$OUT/first.stderr"
run --config.train.total_steps=4 > "$OUT/second.log" 2> "$OUT/second.stderr"
grep -h "Maximum resident\|Elapsed (wall" "$OUT"/*.stderr
