#!/usr/bin/env bash
# A real run of shared studies: `search --task sst2 --trials 16` as 1 worker with 2 threads, then as
# 2 workers with 1 thread each, on one PostgreSQL study each. Prints both wall times.
#   cargo build && bash experiments/two_workers.sh postgresql://user@host:port/db [WORKDIR]
set -u
PG=${1:?usage: two_workers.sh postgresql://user@host:port/db [WORKDIR]}
W=${2:-/tmp/two-workers}
B=$(dirname "$0")/../target/debug/distiller
mkdir -p "$W"
T=$W/t/teachers/sst2
# A quick teacher: its quality does not change the throughput.
if [ ! -f "$T/config.json" ]; then
  "$B" --workspace "$W/t" teacher --task sst2 --max-train 4000 --epochs 1 > "$W/teacher.log" 2>&1 || exit 1
fi
S=$(date +%s)
start=$(date +%s)
"$B" --workspace "$W/one" --storage "$PG" search --task sst2 --study "real-1w-$S" --trials 16 --teacher "$T" > "$W/one.out" 2> "$W/one.err"
one=$(( $(date +%s) - start ))
start=$(date +%s)
RAYON_NUM_THREADS=1 "$B" --workspace "$W/a" --storage "$PG" search --task sst2 --study "real-2w-$S" --trials 16 --seed 1 --teacher "$T" > "$W/a.out" 2> "$W/a.err" &
RAYON_NUM_THREADS=1 "$B" --workspace "$W/b" --storage "$PG" search --task sst2 --study "real-2w-$S" --trials 16 --seed 2 --teacher "$T" > "$W/b.out" 2> "$W/b.err" &
wait
two=$(( $(date +%s) - start ))
echo "one worker (2 threads): $one s; two workers (1 thread each): $two s; studies real-1w-$S real-2w-$S"
