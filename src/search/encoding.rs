//! The conditional encoding of a point as surrogate features, shared by the BO sampler and the
//! recommender: an inactive dimension is neutral (not its first value) and an augmentation chain
//! is encoded as operator membership and position, so pipelines that differ only in a switched-off
//! field sit together.

use serde_json::Value;

use super::space::{Dim, Domain, Point, Space};

/// How a finite space is encoded for the surrogate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Inactive dimensions neutral (one-hot all zero, numbers mid-range); chains as operator
    /// membership and position.
    Conditional,
    /// What a plain mixed-integer GP sees: inactive dimensions at their first value, chains as
    /// opaque categories.
    Plain,
}

/// A point as surrogate features, every column in [0, 1].
pub fn features(space: &Space, point: &Point, encoding: Encoding) -> Vec<f64> {
    let mut row = Vec::new();
    for (dim, value) in space.dims.iter().zip(point) {
        push_dim(&mut row, dim, value.as_ref(), encoding);
    }
    row
}

/// Which dimension each column of [`features`] encodes (its index in `space.dims`).
pub fn column_dims(space: &Space, encoding: Encoding) -> Vec<usize> {
    let mut columns = Vec::new();
    for (i, dim) in space.dims.iter().enumerate() {
        let mut row = Vec::new();
        push_dim(&mut row, dim, None, encoding);
        columns.extend(std::iter::repeat_n(i, row.len()));
    }
    columns
}

/// Appends one dimension's columns for `value` (`None`: inactive).
fn push_dim(row: &mut Vec<f64>, dim: &Dim, value: Option<&Value>, encoding: Encoding) {
    let value = match (value, encoding) {
        (Some(v), _) => Some(v.clone()),
        (None, Encoding::Plain) => dim.domain.grid_values().first().cloned(),
        (None, Encoding::Conditional) => None,
    };
    match &dim.domain {
        Domain::Categorical(choices) => {
            let chains: Option<Vec<&Vec<Value>>> = choices.iter().map(Value::as_array).collect();
            match chains.filter(|_| encoding == Encoding::Conditional) {
                Some(chains) => {
                    let mut ops: Vec<&Value> = chains.iter().flat_map(|c| c.iter()).collect();
                    ops.sort_by_key(|v| v.to_string());
                    ops.dedup();
                    let longest = chains.iter().map(|c| c.len()).max().unwrap_or(1).max(1) as f64;
                    let chosen = value.as_ref().and_then(Value::as_array);
                    for op in ops {
                        let at = chosen.and_then(|c| c.iter().position(|x| x == op));
                        row.push(at.map_or(0.0, |_| 1.0));
                        row.push(at.map_or(0.0, |i| (i + 1) as f64 / longest));
                    }
                }
                None => row.extend(choices.iter().map(|c| if value.as_ref() == Some(c) { 1.0 } else { 0.0 })),
            }
        }
        domain => {
            let (low, high, x) = match domain {
                Domain::Ordered(v) => (v[0], v[v.len() - 1], value.as_ref().and_then(Value::as_f64)),
                Domain::Int { low, high } => (*low as f64, *high as f64, value.as_ref().and_then(Value::as_f64)),
                Domain::Float { low, high, log: true } => (low.ln(), high.ln(), value.as_ref().and_then(Value::as_f64).map(f64::ln)),
                Domain::Float { low, high, .. } => (*low, *high, value.as_ref().and_then(Value::as_f64)),
                Domain::Categorical(_) => unreachable!("handled above"),
            };
            row.push(x.map_or(0.5, |x| if high > low { (x - low) / (high - low) } else { 0.5 }));
        }
    }
}
