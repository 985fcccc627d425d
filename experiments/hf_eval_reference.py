"""HF transformers reference for examples/research/eval_throughput.rs: a model directory's forward
pass over a GLUE task's dev rows with AutoModelForSequenceClassification, as a user scoring it
would (tests/clients/hf_scores.py loads and batches it: 64 rows a batch, padded to the batch's
longest row), timed on the CPU with a set number of threads. Tokenising is done once, before
the clock starts. Two orders are timed: the dev file's (what transformers' Trainer does at
evaluation) and rows sorted by length before batching (less padding).

Run: python3 experiments/hf_eval_reference.py MODEL_DIR TASK DEV_TSV [--iters 3] [--threads 2]
Prints JSON: rows, rows/s in each order, and the logits of every row in the file's order.
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "clients"))
from hf_scores import COLUMNS, batches, load  # noqa: E402


def rate(model, inputs, rows, iters):
    """Rows a second over `iters` passes, after one untimed pass; and the last pass's logits."""
    with torch.no_grad():
        [model(**b) for b in inputs]
        start = time.perf_counter()
        for _ in range(iters):
            logits = [model(**b).logits for b in inputs]
    return rows * iters / (time.perf_counter() - start), torch.cat(logits)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("task", choices=sorted(COLUMNS))
    ap.add_argument("dev")
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows, tokenizer, model, max_len = load(args.model_dir, args.task, args.dev)
    in_order, logits = rate(model, batches(rows, args.task, tokenizer, model, max_len), len(rows), args.iters)
    text, pair, _ = COLUMNS[args.task]
    length = lambda r: len(tokenizer(r[text].strip(), r[pair].strip() if pair is not None else None, truncation=True, max_length=max_len)["input_ids"])
    by_length = sorted(rows, key=length)
    sorted_rate, _ = rate(model, batches(by_length, args.task, tokenizer, model, max_len), len(rows), args.iters)
    print(json.dumps({"version": __import__("transformers").__version__, "torch": torch.__version__, "rows": len(rows), "dev_order": in_order, "sorted": sorted_rate, "logits": logits.tolist()}))


if __name__ == "__main__":
    main()
