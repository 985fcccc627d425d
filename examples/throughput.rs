//! Encoder throughput at fixed shapes (batch 32, seq 64), for every compiled CPU backend, next to
//! PyTorch doing the same work (benches/pytorch_reference.py, when torch is importable).
//!
//! `cargo run --example throughput` (flex) or `cargo run --example throughput --features ndarray`
//! (flex and ndarray; dependencies are built at opt-level 3 in the dev profile, so this measures
//! optimised code). Set `DISTILLER_BENCH_ITERS` to change the number of timed iterations.

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::Device;
use distiller::data::{Encoded, HostBatch, Label, LabelKind};
use distiller::model::{BertConfig, BertInput};
use distiller::train::{adamw, task_loss};
use std::time::Instant;

const BATCH: usize = 32;
const SEQ: usize = 64;
const VOCAB: usize = 30522;

fn batch() -> HostBatch {
    let rows: Vec<Encoded> = (0..BATCH)
        .map(|r| Encoded { ids: (0..SEQ).map(|c| 1000 + ((r * 131 + c * 17) % 20000) as u32).collect(), type_ids: vec![0; SEQ] })
        .collect();
    HostBatch::pad(&rows, &(0..BATCH).collect::<Vec<_>>(), 0)
}

fn config(layers: usize, hidden: usize) -> BertConfig {
    let mut c = BertConfig::sized(layers, hidden, VOCAB, 2);
    if hidden == 384 {
        c.num_attention_heads = 12;
        c.intermediate_size = 1536;
    }
    c
}

fn time(iters: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..2 {
        f();
    }
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    (BATCH * iters) as f64 / start.elapsed().as_secs_f64()
}

fn forward(device: &Device, layers: usize, hidden: usize, iters: usize) -> f64 {
    let model = config(layers, hidden).init(0, device).valid();
    let input = BertInput::from_host(&batch(), device);
    time(iters, || {
        let out = model.forward(&input, false);
        let _: Vec<f32> = distiller::model::to_host(out.logits);
    })
}

fn train_step(device: &Device, layers: usize, hidden: usize, iters: usize) -> f64 {
    let ad = device.clone().autodiff();
    let mut model = Some(config(layers, hidden).init(0, &ad).train());
    let mut optim = adamw(0.1, Some(1.0));
    let host = batch();
    let gold = vec![Label::Class(1); BATCH];
    let kind = LabelKind::Classification { labels: vec!["0".into(), "1".into()] };
    time(iters, || {
        let m = model.take().unwrap();
        let input = BertInput::from_host(&host, &ad);
        let loss = task_loss(m.forward(&input, false).logits, &gold, &kind);
        let grads = GradientsParams::from_grads(loss.backward(), &m);
        let m = optim.step(5e-5, m, grads);
        let _: f32 = loss.into_scalar();
        model = Some(m);
    })
}

fn pytorch(iters: usize) -> Option<serde_json::Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/pytorch_reference.py");
    let out = std::process::Command::new("python3").args([script, "--iters", &iters.to_string(), "--json"]).output().ok()?;
    if !out.status.success() {
        eprintln!("pytorch reference skipped: {}", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or(""));
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

fn main() {
    let iters: usize = std::env::var("DISTILLER_BENCH_ITERS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let threads = rayon::current_num_threads();
    println!("batch {BATCH}, seq {SEQ}, {iters} timed iterations, {threads} rayon threads");
    let torch = pytorch(iters);
    let cases: [(&str, &str, usize, usize); 3] =
        [("forward", "teacher 6x384", 6, 384), ("train_step", "student 4x384", 4, 384), ("train_step", "student 4x312", 4, 312)];
    println!("| work | model | backend | samples/s | PyTorch samples/s | ratio |");
    println!("|---|---|---|---:|---:|---:|");
    for backend in distiller::backend::available().into_iter().filter(|b| *b == "flex" || *b == "ndarray" || *b == "tch") {
        let device = distiller::backend::device(Some(backend)).unwrap();
        for (work, label, layers, hidden) in cases {
            let ours = if work == "forward" { forward(&device, layers, hidden, iters) } else { train_step(&device, layers, hidden, iters) };
            let key = format!("{work} {layers}x{hidden}");
            let reference = torch.as_ref().and_then(|t| t[&key].as_f64());
            let (r, ratio) = match reference {
                Some(r) => (format!("{r:.1}"), format!("{:.2}x", ours / r)),
                None => ("-".into(), "-".into()),
            };
            println!("| {work} | {label} | {backend} | {ours:.1} | {r} | {ratio} |");
        }
    }
    if let Some(t) = torch {
        println!("pytorch: {}", t["version"]);
    }
}
