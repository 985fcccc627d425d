//! AutoDistiller-style recommendation: score a new task's candidate pipelines from past tasks'
//! results, without running them. The meta-model is kernel regression (Nadaraya–Watson) on each
//! past result's normalised rank within its task, weighted by task similarity (dataset
//! meta-features) times configuration similarity (the BO's conditional encoding), shrunk towards
//! the middle rank where evidence is thin; its weighted spread is the uncertainty.
//!
//! Its inputs live here too: [`meta`] (the `.meta` dataset features), [`paper_trials`] (the
//! paper's released table) and [`evaluation`] (leave-one-task-out helpers and baselines).

pub mod evaluation;
pub mod meta;
pub mod paper_trials;

pub use evaluation::{load_task_features, most_popular, spearman};
pub use meta::DatasetMeta;

use crate::error::{Error, Result};
use crate::search::encoding::{Encoding, features};
use crate::search::space::{Point, Space};

/// A past task: its meta-features and the mean score of each configuration it ran.
#[derive(Debug, Clone)]
pub struct PastTask {
    pub name: String,
    pub meta: Vec<f64>,
    pub results: Vec<(Point, f64)>,
}

/// A candidate's predicted normalised rank (1 = best of its task, 0 = worst; or its value with
/// [`Target::Value`]) and uncertainty.
#[derive(Debug, Clone)]
pub struct Prediction {
    pub point: Point,
    pub mean: f64,
    pub sd: f64,
}

/// Normalised ranks of a task's results: 1 for the best, 0 for the worst, ties averaged.
pub fn normalised_ranks(results: &[(Point, f64)]) -> Vec<f64> {
    let n = results.len();
    if n < 2 {
        return vec![0.5; n];
    }
    results
        .iter()
        .map(|(_, s)| {
            let better = results.iter().filter(|(_, o)| o > s).count() as f64;
            let ties = results.iter().filter(|(_, o)| o == s).count() as f64 - 1.0;
            1.0 - (better + ties / 2.0) / (n - 1) as f64
        })
        .collect()
}

/// The meta-model's settings.
#[derive(Debug, Clone, Copy)]
pub struct RecommenderConfig {
    /// Length scale of the configuration kernel (squared distance in the encoding).
    pub config_scale: f64,
    /// Length scale of the task kernel over standardised meta-features; infinite = all past
    /// tasks weigh the same.
    pub task_scale: f64,
    /// Pseudo-weight of the prior (middle rank) — the shrinkage for thin evidence.
    pub prior_weight: f64,
    /// What is regressed: each result's normalised rank within its task (the default), or its
    /// value as given (e.g. the score relative to the teacher), shrunk towards the mean value.
    pub target: Target,
}

/// The meta-model's regression target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Rank,
    Value,
}

impl Default for RecommenderConfig {
    fn default() -> Self {
        Self { config_scale: 0.1, task_scale: f64::INFINITY, prior_weight: 0.5, target: Target::Rank }
    }
}

/// Past tasks plus the space their configurations live in.
pub struct Recommender {
    pub tasks: Vec<PastTask>,
    pub space: Space,
    pub config: RecommenderConfig,
    /// Per past task, each result's regression target (its normalised rank, or its value).
    targets: Vec<Vec<f64>>,
    encoded: Vec<Vec<Vec<f64>>>,
    /// The prior's value: the middle rank, or the mean target value.
    prior_mean: f64,
}

impl Recommender {
    pub fn new(tasks: Vec<PastTask>, space: Space, config: RecommenderConfig) -> Result<Self> {
        if tasks.iter().all(|t| t.results.is_empty()) {
            return Err(Error::Recommend("nothing to learn from: run a search or import trials (`distiller import-trials`)".into()));
        }
        let targets: Vec<Vec<f64>> = match config.target {
            Target::Rank => tasks.iter().map(|t| normalised_ranks(&t.results)).collect(),
            Target::Value => tasks.iter().map(|t| t.results.iter().map(|(_, v)| *v).collect()).collect(),
        };
        let prior_mean = match config.target {
            Target::Rank => 0.5,
            Target::Value => targets.iter().flatten().sum::<f64>() / targets.iter().map(Vec::len).sum::<usize>() as f64,
        };
        let encoded = tasks.iter().map(|t| t.results.iter().map(|(p, _)| features(&space, p, Encoding::Conditional)).collect()).collect();
        Ok(Self { tasks, space, config, targets, encoded, prior_mean })
    }

