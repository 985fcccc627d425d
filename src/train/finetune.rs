//! Supervised fine-tuning (how a teacher is made): epochs of shuffled, length-bucketed batches,
//! AdamW with warm-up/decay, evaluation after each epoch, a progress bar.

use burn::module::{Module, ModuleMapper, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::time::Instant;

use super::eval::{evaluate, task_loss};
use super::optim::{AdamW, LinearSchedule, RateFactors};
use super::progress::Progress;
use crate::data::{Encoded, EncodedSplit, HostBatch, Label, LabelKind, MetricKind, Metrics, plan_batches};
use crate::error::{Error, Result};
use crate::model::{Bert, BertInput};

/// Optimisation settings for one fine-tuning run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FineTuneConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub weight_decay: f32,
    pub warmup_ratio: f64,
    pub max_grad_norm: Option<f32>,
    pub seed: u64,
    /// Whether a batch may be split in two halves trained side by side on host backends (each
    /// half's loss weighted by its rows, the gradients summed): only when no loss term couples
    /// the rows of a batch (MI-α's critic contrasts each row with the others).
    #[serde(default = "split_by_default")]
    pub split_batches: bool,
    /// Factor on the rate of the task head (pooler and classifier), which starts from scratch.
    #[serde(default = "one")]
    pub head_lr_scale: f64,
    /// Layer-wise rate decay: each layer below the top learns at this factor of the one above
    /// ([`RateFactors`]); 1 is a uniform rate.
    #[serde(default = "one")]
    pub layer_decay: f64,
}

fn split_by_default() -> bool {
    true
}

fn one() -> f64 {
    1.0
}

