#!/usr/bin/env bash
# GPU check, run on a machine with an NVIDIA GPU and PyTorch but no Rust: the
# `throughput` example built elsewhere with `--features tch` (docs/gpu.md: "GPU and libtorch
# backends") on the GPU through libtorch, next to PyTorch on the same GPU, at the CPU table's
# shape and at a GPU-sized one.
#   experiments/gpu_check.sh [path/to/throughput] [backend: tch-cuda | cuda]   (results also in $OUT)
set -u
bin=${1:-.gpu/throughput}
backend=${2:-tch-cuda}
out=${OUT:-/tmp/distiller-gpu-check}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
torch_dir=$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))')
python3 -c 'import torch; print("python torch", torch.__version__, torch.version.cuda)' | tee -a "$out/gpu.txt"
export LD_LIBRARY_PATH="$torch_dir/lib:${LD_LIBRARY_PATH:-}"
# burn's cubecl `cuda` backend compiles kernels with NVRTC and needs the CUDA headers.
nvcc_path=$(command -v nvcc || ls /usr/local/cuda*/bin/nvcc 2>/dev/null | head -1)
[ -n "$nvcc_path" ] && export CUDA_PATH=${CUDA_PATH:-$(dirname "$(dirname "$nvcc_path")")}
for shape in "32 64" "256 128"; do
    set -- $shape
    echo "== batch $1, seq $2"
    DISTILLER_BENCH_BATCH=$1 DISTILLER_BENCH_SEQ=$2 DISTILLER_BENCH_ITERS=20 DISTILLER_BENCH_BACKENDS=$backend \
        DISTILLER_BENCH_TORCH_DEVICE=cuda timeout 240 "$bin" 2>&1 | tee "$out/throughput-$1x$2.txt"
    if [ "${PIPESTATUS[0]}" != 0 ]; then
        echo "(our binary failed; PyTorch alone for reference)"
        python3 experiments/pytorch_reference.py --device cuda --batch "$1" --seq "$2" --iters 20 2>&1 | tee -a "$out/throughput-$1x$2.txt"
    fi
done
