"""PyTorch reference for examples/throughput.rs: the same BERT shapes and work, on CPU (2 threads)
or a GPU: teacher forward, student train step on labels, KD step against cached teacher logits,
and the paper-style KD step (teacher forward every step, no cache).

Install (not in CI: the wheel pulls ~3 GB of CUDA dependencies): pip install torch==2.9.0
Run: python3 experiments/pytorch_reference.py [--iters 10] [--batch 32] [--seq 64] [--device cpu] [--json]
"""
import argparse
import json
import math
import time

import torch
from torch import nn

VOCAB = 30522


class Layer(nn.Module):
    def __init__(self, d, heads, ffn):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.n1, self.n2 = nn.LayerNorm(d, eps=1e-12), nn.LayerNorm(d, eps=1e-12)
        self.i, self.out = nn.Linear(d, ffn), nn.Linear(ffn, d)
        self.drop = nn.Dropout(0.1)

    def forward(self, x, bias):
        b, t, d = x.shape
        h, dh = self.heads, d // self.heads
        split = lambda y: y.view(b, t, h, dh).transpose(1, 2)
        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        probs = torch.softmax(q @ k.transpose(2, 3) / math.sqrt(dh) + bias, dim=-1)
        ctx = (self.drop(probs) @ v).transpose(1, 2).reshape(b, t, d)
        a = self.n1(self.drop(self.o(ctx)) + x)
        return self.n2(self.drop(self.out(torch.nn.functional.gelu(self.i(a)))) + a)


class Bert(nn.Module):
    """Same structure as distiller's model: embeddings, layers, pooler, classifier."""

    def __init__(self, layers, d, heads, ffn):
        super().__init__()
        self.word, self.pos, self.typ = nn.Embedding(VOCAB, d), nn.Embedding(512, d), nn.Embedding(2, d)
        self.norm = nn.LayerNorm(d, eps=1e-12)
        self.layers = nn.ModuleList(Layer(d, heads, ffn) for _ in range(layers))
        self.pool, self.cls = nn.Linear(d, d), nn.Linear(d, 2)
        self.drop = nn.Dropout(0.1)

    def forward(self, ids, types, mask):
        pos = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
        x = self.drop(self.norm(self.word(ids) + self.pos(pos) + self.typ(types)))
        bias = ((mask - 1.0) * 10000.0)[:, None, None, :]
        for layer in self.layers:
            x = layer(x, bias)
        return self.cls(self.drop(torch.tanh(self.pool(x[:, 0]))))


def shapes(layers, d):
    """12 heads; FFN 1536 for MiniLM's 384 width, 1200 for TinyBERT's 312, 3072 for BERT-base's 768."""
    return (layers, d, 12, {384: 1536, 312: 1200, 768: 3072}[d])


def timed(iters, batch, fn, device):
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for _ in range(2):
        fn()
    sync()
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    sync()
    return batch * iters / (time.perf_counter() - start)


def kd_ce(student, teacher, tau):
    return -(torch.softmax(teacher / tau, -1) * torch.log_softmax(student / tau, -1)).sum(-1).mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    dev = args.device
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ids = torch.randint(1000, 21000, (args.batch, args.seq), device=dev)
    types = torch.zeros_like(ids)
    mask = torch.ones(args.batch, args.seq, device=dev)
    labels = torch.ones(args.batch, dtype=torch.long, device=dev)
    cached = torch.tensor([[1.5, -0.5]], device=dev).repeat(args.batch, 1)
    results = {"version": torch.__version__, "device": torch.cuda.get_device_name() if dev.startswith("cuda") else f"cpu, {args.threads} threads"}
    timed_ = lambda fn: timed(args.iters, args.batch, fn, dev)

    teacher = Bert(*shapes(6, 384)).to(dev).eval()
    with torch.no_grad():
        results["forward 6x384"] = timed_(lambda: teacher(ids, types, mask))

    def trainer(d, layers=4):
        student = Bert(*shapes(layers, d)).to(dev).train()
        decay = [p for n, p in student.named_parameters() if not ("bias" in n or "norm" in n)]
        rest = [p for n, p in student.named_parameters() if "bias" in n or "norm" in n]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}], lr=5e-5, eps=1e-8)

        def step(loss_of):
            opt.zero_grad()
            loss = loss_of(student(ids, types, mask))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
            opt.step()
            return loss.item()

        return step

    for d in (384, 312):
        step = trainer(d)
        results[f"train_step 4x{d}"] = timed_(lambda: step(lambda z: torch.nn.functional.cross_entropy(z, labels)))
    step = trainer(384)
    results["kd_step 4x384"] = timed_(lambda: step(lambda z: kd_ce(z, cached, 2.0)))

    def paper_step():
        with torch.no_grad():
            t = teacher(ids, types, mask)
        return step(lambda z: kd_ce(z, t, 2.0))

    results["paper_kd_step 4x384"] = timed_(paper_step)

    # A 110 M teacher (BERT-base's and all-mpnet-base-v2's shape): its forward and a
    # fine-tuning step.
    base = Bert(*shapes(12, 768)).to(dev).eval()
    with torch.no_grad():
        results["forward 12x768"] = timed_(lambda: base(ids, types, mask))
    step = trainer(768, layers=12)
    results["train_step 12x768"] = timed_(lambda: step(lambda z: torch.nn.functional.cross_entropy(z, labels)))

    if args.json:
        print(json.dumps(results))
    else:
        for k, v in results.items():
            print(f"{k}: {v if isinstance(v, str) else f'{v:.1f} samples/s'}")


if __name__ == "__main__":
    main()
