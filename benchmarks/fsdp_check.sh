#!/usr/bin/env bash
# The GPU check of sharded training (issue 16, item 7), run from the repository root on a machine with
# at least 2 GPUs; a few minutes. NEVER RUN YET (no multi-GPU machine here): the same path runs with 2 CPU
# processes in tests/test_train_fsdp.py.
#
#   1. the shipped accelerate_fsdp.yaml (FSDP2, bf16, main process loads alone) on the tiny model, 2 steps
#      with a checkpoint each, then resumed to 3 steps (validation render included);
#   2. the same 3 steps straight, for the resume comparison;
#   3. checks: metrics.csv rows, a trained-only checkpoint (trainable/ + base.json, no whole-model files),
#      the resumed and the straight run's losses and exported weights equal.
#
# Environment: PYTHON (default python) with facecam's training dependencies; GPUS (default 2); OUT (default /tmp).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
GPUS=${GPUS:-2}
OUT=${OUT:-/tmp}/fsdp_check
rm -rf "$OUT"
CONFIG=$("$PY" -m facecam train --accelerate-config fsdp)

echo "fsdp_check $(date -u +%Y-%m-%dT%H:%M:%SZ)"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
"$PY" -c "import torch, accelerate; print('torch', torch.__version__, 'accelerate', accelerate.__version__)"

train() {  # OUTPUT MAX_STEPS
    timeout 300 "$PY" -m accelerate.commands.launch --config_file "$CONFIG" --num_processes "$GPUS" \
        -m facecam train --config tiny --output "$1" --max-steps "$2" || echo "training $1 to $2 steps failed (exit $?)"
}
echo "== 1. FSDP2, 2 steps then resumed to 3"
train "$OUT/resumed" 2
train "$OUT/resumed" 3
echo "== 2. FSDP2, 3 steps straight"
train "$OUT/straight" 3

echo "== 3. checks"
"$PY" - "$OUT" <<'EOF'
import csv, sys
from pathlib import Path

import torch
from safetensors.torch import load_file

out = Path(sys.argv[1])
export = "export/wan2.2_14b/high/released_version/model.safetensors"
losses = {name: [float(r["loss"]) for r in csv.DictReader(open(out / name / "metrics.csv"))]
          for name in ("resumed", "straight")}
print("losses", losses)
ckpt = out / "resumed" / "checkpoints" / "step-00000003"
files = sorted(p.name for p in ckpt.iterdir())
print("checkpoint", files)
ok = (ckpt / "trainable").is_dir() and (ckpt / "base.json").is_file() \
    and not any(f.startswith(("pytorch_model_fsdp", "optimizer")) for f in files)
a, b = (load_file(str(out / name / export)) for name in ("resumed", "straight"))
diff = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
print("trained-only checkpoint", ok, "| losses equal", losses["resumed"] == losses["straight"],
      "| max export difference", diff)
EOF
echo "fsdp_check done $(date -u +%Y-%m-%dT%H:%M:%SZ)"
