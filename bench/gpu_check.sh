#!/usr/bin/env bash
# The prepared GPU check, for a session lent a GPU machine (the `device` tool: bare, no package
# registries). Here, once:   bash bench/gpu_wheels.sh     (downloads what that machine lacks into .whl/)
# Then one device call:       run(command="bash bench/gpu_check.sh", carry=[".whl"], timeout_s=540)
# It installs the carried wheels into /tmp/site, puts lib/ on the path and runs bench/gpu_check.py,
# whose table lands in $OUT (gpu_check.csv, gpu_check.md) and in the output. Extra arguments go to it.
set -uo pipefail
cd "$(dirname "$0")/.."
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD/lib:${PYTHONPATH:-} PYTHONUNBUFFERED=1 RLSHIFT_CACHE_DIR=/tmp/rlshift_cache
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 bench/gpu_check.py --out "${OUT:-gpu_check_out}" "$@" 2>&1 | tee "${OUT:-gpu_check_out}.log"
