"""Augmentation table (docs/augmentation.md): the same student and KD pipeline trained on a small training set
with no augmentation, with each operator alone, and with chains; dev score and wall time each.

Needs a teacher for the task: `distiller teacher --task sst2` (in the workspace). Run from the
repo root:
    cargo build && python3 experiments/augment_table.py [--task sst2] [--rows 2000] [--epochs 3]
back_translation joins only with `--paraphrases FILE` (TSV original<TAB>paraphrase covering the
training rows): no MT model runs offline.
"""
import argparse

from kd_table import run, student_section

KD = '[kd]\nloss = "ce"\n'


def variants(aug_p, repeated, paraphrases):
    def aug(chain, mixup=False):
        names = ", ".join(f'"{op}"' for op in chain)
        text = f"[augment]\nchain = [{names}]\naug_p = {aug_p}\nrepeated_aug = {repeated}\nmixup = {'true' if mixup else 'false'}\n"
        return text + (f'paraphrases = "{paraphrases}"\n' if paraphrases else "")
    rows = {
        "none": "",
        "random": aug(["random"]),
        "contextual": aug(["contextual"]),
        "mixup": aug([], mixup=True),
        "random → contextual": aug(["random", "contextual"]),
        "contextual → random": aug(["contextual", "random"]),
        "random → contextual + mixup": aug(["random", "contextual"], mixup=True),
        "random + mixup": aug(["random"], mixup=True),
    }
    if paraphrases:
        rows["back_translation"] = aug(["back_translation"])
        rows["back_translation → contextual"] = aug(["back_translation", "contextual"])
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="sst2")
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", default="1e-4")
    ap.add_argument("--aug-p", default="0.3")
    ap.add_argument("--repeated", type=int, default=1)
    ap.add_argument("--student", default="4x384")
    ap.add_argument("--seed", type=int, default=42, help="train.seed: subset, augmentation, dropout, mixup")
    ap.add_argument("--paraphrases")
    ap.add_argument("--only", help="comma-separated variant names")
    ap.add_argument("--workspace", default=".distiller")
    ap.add_argument("--binary", default="target/debug/distiller")
    args = ap.parse_args()
    train = f"[train]\nlr = {args.lr}\nepochs = {args.epochs}\ntrain_subset = {args.rows}\nseed = {args.seed}\n"
    print(f"{args.task}, {args.rows} training rows, {args.epochs} epochs, lr {args.lr}, student {args.student}, "
          f"CE-KD, aug_p {args.aug_p}, repeated_aug {args.repeated}, seed {args.seed}")
    print("| augmentation | training rows | dev | wall time (s) |")
    print("|---|---:|---:|---:|")
    wanted = args.only.split(",") if args.only else None
    for name, body in variants(args.aug_p, args.repeated, args.paraphrases).items():
        if wanted and name not in wanted:
            continue
        o = run(args.binary, args.workspace, KD + body + student_section(args.student) + train, task=args.task)
        dev = ", ".join(f"{k} {100 * v:.2f}" for k, v in o["dev"])
        print(f"| {name} | {o['train_rows']} | {dev} | {o['wall_seconds']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
