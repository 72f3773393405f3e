#!/bin/bash
# `opinion bench` on an offline GPU host, from the repo root, with a bundle made by pack.py:
#   bash benchmarks/offline_host/run.sh BUNDLE
# Results go to $OUT (default ./offline-results): the JSON of each bench is written after
# each phase, so a run stopped at a time limit keeps what it measured.
# SIM=1: rehearsal on this machine (no pip, no nvidia-smi; PY and PYTHONPATH from the caller).
# Knobs: T1/T2 (time limits, s), W1/W2 (layouts), N1/N2 (posts per run; <= 19,000 so no text
# repeats within a run), LS (latency seconds), NN (naive messages), EXTRA1 (more bench flags).
set -u
BUNDLE=$(cd "${1:?usage: run.sh BUNDLE}" && pwd)
OUT=${OUT:-$PWD/offline-results}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
exec > >(tee -a "$OUT/run.log") 2>&1
PY=${PY:-python3}
date -u; nproc; free -g | head -2
if [ -z "${SIM:-}" ]; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  lscpu | grep -i "model name"
  S=/tmp/opinion-site
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target $S "$BUNDLE"/whl/*.whl || { echo "pip failed"; exit 1; }
  cp -r "$BUNDLE"/pkgs/* $S/
  $PY benchmarks/offline_host/unpack.py "$BUNDLE" $S "$PWD" || exit 1
  export PYTHONPATH=$S:$PWD CALF_TANSU_BIN=$BUNDLE/bin/tansu
  (while sleep 2; do echo "$(date -u +%T), $(nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader)"; done > "$OUT/gpu-util.csv") &
fi
export OPINION_BENCH_FEED_FILE=$BUNDLE/blobs/feed.jsonl.xz
$PY -c "import torch, transformers, faust, aiokafka; print('torch', torch.__version__, 'transformers', transformers.__version__, torch.cuda.is_available() and torch.cuda.get_device_name(0))" || exit 1
$PY -m pipeline.cli bench --help > /dev/null || { echo "the bench command is missing"; exit 1; }
COMMON="--no-multilingual --declared-lang-only"
echo "== 1: the default model, workers per GPU"; date -u
OPINION_INPUT_PARTITIONS=16 OPINION_BATCH_MAX_SIZE=256 timeout ${T1:-330} $PY -m pipeline.cli bench $COMMON \
  --messages ${N1:-18000} --repeats 2 --workers ${W1:-1x2,2x2,4x2,8x1} --latency-loads 0.5 --latency-seconds ${LS:-8} \
  --naive-messages ${NN:-500} ${EXTRA1:-} --label gpu-default --out "$OUT/gpu-default.json" > "$OUT/gpu-default.txt"
echo "rc=$?"; cat "$OUT/gpu-default.txt"; date -u
echo "== 2: the null model (this host's pipeline ceiling)"
OPINION_INPUT_PARTITIONS=16 timeout ${T2:-150} $PY -m pipeline.cli bench --model null $COMMON \
  --messages ${N2:-18000} --repeats 2 --workers ${W2:-1x1,4x1,8x1} --label gpu-host-null --out "$OUT/gpu-host-null.json" > "$OUT/gpu-host-null.txt"
echo "rc=$?"; cat "$OUT/gpu-host-null.txt"; date -u
