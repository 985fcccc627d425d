//! The meta-model: kernel (Nadaraya–Watson) regression of each past result's normalised rank
//! within its task, blended with the candidate's "most popular" estimate,
//!
//! ```text
//! k̂(x) = (w₀·½ + Σₖ Σᵢ wₖ(m)·exp(−‖x − xₖᵢ‖²ₖ / ℓ)·rₖᵢ) / (w₀ + Σₖ Σᵢ wₖ(m)·exp(−‖x − xₖᵢ‖²ₖ / ℓ))
//! p̂(x) = (Σ_{k ran x} wₖ(m)·rₖ(x) + w̄·k̂(x)) / (Σ_{k ran x} wₖ(m) + w̄)
//! r̂(x) = (1 − β)·k̂(x) + β·p̂(x)
//! wₖ(m) = exp(−d²(m, mₖ) / h)      (h = ∞: every past task weighs the same)
//! ```
//!
//! k̂ works over the BO's conditional encoding of a pipeline (`‖·‖ₖ` counts only the fields past
//! task k varied), shrunk towards the middle rank with pseudo-weight w₀ where evidence is thin;
//! its weighted spread is the uncertainty. p̂ is the rank x itself got on the past tasks that ran
//! it (rₖ(x)), shrunk towards k̂ as if one more task of the mean weight w̄ had given that: the
//! most-popular ranking, which transfers a configuration exactly and leans on the kernel only for
//! configurations no past task ran. d² is the mean squared difference of the standardised
//! `.meta` features both datasets know ([`DatasetMeta::features`]); wₖ is 0 for a study under
//! another teacher when teachers are not pooled. The blend β, the configuration scale ℓ, the task
//! bandwidth h and whether to pool teachers are chosen by leave-one-task-out among the past tasks
//! themselves (all studies of the held-out task left out), so the new dataset never tunes them;
//! weighting by `.meta` or pooling teachers is kept only when it beats the matched teacher's
//! studies at equal weights there, on the mean by a margin and on most held-out tasks.
//! A setting's score there rates the whole ranking and its top: see [`selection_score`].

use super::history::PastTask;
use super::normalised_ranks;
use crate::data::DatasetMeta;
use crate::data::metrics::spearman;
use crate::error::{Error, Result};
use crate::search::encoding::{Encoding, column_dims, features};
use crate::search::space::{Point, Space};

/// Pseudo-weight of the prior (the middle rank).
const PRIOR_WEIGHT: f64 = 0.5;
/// Configuration length scales tried, the first preferred on ties.
const CONFIG_SCALES: [f64; 4] = [0.1, 0.05, 0.25, 1.0];
/// Task bandwidths tried, as multiples of the median squared `.meta` distance between past tasks.
const TASK_BANDWIDTHS: [f64; 3] = [0.25, 1.0, 4.0];
/// Blends β tried (0: the kernel alone, 1: most popular alone), the first preferred on ties.
const BLENDS: [f64; 3] = [0.0, 0.5, 1.0];
/// How much better (in mean [`selection_score`]) weighting by `.meta` or pooling teachers must do
/// than the reference setting to be kept.
const WEIGHTING_MARGIN: f64 = 0.01;
/// Picks per held-out task whose realised rank scores a setting.
const SCORED_PICKS: usize = 3;
/// Squared encoding distance under which two pipelines are the same configuration.
const SAME_CONFIG: f64 = 1e-12;

/// Whether past tasks may be weighted by their similarity to the new dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum TaskWeighting {
    /// By `.meta` similarity when leave-one-task-out among the past tasks says it helps.
    #[default]
    Auto,
    /// Every past task weighs the same.
    Equal,
}

/// What the caller fixes of the model's setting; leave-one-task-out chooses the rest.
#[derive(Debug, Clone, Copy, Default)]
pub struct ModelChoice {
    pub weighting: TaskWeighting,
    /// β, when fixed (else one of [`BLENDS`]).
    pub blend: Option<f64>,
    /// ℓ, when fixed (else one of [`CONFIG_SCALES`]).
    pub config_scale: Option<f64>,
}

impl From<TaskWeighting> for ModelChoice {
    fn from(weighting: TaskWeighting) -> Self {
        Self { weighting, ..Self::default() }
    }
}

/// The model's setting: its kernel scales and blend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Setting {
    /// ℓ: squared distance in the encoding at which a result's weight falls by e.
    pub config: f64,
    /// h as a multiple of the median squared `.meta` distance; `None` = equal weights.
    pub task: Option<f64>,
    /// Whether studies under other teachers count (`false`: only the target's teacher's).
    pub pooled: bool,
    /// β: the most-popular estimate's weight (0: the kernel alone, 1: most popular alone).
    pub blend: f64,
}

