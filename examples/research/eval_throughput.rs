//! `distiller eval`'s forward pass over a GLUE task's dev rows, timed beside HF transformers
//! scoring the same model directory (experiments/hf_eval_reference.py: AutoModelForSequenceClassification,
//! batches of 64 padded to their longest row, the same number of threads) in the same run.
//!
//! Ours goes through `train::predict_logits`, the function `distiller eval` and the teacher-cache
//! build call: batches of 64 rows grouped by length, two batches at a time on host backends.
//! Transformers is timed in the dev file's order (what its Trainer does at evaluation) and with
//! the rows sorted by length first. Tokenising and loading are outside the clock on both sides.
//! The largest difference between the two sides' logits shows that both computed the same model.
//!
//! `cargo run --release --example eval_throughput -- MODEL_DIR TASK` (TASK: sst2, mrpc, stsb; a
//! checkpoint `distiller teacher` or `distiller train` wrote with the [CLS] head, which
//! transformers loads). Environment: `DISTILLER_BENCH_ITERS` (timed passes over the dev rows, 3),
//! `DISTILLER_DATA` (where the GLUE files are, as for the CLI).

use distiller::data::{GlueTask, Split, Task, TextEncoder, encode_split, load_split, locate};
use std::path::Path;
use std::time::Instant;

#[path = "lib/machine.rs"]
mod machine;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model_dir, task] = args.as_slice() else {
        eprintln!("usage: eval_throughput MODEL_DIR TASK");
        std::process::exit(2);
    };
    if let Err(e) = run(Path::new(model_dir), task) {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}

fn run(model_dir: &Path, task: &str) -> distiller::Result<()> {
    let iters = std::env::var("DISTILLER_BENCH_ITERS").ok().and_then(|s| s.parse().ok()).unwrap_or(3usize);
    distiller::backend::tune_host_allocator();
    let device = distiller::backend::device(None)?;
    let task = Task::resolve(task)?;
    let Task::Glue(glue) = task else {
        eprintln!("eval_throughput: a GLUE task (the reference reads the GLUE file)");
        std::process::exit(2);
    };
    let loaded = distiller::model::load(model_dir, &device)?;
    let max_len = loaded.meta.as_ref().map_or_else(|| task.default_max_len(), |m| m.max_len);
    let encoder = TextEncoder::from_model_dir(model_dir, max_len)?;
    let dev = encode_split(&encoder, &load_split(&task, Split::Dev, None)?)?;
    let rows = dev.encoded.len();
    let predict = || distiller::train::predict_logits(&loaded.model, &dev.encoded, distiller::train::EVAL_BATCH, encoder.pad_id(), &device);
    let mut logits = predict();
    let start = Instant::now();
    for _ in 0..iters {
        logits = predict();
    }
    let ours = (rows * iters) as f64 / start.elapsed().as_secs_f64();

    let c = &loaded.config;
    println!(
        "{} dev rows of {}, max_len {max_len}, model {} ({} x {}), {iters} timed passes, {} rayon threads",
        rows,
        glue.name(),
        model_dir.display(),
        c.num_hidden_layers,
        c.hidden_size,
        rayon::current_num_threads()
    );
    println!("machine: {}", machine::machine());
    println!("| side | rows/s | distiller ÷ this |");
    println!("|---|---:|---:|");
    println!("| distiller (`predict_logits`, as `eval`) | {ours:.1} | 1.00x |");
    match reference(model_dir, glue, iters) {
        Some(hf) => {
            for (key, label) in [("dev_order", "transformers, dev file's order"), ("sorted", "transformers, rows sorted by length")] {
                let theirs = hf[key].as_f64().unwrap_or(f64::NAN);
                println!("| {label} | {theirs:.1} | {:.2}x |", ours / theirs);
            }
            let theirs: Vec<Vec<f64>> = serde_json::from_value(hf["logits"].clone()).unwrap_or_default();
            let diff = logits.iter().zip(&theirs).flat_map(|(a, b)| a.iter().zip(b).map(|(a, b)| (*a as f64 - b).abs())).fold(0f64, f64::max);
            println!("transformers {} (torch {}); largest logit difference {diff:.2e} over {} rows", hf["version"], hf["torch"], theirs.len());
        }
        None => println!("transformers reference skipped (python3 with torch and transformers needed)"),
    }
    Ok(())
}

/// experiments/hf_eval_reference.py's JSON, when python3 with transformers runs it.
fn reference(model_dir: &Path, task: GlueTask, iters: usize) -> Option<serde_json::Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/hf_eval_reference.py");
    let dev = locate(task, Split::Dev, None).ok()?;
    let threads = rayon::current_num_threads().to_string();
    let out =
        std::process::Command::new("python3").arg(script).arg(model_dir).arg(task.name()).arg(dev).args(["--iters", &iters.to_string(), "--threads", &threads]).output().ok()?;
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or(""));
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}
