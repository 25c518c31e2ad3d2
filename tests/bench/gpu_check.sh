#!/usr/bin/env bash
# The GPU check (issue 45): every CUDA path and the GPU targets in one run of <= 6 minutes.
#
#   tests/bench/gpu_check.sh OUTDIR              # on a GPU machine, from the checkout's root
#   tests/bench/gpu_check.sh OUTDIR --rehearse   # the same steps on the CPU at tiny sizes
#
# Needs only the checkout: wheels/ (tests/bench/fill_wheels.py fills it) holds the packages
# the GPU machine lacks, installed into $SITE with no network; gpu-data/ holds MNIST's two
# training IDX .gz files (DATA=dir to read others). Each step has its own timeout and writes
# OUTDIR/<step>.log, its line in OUTDIR/steps.txt and its figures in OUTDIR/results.jsonl as it
# ends, so a run cut off early still returns what it measured. See docs/development.md.
set -u
OUT=${1:?usage: gpu_check.sh OUTDIR [--rehearse]}
REHEARSE=${2:-}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-python3}  # the GPU machine's; the rehearsal's default: the checkout's .venv
[ "$REHEARSE" = "--rehearse" ] && [ -z "${PYTHON:-}" ] && [ -x "$ROOT/.venv/bin/python" ] \
    && PY=$ROOT/.venv/bin/python
DATA=${DATA:-$ROOT/gpu-data}
SITE=${SITE:-/tmp/kagdigits-site}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
cd "$ROOT" || exit 1
export PYTHONUNBUFFERED=1 MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296

if [ "$REHEARSE" = "--rehearse" ]; then
    R=--rehearse DEV=cpu
    # step: timeout seconds (the rehearsal's)
    T_TESTS=60 T_SPEED=60 T_FIT=60 T_ENSEMBLE=60 T_PREDICT=60
    SPEED="--models lenet5 --predict-models none --images 256 --epochs 1 --repeats 1 --csv-rows 0 --threads 1"
    TESTS="tests/models/test_graphs.py"
else
    R= DEV=cuda
    T_TESTS=120 T_SPEED=60 T_FIT=75 T_ENSEMBLE=60 T_PREDICT=25
    SPEED="--models lenet5 kagglecnn --predict-models lenet5 --epochs 1 --repeats 2 --csv-rows 0"
    TESTS="tests/models tests/runs"
fi

step() {  # step NAME TIMEOUT COMMAND...: run it, log it, record its end in steps.txt
    local name=$1 limit=$2 start rc
    shift 2
    start=$(date +%s)
    timeout --kill-after=5 "$limit" "$@" >"$OUT/$name.log" 2>&1
    rc=$?
    echo "$name rc=$rc seconds=$(($(date +%s) - start)) limit=$limit" | tee -a "$OUT/steps.txt"
}

: >"$OUT/steps.txt"
: >"$OUT/results.jsonl"
{ date -u; uname -a; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 \
  || echo "no nvidia-smi"; } >"$OUT/machine.txt"

# 0. What the machine lacks, from wheels/ (no network; their own versions of the rest stay).
# (find_spec, not import: the kaggle package exits at import without credentials)
if ! "$PY" -c "import importlib.util as u, sys; sys.exit(any(u.find_spec(m) is None for m in
        ('skorch', 'mlxtend', 'kaggle', 'dask', 'fastapi', 'sybil')))" 2>/dev/null; then
    step install 60 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --upgrade --target "$SITE" wheels/*.whl
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
"$PY" -c "import torch, kagdigits; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" \
    >>"$OUT/machine.txt" 2>&1

# 1. The 42,000-row split, straight from the IDX files.
step split 30 "$PY" tests/bench/gpu_steps.py split "$DATA" "$OUT" $R
# 2. Every CUDA test (pytest -m cuda), a stacked bf16 allcnn and wrn ensemble among them.
step tests "$T_TESTS" "$PY" -m pytest -p no:cacheprovider -m cuda -q $TESTS
# 3. The estimator's epoch against a plain fp32 loop, and lenet5's prediction.
step speed "$T_SPEED" "$PY" tests/bench/speed.py --device "$DEV" $SPEED
# 4. The kagglecnn default fit on the split.
step fit "$T_FIT" "$PY" tests/bench/gpu_steps.py fit "$OUT" $R
# 5. The 15-member ensemble over 3 epochs, extrapolated; its prediction of 28,000 images.
step ensemble "$T_ENSEMBLE" "$PY" tests/bench/gpu_steps.py ensemble "$OUT" $R
# 6. lenet5 predicting 28,000 images.
step predict "$T_PREDICT" "$PY" tests/bench/gpu_steps.py predict "$OUT" $R
echo "done: $OUT/steps.txt, $OUT/results.jsonl"
