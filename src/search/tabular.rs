//! Samplers against a lookup table (Optuna's "tabular benchmark"): the space is a set of
//! configurations already run, and a trial's score is the one recorded. It measures how many
//! trials a sampler needs, with no training in the loop.

use super::samplers::{Observation, Sampler};
use super::space::{Point, Space};
use crate::error::Result;

/// One sampler run over a table: the scores it saw, in order.
#[derive(Debug, Clone)]
pub struct Replay {
    pub scores: Vec<f64>,
}

/// Runs `sampler` over `table` (the space's candidates with their scores) until it has seen the
/// table's best score and made at least `min_trials` trials, or the table is exhausted.
pub fn replay(sampler: &mut dyn Sampler, space: &Space, table: &[(Point, f64)], min_trials: usize) -> Result<Replay> {
    let best = table.iter().map(|(_, s)| *s).fold(f64::NEG_INFINITY, f64::max);
    let (mut tried, mut history, mut scores) = (Vec::new(), Vec::new(), Vec::new());
    while tried.len() < table.len() {
        let Some(point) = sampler.ask(space, &tried, &history)? else { break };
        let score =
            table.iter().find(|(p, _)| *p == point).map(|(_, s)| *s).ok_or_else(|| crate::Error::Sampler(format!("{} proposed a point outside the table", sampler.name())))?;
        tried.push(point.clone());
        history.push(Observation { point, score });
        scores.push(score);
        if scores.len() >= min_trials && scores.iter().any(|&s| s >= best) {
            break;
        }
    }
    Ok(Replay { scores })
}

impl Replay {
    /// Trials until the first score ≥ `target` (`None` if never reached).
    pub fn trials_to(&self, target: f64) -> Option<usize> {
        self.scores.iter().position(|&s| s >= target).map(|i| i + 1)
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
        assert!(bo < random, "bo needed {bo} trials on average, random {random}");
    }
}
