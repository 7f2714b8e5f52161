#!/usr/bin/env bash
# GPU check (issue 14, `make gpu-check`): on a CUDA machine, ASR with large-v3 when its weights are cached
# (else the bundled tiny.en) on CUDA, one DermLIP epoch (ViT-B/16, bf16) on the sample export and zero-shot
# evaluation; prints the realtime factor, images/s and peak GPU memory (bench/gpu_check.py). About 8 minutes
# on one H100. Without CUDA it stops at once with exit status 2 and says why.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}" DO_NOT_TRACK=1 PREFECT_SERVER_ANALYTICS_ENABLED=false
if ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu-check: no CUDA GPU visible to torch ($("$PY" -c 'import torch; print(torch.__version__)')); run it on a CUDA machine with a CUDA build of torch" >&2
    exit 2
fi
exec timeout "${GPU_CHECK_TIMEOUT:-900}" "$PY" -m bench.gpu_check
