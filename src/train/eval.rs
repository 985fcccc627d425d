//! Prediction and evaluation on a split, batched and without autodiff.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;

use crate::data::{Encoded, HostBatch, Label, LabelKind, MetricKind, Metrics, compute_metrics, plan_batches};
use crate::model::{Bert, BertInput};

/// Runs `work` on every length-bucketed batch of `encoded` and returns each batch's row indices
/// with its result. On host backends batches run two at a time (inference builds no graph, so
/// the threads share nothing but the model), which keeps both cores busy on short batches.
pub fn map_batches<T: Send>(encoded: &[Encoded], batch_size: usize, pad_id: u32, device: &Device, work: impl Fn(&HostBatch) -> T + Sync) -> Vec<(Vec<usize>, T)> {
    let plan = plan_batches(encoded, batch_size, None);
    let run = |indices: Vec<usize>| {
        let result = work(&HostBatch::pad(encoded, &indices, pad_id));
        (indices, result)
    };
    if crate::backend::host_memory(device) { plan.into_par_iter().map(run).collect() } else { plan.into_iter().map(run).collect() }
}

/// Logits (`num_labels` per row) for every example, in the split's order.
pub fn predict_logits(model: &Bert, encoded: &[Encoded], batch_size: usize, pad_id: u32, device: &Device) -> Vec<Vec<f32>> {
    let model = model.valid();
    let device = device.clone().inner();
    let mut out = vec![Vec::new(); encoded.len()];
    let batches = map_batches(encoded, batch_size, pad_id, &device, |batch| {
        let logits = model.logits(&BertInput::from_host(batch, &device));
        let [_, width] = logits.dims();
        (crate::model::to_host(logits), width)
    });
    for (indices, (values, width)) in batches {
        for (r, &i) in indices.iter().enumerate() {
            out[i] = values[r * width..(r + 1) * width].to_vec();
        }
    }
    out
}

/// Turns logits into what a metric compares: argmax class, or the regression output.
pub fn predictions(logits: &[Vec<f32>], kind: &LabelKind) -> Vec<f32> {
    logits
        .iter()
        .map(|row| match kind {
            LabelKind::Regression => row[0],
            LabelKind::Classification { .. } => row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i as f32).unwrap_or(0.0),
        })
        .collect()
}

/// Task metrics of `model` on an encoded split.
pub fn evaluate(model: &Bert, encoded: &[Encoded], gold: &[Label], kind: &LabelKind, metric: MetricKind, pad_id: u32, device: &Device) -> Metrics {
    score_logits(&predict_logits(model, encoded, EVAL_BATCH, pad_id, device), gold, kind, metric)
}

/// Rows per batch when evaluating.
pub const EVAL_BATCH: usize = 64;

/// Task metrics of a split's logits against its gold labels.
pub fn score_logits(logits: &[Vec<f32>], gold: &[Label], kind: &LabelKind, metric: MetricKind) -> Metrics {
    let gold: Vec<f32> = gold.iter().map(|l| l.value()).collect();
    compute_metrics(metric, &predictions(logits, kind), &gold)
}

/// The supervised loss on gold labels: cross-entropy for classes, MSE for scores.
pub fn task_loss(logits: Tensor<2>, gold: &[Label], kind: &LabelKind) -> Tensor<1> {
    let [rows, _] = logits.dims();
    let device = logits.device();
    match kind {
        LabelKind::Regression => {
            let y: Vec<f32> = gold.iter().map(|l| l.value()).collect();
            let y = Tensor::<2>::from_data(TensorData::new(y, [rows, 1]), &device);
            (logits - y).powf_scalar(2.0).mean()
        }
        LabelKind::Classification { .. } => {
            let y: Vec<i64> = gold.iter().map(|l| l.value() as i64).collect();
            let y = Tensor::<2, burn::tensor::Int>::from_data(TensorData::new(y, [rows, 1]), &device);
            burn::tensor::activation::log_softmax(logits, 1).gather(1, y).mean().neg()
        }
    }
}
