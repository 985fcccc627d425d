//! What a model costs to keep and to run: its parameters (all, and without the input
//! embeddings), its checkpoint's size, and its latency at batch 1 and batch 32 on the device
//! that trained it (the CPU with the default backend) — what distillation is for. A student's
//! [`Compression`] sets its footprint beside its teacher's.

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

use super::bert::{Bert, BertInput};
use super::weights::weights_file;
use crate::data::{Encoded, HostBatch};
use crate::error::{Error, Result};

/// Timed runs per batch size and model; the median is kept (after one untimed warm-up run).
pub const LATENCY_RUNS: usize = 5;

/// The rows of the latency batches: one row, and this many.
pub const LATENCY_BATCH: usize = 32;

/// One model's size and speed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Footprint {
    pub params: usize,
    /// Without the input embeddings.
    pub params_without_embeddings: usize,
    /// The checkpoint's weights file, in MB (10^6 bytes).
    pub checkpoint_mb: f64,
    /// Median milliseconds of one forward pass over the task's first dev row.
    pub latency_ms_batch1: f64,
    /// Median milliseconds of one forward pass over the task's first 32 dev rows.
    pub latency_ms_batch32: f64,
}

/// A model to measure: the model, the checkpoint it was saved as, and the task's dev rows as its
/// own tokenizer encodes them.
pub struct Measured<'a> {
    pub model: &'a Bert,
    pub dir: &'a Path,
    pub dev: &'a [Encoded],
    pub pad_id: u32,
}

impl Measured<'_> {
    fn size(&self) -> Result<(usize, usize, f64)> {
        let weights = weights_file(self.dir)?;
        let bytes = std::fs::metadata(&weights).map_err(|e| Error::io(&weights, e))?.len();
        let params = self.model.num_params();
        Ok((params, params - self.model.embedding_params(), bytes as f64 / 1e6))
    }

    /// One timed forward pass over the first `rows` dev rows, in ms.
    fn time(&self, model: &Bert, rows: usize, device: &Device) -> f64 {
        let batch = HostBatch::pad(self.dev, &(0..rows.min(self.dev.len())).collect::<Vec<_>>(), self.pad_id);
        let input = BertInput::from_host(&batch, device);
        let started = Instant::now();
        let _ = super::to_host(model.forward(&input, false).logits); // waits for the computation
        started.elapsed().as_secs_f64() * 1e3
    }
}

fn median(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// A student's footprint beside its teacher's, measured side by side with the same threads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Compression {
    pub student: Footprint,
    pub teacher: Footprint,
    /// CPU threads the latencies were measured with.
    pub threads: usize,
}

impl Compression {
    /// Measures a student and its teacher side by side: their runs alternate, so whatever else
    /// the machine does slows both alike and the ratios hold.
    pub fn measure(student: Measured, teacher: Measured, device: &Device) -> Result<Self> {
        let device = device.clone().inner();
        let models = [student.model.valid(), teacher.model.valid()];
        let sides = [&student, &teacher];
        let mut times = [[Vec::new(), Vec::new()], [Vec::new(), Vec::new()]];
        for run in 0..=LATENCY_RUNS {
            for (side, measured) in sides.iter().enumerate() {
                for (k, rows) in [1, LATENCY_BATCH].into_iter().enumerate() {
                    let ms = measured.time(&models[side], rows, &device);
                    if run > 0 {
                        times[side][k].push(ms); // the first run warms up
                    }
                }
            }
        }
        let footprint = |side: usize| -> Result<Footprint> {
            let (params, params_without_embeddings, checkpoint_mb) = sides[side].size()?;
            let [b1, b32] = times[side].clone();
            Ok(Footprint { params, params_without_embeddings, checkpoint_mb, latency_ms_batch1: median(b1), latency_ms_batch32: median(b32) })
        };
        Ok(Self { student: footprint(0)?, teacher: footprint(1)?, threads: rayon::current_num_threads() })
    }

    /// How many times fewer parameters the student has.
    pub fn params_ratio(&self) -> f64 {
        self.teacher.params as f64 / self.student.params as f64
    }

    /// How many times faster the student answers one row.
    pub fn latency_ratio(&self) -> f64 {
        self.teacher.latency_ms_batch1 / self.student.latency_ms_batch1
    }

    /// How many times faster the student runs a batch of 32.
    pub fn throughput_ratio(&self) -> f64 {
        self.teacher.latency_ms_batch32 / self.student.latency_ms_batch32
    }

    /// One line: `22.7M params (4.8x fewer), 14.1 ms at batch 1 (5.2x faster), ...`.
    pub fn summary(&self) -> String {
        let s = &self.student;
        format!(
            "{:.1}M params ({:.1}M without embeddings, {:.1}x fewer than the teacher), {:.0} MB, {:.1} ms at batch 1 ({:.1}x faster), {:.0} ms at batch 32 ({:.1}x), {} threads",
            s.params as f64 / 1e6,
            s.params_without_embeddings as f64 / 1e6,
            self.params_ratio(),
            s.checkpoint_mb,
            s.latency_ms_batch1,
            self.latency_ratio(),
            s.latency_ms_batch32,
            self.throughput_ratio(),
            self.threads
        )
    }

    /// The figures as flat `key: number` pairs (Optuna's user attributes, `metrics.json`).
    pub fn attributes(&self) -> Vec<(String, f64)> {
        let side = |prefix: &str, f: &Footprint| {
            [
                ("params", f.params as f64),
                ("params_without_embeddings", f.params_without_embeddings as f64),
                ("checkpoint_mb", f.checkpoint_mb),
                ("latency_ms_batch1", f.latency_ms_batch1),
                ("latency_ms_batch32", f.latency_ms_batch32),
            ]
            .map(|(k, v)| (format!("{prefix}{k}"), v))
        };
        let mut out: Vec<(String, f64)> = side("", &self.student).into_iter().chain(side("teacher_", &self.teacher)).collect();
        out.extend([
            ("params_ratio".to_string(), self.params_ratio()),
            ("latency_ratio".to_string(), self.latency_ratio()),
            ("throughput_ratio".to_string(), self.throughput_ratio()),
            ("threads".to_string(), self.threads as f64),
        ]);
        out
    }
}