impl Setting {
    /// The blend in words.
    pub fn model_name(&self) -> String {
        let b = self.blend;
        if b == 0.0 {
            "kernel regression".into()
        } else if b == 1.0 {
            "most popular (kernel for pipelines no past task ran)".into()
        } else {
            format!("{:.0} % most popular + {:.0} % kernel regression", 100.0 * b, 100.0 * (1.0 - b))
        }
    }

    /// The reference setting: the matched teacher's studies, every past task weighing the same.
    /// Studies under other teachers and `.meta` weighting must earn their place against it.
    fn is_reference(&self) -> bool {
        self.task.is_none() && !self.pooled
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
    setting: Setting,
    /// Every setting tried and its mean [`selection_score`] over the held-out past tasks; empty
    /// when there were too few past tasks to choose.
    pub selection: Vec<(Setting, f64)>,
    /// How many past studies were held out in turn to choose the setting (each with every other
    /// study of its task).
    pub held_out: usize,
}

impl Model {
    /// Learns from `tasks` (results over `space`), choosing by leave-one-task-out what `choice`
    /// leaves open.
    pub fn fit(tasks: &[PastTask], space: &Space, choice: ModelChoice) -> Result<Self> {
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
        let mut model = Self {
            space: space.clone(),
            tasks: encoded,
            spread,
            median_d2: None,
            setting: Setting { config: choice.config_scale.unwrap_or(CONFIG_SCALES[0]), task: None, pooled: true, blend: choice.blend.unwrap_or(BLENDS[0]) },
            selection: Vec::new(),
            held_out: 0,
        };
        let mut pairwise: Vec<f64> = Vec::new();
        for (i, a) in model.tasks.iter().enumerate() {
            for b in &model.tasks[i + 1..] {
                pairwise.extend(model.meta_d2(a.meta.as_ref(), b.meta.as_ref()));
            }
        }
        pairwise.sort_by(f64::total_cmp);
        model.median_d2 = pairwise.get(pairwise.len() / 2).copied().filter(|d| *d > 0.0);
        model.choose_setting(choice);
        Ok(model)
    }

    pub fn setting(&self) -> Setting {
        self.setting
    }

    /// The best leave-one-task-out score each blend reached (with the chosen task weighting's
    /// kind), in the order tried: why the chosen blend won.
    pub fn blend_scores(&self) -> Vec<(f64, f64)> {
        let kind = |s: &Setting| (s.task.is_none(), s.pooled);
        let mut blends: Vec<f64> = Vec::new();
        for (s, _) in &self.selection {
            if !blends.contains(&s.blend) {
                blends.push(s.blend);
            }
        }
        blends
            .into_iter()
            .filter_map(|b| {
                let best = self.selection.iter().filter(|(s, _)| s.blend == b && kind(s) == kind(&self.setting)).map(|(_, v)| *v).fold(f64::NEG_INFINITY, f64::max);
                best.is_finite().then_some((b, best))
            })
            .collect()
    }

    /// Squared `.meta` distance: the mean over features both know (and that vary among the past
    /// tasks) of the squared standardised difference; `None` when they share none.
    fn meta_d2(&self, a: Option<&[Option<f64>; 9]>, b: Option<&[Option<f64>; 9]>) -> Option<f64> {
        let (a, b) = (a?, b?);
        let terms: Vec<f64> = (0..9).filter_map(|f| Some(((a[f]? - b[f]?) / self.spread[f]?).powi(2))).collect();
        (!terms.is_empty()).then(|| terms.iter().sum::<f64>() / terms.len() as f64)
    }

