//! GLUE metrics. The first entry of [`Metrics`] is the task's headline score.

use serde::{Deserialize, Serialize};

use super::task::MetricKind;

/// Named metric values, headline first (e.g. `[("f1", ..), ("accuracy", ..)]` for MRPC).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics(pub Vec<(String, f64)>);

impl Metrics {
    /// The value that ranks runs: accuracy, F1, Matthews or Pearson depending on the task.
    pub fn headline(&self) -> f64 {
        self.0.first().map(|(_, v)| *v).unwrap_or(f64::NAN)
    }
}

impl std::fmt::Display for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(n, v)| format!("{n} = {:.4}", v)).collect();
        write!(f, "{}", parts.join(", "))
    }
}

/// Computes a task's metrics from predictions (class ids or scores) and gold values.
pub fn compute(kind: MetricKind, predicted: &[f32], gold: &[f32]) -> Metrics {
    let named = |pairs: &[(&str, f64)]| Metrics(pairs.iter().map(|(n, v)| (n.to_string(), *v)).collect());
    match kind {
        MetricKind::Accuracy => named(&[("accuracy", accuracy(predicted, gold))]),
        MetricKind::F1Accuracy => named(&[("f1", f1(predicted, gold)), ("accuracy", accuracy(predicted, gold))]),
        MetricKind::Matthews => named(&[("matthews", matthews(predicted, gold)), ("accuracy", accuracy(predicted, gold))]),
        MetricKind::PearsonSpearman => named(&[("pearson", pearson(predicted, gold)), ("spearman", spearman(predicted, gold))]),
    }
}

pub fn accuracy(predicted: &[f32], gold: &[f32]) -> f64 {
    if gold.is_empty() {
        return f64::NAN;
    }
    predicted.iter().zip(gold).filter(|(p, g)| p == g).count() as f64 / gold.len() as f64
}

fn confusion(predicted: &[f32], gold: &[f32]) -> (f64, f64, f64, f64) {
    let (mut tp, mut fp, mut tn, mut fn_) = (0.0, 0.0, 0.0, 0.0);
    for (&p, &g) in predicted.iter().zip(gold) {
        match (p == 1.0, g == 1.0) {
            (true, true) => tp += 1.0,
            (true, false) => fp += 1.0,
            (false, false) => tn += 1.0,
            (false, true) => fn_ += 1.0,
        }
    }
    (tp, fp, tn, fn_)
}

/// F1 of the positive class (label 1).
pub fn f1(predicted: &[f32], gold: &[f32]) -> f64 {
    let (tp, fp, _, fn_) = confusion(predicted, gold);
    if tp == 0.0 { 0.0 } else { 2.0 * tp / (2.0 * tp + fp + fn_) }
}

/// Matthews correlation coefficient for binary labels (0 when undefined, as scikit-learn).
pub fn matthews(predicted: &[f32], gold: &[f32]) -> f64 {
    let (tp, fp, tn, fn_) = confusion(predicted, gold);
    let denom = ((tp + fp) * (tp + fn_) * (tn + fp) * (tn + fn_)).sqrt();
    if denom == 0.0 { 0.0 } else { (tp * tn - fp * fn_) / denom }
}

/// Pearson's correlation (0 when either side is constant; NaN under two points).
pub fn pearson<T: Copy + Into<f64>>(x: &[T], y: &[T]) -> f64 {
    let n = x.len() as f64;
    if n < 2.0 {
        return f64::NAN;
    }
    let mx = x.iter().map(|&v| v.into()).sum::<f64>() / n;
    let my = y.iter().map(|&v| v.into()).sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (&a, &b) in x.iter().zip(y) {
        let (da, db) = (a.into() - mx, b.into() - my);
        sxy += da * db;
        sxx += da * da;
        syy += db * db;
    }
    if sxx == 0.0 || syy == 0.0 { 0.0 } else { sxy / (sxx * syy).sqrt() }
}

/// Average ranks (ties share the mean rank), 1-based.
fn ranks<T: Copy + Into<f64>>(v: &[T]) -> Vec<f64> {
    let v: Vec<f64> = v.iter().map(|&x| x.into()).collect();
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let mean = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = mean;
        }
        i = j + 1;
    }
    r
}

/// Spearman's rank correlation: Pearson's on average ranks (ties share the mean rank).
pub fn spearman<T: Copy + Into<f64>>(x: &[T], y: &[T]) -> f64 {
    pearson(&ranks(x), &ranks(y))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_values() {
        let p = [1.0, 0.0, 1.0, 1.0, 0.0, 0.0];
        let g = [1.0, 0.0, 0.0, 1.0, 1.0, 0.0];
        // tp=2 fp=1 tn=2 fn=1
        assert!((accuracy(&p, &g) - 4.0 / 6.0).abs() < 1e-12);
        assert!((f1(&p, &g) - 4.0 / 6.0).abs() < 1e-12);
        assert!((matthews(&p, &g) - (4.0 - 1.0) / 9.0).abs() < 1e-12);
        assert!((pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 7.0]) - 0.9933992677987828).abs() < 1e-9);
        // ranks of [10, 20, 20, 40] are [1, 2.5, 2.5, 4]
        assert_eq!(ranks(&[10.0f32, 20.0, 20.0, 40.0]), vec![1.0, 2.5, 2.5, 4.0]);
        assert!((spearman(&[1.0, 2.0, 3.0, 4.0], &[1.0, 3.0, 2.0, 4.0]) - 0.8).abs() < 1e-9);
        assert_eq!(matthews(&[1.0, 1.0], &[1.0, 1.0]), 0.0);
    }
}
