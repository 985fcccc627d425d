//! Evaluating the recommender: rank correlation, the "most popular" baseline, and the paper's
//! per-task meta-features for leave-one-task-out runs.

use std::collections::BTreeMap;
use std::path::Path;

use super::{PastTask, normalised_ranks};
use crate::error::{Error, Result};
use crate::search::space::Point;

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
    let others: Vec<(&PastTask, Vec<f64>)> = tasks.iter().filter(|t| t.name != exclude).map(|t| (t, normalised_ranks(&t.results))).collect();
    let mut scored: Vec<(f64, usize)> = Vec::new();
    for (i, c) in candidates.iter().enumerate() {
        let ranks: Vec<f64> = others.iter().filter_map(|(t, r)| t.results.iter().position(|(p, _)| p == c).map(|j| r[j])).collect();
        let mean = if ranks.len() >= min_tasks { ranks.iter().sum::<f64>() / ranks.len() as f64 } else { f64::NEG_INFINITY };
        scored.push((mean, i));
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().map(|(_, i)| candidates[i].clone()).collect()
}

/// The paper's per-task meta-features (`dataset_features_50_concat.csv`): a 100-d embedding,
/// log #examples and #labels, standardised column-wise across the file's tasks. Keys use our
/// task names (`sst2`).
pub fn load_task_features(path: &Path) -> Result<BTreeMap<String, Vec<f64>>> {
    let text = crate::data::load::read_utf8(path)?;
    let mut rows: Vec<(String, Vec<f64>)> = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let mut cells = line.split(',');
        let task = cells.next().unwrap_or_default().trim().to_ascii_lowercase().replace('-', "");
        let mut values = Vec::new();
        for (j, cell) in cells.enumerate() {
            let v: f64 = cell.trim().parse().map_err(|_| Error::malformed(path, i + 1, format!("column {}: `{cell}` is not a number", j + 2)))?;
            values.push(v);
        }
        if let Some(n) = values.len().checked_sub(2) {
            values[n] = values[n].max(1.0).ln();
        }
        rows.push((task, values));
    }
    let width = rows.iter().map(|r| r.1.len()).min().unwrap_or(0);
    for c in 0..width {
        let col: Vec<f64> = rows.iter().map(|r| r.1[c]).collect();
        let mean = col.iter().sum::<f64>() / col.len() as f64;
        let sd = (col.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / col.len() as f64).sqrt().max(1e-12);
        for r in rows.iter_mut() {
            r.1[c] = (r.1[c] - mean) / sd / (width as f64).sqrt();
        }
    }
    Ok(rows
        .into_iter()
        .map(|(t, mut v)| {
            (t, {
                v.truncate(width);
                v
            })
        })
        .collect())
}