    /// Past study `k`'s weight for a task with features `meta` and teacher `teacher` under
    /// `setting` (a study whose `.meta` distance is unknown weighs as one at the median distance).
    fn task_weight(&self, meta: Option<&[Option<f64>; 9]>, teacher: Option<&str>, k: usize, setting: Setting) -> f64 {
        if !setting.pooled && teacher.is_some() && self.tasks[k].teacher.as_deref() != teacher {
            return 0.0;
        }
        match (setting.task, self.median_d2) {
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

    /// The estimate (r̂, sd) from per-task squared distances and task weights: the kernel's
    /// k̂ blended with the most-popular p̂, and the kernel's weighted spread.
    fn estimate(&self, distances: &[Vec<f64>], weights: &[f64], setting: Setting) -> (f64, f64) {
        let (mut w_sum, mut wy, mut wy2) = (PRIOR_WEIGHT, PRIOR_WEIGHT * 0.5, PRIOR_WEIGHT * 0.25);
        // Σ wₖ·rₖ(x) and Σ wₖ over the tasks that ran x; Σ wₖ and count over every task counted.
        let (mut ran_wr, mut ran_w, mut all_w, mut counted) = (0.0, 0.0, 0.0, 0usize);
        for ((task, d2s), &tw) in self.tasks.iter().zip(distances).zip(weights) {
            let (mut same_sum, mut same_n) = (0.0, 0usize);
            for (d2, r) in d2s.iter().zip(&task.ranks) {
                let w = tw * (-d2 / setting.config).exp();
                w_sum += w;
                wy += w * r;
                wy2 += w * r * r;
                if *d2 < SAME_CONFIG {
                    same_sum += r;
                    same_n += 1;
                }
            }
            if tw > 0.0 && !d2s.is_empty() {
                all_w += tw;
                counted += 1;
                if same_n > 0 {
                    ran_wr += tw * same_sum / same_n as f64;
                    ran_w += tw;
                }
            }
        }
        let kernel = wy / w_sum;
        let sd = (wy2 / w_sum - kernel * kernel).max(0.0).sqrt();
        let mean_w = if counted > 0 { all_w / counted as f64 } else { 1.0 };
        let popular = (ran_wr + mean_w * kernel) / (ran_w + mean_w);
        ((1.0 - setting.blend) * kernel + setting.blend * popular, sd)
    }

    /// Leave-one-task-out among the past tasks: each setting ranks every task's own results from
    /// the others and is scored by [`selection_score`].
    fn choose_setting(&mut self, choice: ModelChoice) {
        let held_out: Vec<usize> = (0..self.tasks.len()).filter(|&k| self.tasks[k].rows.len() > SCORED_PICKS).collect();
        if held_out.len() < 2 {
            return;
        }
        let conditioned = choice.weighting == TaskWeighting::Auto && self.median_d2.is_some();
        let blends: Vec<f64> = choice.blend.map_or(BLENDS.to_vec(), |b| vec![b]);
        let scales: Vec<f64> = choice.config_scale.map_or(CONFIG_SCALES.to_vec(), |l| vec![l]);
        let bandwidths = std::iter::once(None).chain(TASK_BANDWIDTHS.iter().map(|b| Some(*b)).filter(|_| conditioned));
        let settings: Vec<Setting> = [true, false]
            .into_iter()
            .flat_map(|pooled| {
                let (blends, scales) = (&blends, &scales);
                bandwidths.clone().flat_map(move |task| blends.iter().flat_map(move |&blend| scales.iter().map(move |&config| Setting { config, task, pooled, blend })))
            })
            .collect();
        // Per setting, its score on each held-out task.
        let mut scores = vec![Vec::with_capacity(held_out.len()); settings.len()];
        for &j in &held_out {
            let own = &self.tasks[j];
            let distances: Vec<Vec<Vec<f64>>> = own.rows.iter().map(|x| self.distances(x, Some(&own.mask), Some(&own.task))).collect();
            for (on_tasks, setting) in scores.iter_mut().zip(&settings) {
                let weights: Vec<f64> = (0..self.tasks.len()).map(|k| self.task_weight(own.meta.as_ref(), own.teacher.as_deref(), k, *setting)).collect();
                let predicted: Vec<f64> = distances.iter().map(|d| self.estimate(d, &weights, *setting).0).collect();
                on_tasks.push(selection_score(&predicted, &own.ranks));
            }
        }
        self.held_out = held_out.len();
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        self.selection = settings.iter().zip(&scores).map(|(s, v)| (*s, mean(v))).collect();
        let best =
            |reference: bool| (0..settings.len()).filter(|&i| settings[i].is_reference() == reference).reduce(|a, b| if self.selection[b].1 > self.selection[a].1 { b } else { a });
        let reference = best(true).expect("the reference setting is always tried");
        // Weighting by .meta or pooling teachers is kept only when it beats the reference on the
        // mean by a margin and on most held-out tasks: one task must not carry it.
        self.setting = match best(false) {
            Some(other)
                if self.selection[other].1 > self.selection[reference].1 + WEIGHTING_MARGIN && {
                    let wins = scores[other].iter().zip(&scores[reference]).filter(|(a, b)| a > b).count();
                    2 * wins > held_out.len()
                } =>
            {
                settings[other]
            }
            _ => settings[reference],
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
                let (mean, sd) = self.estimate(&distances, &weights, self.setting);
                Prediction { index, point: point.clone(), mean, sd }
            })
            .collect();
        predictions.sort_by(|a, b| b.mean.total_cmp(&a.mean));
        predictions
    }

    fn weights(&self, target: Target) -> Vec<f64> {
        let features = target.meta.features();
        (0..self.tasks.len()).map(|k| self.task_weight(Some(&features), target.teacher, k, self.setting)).collect()
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

/// [`selection_score`] in words, for the output.
pub const SELECTION_CRITERION: &str = "score = mean of Spearman over every pipeline, mapped to [0, 1], and the realised normalised rank of the top 3 picks";

/// How well a ranking of one held-out task's pipelines did, in [0, 1]: the mean of its Spearman
/// correlation with the realised ranks over every pipeline (mapped from [−1, 1]) and the mean
/// realised normalised rank of its top [`SCORED_PICKS`] picks. The first rates the whole list a
/// user reads, the second the picks a user trains.
pub fn selection_score(predicted: &[f64], realised: &[f64]) -> f64 {
    let rho = spearman(predicted, realised);
    let rho = if rho.is_finite() { rho } else { 0.0 };
    let mut order: Vec<usize> = (0..predicted.len()).collect();
    order.sort_by(|&a, &b| predicted[b].total_cmp(&predicted[a]));
    let picks = order.len().min(SCORED_PICKS);
    let top = order.iter().take(picks).map(|&i| realised[i]).sum::<f64>() / picks.max(1) as f64;
    0.5 * (rho + 1.0) / 2.0 + 0.5 * top
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Three tasks whose ranks zigzag over five temperatures: no smooth kernel can follow them,
    /// exact configuration transfer can.
    fn zigzag() -> (Model, Vec<Point>) {
        let space = Space::parse("[[dim]]\nfield = \"kd.temperature\"\nvalues = [1.0, 2.0, 3.0, 4.0, 5.0]\n", "t").unwrap();
        let points: Vec<Point> = (1..=5).map(|t| vec![Some(json!(t as f64))]).collect();
        let tasks: Vec<PastTask> = ["a", "b", "c"]
            .iter()
            .map(|name| PastTask {
                study: name.to_string(),
                task: name.to_string(),
                meta: None,
                teacher: None,
                shared: vec![true],
                results: points.iter().cloned().zip([0.9, 0.1, 0.8, 0.2, 0.7]).collect(),
            })
            .collect();
        (Model::fit(&tasks, &space, TaskWeighting::Equal.into()).unwrap(), points)
    }

    #[test]
    fn the_most_popular_estimate_is_the_configurations_own_mean_rank_shrunk_towards_the_kernel() {
        let (model, points) = zigzag();
        let weights = vec![1.0; 3];
        let broad = Setting { config: 1.0, task: None, pooled: false, blend: 0.0 };
        for (point, own_rank) in points.iter().zip([1.0, 0.0, 0.75, 0.25, 0.5]) {
            let distances = model.distances(&features(&model.space, point, Encoding::Conditional), None, None);
            let kernel = model.estimate(&distances, &weights, broad).0;
            let popular = model.estimate(&distances, &weights, Setting { blend: 1.0, ..broad }).0;
            // Three tasks ran it at `own_rank`, plus one pseudo-task at the kernel's estimate.
            assert!((popular - (3.0 * own_rank + kernel) / 4.0).abs() < 1e-12, "{popular} {kernel} {own_rank}");
            let half = model.estimate(&distances, &weights, Setting { blend: 0.5, ..broad }).0;
            assert!((half - (kernel + popular) / 2.0).abs() < 1e-12);
        }
        // The broad kernel flattens the zigzag; most popular keeps its order.
        let order = |setting: Setting| {
            let mut by: Vec<(f64, usize)> = points
                .iter()
                .enumerate()
                .map(|(i, p)| (model.estimate(&model.distances(&features(&model.space, p, Encoding::Conditional), None, None), &weights, setting).0, i))
                .collect();
            by.sort_by(|a, b| b.0.total_cmp(&a.0));
            by.into_iter().map(|(_, i)| i).collect::<Vec<_>>()
        };
        assert_eq!(order(Setting { blend: 1.0, ..broad }), vec![0, 2, 4, 3, 1]);
        assert_ne!(order(broad), vec![0, 2, 4, 3, 1]);
        // Leave-one-task-out picks a setting that follows the zigzag, and says why.
        assert_eq!(model.rank(Target { meta: &DatasetMeta::glue("sst2").unwrap(), teacher: None }, &points)[0].point, points[0]);
        assert_eq!(model.blend_scores().len(), BLENDS.len());
        assert_eq!(model.held_out, 3);
    }

    #[test]
    fn the_selection_score_rates_the_whole_ranking_and_its_top() {
        let realised = [1.0, 0.75, 0.5, 0.25, 0.0];
        assert!((selection_score(&realised, &realised) - (0.5 + 0.5 * 0.75)).abs() < 1e-12);
        let reversed: Vec<f64> = realised.iter().map(|r| -r).collect();
        assert!((selection_score(&reversed, &realised) - 0.5 * 0.25).abs() < 1e-12);
        // The same top three in another order: the same top, a lower Spearman.
        let shuffled_top = [0.8, 0.9, 1.0, 0.1, 0.0];
        assert!(selection_score(&shuffled_top, &realised) < selection_score(&realised, &realised));
    }
}
