//! Evaluating the recommender: rank correlation and the "most popular" baseline for
//! leave-one-task-out runs.

use super::paper_trials::{PaperTrial, scores_by_config};
use super::{Candidate, PastTask, normalised_ranks};
use crate::error::{Error, Result};
use crate::search::space::{Point, Space};

/// Spearman's rank correlation (average ranks for ties).
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let ranks = |v: &[f64]| -> Vec<f64> { v.iter().map(|x| v.iter().filter(|y| *y < x).count() as f64 + (v.iter().filter(|y| *y == x).count() as f64 - 1.0) / 2.0).collect() };
    let (ra, rb) = (ranks(a), ranks(b));
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (ma, mb) = (mean(&ra), mean(&rb));
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let var = |v: &[f64], m: f64| v.iter().map(|x| (x - m) * (x - m)).sum::<f64>();
    let denom = (var(&ra, ma) * var(&rb, mb)).sqrt();
    if denom > 0.0 { cov / denom } else { 0.0 }
}

/// The "most popular" baseline: candidates ordered by their mean normalised rank over the past
/// tasks (except `exclude`) that ran them, among those run on at least `min_tasks` tasks; the
/// rest follow in table order.
pub fn most_popular(tasks: &[PastTask], candidates: &[Point], exclude: &str, min_tasks: usize) -> Vec<Point> {
    let others: Vec<(&PastTask, Vec<f64>)> = tasks.iter().filter(|t| t.task != exclude).map(|t| (t, normalised_ranks(&t.results))).collect();
    let mut scored: Vec<(f64, usize)> = Vec::new();
    for (i, c) in candidates.iter().enumerate() {
        let ranks: Vec<f64> = others.iter().filter_map(|(t, r)| t.results.iter().position(|(p, _)| p == c).map(|j| r[j])).collect();
        let mean = if ranks.len() >= min_tasks { ranks.iter().sum::<f64>() / ranks.len() as f64 } else { f64::NEG_INFINITY };
        scored.push((mean, i));
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().map(|(_, i)| candidates[i].clone()).collect()
}

/// The paper's space with a paraphrase file named (never read: nothing is trained), so that every
/// pipeline of the released table — back-translation chains included — composes and can be ranked.
pub fn paper_space_for_ranking() -> Space {
    Space::parse(&crate::search::PAPER_SPACE.replace("[fixed]\n", "[fixed]\n\"augment.paraphrases\" = \"paraphrases.tsv\"\n"), "paper space with paraphrases")
        .expect("the paper space parses (tested)")
}

/// The distinct pipelines of `rows` as candidates of `space`, each with its mean score over
/// duplicate runs, in first-seen order.
pub fn table_candidates(space: &Space, rows: &[PaperTrial]) -> Result<Vec<(Candidate, f64)>> {
    scores_by_config(rows)
        .into_iter()
        .map(|(choices, scores)| {
            let point = choices.point(space).map_err(Error::Recommend)?;
            Ok((Candidate { line: 0, pipeline: space.compose(&point)?, point }, scores.iter().sum::<f64>() / scores.len() as f64))
        })
        .collect()
}
