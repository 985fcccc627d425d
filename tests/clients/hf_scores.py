"""Scores a distiller model directory with HF transformers, as a user loading it would:
AutoTokenizer and AutoModelForSequenceClassification on a GLUE task's dev rows, truncated at the
checkpoint's max_len. Prints the logits of every row (and, on a classification task, the
accuracy) as JSON; given the file `distiller eval --predictions` wrote, the largest difference
from distiller's logits instead of the logits.

usage: python3 hf_scores.py MODEL_DIR TASK DEV_TSV [PREDICTIONS_JSONL]    (TASK: sst2, mrpc, stsb)
"""
import json
import os
import sys

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

# The GLUE files' columns (no quoting; MRPC's header starts with a byte-order mark): text, the
# second text of a pair, the label.
COLUMNS = {"sst2": (0, None, 1), "mrpc": (3, 4, 0), "stsb": (7, 8, -1)}


def main():
    model_dir, task, dev = sys.argv[1], sys.argv[2], sys.argv[3]
    text, pair, label = COLUMNS[task]
    with open(os.path.join(model_dir, "distiller.json")) as f:
        max_len = json.load(f)["max_len"]
    with open(dev, encoding="utf-8-sig") as f:
        rows = [line.rstrip("\n").split("\t") for line in f][1:]
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    logits = []
    with torch.no_grad():
        for start in range(0, len(rows), 64):
            batch = rows[start : start + 64]
            texts = [r[text] for r in batch]
            pairs = [r[pair] for r in batch] if pair is not None else None
            encoded = tokenizer(texts, pairs, padding=True, truncation=True, max_length=max_len, return_tensors="pt")
            logits.extend(model(**encoded).logits.tolist())
    scores = {"rows": len(rows)}
    if task != "stsb":
        correct = sum(max(range(len(l)), key=l.__getitem__) == int(r[label]) for l, r in zip(logits, rows))
        scores["accuracy"] = correct / len(rows)
    if len(sys.argv) > 4:
        with open(sys.argv[4]) as f:
            ours = [json.loads(line)["logits"] for line in f]
        scores["max_abs_diff"] = max(abs(a - b) for x, y in zip(ours, logits, strict=True) for a, b in zip(x, y, strict=True))
    else:
        scores["logits"] = logits
    print(json.dumps(scores))


if __name__ == "__main__":
    main()
