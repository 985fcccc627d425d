//! Encoder throughput at fixed shapes (batch 32, seq 64 by default), for every compiled backend,
//! next to PyTorch doing the same work (experiments/pytorch_reference.py, when torch is importable):
//! teacher forward (the logits, as `eval` and a logits-only teacher cache compute them), student
//! train step on labels, and a KD trial step (student against cached teacher logits — what a
//! trial runs with the teacher cache); then a 110 M teacher's (12 × 768) forward and fine-tuning
//! step. It names the machine (CPU model, the vector extensions the host kernels and gemm pick),
//! measures the machine's own f32 gemm peak in the same run, and gives each work item's rate as a
//! fraction of it: the encoder's matrix FLOPs per sample, `layers · (8·s·d² + 4·s·d·i + 4·s²·d)`
//! for a forward pass (less the last layer's rows the logits do not read, which the logits path
//! skips) and three times that for a step.
//!
//! `cargo run --example throughput` (flex) or `cargo run --example throughput --features ndarray`
//! (flex and ndarray; dependencies are built at opt-level 3 in the dev profile, so this measures
//! optimised code). Environment: `DISTILLER_BENCH_ITERS` (timed iterations, 10),
//! `DISTILLER_BENCH_BATCH` / `DISTILLER_BENCH_SEQ` (32 / 64), `DISTILLER_BENCH_BACKENDS`
//! (comma-separated; default every compiled backend except `tch-cuda`), `DISTILLER_BENCH_TORCH_DEVICE` (`cpu`, or
//! `cuda` to compare with PyTorch on the GPU), `DISTILLER_KERNEL_ISA` (`avx2` or `baseline`: hold
//! the host kernels to a narrower vector extension than the CPU's widest), `DISTILLER_BENCH_WORK`
//! (run only the work items whose name contains it, e.g. `kd_step` or `forward 12x768`: for
//! profiling).

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use distiller::data::{Encoded, HostBatch, Label, LabelKind};
use distiller::distill::kd::kd_ce;
use distiller::model::{Bert, BertConfig, BertInput};
use distiller::train::{AdamW, batch_gradients, task_loss};
use std::time::Instant;

#[path = "lib/machine.rs"]
mod machine;
use machine::machine;

const VOCAB: usize = 30522;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// Batch size and sequence length of every case.
#[derive(Clone, Copy)]
struct Shape {
    batch: usize,
    seq: usize,
    iters: usize,
}

fn rows(shape: Shape) -> Vec<Encoded> {
    (0..shape.batch).map(|r| Encoded { ids: (0..shape.seq).map(|c| 1000 + ((r * 131 + c * 17) % 20000) as u32).collect(), type_ids: vec![0; shape.seq] }).collect()
}

fn batch(shape: Shape) -> HostBatch {
    HostBatch::pad(&rows(shape), &(0..shape.batch).collect::<Vec<_>>(), 0)
}

fn config(layers: usize, hidden: usize) -> BertConfig {
    let mut c = BertConfig::sized(layers, hidden, VOCAB, 2);
    if hidden == 384 {
        c.num_attention_heads = 12;
        c.intermediate_size = 1536;
    }
    c
}

fn time(shape: Shape, mut f: impl FnMut()) -> f64 {
    for _ in 0..2 {
        f();
    }
    let start = Instant::now();
    for _ in 0..shape.iters {
        f();
    }
    (shape.batch * shape.iters) as f64 / start.elapsed().as_secs_f64()
}

fn forward(device: &Device, layers: usize, hidden: usize, shape: Shape) -> f64 {
    let model = config(layers, hidden).init(0, device).valid();
    let input = BertInput::from_host(&batch(shape), device);
    time(shape, || {
        let _: Vec<f32> = distiller::model::to_host(model.logits(&input));
    })
}

