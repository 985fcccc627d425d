//! Several objectives at once (score ↑ with latency or parameters ↓): Pareto dominance, the
//! front, the ranks successive halving promotes by, and ParEGO's random scalarisation (Knowles,
//! 2006), which lets any single-objective sampler — BO's GP with expected improvement included —
//! search a multi-objective study: every ask draws new weights, so the asks spread along the front.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::samplers::Observation;
use super::space::Point;
use crate::store::{Direction, StudyObjective, TrialRecord};

/// ParEGO's augmentation: a small weighted sum added to the Chebyshev term, so that among points
/// equal in the worst objective the better one in the others wins.
const AUGMENTATION: f64 = 0.05;

/// A trial's objective values as costs (lower is better), or `None` if it lacks one: the score
/// negated; latency and parameters on a log scale (what matters is how many times smaller).
pub fn costs(trial: &TrialRecord, objectives: &[StudyObjective]) -> Option<Vec<f64>> {
    objectives
        .iter()
        .map(|o| {
            o.value(trial).filter(|v| v.is_finite()).map(|v| match o.direction() {
                Direction::Maximize => -v,
                Direction::Minimize => v.max(1e-12).ln(),
            })
        })
        .collect()
}

/// Whether `a` is at least as good as `b` in every objective and better in one.
pub fn dominates(a: &[f64], b: &[f64]) -> bool {
    a.iter().zip(b).all(|(x, y)| x <= y) && a.iter().zip(b).any(|(x, y)| x < y)
}

/// Each point's non-dominated rank: 0 for the front, 1 for the front of the rest, …
pub fn ranks(costs: &[Vec<f64>]) -> Vec<usize> {
    let mut rank = vec![usize::MAX; costs.len()];
    let mut level = 0;
    while rank.contains(&usize::MAX) {
        let open: Vec<usize> = (0..costs.len()).filter(|&i| rank[i] == usize::MAX).collect();
        let front: Vec<usize> = open.iter().copied().filter(|&i| !open.iter().any(|&j| dominates(&costs[j], &costs[i]))).collect();
        for i in front {
            rank[i] = level;
        }
        level += 1;
    }
    rank
}

/// The trials no other trial dominates, in id order (trials without every value are left out).
pub fn front<'t>(trials: &[&'t TrialRecord], objectives: &[StudyObjective]) -> Vec<&'t TrialRecord> {
    let scored: Vec<(&TrialRecord, Vec<f64>)> = trials.iter().filter_map(|t| costs(t, objectives).map(|c| (*t, c))).collect();
    let all: Vec<Vec<f64>> = scored.iter().map(|(_, c)| c.clone()).collect();
    let rank = ranks(&all);
    scored.into_iter().zip(rank).filter(|(_, r)| *r == 0).map(|((t, _), _)| t).collect()
}

/// Weights drawn uniformly from the simplex, one per objective.
pub fn draw_weights(seed: u64, objectives: usize) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let raw: Vec<f64> = (0..objectives).map(|_| -(1.0 - rng.random::<f64>()).ln()).collect();
    let total: f64 = raw.iter().sum();
    raw.into_iter().map(|w| w / total).collect()
}

/// ParEGO: every point's costs, normalised to [0, 1] over the history, folded into one score to
/// maximise, `−(max_k w_k·c̃_k + 0.05·Σ_k w_k·c̃_k)`.
pub fn scalarise(history: &[(Point, Vec<f64>)], weights: &[f64]) -> Vec<Observation> {
    let k = weights.len();
    let low: Vec<f64> = (0..k).map(|i| history.iter().map(|(_, c)| c[i]).fold(f64::INFINITY, f64::min)).collect();
    let high: Vec<f64> = (0..k).map(|i| history.iter().map(|(_, c)| c[i]).fold(f64::NEG_INFINITY, f64::max)).collect();
    history
        .iter()
        .map(|(point, c)| {
            let scaled: Vec<f64> = (0..k).map(|i| if high[i] > low[i] { weights[i] * (c[i] - low[i]) / (high[i] - low[i]) } else { 0.0 }).collect();
            let worst = scaled.iter().copied().fold(0.0, f64::max);
            Observation { point: point.clone(), score: -(worst + AUGMENTATION * scaled.iter().sum::<f64>()) }
        })
        .collect()
}

/// Hypervolume of 2-d costs (lower is better) below `reference`: the area the front dominates,
/// summed as a staircase of rectangles over the front sorted by its first cost. How much of the
/// trade-off a set of trials covers, where a single best score says nothing.
pub fn hypervolume(costs: &[[f64; 2]], reference: [f64; 2]) -> f64 {
    let dominated = |c: &[f64; 2]| costs.iter().any(|d| d[0] <= c[0] && d[1] <= c[1] && d != c);
    let mut front: Vec<[f64; 2]> = costs.iter().copied().filter(|c| c[0] < reference[0] && c[1] < reference[1] && !dominated(c)).collect();
    front.sort_by(|a, b| a[0].total_cmp(&b[0]));
    front.dedup();
    (0..front.len()).map(|i| (front.get(i + 1).map_or(reference[0], |n| n[0]) - front[i][0]) * (reference[1] - front[i][1])).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_front_holds_the_points_nothing_beats_in_every_objective() {
        let costs = vec![vec![1.0, 5.0], vec![2.0, 2.0], vec![3.0, 3.0], vec![5.0, 1.0], vec![2.0, 2.0]];
        assert_eq!(ranks(&costs), vec![0, 0, 1, 0, 0]);
    }

    #[test]
    fn scalarised_scores_prefer_what_the_weights_ask_for() {
        let history = vec![(vec![], vec![0.0, 10.0]), (vec![], vec![10.0, 0.0])];
        let first = scalarise(&history, &[0.9, 0.1]);
        assert!(first[0].score > first[1].score);
        let second = scalarise(&history, &[0.1, 0.9]);
        assert!(second[1].score > second[0].score);
        let w = draw_weights(7, 3);
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12 && w.iter().all(|&x| x > 0.0));
    }

    #[test]
    fn hypervolume_is_the_area_the_front_dominates() {
        // Front (0, 2), (1, 1), (2, 0) under reference (3, 3): (1−0)·(3−2) + (2−1)·(3−1) +
        // (3−2)·(3−0) = 6; (2, 2) is dominated and the point beyond the reference adds nothing.
        let costs = [[0.0, 2.0], [1.0, 1.0], [2.0, 0.0], [2.0, 2.0], [4.0, -1.0]];
        assert!((hypervolume(&costs, [3.0, 3.0]) - 6.0).abs() < 1e-12);
        assert_eq!(hypervolume(&[[3.0, 0.0]], [3.0, 3.0]), 0.0);
    }
}
