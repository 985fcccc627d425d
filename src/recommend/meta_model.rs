//! The meta-model: kernel (Nadaraya–Watson) regression of each past result's normalised rank
//! within its task,
//!
//! ```text
//! r̂(x) = (w₀·½ + Σₖ Σᵢ wₖ(m)·exp(−‖x − xₖᵢ‖²ₖ / ℓ)·rₖᵢ) / (w₀ + Σₖ Σᵢ wₖ(m)·exp(−‖x − xₖᵢ‖²ₖ / ℓ))
//! wₖ(m) = exp(−d²(m, mₖ) / h)      (h = ∞: every past task weighs the same)
//! ```
//!
//! over the BO's conditional encoding of a pipeline (`‖·‖ₖ` counts only the fields past task k
//! varied), shrunk towards the middle rank with pseudo-weight w₀ where evidence is thin; the
//! weighted spread is its uncertainty. d² is the mean squared difference of the standardised
//! `.meta` features both datasets know ([`DatasetMeta::features`]); wₖ is 0 for a study under
//! another teacher when teachers are not pooled. The configuration scale ℓ, the task bandwidth h
//! and whether to pool teachers are chosen by leave-one-task-out among the past tasks themselves
//! (all studies of the held-out task left out), so the new dataset never tunes them; weighting by
//! `.meta` or teacher is kept only when it beats plain pooling there by a margin.

use super::history::PastTask;
use super::normalised_ranks;
use crate::data::DatasetMeta;
use crate::error::{Error, Result};
use crate::search::encoding::{Encoding, column_dims, features};
use crate::search::space::{Point, Space};

/// Pseudo-weight of the prior (the middle rank).
const PRIOR_WEIGHT: f64 = 0.5;
/// Configuration length scales tried, the first preferred on ties.
const CONFIG_SCALES: [f64; 4] = [0.1, 0.05, 0.25, 1.0];
/// Task bandwidths tried, as multiples of the median squared `.meta` distance between past tasks.
const TASK_BANDWIDTHS: [f64; 3] = [0.25, 1.0, 4.0];
/// How much better (in mean realised normalised rank of the top picks) weighting by `.meta` or
/// teacher must do than plain pooling to be kept.
const WEIGHTING_MARGIN: f64 = 0.01;
/// Picks per held-out task whose realised rank scores a setting.
const SCORED_PICKS: usize = 3;

/// Whether past tasks may be weighted by their similarity to the new dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum TaskWeighting {
    /// By `.meta` similarity when leave-one-task-out among the past tasks says it helps.
    #[default]
    Auto,
    /// Every past task weighs the same.
    Equal,
}

/// The kernel scales in use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scales {
    /// ℓ: squared distance in the encoding at which a result's weight falls by e.
    pub config: f64,
    /// h as a multiple of the median squared `.meta` distance; `None` = equal weights.
    pub task: Option<f64>,
    /// Whether studies under other teachers count (`false`: only the target's teacher's).
    pub pooled: bool,
}

impl Scales {
    /// The simplest setting: every past task and teacher weighs the same.
    fn is_plain(&self) -> bool {
        self.task.is_none() && self.pooled
    }
}

/// What a new task is compared on: its `.meta` and its teacher.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub meta: &'a DatasetMeta,
    /// The teacher whose studies stand for the new task's (`None`: pool every teacher).
    pub teacher: Option<&'a str>,
}

/// A candidate's predicted normalised rank (1 = best of its task, 0 = worst) and uncertainty.
#[derive(Debug, Clone)]
pub struct Prediction {
    /// Its position among the candidates ranked.
    pub index: usize,
    pub point: Point,
    pub mean: f64,
    pub sd: f64,
}

/// A past task in model form.
struct Encoded {
    study: String,
    task: String,
    teacher: Option<String>,
    meta: Option<[Option<f64>; 9]>,
    /// 1 for each column of a field the task varied, else 0.
    mask: Vec<f64>,
    rows: Vec<Vec<f64>>,
    ranks: Vec<f64>,
}

/// The fitted meta-model.
pub struct Model {
    space: Space,
    tasks: Vec<Encoded>,
    /// Per `.meta` feature, its spread over the past tasks (`None`: unusable).
    spread: [Option<f64>; 9],
    /// Median squared `.meta` distance between past tasks (the bandwidth's unit).
    median_d2: Option<f64>,
    scales: Scales,
    /// Every setting tried and its leave-one-task-out score (mean realised normalised rank of the
    /// top picks); empty when there were too few past tasks to choose.
    pub selection: Vec<(Scales, f64)>,
}

