#!/bin/sh
# Re-record the golden ipvsadm outputs: builds the LD_PRELOAD observation shim, boots
# the ip_vs guest and runs record_goldens.py in it (root; ~1 minute under TCG).
#   tests/unit/ipvs/golden/record.sh [tables|large-counters|connections]...
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../../.." && pwd)
so=/tmp/ipvs-golden-observe_shim.so
gcc -shared -fPIC -O2 -o "$so" "$here/observe_shim.c" -ldl
runner="$repo/scripts/ipvs-vm/run"
cd "$repo"
exec env OBSERVE_SHIM_SO="$so" "$runner" python3 "$here/record_goldens.py" "$@"
