//! The "most popular" baseline: candidates ordered by their mean normalised rank over the past
//! tasks that ran them. It needs no model and no `.meta`, so a recommender's ranking is worth
//! reading only where it beats this one; `recommend -f json` gives its rank beside each pick.

use super::{PastTask, normalised_ranks};
use crate::search::space::Point;

/// Indices of `candidates`, best first: those run on at least `min_tasks` of the past tasks by
/// their mean normalised rank there, then the rest in the candidates' order. A past task ran a
/// candidate when one of its results has the same values in every field the task varied (their
/// mean rank, when several do).
pub fn most_popular(tasks: &[PastTask], candidates: &[Point], min_tasks: usize) -> Vec<usize> {
    let ranked: Vec<(&PastTask, Vec<f64>)> = tasks.iter().map(|t| (t, normalised_ranks(&t.results))).collect();
    let rank_on = |task: &PastTask, ranks: &[f64], c: &Point| -> Option<f64> {
        let same = |p: &Point| p.iter().zip(c).zip(&task.shared).all(|((a, b), shared)| !shared || a == b);
        let matched: Vec<f64> = task.results.iter().zip(ranks).filter(|((p, _), _)| same(p)).map(|(_, r)| *r).collect();
        (!matched.is_empty()).then(|| matched.iter().sum::<f64>() / matched.len() as f64)
    };
    let mut scored: Vec<(f64, usize)> = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let ranks: Vec<f64> = ranked.iter().filter_map(|(t, r)| rank_on(t, r, c)).collect();
            let mean = if ranks.len() >= min_tasks.max(1) { ranks.iter().sum::<f64>() / ranks.len() as f64 } else { f64::NEG_INFINITY };
            (mean, i)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().map(|(_, i)| i).collect()
}

/// How many past tasks a candidate must have run to be ranked by its mean: three, or every past
/// task when there are fewer (a mean over one or two tasks is mostly noise).
pub fn min_tasks(tasks: &[PastTask]) -> usize {
    let distinct: std::collections::BTreeSet<&str> = tasks.iter().map(|t| t.task.as_str()).collect();
    distinct.len().clamp(1, 3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task(name: &str, scores: &[(i64, f64)]) -> PastTask {
        PastTask { study: name.into(), task: name.into(), meta: None, teacher: None, shared: vec![true], results: scores.iter().map(|(p, s)| (vec![Some(json!(p))], *s)).collect() }
    }

    #[test]
    fn ranks_by_mean_normalised_rank_among_candidates_run_often_enough() {
        let tasks = [task("a", &[(0, 0.9), (1, 0.8), (2, 0.7)]), task("b", &[(0, 0.5), (1, 0.6), (2, 0.4), (3, 0.99)])];
        let points: Vec<Point> = (0..5).map(|p| vec![Some(json!(p))]).collect();
        // Mean ranks 0: (1 + 1/3) / 2, 1: (1/2 + 2/3) / 2, 2: 0; 3 ran on one task only (1), 4 on none.
        assert_eq!(most_popular(&tasks, &points, 2), vec![0, 1, 2, 3, 4]);
        assert_eq!(most_popular(&tasks, &points, 1), vec![3, 0, 1, 2, 4]);
        assert_eq!(min_tasks(&tasks), 2);
        // A task that did not vary the second field ran every value of it.
        let partial = PastTask { shared: vec![true, false], results: vec![(vec![Some(json!(0)), None], 0.9), (vec![Some(json!(1)), None], 0.1)], ..task("p", &[]) };
        let two_fields: Vec<Point> = [(1, 7), (0, 7), (0, 8)].iter().map(|(a, b)| vec![Some(json!(a)), Some(json!(b))]).collect();
        assert_eq!(most_popular(&[partial], &two_fields, 1), vec![1, 2, 0]);
    }
}
