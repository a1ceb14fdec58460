#!/usr/bin/env bash
# Multi-worker data-parallel training (tf.distribute.MultiWorkerMirroredStrategy).
#
# Every worker runs the SAME `keras-cmod train` command; only TF_CONFIG
# differs (the cluster's host:port list and this worker's index). Worker 0
# is the chief: it alone writes checkpoints, logs and the final model into
# --output; the other workers write to a temporary folder that is deleted.
# Put --output on a filesystem shared by all hosts (NFS, GCS, ...): to
# resume, every worker reads the chief's latest checkpoint.
#
# The global --batch-size is split over all replicas (workers x local GPUs)
# and must be divisible by their number.
#
# Usage
#   One process per host (run this on each host, same --hosts list):
#     scripts/launch_multi_worker.sh --hosts node0:23456,node1:23456 \
#         --index 0 -- --recipe resnet34_cmod.in1k \
#         --manual-dir /data/ilsvrc --data-dir /shared/tfds \
#         --output /shared/runs/resnet34_cmod
#     (and --index 1 on node1, ...)
#
#   N workers on this machine (smoke test; free loopback ports):
#     scripts/launch_multi_worker.sh --local 2 -- --model resnet18_cmod.cifar10 \
#         --dataset synthetic --epochs 1 --steps-per-epoch 5 --batch-size 16 \
#         --output /tmp/mw_smoke
#
# Environment
#   PYTHON   interpreter with keras_cmod installed (default: python)
#   TIMEOUT  seconds before a worker is killed (default: none; a worker
#            whose peer died waits forever, so set it for smoke tests)
#
# Everything after `--` is passed to `keras-cmod train` (run here as
# `python -m keras_cmod.training.cli train`, the same entry point), with
# `--strategy multi_worker` added.
set -euo pipefail

PYTHON="${PYTHON:-python}"
TIMEOUT="${TIMEOUT:-}"
hosts=""
index=""
local_n=""

usage() { sed -n '2,40p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --hosts) hosts="$2"; shift 2 ;;
    --index) index="$2"; shift 2 ;;
    --local) local_n="$2"; shift 2 ;;
    -h|--help) usage 0 ;;
    --) shift; break ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
done

tf_config() {  # tf_config "h0:p,h1:p" INDEX
  "$PYTHON" - "$1" "$2" <<'PY'
import json, sys
workers = [h for h in sys.argv[1].split(",") if h]
print(json.dumps({"cluster": {"worker": workers},
                  "task": {"type": "worker", "index": int(sys.argv[2])}}))
PY
}

run_worker() {  # run_worker TF_CONFIG ARGS...
  local cfg="$1"; shift
  if [[ -n "$TIMEOUT" ]]; then
    TF_CONFIG="$cfg" timeout "$TIMEOUT" "$PYTHON" -m keras_cmod.training.cli \
      train --strategy multi_worker "$@"
  else
    TF_CONFIG="$cfg" "$PYTHON" -m keras_cmod.training.cli \
      train --strategy multi_worker "$@"
  fi
}

if [[ -n "$local_n" ]]; then
  ports=$("$PYTHON" - "$local_n" <<'PY'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(",".join(f"127.0.0.1:{s.getsockname()[1]}" for s in socks))
for s in socks:
    s.close()
PY
)
  pids=()
  trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
  for ((i = 0; i < local_n; i++)); do
    run_worker "$(tf_config "$ports" "$i")" "$@" &
    pids+=("$!")
  done
  status=0
  for p in "${pids[@]}"; do
    wait "$p" || status=$?
  done
  trap - EXIT
  exit "$status"
fi

if [[ -z "$hosts" || -z "$index" ]]; then
  echo "give --hosts H0:P,H1:P,... and --index I, or --local N" >&2
  exit 2
fi
run_worker "$(tf_config "$hosts" "$index")" "$@"
