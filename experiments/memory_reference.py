"""PyTorch + HF transformers doing what `distiller teacher --encoder all-mpnet-base-v2 --task mrpc
--max-train 64 --epochs 1 --batch-size 16` does, for a peak-RSS comparison (docs/performance.md):
load the encoder as a sequence classifier, fine-tune it one epoch on the first 64 MRPC training
rows (AdamW, batches of 16 padded to their longest, at most 128 tokens), then score the dev rows
without gradients. Prints the peak RSS.

Run: /usr/bin/time -v python3 experiments/memory_reference.py ENCODER_DIR GLUE_DIR

With a third argument `cache`, it does what building a teacher cache does instead: the model's
logits for every MRPC training row, without gradients, in batches of 64 rows of similar length
padded to their longest (at most 128 tokens), all kept.
"""
import csv
import resource
import sys

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

torch.set_num_threads(2)
encoder, glue = sys.argv[1], sys.argv[2]


def rows(name, limit=None):
    with open(f"{glue}/MRPC/{name}.tsv", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader)
        out = [(r[3], r[4], int(r[0])) for r in reader]
    return out[:limit] if limit else out


tokenizer = AutoTokenizer.from_pretrained(encoder)
model = AutoModelForSequenceClassification.from_pretrained(encoder, num_labels=2)
if sys.argv[3:] == ["cache"]:
    pairs = rows("train")
    order = sorted(range(len(pairs)), key=lambda i: len(tokenizer(pairs[i][0], pairs[i][1], truncation=True, max_length=128)["input_ids"]))
    logits = [None] * len(pairs)
    model.eval()
    with torch.no_grad():
        for start in range(0, len(order), 64):
            chunk = order[start : start + 64]
            enc = tokenizer([pairs[i][0] for i in chunk], [pairs[i][1] for i in chunk], truncation=True, max_length=128, padding=True, return_tensors="pt")
            for i, row in zip(chunk, model(**enc).logits):
                logits[i] = row
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; logits for {len(logits)} rows")
    sys.exit(0)
optim = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.1)


def batches(data, size):
    for i in range(0, len(data), size):
        chunk = data[i : i + size]
        enc = tokenizer([a for a, _, _ in chunk], [b for _, b, _ in chunk], truncation=True, max_length=128, padding=True, return_tensors="pt")
        yield enc, torch.tensor([y for _, _, y in chunk])


model.train()
for enc, labels in batches(rows("train", 64), 16):
    loss = model(**enc, labels=labels).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optim.step()
    optim.zero_grad()
model.eval()
correct = 0
with torch.no_grad():
    for enc, labels in batches(rows("dev"), 32):
        correct += (model(**enc).logits.argmax(-1) == labels).sum().item()
print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; dev accuracy {correct / 408:.4f}")
