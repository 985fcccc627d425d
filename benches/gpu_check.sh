#!/usr/bin/env bash
# GPU check (issue #8), run on a machine with an NVIDIA GPU, CUDA and PyTorch but no Rust: the
# `throughput` example built elsewhere with the `cuda` feature (see README, "GPU backends") next
# to PyTorch on the same GPU, at the CPU table's shape and at a GPU-sized one.
#   benches/gpu_check.sh [path/to/throughput]      (results also under $OUT when set)
set -u
bin=${1:-.gpu/throughput}
out=${OUT:-/tmp/distiller-gpu-check}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
nvcc_path=$(command -v nvcc || ls /usr/local/cuda*/bin/nvcc 2>/dev/null | head -1)
# cubecl compiles its kernels with NVRTC at run time and needs the CUDA headers and libraries.
export CUDA_PATH=${CUDA_PATH:-$(dirname "$(dirname "$nvcc_path")")}
export LD_LIBRARY_PATH="$CUDA_PATH/lib64:$CUDA_PATH/targets/x86_64-linux/lib:/usr/local/nvidia/lib64:${LD_LIBRARY_PATH:-}"
echo "CUDA_PATH=$CUDA_PATH"
for shape in "32 64" "256 128"; do
    set -- $shape
    echo "== batch $1, seq $2"
    DISTILLER_BENCH_BATCH=$1 DISTILLER_BENCH_SEQ=$2 DISTILLER_BENCH_ITERS=20 DISTILLER_BENCH_BACKENDS=cuda \
        DISTILLER_BENCH_TORCH_DEVICE=cuda timeout 240 "$bin" 2>&1 | tee "$out/throughput-$1x$2.txt"
done
