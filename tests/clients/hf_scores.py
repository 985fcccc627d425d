"""Scores a distiller model directory with HF transformers, as a user loading it would:
AutoTokenizer and AutoModelForSequenceClassification on the GLUE dev rows, truncated at the
checkpoint's max_len. Prints the logits of every row and the accuracy as JSON; given the file
`distiller eval --predictions` wrote, also the largest difference from distiller's logits.

usage: python3 hf_scores.py MODEL_DIR DEV_TSV [PREDICTIONS_JSONL]
"""
import csv
import json
import os
import sys

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer


def main():
    model_dir, dev = sys.argv[1], sys.argv[2]
    with open(os.path.join(model_dir, "distiller.json")) as f:
        max_len = json.load(f)["max_len"]
    with open(dev, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    logits = []
    with torch.no_grad():
        for start in range(0, len(rows), 64):
            batch = [r["sentence"] for r in rows[start : start + 64]]
            encoded = tokenizer(batch, padding=True, truncation=True, max_length=max_len, return_tensors="pt")
            logits.extend(model(**encoded).logits.tolist())
    correct = sum(max(range(len(l)), key=l.__getitem__) == int(r["label"]) for l, r in zip(logits, rows))
    scores = {"rows": len(rows), "accuracy": correct / len(rows)}
    if len(sys.argv) > 3:
        with open(sys.argv[3]) as f:
            ours = [json.loads(line)["logits"] for line in f]
        scores["max_abs_diff"] = max(abs(a - b) for x, y in zip(ours, logits, strict=True) for a, b in zip(x, y, strict=True))
    else:
        scores["logits"] = logits
    print(json.dumps(scores))


if __name__ == "__main__":
    main()
