//! Shared by the research examples and the sampler tests (each includes it with `#[path]`).
//!
//! Samplers against a lookup table (Optuna's "tabular benchmark"): the space is a set of
//! configurations already run, and a trial's score is the one recorded. It measures how many
//! trials a sampler needs, with no training in the loop. With `workers` > 1 it simulates that
//! many workers of one study: every trial takes one unit of time, the workers are staggered, so
//! each ask is made while the `workers` − 1 trials asked before it are still running (pending
//! points, as [`with_pending`] shows them to the sampler).

use distiller::Result;
use distiller::search::samplers::{Observation, Sampler, with_pending};
use distiller::search::space::{Point, Space};

/// One sampler run over a table: the scores it saw, in the order they were asked.
#[derive(Debug, Clone)]
pub struct Replay {
    pub scores: Vec<f64>,
    /// Simulated workers (1: one trial at a time).
    pub workers: usize,
}

/// Runs `sampler` over `table` (the space's candidates with their scores) until it has seen the
/// table's best score and made at least `min_trials` trials, or the table is exhausted.
pub fn replay(sampler: &mut dyn Sampler, space: &Space, table: &[(Point, f64)], min_trials: usize) -> Result<Replay> {
    replay_with_workers(sampler, space, table, min_trials, 1)
}

/// [`replay`] by `workers` simulated workers: trial k is asked knowing the scores of trials
/// 0..=k−workers, with the `workers` − 1 trials after those pending.
pub fn replay_with_workers(sampler: &mut dyn Sampler, space: &Space, table: &[(Point, f64)], min_trials: usize, workers: usize) -> Result<Replay> {
    let workers = workers.max(1);
    let best = table.iter().map(|(_, s)| *s).fold(f64::NEG_INFINITY, f64::max);
    let (mut tried, mut scores) = (Vec::<Point>::new(), Vec::new());
    while tried.len() < table.len() {
        let known = tried.len().saturating_sub(workers - 1);
        let history = tried[..known].iter().zip(&scores).map(|(point, &score)| Observation { point: point.clone(), score }).collect();
        let Some(point) = sampler.ask(space, &tried, &with_pending(history, &tried[known..]))? else { break };
        let score =
            table.iter().find(|(p, _)| *p == point).map(|(_, s)| *s).ok_or_else(|| distiller::Error::Sampler(format!("{} proposed a point outside the table", sampler.name())))?;
        tried.push(point);
        scores.push(score);
        if scores.len() >= min_trials && scores.iter().any(|&s| s >= best) {
            break;
        }
    }
    Ok(Replay { scores, workers })
}

impl Replay {
    /// Trials until the first score ≥ `target` (`None` if never reached).
    pub fn trials_to(&self, target: f64) -> Option<usize> {
        self.scores.iter().position(|&s| s >= target).map(|i| i + 1)
    }

    /// Rounds (trial durations of wall clock) until the first score ≥ `target`: trial k (from 0)
    /// ends at k / workers + 1 when the workers start staggered.
    pub fn rounds_to(&self, target: f64) -> Option<f64> {
        self.trials_to(target).map(|n| (n - 1) as f64 / self.workers as f64 + 1.0)
    }

    /// Relative shortfall (in %) of the best score after `n` trials from `best`.
    pub fn shortfall_after(&self, n: usize, best: f64) -> f64 {
        let seen = self.scores.iter().take(n).copied().fold(f64::NEG_INFINITY, f64::max);
        (best - seen) / best.abs() * 100.0
    }
}
