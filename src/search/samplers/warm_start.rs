//! Which of the recommender's ranked pipelines a warm-started BO search runs first.

use crate::search::space::Point;

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
    fn diverse_warm_start_skips_near_copies_then_fills_in_rank_order() {
        let p = |a: i64, b: i64, c: i64| vec![Some(json!(a)), Some(json!(b)), Some(json!(c))];
        let ranked = [p(0, 0, 0), p(0, 0, 1), p(1, 1, 0), p(0, 1, 1), p(2, 2, 2)];
        assert_eq!(warm_start_points(ranked.iter(), 3, 1), ranked[..3].to_vec());
        assert_eq!(warm_start_points(ranked.iter(), 3, 2), vec![p(0, 0, 0), p(1, 1, 0), p(0, 1, 1)]);
        assert_eq!(warm_start_points(ranked.iter(), 5, 3), vec![p(0, 0, 0), p(2, 2, 2), p(0, 0, 1), p(1, 1, 0), p(0, 1, 1)]);
    }
}