impl Model {
    /// Learns from `tasks` (results over `space`), choosing the scales by leave-one-task-out.
    pub fn fit(tasks: &[PastTask], space: &Space, weighting: TaskWeighting) -> Result<Self> {
        if tasks.iter().all(|t| t.results.is_empty()) {
            return Err(Error::Recommend(
                "nothing to learn from: no study in the store shares a field with this space (run `distiller import-trials auto_distiller_tabular_data.csv` or a search first)"
                    .into(),
            ));
        }
        let columns = column_dims(space, Encoding::Conditional);
        let encoded: Vec<Encoded> = tasks
            .iter()
            .map(|t| Encoded {
                study: t.study.clone(),
                task: t.task.clone(),
                teacher: t.teacher.clone(),
                meta: t.meta.as_ref().map(DatasetMeta::features),
                mask: columns.iter().map(|&d| if t.shared[d] { 1.0 } else { 0.0 }).collect(),
                rows: t.results.iter().map(|(p, _)| features(space, p, Encoding::Conditional)).collect(),
                ranks: normalised_ranks(&t.results),
            })
            .collect();
        let mut spread = [None; 9];
        for (f, slot) in spread.iter_mut().enumerate() {
            let known: Vec<f64> = encoded.iter().filter_map(|t| t.meta.and_then(|m| m[f])).collect();
            if known.len() >= 2 {
                let mean = known.iter().sum::<f64>() / known.len() as f64;
                let sd = (known.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / known.len() as f64).sqrt();
                *slot = (sd > 1e-12).then_some(sd);
            }
        }
        let mut model =
            Self { space: space.clone(), tasks: encoded, spread, median_d2: None, scales: Scales { config: CONFIG_SCALES[0], task: None, pooled: true }, selection: Vec::new() };
        let mut pairwise: Vec<f64> = Vec::new();
        for (i, a) in model.tasks.iter().enumerate() {
            for b in &model.tasks[i + 1..] {
                pairwise.extend(model.meta_d2(a.meta.as_ref(), b.meta.as_ref()));
            }
        }
        pairwise.sort_by(f64::total_cmp);
        model.median_d2 = pairwise.get(pairwise.len() / 2).copied().filter(|d| *d > 0.0);
        model.choose_scales(weighting);
        Ok(model)
    }

    pub fn scales(&self) -> Scales {
        self.scales
    }

    /// Squared `.meta` distance: the mean over features both know (and that vary among the past
    /// tasks) of the squared standardised difference; `None` when they share none.
    fn meta_d2(&self, a: Option<&[Option<f64>; 9]>, b: Option<&[Option<f64>; 9]>) -> Option<f64> {
        let (a, b) = (a?, b?);
        let terms: Vec<f64> = (0..9).filter_map(|f| Some(((a[f]? - b[f]?) / self.spread[f]?).powi(2))).collect();
        (!terms.is_empty()).then(|| terms.iter().sum::<f64>() / terms.len() as f64)
    }

    /// Past study `k`'s weight for a task with features `meta` and teacher `teacher` under
    /// `scales` (a study whose `.meta` distance is unknown weighs as one at the median distance).
    fn task_weight(&self, meta: Option<&[Option<f64>; 9]>, teacher: Option<&str>, k: usize, scales: Scales) -> f64 {
        if !scales.pooled && teacher.is_some() && self.tasks[k].teacher.as_deref() != teacher {
            return 0.0;
        }
        match (scales.task, self.median_d2) {
            (Some(multiple), Some(median)) => (-self.meta_d2(meta, self.tasks[k].meta.as_ref()).unwrap_or(median) / (multiple * median)).exp(),
            _ => 1.0,
        }
    }

    /// Squared distances from encoded `x` (whose fields are those in `mask`; all when `None`) to
    /// every past result, per study, each over the fields both sides varied; none to the studies
    /// of task `skip`.
    fn distances(&self, x: &[f64], mask: Option<&[f64]>, skip: Option<&str>) -> Vec<Vec<f64>> {
        let d2 = |row: &[f64], task_mask: &[f64]| -> f64 {
            match mask {
                None => row.iter().zip(x).zip(task_mask).map(|((a, b), m)| m * (a - b) * (a - b)).sum(),
                Some(own) => row.iter().zip(x).zip(task_mask).zip(own).map(|(((a, b), m), o)| m * o * (a - b) * (a - b)).sum(),
            }
        };
        self.tasks.iter().map(|t| if Some(t.task.as_str()) == skip { Vec::new() } else { t.rows.iter().map(|row| d2(row, &t.mask)).collect() }).collect()
    }

