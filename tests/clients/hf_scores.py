"""Scores a model directory (distiller's, or a classifier HF saved) with HF transformers, as a
user loading it would: AutoTokenizer and AutoModelForSequenceClassification on a GLUE task's dev
rows, truncated at the checkpoint's max_len (distiller.json; else the task's, as distiller's). Prints the logits of every row (and, on a classification task, the
accuracy) as JSON; given the file `distiller eval --predictions` wrote, the largest difference
from distiller's logits instead of the logits.

usage: python3 hf_scores.py MODEL_DIR TASK DEV_TSV [PREDICTIONS_JSONL]    (TASK: sst2, mrpc, stsb)
"""
import inspect
import json
import os
import sys

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

# The GLUE files' columns (no quoting; MRPC's header starts with a byte-order mark): text, the
# second text of a pair, the label.
COLUMNS = {"sst2": (0, None, 1), "mrpc": (3, 4, 0), "stsb": (7, 8, -1)}


def load(model_dir, task, dev):
    """The dev rows, tokenizer, model and truncation length, as a user loading the directory
    with transformers would get them."""
    # The checkpoint's truncation length, else the task's (as `distiller eval` does).
    meta = os.path.join(model_dir, "distiller.json")
    if os.path.exists(meta):
        with open(meta) as f:
            max_len = json.load(f)["max_len"]
    else:
        max_len = 64 if task == "sst2" else 128
    with open(dev, encoding="utf-8-sig") as f:
        rows = [line.rstrip("\n").split("\t") for line in f][1:]
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    return rows, tokenizer, model, max_len


def batches(rows, task, tokenizer, model, max_len, size=64):
    """The model's inputs for each run of `size` rows, padded to the batch's longest row (as
    transformers' DataCollatorWithPadding pads)."""
    text, pair, _ = COLUMNS[task]
    # Only what the family's forward takes (RoBERTa's one segment is 0).
    takes = inspect.signature(model.forward).parameters
    out = []
    for start in range(0, len(rows), size):
        batch = rows[start : start + size]
        # Trimmed, as distiller's loader reads a GLUE row (a trailing space is a token to a
        # byte-level BPE).
        texts = [r[text].strip() for r in batch]
        pairs = [r[pair].strip() for r in batch] if pair is not None else None
        encoded = tokenizer(texts, pairs, padding=True, truncation=True, max_length=max_len, return_tensors="pt")
        if getattr(model.config, "type_vocab_size", 2) < 2:
            encoded.pop("token_type_ids", None)
        out.append({k: v for k, v in encoded.items() if k in takes})
    return out


def main():
    model_dir, task, dev = sys.argv[1], sys.argv[2], sys.argv[3]
    label = COLUMNS[task][2]
    rows, tokenizer, model, max_len = load(model_dir, task, dev)
    logits = []
    with torch.no_grad():
        for inputs in batches(rows, task, tokenizer, model, max_len):
            logits.extend(model(**inputs).logits.tolist())
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
