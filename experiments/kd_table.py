"""SST-2 distillation table (docs/distillation.md): the same student trained (a) on labels only, (b) with CE-KD,
(c) with KD + hidden_mse (skip), (d) with KD + MI-α 0.9 (skip), (e) with KD on randomly augmented
rows + mixup, (g) the same with four augmented copies per row; dev accuracy and wall time each.

Needs a teacher: `distiller teacher --task sst2` (in the workspace). Run from the repo root:
    cargo build && python3 experiments/kd_table.py [--rows 3000] [--epochs 3] [--students 4x384,4x312]
Rerunning a row with a warm teacher cache also reports the cache's effect on wall time.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROWS = {
    "(a) labels only": '[kd]\nloss = "none"\nhard_weight = 1.0\n',
    "(b) CE-KD": '[kd]\nloss = "ce"\n',
    "(c) KD + hidden_mse skip": '[kd]\nloss = "ce"\n[intermediate]\nobjective = "hidden_mse"\nmapping = "skip"\n',
    "(d) KD + MI-α 0.9 skip": '[kd]\nloss = "ce"\n[intermediate]\nobjective = "mi"\nalpha = 0.9\nmapping = "skip"\n',
    # the augmentation table's best chain (docs/augmentation.md), on top of (b)
    "(e) KD + random aug + mixup": '[kd]\nloss = "ce"\n[augment]\nchain = ["random"]\naug_p = 0.3\nmixup = true\n',
    # (e) with four augmented copies of each row instead of one: more teacher-labelled transfer data
    "(g) KD + random aug x4 + mixup": '[kd]\nloss = "ce"\n[augment]\nchain = ["random"]\naug_p = 0.3\nrepeated_aug = 4\nmixup = true\n',
    # not in the default table: for --cache-check, where the cache also saves the augmentation
    "(f) KD + contextual aug": '[kd]\nloss = "ce"\n[augment]\nchain = ["contextual"]\naug_p = 0.3\n',
}


def student_section(spec):
    layers, hidden = spec.split("x")
    if hidden == "384":
        return f'[student]\nlayers = {layers}\ninit = "teacher_layers"\n'
    return f'[student]\nlayers = {layers}\nhidden = {hidden}\ninit = "random"\n'


def run(binary, workspace, text, extra=(), task="sst2"):
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        f.write(text)
    out = subprocess.run([binary, "train", "--task", task, "--pipeline", f.name, "--workspace", workspace, "-f", "json", *extra],
                         capture_output=True, text=True)
    os.unlink(f.name)
    if out.returncode != 0:
        sys.exit(f"distiller train failed: {out.stderr.strip().splitlines()[-1]}")
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=3000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", default="1e-4")
    ap.add_argument("--students", default="4x384,4x312")
    ap.add_argument("--workspace", default=".distiller")
    ap.add_argument("--binary", default="target/debug/distiller")
    ap.add_argument("--cache-check", action="store_true", help="time a row with no cache, a cold cache and a warm cache")
    ap.add_argument("--cache-row", default="(d) KD + MI-α 0.9 skip")
    ap.add_argument("--skip-table", action="store_true")
    ap.add_argument("--only", default="abcdeg", help="row letters to run, e.g. abe")
    args = ap.parse_args()
    train = f"[train]\nlr = {args.lr}\nepochs = {args.epochs}\ntrain_subset = {args.rows}\n"
    print(f"SST-2, {args.rows} training rows, {args.epochs} epochs, lr {args.lr}")
    print("| student | pipeline | dev accuracy | wall time (s) | teacher cache |")
    print("|---|---|---:|---:|---|")
    for spec in [] if args.skip_table else args.students.split(","):
        for name, body in ROWS.items():
            if name[1] not in args.only:
                continue
            o = run(args.binary, args.workspace, body + student_section(spec) + train)
            print(f"| {spec} | {name} | {100 * o['dev'][0][1]:.2f} | {o['wall_seconds']:.0f} | {'hit' if o['cache_hit'] else 'miss'} |", flush=True)
    if args.cache_check:
        body = ROWS[args.cache_row] + student_section(args.students.split(",")[0]) + train
        cold_ws = tempfile.mkdtemp()
        os.symlink(os.path.abspath(os.path.join(args.workspace, "teachers")), os.path.join(cold_ws, "teachers"))
        # Cold: a fresh workspace, nothing cached (augmentation and teacher outputs are built).
        # Warm: the same run again. No cache: the teacher runs on every batch (augmented rows
        # come from the augmentation cache, as the paper's code reads its augmented files).
        cold = run(args.binary, cold_ws, body)
        warm = run(args.binary, cold_ws, body)
        live = run(args.binary, cold_ws, body, ["--no-cache"])
        print(f"{args.cache_row}, student {args.students.split(',')[0]}:")
        print("| teacher outputs | wall time (s) | dev accuracy | warm speed-up |")
        print("|---|---:|---:|---:|")
        for name, o in [("cold cache (nothing cached: built in this run)", cold), ("warm cache", warm), ("no cache (teacher every batch)", live)]:
            print(f"| {name} | {o['wall_seconds']:.0f} | {100 * o['dev'][0][1]:.2f} | {o['wall_seconds'] / warm['wall_seconds']:.2f}x |")


if __name__ == "__main__":
    main()
