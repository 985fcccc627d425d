//! Samplers against a lookup table (Optuna's "tabular benchmark"): the space is a set of
//! configurations already run, and a trial's score is the one recorded. It measures how many
//! trials a sampler needs, with no training in the loop. With `workers` > 1 it simulates that
//! many workers of one study: every trial takes one unit of time, the workers are staggered, so
//! each ask is made while the `workers` − 1 trials asked before it are still running (pending
//! points, as [`with_pending`] shows them to the sampler).

use super::samplers::{Observation, Sampler, with_pending};
use super::space::{Point, Space};
use crate::error::Result;

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
            table.iter().find(|(p, _)| *p == point).map(|(_, s)| *s).ok_or_else(|| crate::Error::Sampler(format!("{} proposed a point outside the table", sampler.name())))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::samplers::{BoSampler, GridSampler, RandomSampler};
    use crate::search::space::{Dim, Domain};
    use serde_json::json;

    /// A 2-d table with a smooth peak: score = -(x-3)^2 - (y-5)^2 over an 8 x 8 grid minus a
    /// few holes.
    fn table() -> (Space, Vec<(Point, f64)>) {
        let dims = ["a", "b"].map(|f| Dim { field: f.into(), domain: Domain::Ordered((0..8).map(f64::from).collect()), when: vec![] }).to_vec();
        let mut table = Vec::new();
        for x in 0..8 {
            for y in 0..8 {
                if (x + y) % 7 != 6 {
                    table.push((vec![Some(json!(x as f64)), Some(json!(y as f64))], -((x - 3) * (x - 3) + (y - 5) * (y - 5)) as f64));
                }
            }
        }
        let space = Space { name: "t".into(), fixed: vec![], dims, fidelity: None, source: String::new(), candidates: Some(table.iter().map(|(p, _)| p.clone()).collect()) };
        (space, table)
    }

    #[test]
    fn every_sampler_stays_in_the_table_and_finds_the_best() {
        let (space, table) = table();
        let samplers: Vec<Box<dyn Sampler>> = vec![Box::new(RandomSampler { seed: 1 }), Box::new(GridSampler), Box::new(BoSampler::new(1))];
        let sorted = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v
        };
        for mut sampler in samplers {
            // Run until the table is exhausted: every row exactly once, none outside it.
            let run = replay(sampler.as_mut(), &space, &table, table.len()).unwrap();
            assert_eq!(sorted(run.scores.clone()), sorted(table.iter().map(|(_, s)| *s).collect()), "{} repeated or skipped rows", sampler.name());
            assert!(run.trials_to(0.0).is_some(), "{} never found the best", sampler.name());
        }
    }

    #[test]
    fn simulated_workers_never_repeat_a_pending_point_and_bo_needs_fewer_rounds() {
        let (space, table) = table();
        let mean = |workers: usize, f: &dyn Fn(&Replay) -> f64| {
            let runs: Vec<f64> = (0..8)
                .map(|seed| {
                    let run = replay_with_workers(&mut BoSampler::new(seed), &space, &table, table.len(), workers).unwrap();
                    let mut seen = run.scores.clone();
                    seen.sort_by(f64::total_cmp);
                    let mut all: Vec<f64> = table.iter().map(|(_, s)| *s).collect();
                    all.sort_by(f64::total_cmp);
                    assert_eq!(seen, all, "{workers} workers repeated or skipped rows");
                    f(&run)
                })
                .collect();
            runs.iter().sum::<f64>() / runs.len() as f64
        };
        let rounds = |r: &Replay| r.rounds_to(0.0).unwrap();
        let trials = |r: &Replay| r.trials_to(0.0).unwrap() as f64;
        let (one, four) = (mean(1, &rounds), mean(4, &rounds));
        assert_eq!(one, mean(1, &trials), "one worker: a round is a trial");
        assert!(four < 0.6 * one, "4 workers needed {four} rounds on average, 1 worker {one}");
    }

    #[test]
    fn an_informative_prior_finds_the_best_right_after_the_initial_design() {
        let (space, table) = table();
        for seed in 0..4 {
            let mut bo = BoSampler::new(seed).with_prior(table.clone());
            let found = replay(&mut bo, &space, &table, 1).unwrap().trials_to(0.0).unwrap();
            assert!(found <= 6, "seed {seed}: the best came at trial {found}");
        }
    }

    #[test]
    fn bo_beats_random_on_a_smooth_table() {
        let (space, table) = table();
        let mean = |make: &dyn Fn(u64) -> Box<dyn Sampler>| {
            let runs: Vec<usize> = (0..8).map(|seed| replay(make(seed).as_mut(), &space, &table, 1).unwrap().trials_to(0.0).unwrap()).collect();
            runs.iter().sum::<usize>() as f64 / runs.len() as f64
        };
        let bo = mean(&|s| Box::new(BoSampler::new(s)));
        let random = mean(&|s| Box::new(RandomSampler { seed: s }));
        // Measured: 7.6 against 26.6 (random's expectation on this 55-point table is 28), so a
        // sampler no better than chance fails here, not only one worse than it.
        assert!(bo < 0.5 * random, "bo needed {bo} trials on average, random {random}");
    }
}