    fn task_weight(&self, meta: &[f64], other: &[f64]) -> f64 {
        if !self.config.task_scale.is_finite() || meta.is_empty() {
            return 1.0;
        }
        let d: f64 = meta.iter().zip(other).map(|(a, b)| (a - b) * (a - b)).sum();
        (-d / self.config.task_scale).exp()
    }

    /// Predicted normalised rank of each candidate for a task with meta-features `meta`, using
    /// every past task except `exclude`; best first.
    pub fn rank(&self, meta: &[f64], candidates: &[Point], exclude: Option<&str>) -> Vec<Prediction> {
        let mut predictions: Vec<Prediction> = candidates
            .iter()
            .map(|point| {
                let x = features(&self.space, point, Encoding::Conditional);
                let (mut w_sum, mut wy, mut wy2) =
                    (self.config.prior_weight, self.config.prior_weight * self.prior_mean, self.config.prior_weight * self.prior_mean * self.prior_mean);
                for (k, task) in self.tasks.iter().enumerate() {
                    if Some(task.name.as_str()) == exclude {
                        continue;
                    }
                    let tw = self.task_weight(meta, &task.meta);
                    for (enc, r) in self.encoded[k].iter().zip(&self.targets[k]) {
                        let d: f64 = enc.iter().zip(&x).map(|(a, b)| (a - b) * (a - b)).sum();
                        let w = tw * (-d / self.config.config_scale).exp();
                        w_sum += w;
                        wy += w * r;
                        wy2 += w * r * r;
                    }
                }
                let mean = wy / w_sum;
                Prediction { point: point.clone(), mean, sd: (wy2 / w_sum - mean * mean).max(0.0).sqrt() }
            })
            .collect();
        predictions.sort_by(|a, b| b.mean.total_cmp(&a.mean));
        predictions
    }
}

/// Past tasks over `space`: every study in `storage` over the same space text (except those of
/// `exclude_task`), its COMPLETE first-rung trials averaged per point.
pub fn past_tasks_in_store(storage: &dyn crate::store::Storage, space: &Space, exclude_task: Option<&str>) -> Result<Vec<PastTask>> {
    use crate::store::TrialState;
    let mut tasks = Vec::new();
    for study in storage.studies()? {
        if Some(study.task.as_str()) == exclude_task || study.space.trim() != space.source.trim() {
            continue;
        }
        let mut results: Vec<(Point, f64, usize)> = Vec::new();
        for t in storage.trials(&study.name)?.into_iter().filter(|t| t.state == TrialState::Complete && t.rung == 0) {
            let Some(score) = t.score else { continue };
            match results.iter_mut().find(|(p, _, _)| *p == t.point) {
                Some((_, sum, n)) => {
                    *sum += score;
                    *n += 1;
                }
                None => results.push((t.point, score, 1)),
            }
        }
        tasks.push(PastTask { name: format!("{} ({})", study.name, study.task), meta: Vec::new(), results: results.into_iter().map(|(p, s, n)| (p, s / n as f64)).collect() });
    }
    Ok(tasks)
}

/// The `k` most promising points of `space` for a new task, learnt from `past`: every point of a
/// finite space is a candidate, otherwise the points the past tasks ran.
pub fn top_picks(past: Vec<PastTask>, space: &Space, k: usize) -> Result<Vec<Prediction>> {
    let mut candidates = space.finite_points(crate::search::space::POOL_LIMIT).unwrap_or_default();
    if candidates.is_empty() {
        for task in &past {
            for (p, _) in &task.results {
                if !candidates.contains(p) {
                    candidates.push(p.clone());
                }
            }
        }
    }
    let recommender = Recommender::new(past, space.clone(), RecommenderConfig::default())?;
    Ok(recommender.rank(&[], &candidates, None).into_iter().take(k).collect())
}