impl Default for FineTuneConfig {
    fn default() -> Self {
        Self {
            epochs: 3,
            batch_size: 32,
            lr: 5e-5,
            weight_decay: 0.1,
            warmup_ratio: 0.1,
            max_grad_norm: Some(1.0),
            seed: 42,
            split_batches: split_by_default(),
            head_lr_scale: 1.0,
            layer_decay: 1.0,
        }
    }
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

/// The loss of one batch (or half batch): `draw` is unique per call within a run, for any
/// randomness the loss draws (e.g. mixup partners).
pub type BatchLoss<'a, M> = dyn Fn(&M, &HostBatch, u64, &Device) -> Tensor<1> + Sync + 'a;

/// The epoch loop shared by fine-tuning and distillation: shuffled length-bucketed batches,
/// AdamW with warm-up/decay, `batch_loss` per step, `evaluate` and `on_epoch` after each epoch.
/// `model` is moved to the autodiff device; the trained model is returned.
#[allow(clippy::too_many_arguments)]
pub fn run_epochs<M: Module + Sync>(
    model: M,
    encoded: &[Encoded],
    pad_id: u32,
    config: &FineTuneConfig,
    device: &Device,
    batch_loss: &BatchLoss<M>,
    evaluate: &mut dyn FnMut(&M) -> Metrics,
    on_epoch: &mut dyn FnMut(&EpochReport, &M) -> Result<()>,
) -> Result<(M, Vec<EpochReport>)> {
    let train_device = device.clone().autodiff();
    crate::backend::seeded_init(&train_device, config.seed, || ());
    let mut model = model.fork(&train_device).train();
    let mut optim = AdamW::new(config.weight_decay, config.max_grad_norm, device).with_rates(RateFactors::for_module(config.head_lr_scale, config.layer_decay, &model));
    let steps_per_epoch = encoded.len().div_ceil(config.batch_size.max(1));
    let schedule = LinearSchedule::new(config.lr, steps_per_epoch * config.epochs, config.warmup_ratio);
    let mut reports = Vec::new();
    let mut step = 0u64;
    // Both cores on host backends: flex runs most ops other than matmul on one thread.
    let halves = config.split_batches && crate::backend::host_memory(device) && rayon::current_num_threads() > 1;
    for epoch in 1..=config.epochs {
        let started = Instant::now();
        let plan = plan_batches(encoded, config.batch_size, Some(config.seed.wrapping_add(epoch as u64)));
        let mut progress = Progress::new(encoded.len() as u64, &format!("epoch {epoch}/{}", config.epochs));
        let (mut loss_sum, mut loss_n) = (0.0, 0usize);
        for indices in plan {
            let (value, grads) = batch_gradients(&model, encoded, &indices, pad_id, config.seed, halves, step, &train_device, batch_loss);
            if !value.is_finite() {
                progress.finish();
                return Err(Error::Diverged(format!("loss is {value} at epoch {epoch}, step {step}")));
            }
            model = optim.step_sum(schedule.at(step as usize), model, grads);
            step += 1;
            loss_sum += value as f64;
            loss_n += 1;
            progress.advance(indices.len() as u64, loss_sum / loss_n as f64);
        }
        progress.finish();
        let train_seconds = started.elapsed().as_secs_f64();
        let dev = evaluate(&model);
        let report =
            EpochReport { epoch, mean_loss: loss_sum / loss_n.max(1) as f64, dev, samples_per_sec: encoded.len() as f64 / train_seconds, seconds: started.elapsed().as_secs_f64() };
        on_epoch(&report, &model)?;
        reports.push(report);
    }
    Ok((model, reports))
}

/// The loss (a number) and gradients of one batch, the rows `indices` of `encoded`, at optimiser
/// step `step`, with a dropout stream drawn from `seed` and the step. With `split`, the batch is
/// split in two halves trained side by side (host backends: both cores), each with its own
/// dropout stream; the halves' losses are weighted by their rows and their gradients come back as two parts for
/// [`AdamW::step_sum`]. `device` is the autodiff device.
#[allow(clippy::too_many_arguments)]
pub fn batch_gradients<M: Module + Sync>(
    model: &M,
    encoded: &[Encoded],
    indices: &[usize],
    pad_id: u32,
    seed: u64,
    split: bool,
    step: u64,
    device: &Device,
    batch_loss: &BatchLoss<M>,
) -> (f32, Vec<GradientsParams>) {
    let stream = |part: u64| seed ^ (2 * step + part).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    if !split || indices.len() < 2 {
        let batch = HostBatch::pad(encoded, indices, pad_id);
        let loss = crate::model::dropout::with_stream(stream(0), || batch_loss(model, &batch, step, device));
        let grads = GradientsParams::from_grads(loss.backward(), model);
        return (loss.into_scalar::<f32>(), vec![grads]);
    }
    let (first, second) = indices.split_at(indices.len() / 2);
    let half = |rows: &[usize], part: u64| {
        // Each half gets its own dropout stream and parameter leaves (so its own autodiff graph,
        // which the other thread does not lock).
        let local = model.clone().map(&mut FreshLeaves);
        let batch = HostBatch::pad(encoded, rows, pad_id);
        let loss = crate::model::dropout::with_stream(stream(part), || batch_loss(&local, &batch, 2 * step + part, device));
        let loss = loss.mul_scalar(rows.len() as f64 / indices.len() as f64);
        let grads = GradientsParams::from_grads(loss.backward(), &local);
        (loss.into_scalar::<f32>(), grads)
    };
    let ((a, grads_a), (b, grads_b)) = rayon::join(|| half(first, 0), || half(second, 1));
    (a + b, vec![grads_a, grads_b])
}

/// Replaces every trainable parameter by a new autodiff leaf over the same values (same id).
struct FreshLeaves;

impl ModuleMapper for FreshLeaves {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|t| if t.is_require_grad() { t.detach().require_grad() } else { t })
    }
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
    let batch_loss = |model: &Bert, batch: &HostBatch, _: u64, device: &Device| {
        let gold: Vec<Label> = batch.indices.iter().map(|&i| train.labels[i]).collect();
        task_loss(model.forward(&BertInput::from_host(batch, device), false).logits, &gold, kind)
    };
    let mut eval = |model: &Bert| evaluate(model, &dev.encoded, &dev.labels, kind, metric, pad_id, device);
    let (_, reports) = run_epochs(model, &train.encoded, pad_id, config, device, &batch_loss, &mut eval, on_epoch)?;
    Ok(reports)
}
