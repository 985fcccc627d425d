//! Supervised fine-tuning (how a teacher is made): epochs of shuffled, length-bucketed batches,
//! AdamW with warm-up/decay, evaluation after each epoch, a progress bar.

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::time::Instant;

use super::eval::{evaluate, task_loss};
use super::optim::{AdamW, LinearSchedule};
use super::progress::Progress;
use crate::data::{Encoded, HostBatch, Label, LabelKind, MetricKind, Metrics, plan_batches};
use crate::error::{Error, Result};
use crate::model::{Bert, BertInput};

/// Optimisation settings for one fine-tuning run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FineTuneConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub weight_decay: f32,
    pub warmup_ratio: f64,
    pub max_grad_norm: Option<f32>,
    pub seed: u64,
}

impl Default for FineTuneConfig {
    fn default() -> Self {
        Self { epochs: 3, batch_size: 32, lr: 5e-5, weight_decay: 0.1, warmup_ratio: 0.1, max_grad_norm: Some(1.0), seed: 42 }
    }
}

/// A split ready for training: encodings and gold labels side by side.
pub struct EncodedSplit {
    pub encoded: Vec<Encoded>,
    pub labels: Vec<Label>,
}

/// What one epoch achieved.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochReport {
    pub epoch: usize,
    pub mean_loss: f64,
    pub dev: Metrics,
    /// Training throughput (evaluation excluded).
    pub samples_per_sec: f64,
    /// Wall time of the epoch, evaluation included.
    pub seconds: f64,
}

/// The epoch loop shared by fine-tuning and distillation: shuffled length-bucketed batches,
/// AdamW with warm-up/decay, `batch_loss` per step, `evaluate` and `on_epoch` after each epoch.
/// `model` is moved to the autodiff device; the trained model is returned.
#[allow(clippy::too_many_arguments)]
pub fn run_epochs<M: Module>(
    model: M,
    encoded: &[Encoded],
    pad_id: u32,
    config: &FineTuneConfig,
    device: &Device,
    batch_loss: &mut dyn FnMut(&M, &HostBatch, &Device) -> Tensor<1>,
    evaluate: &mut dyn FnMut(&M) -> Metrics,
    on_epoch: &mut dyn FnMut(&EpochReport, &M) -> Result<()>,
) -> Result<(M, Vec<EpochReport>)> {
    let train_device = device.clone().autodiff();
    train_device.seed(config.seed);
    crate::model::dropout::seed(config.seed);
    let mut model = model.fork(&train_device).train();
    let mut optim = AdamW::new(config.weight_decay, config.max_grad_norm, device);
    let steps_per_epoch = encoded.len().div_ceil(config.batch_size.max(1));
    let schedule = LinearSchedule::new(config.lr, steps_per_epoch * config.epochs, config.warmup_ratio);
    let mut reports = Vec::new();
    let mut step = 0;
    for epoch in 1..=config.epochs {
        let started = Instant::now();
        let plan = plan_batches(encoded, config.batch_size, Some(config.seed.wrapping_add(epoch as u64)));
        let mut progress = Progress::new(encoded.len() as u64, &format!("epoch {epoch}/{}", config.epochs));
        let (mut loss_sum, mut loss_n) = (0.0, 0usize);
        for indices in plan {
            let batch = HostBatch::pad(encoded, &indices, pad_id);
            let loss = batch_loss(&model, &batch, &train_device);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let value: f32 = loss.into_scalar();
            if !value.is_finite() {
                progress.finish();
                return Err(Error::Diverged(format!("loss is {value} at epoch {epoch}, step {step}")));
            }
            model = optim.step(schedule.at(step), model, grads);
            step += 1;
            loss_sum += value as f64;
            loss_n += 1;
            progress.advance(batch.rows as u64, loss_sum / loss_n as f64);
        }
        progress.finish();
        let train_seconds = started.elapsed().as_secs_f64();
        let dev = evaluate(&model);
        let report = EpochReport {
            epoch,
            mean_loss: loss_sum / loss_n.max(1) as f64,
            dev,
            samples_per_sec: encoded.len() as f64 / train_seconds,
            seconds: started.elapsed().as_secs_f64(),
        };
        on_epoch(&report, &model)?;
        reports.push(report);
    }
    Ok((model, reports))
}

/// Fine-tunes `model` on gold labels and calls `on_epoch` after each epoch's evaluation, e.g. to
/// save the best checkpoint.
#[allow(clippy::too_many_arguments)]
pub fn fine_tune(
    model: Bert,
    train: &EncodedSplit,
    dev: &EncodedSplit,
    kind: &LabelKind,
    metric: MetricKind,
    pad_id: u32,
    config: &FineTuneConfig,
    device: &Device,
    on_epoch: &mut dyn FnMut(&EpochReport, &Bert) -> Result<()>,
) -> Result<Vec<EpochReport>> {
    let mut batch_loss = |model: &Bert, batch: &HostBatch, device: &Device| {
        let gold: Vec<Label> = batch.indices.iter().map(|&i| train.labels[i]).collect();
        task_loss(model.forward(&BertInput::from_host(batch, device), false).logits, &gold, kind)
    };
    let mut eval = |model: &Bert| evaluate(model, &dev.encoded, &dev.labels, kind, metric, pad_id, device);
    let (_, reports) = run_epochs(model, &train.encoded, pad_id, config, device, &mut batch_loss, &mut eval, on_epoch)?;
    Ok(reports)
}
