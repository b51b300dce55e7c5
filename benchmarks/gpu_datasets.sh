#!/usr/bin/env bash
# Issue 20's dataset rows on a lent GPU, in one command (about 2 minutes on an H200 without Ray; Ray adds its start):
#   bash benchmarks/gpu_datasets.sh
# writes benchmarks/results/datasets_<gpu>.md with
#   - engines: xw.explain_dataset on 512 toy images, local against Ray at equal resources (one GPU: the local
#     engine against one GPU actor), I-GOS and Grad-CAM;
#   - gpu: ResNet-50 (random weights, 224²) I-GOS at defaults on 128 synthetic images through the local engine and
#     one Ray actor, images/s and the GPU's busy fraction (nvidia-smi utilization.gpu every 100 ms).
# The per-image time of the gpu rows is the I-GOS cost docs/scale.md projects from
# (python benchmarks/scale_simulation.py --igos-seconds <s>).
# Extra arguments go to benchmarks/run.py (e.g. --quick for a one-minute smoke run).
# The Ray rows need Ray on the machine: the lent machines have none and no network, and Ray's wheel (~70 MB) does
# not fit the 64 MiB a run may carry, so there they say "not measured".
set -euo pipefail
cd "$(dirname "$0")/.."
export RAY_AUTH_MODE=disabled
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # the package from this checkout, installed or not
# A bare GPU machine without a network: install the datasets extra from wheels carried with the working tree
# (benchmarks/out/wheels, git-ignored: pip download "pyarrow>=14" "zarr>=2.18" ... there). Ray is optional: without
# it the Ray rows say "not measured".
if ! python -c "import pyarrow, zarr" 2>/dev/null; then
  python -m pip install --quiet --no-index --find-links benchmarks/out/wheels "pyarrow>=14" "zarr>=2.18"
fi
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device: run benchmarks/run.py --only datasets'"
nvidia-smi --query-gpu=name,memory.total,utilization.gpu --format=csv
uptime
python benchmarks/run.py --only datasets --dataset-sections engines gpu "$@"
