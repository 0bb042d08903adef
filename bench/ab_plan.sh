#!/bin/bash
# Interleaved no-op plans of two checkouts against one fast fake: what the README's
# "pairs" are. Each checkout runs its own code (`python -m reconciler` from its directory)
# with this checkout's .venv.
#
# usage: bench/ab_plan.sh DIR_A DIR_B RUNS MANIFESTS
#   MANIFESTS: a bench manifest directory, e.g. WORK/n2000/fake/manifests after
#   `bench/run.py --sizes 2000 --targets fake --skip drift --repeat 1 --work WORK`
# prints one line per plan: DIR wall user sys (seconds), sorted by directory
set -eu
A=$(realpath "$1"); B=$(realpath "$2"); RUNS=${3:-5}; SOURCE=$(realpath "$4")
HERE=$(realpath "$(dirname "$0")/..")
PY="$HERE/.venv/bin/python"
PORT=$($PY -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
DATA=$(mktemp -d); M=$(mktemp -d)
(cd "$HERE" && exec $PY bench/fast_fake.py --port "$PORT" --data "$DATA" > "$DATA.log" 2>&1) &
FAKE=$!
trap 'kill $FAKE 2>/dev/null; rm -rf "$DATA" "$M" "$DATA.log"' EXIT
for _ in $(seq 50); do $PY -c "import socket;socket.create_connection(('127.0.0.1',$PORT),1)" 2>/dev/null && break; sleep 0.2; done
eval "$(cd "$HERE" && $PY -c "
from reconciler.providers.sandboxes import environment
for k, v in environment('http://127.0.0.1:$PORT').items(): print(f'export {k}={v!r}')")"
cp -r "$SOURCE"/. "$M"/; rm -rf "$M/state"
export NO_COLOR=1; unset PYTHONDONTWRITEBYTECODE
(cd "$A" && $PY -m reconciler apply "$M" --auto-approve > /dev/null)
for d in "$A" "$B"; do (cd "$d" && $PY -m reconciler plan "$M" > /dev/null); done  # each its bytecode
for _ in $(seq "$RUNS"); do
  for d in "$A" "$B"; do
    (cd "$d" && /usr/bin/time -f "$d %e %U %S" $PY -m reconciler plan "$M" > /dev/null)
  done
done 2>&1 | sort
