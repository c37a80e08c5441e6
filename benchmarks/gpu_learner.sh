#!/usr/bin/env bash
# The GPU learner on a CUDA machine in < 4 minutes: the CUDA-only learner test (GPU loss and gradients match the
# CPU learner's; CPU actors play with its weights), then learner samples/s on cuda vs cpu (fp32 and bf16 encoders,
# 2,048-sample updates: 64 games x 32 steps, as RL), and on cuda with 8,192-sample updates (256 games). Run from anywhere:
#   PYTHON=/path/to/venv/bin/python bash benchmarks/gpu_learner.sh [OUT_DIR]   (default OUT_DIR: $OUT or runs/gpu)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-runs/gpu}}"
py="${PYTHON:-python}"
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" OMP_NUM_THREADS=1 RAY_USAGE_STATS_ENABLED=0
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$out/gpu.txt"
timeout 150 "$py" -m pytest -q -p no:cacheprovider tests/test_rl_learner.py -k cuda 2>&1 | tee "$out/test.txt"
timeout 180 "$py" benchmarks/rl.py --learner-only --learner-devices cpu cuda --precisions fp32 bf16 \
    --learner-threads 2 --updates 5 --out "$out/learner_2048.json" 2>&1 | tee "$out/learner_2048.txt"
timeout 120 "$py" benchmarks/rl.py --learner-only --learner-devices cuda --precisions fp32 bf16 --envs 256 \
    --updates 5 --out "$out/learner_8192.json" 2>&1 | tee "$out/learner_8192.txt"