/// One optimiser step of a student: on labels, or (`kd`) against cached teacher logits with
/// CE-KD (τ = 2), the trial step of a search, through the training loop's own step
/// (`batch_gradients`: on host backends the batch is split across both cores). Host rows →
/// tensors every step, as in training.
fn train_step(device: &Device, layers: usize, hidden: usize, shape: Shape, kd: bool) -> f64 {
    let ad = device.clone().autodiff();
    let mut model = Some(config(layers, hidden).init(0, &ad).train());
    let mut optim = AdamW::new(0.1, Some(1.0), device);
    let rows = rows(shape);
    let indices: Vec<usize> = (0..shape.batch).collect();
    let split = distiller::backend::host_memory(device);
    let kind = LabelKind::Classification { labels: vec!["0".into(), "1".into()] };
    let loss = |m: &Bert, batch: &HostBatch, _: u64, device: &Device| {
        let logits = m.forward(&BertInput::from_host(batch, device), false).logits;
        if kd {
            let cached: Vec<f32> = (0..batch.rows * 2).map(|i| if i % 2 == 0 { 1.5 } else { -0.5 }).collect();
            kd_ce(logits, Tensor::<2>::from_data(TensorData::new(cached, [batch.rows, 2]), device), 2.0)
        } else {
            task_loss(logits, &vec![Label::Class(1); batch.rows], &kind)
        }
    };
    let mut step = 0;
    time(shape, || {
        let m = model.take().unwrap();
        let (_, grads) = batch_gradients(&m, &rows, &indices, 0, 0, split, step, &ad, &loss);
        model = Some(optim.step_sum(5e-5, m, grads));
        step += 1;
    })
}

/// Matrix FLOPs of one sample's forward pass: per layer the four projections (8·s·d²), the
/// feed-forward pair (4·s·d·i) and the attention products QKᵀ and PV (4·s²·d).
fn forward_flops(c: &BertConfig, seq: usize) -> f64 {
    let (s, d, i) = (seq as f64, c.hidden_size as f64, c.intermediate_size as f64);
    c.num_hidden_layers as f64 * (8.0 * s * d * d + 4.0 * s * d * i + 4.0 * s * s * d)
}

/// The matrix FLOPs per sample of `Bert::logits` (the forward item): the last layer's keys and
/// values for every token, the rest of it for the first token only.
fn logits_flops(c: &BertConfig, seq: usize) -> f64 {
    let (s, d, i) = (seq as f64, c.hidden_size as f64, c.intermediate_size as f64);
    let last = 4.0 * s * d * d + 4.0 * d * d + 4.0 * d * i + 4.0 * s * d;
    forward_flops(c, seq) * (c.num_hidden_layers - 1) as f64 / c.num_hidden_layers as f64 + last
}

/// The machine's f32 matrix-product peak on the rayon threads, in GFLOP/s: the best of 5 timed
/// 1536³ products through `gemm`, the library our dense layers call (built with `flex`).
#[cfg(not(feature = "flex"))]
fn gemm_peak() -> Option<f64> {
    None
}

#[cfg(feature = "flex")]
fn gemm_peak() -> Option<f64> {
    let n = 1536;
    let a: Vec<f32> = (0..n * n).map(|i| (i % 17) as f32 / 17.0).collect();
    let mut c = vec![0f32; n * n];
    let mut best = f64::INFINITY;
    for run in 0..6 {
        let start = Instant::now();
        // SAFETY: a and c hold n·n values each, read and written with unit column stride and
        // row stride n.
        unsafe {
            gemm::gemm(
                n,
                n,
                n,
                c.as_mut_ptr(),
                1,
                n as isize,
                false,
                a.as_ptr(),
                1,
                n as isize,
                a.as_ptr(),
                1,
                n as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::Rayon(0),
            );
        }
        if run > 0 {
            best = best.min(start.elapsed().as_secs_f64());
        }
    }
    std::hint::black_box(&c);
    Some(2.0 * (n as f64).powi(3) / best / 1e9)
}