/// The warm-start design: the best-ranked point, then each next-best point that differs from every
/// point already chosen in at least `min_differing` fields, until `k` are chosen (filled up in rank
/// order if too few are that different). Plain top-k repeats near-copies of the favourite, which
/// spend the first trials on one region that is often not the new task's best.
pub fn warm_start_points<'a>(ranked: impl Iterator<Item = &'a Point> + Clone, k: usize, min_differing: usize) -> Vec<Point> {
    let differing = |a: &Point, b: &Point| a.iter().zip(b).filter(|(x, y)| x != y).count();
    let mut chosen: Vec<Point> = Vec::new();
    for p in ranked.clone() {
        if chosen.len() == k {
            return chosen;
        }
        if chosen.iter().all(|c| differing(c, p) >= min_differing) {
            chosen.push(p.clone());
        }
    }
    for p in ranked {
        if chosen.len() == k {
            break;
        }
        if !chosen.contains(p) {
            chosen.push(p.clone());
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ranks_and_spearman() {
        let results: Vec<(Point, f64)> = [0.9, 0.7, 0.8, 0.8].iter().enumerate().map(|(i, s)| (vec![Some(json!(i))], *s)).collect();
        assert_eq!(normalised_ranks(&results), vec![1.0, 0.0, 0.5, 0.5]);
        assert!((spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]) - 1.0).abs() < 1e-12);
        assert!((spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
    }

    fn space() -> Space {
        use crate::search::space::{Dim, Domain};
        let dim = Dim { field: "a".into(), domain: Domain::Ordered((0..5).map(f64::from).collect()), when: vec![] };
        Space { name: "t".into(), fixed: vec![], dims: vec![dim], fidelity: None, source: String::new(), candidates: None }
    }

    #[test]
    fn learns_which_configurations_win_across_tasks() {
        let point = |a: f64| vec![Some(json!(a))];
        // Two past tasks where a = 4 wins and a = 0 loses.
        let past = |name: &str| PastTask { name: name.into(), meta: vec![], results: (0..5).map(|a| (point(a as f64), 0.5 + 0.1 * a as f64)).collect() };
        let recommender = Recommender::new(vec![past("x"), past("y")], space(), RecommenderConfig::default()).unwrap();
        let ranked = recommender.rank(&[], &[point(0.0), point(4.0), point(2.0)], None);
        assert_eq!(ranked[0].point, point(4.0));
        assert_eq!(ranked[2].point, point(0.0));
        assert!(ranked[0].mean > 0.5 && ranked[2].mean < 0.5);
        // Deterministic for a fixed history.
        let again = recommender.rank(&[], &[point(0.0), point(4.0), point(2.0)], None);
        assert_eq!(again.iter().map(|p| p.mean).collect::<Vec<_>>(), ranked.iter().map(|p| p.mean).collect::<Vec<_>>());
        let empty = Recommender::new(vec![PastTask { name: "z".into(), meta: vec![], results: vec![] }], space(), RecommenderConfig::default());
        assert!(empty.err().unwrap().to_string().contains("nothing to learn from"));
    }

    #[test]
    fn diverse_warm_start_skips_near_copies_then_fills_in_rank_order() {
        let p = |a: i64, b: i64, c: i64| vec![Some(json!(a)), Some(json!(b)), Some(json!(c))];
        let ranked = [p(0, 0, 0), p(0, 0, 1), p(1, 1, 0), p(0, 1, 1), p(2, 2, 2)];
        assert_eq!(warm_start_points(ranked.iter(), 3, 1), ranked[..3].to_vec());
        assert_eq!(warm_start_points(ranked.iter(), 3, 2), vec![p(0, 0, 0), p(1, 1, 0), p(0, 1, 1)]);
        assert_eq!(warm_start_points(ranked.iter(), 5, 3), vec![p(0, 0, 0), p(2, 2, 2), p(0, 0, 1), p(1, 1, 0), p(0, 1, 1)]);
    }
}
