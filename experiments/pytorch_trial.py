"""One KD trial done the paper's way, in PyTorch on CPU: the teacher runs on every batch (no
cache), batches are padded to max_len, CE-KD (τ = 1), the same student as `distiller train`
(4 layers copied from teacher layers 1, 3, 4, 6), AdamW with 10 % warm-up and linear decay,
gradient clipping at 1, dev accuracy after every epoch. The reference for the whole-trial
comparison in docs/performance.md (ours: `distiller train` with a warm teacher cache and length bucketing).

Needs torch (pip install torch==2.9.0) and tokenizers (pip install tokenizers); not in CI.
    python3 experiments/pytorch_trial.py [--rows 2000] [--epochs 3] [--teacher .distiller/teachers/sst2]
"""
import argparse
import csv
import json
import os
import random
import struct
import sys
import time

import numpy as np
import torch
from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_reference import Bert, kd_ce  # noqa: E402


def read_safetensors(path):
    """name -> float32 tensor (the format: u64 header size, JSON header, raw little-endian data)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__" or meta["dtype"] != "F32":
            continue
        start, end = meta["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[start:end], dtype=np.float32).reshape(meta["shape"]).copy())
    return out


def load_bert(weights, layers, config):
    """Our HF-layout checkpoint into pytorch_reference's Bert; `layers` = teacher layers to copy."""
    model = Bert(len(layers), config["hidden_size"], config["num_attention_heads"], config["intermediate_size"])
    w = lambda name: weights[name]
    with torch.no_grad():
        for ours, theirs in [(model.word, "embeddings.word_embeddings"), (model.pos, "embeddings.position_embeddings"),
                             (model.typ, "embeddings.token_type_embeddings")]:
            ours.weight.copy_(w(f"{theirs}.weight")[: ours.weight.shape[0]])
        for mod, name in [(model.norm, "embeddings.LayerNorm"), (model.pool, "pooler.dense"), (model.cls, "classifier")]:
            mod.weight.copy_(w(f"{name}.weight"))
            mod.bias.copy_(w(f"{name}.bias"))
        for layer, t in zip(model.layers, layers):
            p = f"encoder.layer.{t}"
            for mod, name in [(layer.q, "attention.self.query"), (layer.k, "attention.self.key"), (layer.v, "attention.self.value"),
                              (layer.o, "attention.output.dense"), (layer.n1, "attention.output.LayerNorm"),
                              (layer.i, "intermediate.dense"), (layer.out, "output.dense"), (layer.n2, "output.LayerNorm")]:
                mod.weight.copy_(w(f"{p}.{name}.weight"))
                mod.bias.copy_(w(f"{p}.{name}.bias"))
    return model


def read_tsv(path):
    with open(path, encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [(r[0], int(r[1])) for r in rows[1:]]


def encode(tokenizer, rows, max_len):
    enc = tokenizer.encode_batch([r[0] for r in rows])
    ids = torch.tensor([e.ids for e in enc])
    mask = torch.tensor([e.attention_mask for e in enc], dtype=torch.float32)
    return ids, mask, torch.tensor([r[1] for r in rows])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--teacher", default=".distiller/teachers/sst2")
    ap.add_argument("--glue", default="../shared/data/glue")
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--max-len", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    config = json.load(open(os.path.join(args.teacher, "config.json")))
    weights = read_safetensors(os.path.join(args.teacher, "model.safetensors"))
    n = config["num_hidden_layers"]
    teacher = load_bert(weights, list(range(n)), config).eval()
    student = load_bert(weights, [(i * n) // 4 - 1 for i in range(1, 5)], config).train()
    tokenizer = Tokenizer.from_file(os.path.join(args.teacher, "tokenizer.json"))
    tokenizer.enable_truncation(args.max_len)
    tokenizer.enable_padding(length=args.max_len)  # the paper's code pads every batch to max_len
    train = read_tsv(os.path.join(args.glue, "SST-2/train.tsv"))
    train = random.Random(args.seed).sample(train, min(args.rows, len(train)))
    dev = read_tsv(os.path.join(args.glue, "SST-2/dev.tsv"))
    tr_ids, tr_mask, _ = encode(tokenizer, train, args.max_len)
    dv_ids, dv_mask, dv_y = encode(tokenizer, dev, args.max_len)

    decay = [p for name, p in student.named_parameters() if not ("bias" in name or "norm" in name)]
    rest = [p for name, p in student.named_parameters() if "bias" in name or "norm" in name]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}], lr=args.lr, eps=1e-8)
    steps = args.epochs * ((len(train) + args.batch - 1) // args.batch)
    warm = max(1, int(0.1 * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: s / warm if s < warm else max(0.0, (steps - s) / max(1, steps - warm)))
    types = lambda ids: torch.zeros_like(ids)
    report = []
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        order = torch.randperm(len(train))
        for b in range(0, len(train), args.batch):
            idx = order[b: b + args.batch]
            ids, mask = tr_ids[idx], tr_mask[idx]
            with torch.no_grad():
                target = teacher(ids, types(ids), mask)
            loss = kd_ce(student(ids, types(ids), mask), target, 1.0)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
            opt.step()
            sched.step()
        train_s = time.perf_counter() - t0
        student.eval()
        with torch.no_grad():
            pred = torch.cat([student(dv_ids[b: b + 64], types(dv_ids[b: b + 64]), dv_mask[b: b + 64]).argmax(-1) for b in range(0, len(dev), 64)])
        student.train()
        acc = (pred == dv_y).float().mean().item()
        report.append({"epoch": epoch, "dev_accuracy": acc, "train_samples_per_s": len(train) / train_s})
        print(f"epoch {epoch}: dev accuracy {100 * acc:.2f}, {len(train) / train_s:.1f} samples/s", flush=True)
    wall = time.perf_counter() - started
    print(json.dumps({"wall_seconds": wall, "rows": len(train), "epochs": args.epochs, "torch": torch.__version__, "epochs_report": report}))


if __name__ == "__main__":
    main()
