#!/usr/bin/env bash
# The GPU check of the speed options (issue 15): at most 8 minutes on an H200, run from the repository root.
#
#   1. per-step speed at full size (the A14B expert pair, random bf16 weights, 704x480x81): the baseline
#      (two guidance passes, native attention) against regional compile, batched guidance and int8 weights, and the best
#      of them - few steps, since one baseline step is two expert calls of about 3.9 PFLOP each;
#   2. memory at full size: group offload (one block on the GPU at a time, copied ahead on a side stream)
#      with int8 experts, 2 steps: the peak GPU memory of a run.
#
# Caches pay off per video only over many steps (they start reusing after a warm-up share of each expert's
# steps); a 50-step full-size baseline alone outlasts this budget, so the cache figures at full size need a
# run of their own (generate_speed.py --full --configs baseline first-block taylorseer mag).
#
# Environment: PYTHON (default python) with facecam's dependencies; torchao for the int8 rows (without it
# they are skipped and the output says so); STEPS (default 3).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
STEPS=${STEPS:-3}
OUT=${OUT:-/tmp}

echo "gpu_check $(date -u +%Y-%m-%dT%H:%M:%SZ)"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$PY" -c "import torch, diffusers; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'diffusers', diffusers.__version__)"
"$PY" -c "import torchao; print('torchao', torchao.__version__)" 2>/dev/null || echo "torchao: not installed (int8 rows skipped)"

echo "== 1. speed per step at full size ($STEPS steps)"
timeout 300 "$PY" benchmarks/generate_speed.py --full --steps "$STEPS" --configs baseline compile batch-guidance int8 best \
    --json "$OUT/gpu_check_speed.json" || echo "stage 1 failed or timed out (exit $?)"

echo "== 2. peak GPU memory with group offload + int8 (2 steps)"
timeout 150 "$PY" benchmarks/generate_speed.py --full --steps 2 --configs baseline offload-group+int8 \
    --json "$OUT/gpu_check_memory.json" || echo "stage 2 failed or timed out (exit $?)"
echo "gpu_check done $(date -u +%Y-%m-%dT%H:%M:%SZ)"