    /// The kernel estimate (mean, sd) from per-task squared distances and task weights.
    fn estimate(&self, distances: &[Vec<f64>], weights: &[f64], config_scale: f64) -> (f64, f64) {
        let (mut w_sum, mut wy, mut wy2) = (PRIOR_WEIGHT, PRIOR_WEIGHT * 0.5, PRIOR_WEIGHT * 0.25);
        for ((task, d2s), tw) in self.tasks.iter().zip(distances).zip(weights) {
            for (d2, r) in d2s.iter().zip(&task.ranks) {
                let w = tw * (-d2 / config_scale).exp();
                w_sum += w;
                wy += w * r;
                wy2 += w * r * r;
            }
        }
        let mean = wy / w_sum;
        (mean, (wy2 / w_sum - mean * mean).max(0.0).sqrt())
    }

    /// Leave-one-task-out among the past tasks: each setting ranks every task's own results from
    /// the others; its score is the mean realised normalised rank of its top picks.
    fn choose_scales(&mut self, weighting: TaskWeighting) {
        let held_out: Vec<usize> = (0..self.tasks.len()).filter(|&k| self.tasks[k].rows.len() > SCORED_PICKS).collect();
        if held_out.len() < 2 {
            return;
        }
        let conditioned = weighting == TaskWeighting::Auto && self.median_d2.is_some();
        let bandwidths = std::iter::once(None).chain(TASK_BANDWIDTHS.iter().map(|b| Some(*b)).filter(|_| conditioned));
        let settings: Vec<Scales> = [true, false]
            .into_iter()
            .flat_map(|pooled| bandwidths.clone().flat_map(move |task| CONFIG_SCALES.iter().map(move |&config| Scales { config, task, pooled })))
            .collect();
        let mut totals = vec![0.0; settings.len()];
        for &j in &held_out {
            let own = &self.tasks[j];
            let distances: Vec<Vec<Vec<f64>>> = own.rows.iter().map(|x| self.distances(x, Some(&own.mask), Some(&own.task))).collect();
            for (total, scales) in totals.iter_mut().zip(&settings) {
                let weights: Vec<f64> = (0..self.tasks.len()).map(|k| self.task_weight(own.meta.as_ref(), own.teacher.as_deref(), k, *scales)).collect();
                let mut predicted: Vec<(f64, f64)> = distances.iter().zip(&own.ranks).map(|(d, r)| (self.estimate(d, &weights, scales.config).0, *r)).collect();
                predicted.sort_by(|a, b| b.0.total_cmp(&a.0));
                *total += predicted.iter().take(SCORED_PICKS).map(|(_, r)| r).sum::<f64>() / SCORED_PICKS as f64;
            }
        }
        self.selection = settings.into_iter().zip(totals.into_iter().map(|t| t / held_out.len() as f64)).collect();
        // Weighting by .meta or by teacher is kept only when it beats plain pooling by a margin.
        let best = |plain: bool| self.selection.iter().filter(|(s, _)| s.is_plain() == plain).copied().reduce(|a, b| if b.1 > a.1 { b } else { a });
        let plain = best(true).expect("plain pooling is always tried");
        self.scales = match best(false) {
            Some((scales, score)) if score > plain.1 + WEIGHTING_MARGIN => scales,
            _ => plain.0,
        };
    }

    /// Predicted normalised rank of each candidate for `target`; best first.
    pub fn rank(&self, target: Target, candidates: &[Point]) -> Vec<Prediction> {
        let weights = self.weights(target);
        let mut predictions: Vec<Prediction> = candidates
            .iter()
            .enumerate()
            .map(|(index, point)| {
                let distances = self.distances(&features(&self.space, point, Encoding::Conditional), None, None);
                let (mean, sd) = self.estimate(&distances, &weights, self.scales.config);
                Prediction { index, point: point.clone(), mean, sd }
            })
            .collect();
        predictions.sort_by(|a, b| b.mean.total_cmp(&a.mean));
        predictions
    }

    fn weights(&self, target: Target) -> Vec<f64> {
        let features = target.meta.features();
        (0..self.tasks.len()).map(|k| self.task_weight(Some(&features), target.teacher, k, self.scales)).collect()
    }

    /// Each past study's share of the total weight for `target` (its weight times its number of
    /// results), largest first.
    pub fn task_shares(&self, target: Target) -> Vec<(String, f64)> {
        let raw: Vec<f64> = self.weights(target).iter().zip(&self.tasks).map(|(w, t)| w * t.rows.len() as f64).collect();
        let total: f64 = raw.iter().sum::<f64>().max(f64::MIN_POSITIVE);
        let mut shares: Vec<(String, f64)> = self.tasks.iter().zip(raw).map(|(t, w)| (t.study.clone(), w / total)).collect();
        shares.sort_by(|a, b| b.1.total_cmp(&a.1));
        shares
    }
}
