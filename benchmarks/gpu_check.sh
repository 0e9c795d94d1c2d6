#!/usr/bin/env bash
# The GPU check of the speed options (issue 15), sized for a 15-minute lease on one H200; run from the
# repository root. One process, each configuration's row printed as soon as it is measured:
#
#   per-step speed and peak GPU memory of the full-size A14B expert pair (random bf16 weights, 704x480x81):
#   the baseline (two guidance passes, native attention, everything on the GPU) against batched guidance,
#   regional compile, int8 weights, group offload (one block on the GPU at a time, the next copied on a side
#   stream) with and without int8, and the best of the speed options composed. One baseline step is two
#   expert calls of about 3.9 PFLOP each, so STEPS is small (default 2: the second step is the one timed)
#   and no configuration starts after BUDGET seconds (default 380); the rest are listed as skipped.
#
# Caches pay off per video only over many steps (they start reusing after a warm-up share of each expert's
# steps); a 50-step full-size baseline alone outlasts this budget, so the cache figures at full size need a
# run of their own (generate_speed.py --full --configs baseline first-block taylorseer mag).
#
# Environment: CONFIGS (generate_speed.py's configuration names) replaces the list above; PYTHON (default
# python3) with torch; diffusers and torchao are installed from ./.whl when
# present (the lent machine has no registry: wheels are carried), else taken from the environment;
# without torchao the int8 rows are skipped and the output says so. OUT (default /tmp) receives the JSON.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
STEPS=${STEPS:-2}
BUDGET=${BUDGET:-380}
CONFIGS=${CONFIGS:-baseline batch-guidance compile offload-group+int8 int8 offload-group best}
OUT=${OUT:-/tmp}
if compgen -G ".whl/*.whl" > /dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        || { echo "gpu_check: installing the carried wheels failed"; exit 1; }
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

echo "gpu_check $(date -u +%Y-%m-%dT%H:%M:%SZ)"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader
free -g | sed -n 2p
"$PY" -c "import torch, diffusers; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'diffusers', diffusers.__version__)" \
    || { echo "gpu_check: torch or diffusers does not import"; exit 1; }
"$PY" -c "import torchao; print('torchao', torchao.__version__)" 2>/dev/null || echo "torchao: not installed (int8 rows skipped)"

"$PY" benchmarks/generate_speed.py --full --steps "$STEPS" --warmup-steps 1 --budget "$BUDGET" \
    --configs $CONFIGS \
    --json "$OUT/gpu_check_speed.json" 2> >(grep -v -E "_pytree|Failed to load|Unable to import .torchao" >&2)
echo "gpu_check done (exit $?) $(date -u +%Y-%m-%dT%H:%M:%SZ)"