fn pytorch(shape: Shape, device: &str) -> Option<serde_json::Value> {
    // From the working directory when it has the script (a binary carried to another machine).
    let local = std::path::Path::new("experiments/pytorch_reference.py");
    let script = if local.is_file() { local.to_str()? } else { concat!(env!("CARGO_MANIFEST_DIR"), "/experiments/pytorch_reference.py") };
    let args = ["--iters", &shape.iters.to_string(), "--batch", &shape.batch.to_string(), "--seq", &shape.seq.to_string(), "--device", device, "--json"];
    let out = std::process::Command::new("python3").arg(script).args(args).output().ok()?;
    if !out.status.success() {
        eprintln!("pytorch reference skipped: {}", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or(""));
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

fn main() {
    // DISTILLER_BENCH_STOCK_MALLOC=1 measures with glibc's default allocator settings.
    if std::env::var_os("DISTILLER_BENCH_STOCK_MALLOC").is_none() {
        distiller::backend::tune_host_allocator();
    }
    let shape = Shape { batch: env_or("DISTILLER_BENCH_BATCH", 32), seq: env_or("DISTILLER_BENCH_SEQ", 64), iters: env_or("DISTILLER_BENCH_ITERS", 10) };
    let torch_device = std::env::var("DISTILLER_BENCH_TORCH_DEVICE").unwrap_or_else(|_| "cpu".into());
    use clap::ValueEnum;
    let backends: Vec<distiller::backend::Backend> = match std::env::var("DISTILLER_BENCH_BACKENDS") {
        Ok(list) => list.split(',').map(|b| distiller::backend::Backend::from_str(b, true).unwrap_or_else(|e| panic!("DISTILLER_BENCH_BACKENDS: {e}"))).collect(),
        Err(_) => distiller::backend::available().into_iter().filter(|b| *b != distiller::backend::Backend::TchCuda).collect(),
    };
    let threads = rayon::current_num_threads();
    println!("batch {}, seq {}, {} timed iterations, {threads} rayon threads, PyTorch on {torch_device}", shape.batch, shape.seq, shape.iters);
    let peak = gemm_peak();
    let peak_text = peak.map_or("not measured (gemm comes with the flex feature)".into(), |p| format!("{p:.0} GFLOP/s on {threads} threads"));
    println!("machine: {}; f32 gemm peak {peak_text}", machine());
    let torch = pytorch(shape, &torch_device);
    let cases: [(&str, &str, usize, usize); 6] = [
        ("forward", "teacher 6x384", 6, 384),
        ("train_step", "student 4x384", 4, 384),
        ("train_step", "student 4x312", 4, 312),
        ("kd_step", "student 4x384, cached teacher logits", 4, 384),
        ("forward", "teacher 12x768 (110 M, BERT-base's shape)", 12, 768),
        ("train_step", "teacher 12x768, fine-tuning", 12, 768),
    ];
    println!("| work | model | backend | samples/s | PyTorch samples/s | ratio | GFLOP/s | of the gemm peak |");
    println!("|---|---|---|---:|---:|---:|---:|---:|");
    let only = std::env::var("DISTILLER_BENCH_WORK").ok();
    for backend in &backends {
        let device = distiller::backend::device(Some(*backend)).unwrap();
        for (work, label, layers, hidden) in cases {
            let key = format!("{work} {layers}x{hidden}");
            if only.as_ref().is_some_and(|only| !key.contains(only.as_str())) {
                continue;
            }
            let ours = match work {
                "forward" => forward(&device, layers, hidden, shape),
                _ => train_step(&device, layers, hidden, shape, work == "kd_step"),
            };
            let reference = torch.as_ref().and_then(|t| t[&key].as_f64());
            let (r, ratio) = match reference {
                Some(r) => (format!("{r:.1}"), format!("{:.2}x", ours / r)),
                None => ("-".into(), "-".into()),
            };
            let c = config(layers, hidden);
            let flops = if work == "forward" { logits_flops(&c, shape.seq) } else { 3.0 * forward_flops(&c, shape.seq) } * ours / 1e9;
            let share = peak.map_or("-".into(), |p| format!("{:.0} %", 100.0 * flops / p));
            println!("| {work} | {label} | {} | {ours:.1} | {r} | {ratio} | {flops:.0} | {share} |", backend.name());
        }
    }
    if let Some(t) = torch {
        println!("pytorch: {} on {}", t["version"], t["device"]);
    }
}
