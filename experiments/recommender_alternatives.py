"""Alternative recommender meta-models on the paper's released trials (docs/recommender.md):
leave-one-task-out over the TinyBERT4 <- BERT-base rows, as examples/recommender_loto.rs does,
but with models that are quicker to try in numpy than in Rust: ridge regression of the normalised
rank on one-hot main effects, with pairwise interactions, and blends with the kernel model.
The encoding is one-hot (not the BO's conditional encoding), so its kernel row differs a little
from the Rust example's. Needs numpy. Run from the repo root:
    python3 experiments/recommender_alternatives.py
"""
import collections
import csv

import numpy as np

TABLE = "../shared/data/autodistiller/auto_distiller_tabular_data.csv"
TASKS = ["qnli", "mrpc", "stsb", "rte", "sst-2", "qqp", "cola", "mnli"]
OPS = ["contextual", "backtranslation", "random"]
# Pairwise interactions are taken between these fields of a configuration tuple.
INTERACTING = [0, 2, 3, 4]


def configuration(row):
    """(objective, alpha, mapping, kd loss, mixup, repeated_aug, aug_p, chain) of a table row."""
    objective = row["intermediate_loss_type"].strip()
    alpha = row["alpha"].strip() if objective == "mi" else "-"
    chain = tuple(op for _, op in sorted((int(row[op]), op) for op in OPS if int(row[op]) > 0))
    fields = ["intermediate_strategy", "kd_loss_type", "mixup", "repeated_aug", "aug_p"]
    return (objective, alpha, *(row[f].strip() for f in fields), chain)


def load():
    runs = collections.defaultdict(lambda: collections.defaultdict(list))
    with open(TABLE) as f:
        for row in csv.DictReader(f):
            if row["Teacher"].strip() == "BERT_BASE" and row["Model"].strip() == "TinyBERT4":
                runs[row["task"].strip()][configuration(row)].append(float(row["score"]))
    return {task: {c: float(np.mean(s)) for c, s in configs.items()} for task, configs in runs.items()}


def normalised_ranks(scores):
    v = np.array(scores)
    return np.array([1 - ((v > s).sum() + ((v == s).sum() - 1) / 2) / (len(v) - 1) for s in v])


def spearman(a, b):
    def ranks(v):
        v = np.asarray(v)
        return np.array([(v < x).sum() + ((v == x).sum() - 1) / 2 for x in v])
    ra, rb = ranks(a), ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    d = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return (ra * rb).sum() / d if d > 0 else 0.0


class Encoder:
    def __init__(self, tasks, interactions):
        configs = {c for per_task in tasks.values() for c in per_task}
        self.levels = [sorted({c[i] for c in configs}) for i in range(7)]
        self.interactions = interactions

    def one_hot(self, c, i):
        return [1.0 if c[i] == level else 0.0 for level in self.levels[i]]

    def __call__(self, c):
        f = [x for i in range(7) for x in self.one_hot(c, i)]
        f += [1.0 if op in c[7] else 0.0 for op in OPS] + [0.0 if c[7] else 1.0]
        if self.interactions:
            blocks = [self.one_hot(c, i) for i in INTERACTING] + [[1.0, 0.0] if c[7] else [0.0, 1.0]]
            for i in range(len(blocks)):
                for j in range(i + 1, len(blocks)):
                    f += list(np.outer(blocks[i], blocks[j]).ravel())
        return np.array(f)


def ridge(train, lam):
    x = np.vstack([xs for xs, _ in train])
    y = np.concatenate([ys for _, ys in train])
    x_mean, y_mean = x.mean(0), y.mean()
    w = np.linalg.solve((x - x_mean).T @ (x - x_mean) + lam * np.eye(x.shape[1]), (x - x_mean).T @ (y - y_mean))
    return lambda z: (z - x_mean) @ w + y_mean


def kernel(train, scale=0.1, prior=0.5):
    """Nadaraya-Watson on normalised ranks, shrunk to the middle rank (the Rust default)."""
    def predict(z_all):
        out = []
        for z in z_all:
            w_sum, wy = prior, prior * 0.5
            for xs, ys in train:
                w = np.exp(-((xs - z) ** 2).sum(1) / scale)
                w_sum, wy = w_sum + w.sum(), wy + (w * ys).sum()
            out.append(wy / w_sum)
        return np.array(out)
    return predict


def blend(train, lam, kernel_weight):
    k, r = kernel(train), ridge(train, lam)
    return lambda z: kernel_weight * k(z) + (1 - kernel_weight) * r(z)


def evaluate(tasks, encoder, make_model, label):
    ratios, rhos = [], []
    for held_out in TASKS:
        train = [(np.array([encoder(c) for c in tasks[t]]), normalised_ranks(list(tasks[t].values()))) for t in TASKS if t != held_out]
        model = make_model(train)
        configs = list(tasks[held_out])
        scores = np.array([tasks[held_out][c] for c in configs])
        predicted = model(np.array([encoder(c) for c in configs]))
        ratios.append(scores[int(np.argmax(predicted))] / scores.max())
        rhos.append(spearman(predicted, scores))
    ratios = np.array(ratios)
    print(f"| {label} | {(ratios >= 0.99).sum()}/8 | {ratios.mean():.4f} | {ratios.min():.4f} | {np.mean(rhos):.3f} |", flush=True)


def main():
    tasks = load()
    plain, pairwise = Encoder(tasks, False), Encoder(tasks, True)
    print("| model | top-1 ≥ 99 % of best | mean top-1 / best | worst | mean Spearman |")
    print("|---|---|---|---|---|")
    evaluate(tasks, plain, kernel, "kernel regression, scale 0.1 (one-hot encoding)")
    for lam in [0.3, 1, 3, 10, 30]:
        evaluate(tasks, plain, lambda t, lam=lam: ridge(t, lam), f"ridge, main effects, λ {lam}")
    for lam in [1, 3, 10, 30]:
        evaluate(tasks, pairwise, lambda t, lam=lam: ridge(t, lam), f"ridge, + pairwise interactions, λ {lam}")
    for lam in [3, 10]:
        for weight in [0.3, 0.5, 0.7]:
            evaluate(tasks, plain, lambda t, lam=lam, w=weight: blend(t, lam, w), f"{weight} × kernel + {1 - weight:.1f} × ridge λ {lam}")


if __name__ == "__main__":
    main()
