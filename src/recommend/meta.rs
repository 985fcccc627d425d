//! Dataset meta-features (`.meta` files, TOML): what the recommender knows about a task without
//! training on it. `distiller meta --task T` computes one from the data.
//!
//! ```toml
//! task_type = "classification"   # or "regression"
//! pair = false                   # sentence pairs?
//! n_train = 67349
//! n_labels = 2                   # 1 for regression
//! label_entropy = 0.687          # nats, of the training label distribution (0 for regression)
//! mean_tokens = 9.4              # whitespace words per example (both sentences)
//! p90_tokens = 19.0
//! vocab_size = 14816             # distinct lower-cased words
//! type_token_ratio = 0.023       # vocab_size / total words
//! teacher_score = 0.898          # optional: the teacher's dev score
//! teacher_params = 22.7e6        # optional
//! student_params = 11.2e6        # optional
//! [extra]                        # optional: any further numeric features
//! domain_shift = 0.3
//! ```

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

use crate::data::{Example, Label, LabelKind};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskType {
    Classification,
    Regression,
}

/// A dataset's meta-features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetMeta {
    pub task_type: TaskType,
    pub pair: bool,
    pub n_train: u64,
    pub n_labels: u64,
    pub label_entropy: f64,
    pub mean_tokens: f64,
    pub p90_tokens: f64,
    pub vocab_size: u64,
    pub type_token_ratio: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher_score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher_params: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub student_params: Option<f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, f64>,
}

impl DatasetMeta {
    /// Reads a `.meta` file; errors name the file, the line and the field.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = crate::data::read_utf8(path)?;
        let meta: Self = crate::error::from_toml(&text).map_err(|(line, message)| Error::malformed(path, line, message))?;
        meta.validate().map_err(|(field, message)| {
            let line = text.lines().position(|l| l.trim_start().starts_with(field)).map_or(0, |i| i + 1);
            Error::malformed(path, line, format!("field `{field}`: {message}"))
        })?;
        Ok(meta)
    }

    /// Ranges every field must respect: (field, what is wrong).
    fn validate(&self) -> std::result::Result<(), (&'static str, String)> {
        let non_negative = |field: &'static str, v: f64| if v.is_finite() && v >= 0.0 { Ok(()) } else { Err((field, format!("{v} must be a finite number >= 0"))) };
        if self.n_train == 0 {
            return Err(("n_train", "must be at least 1".into()));
        }
        if self.n_labels == 0 {
            return Err(("n_labels", "must be at least 1 (1 for regression)".into()));
        }
        if self.task_type == TaskType::Regression && self.n_labels != 1 {
            return Err(("n_labels", format!("{} for a regression task (must be 1)", self.n_labels)));
        }
        non_negative("label_entropy", self.label_entropy)?;
        non_negative("mean_tokens", self.mean_tokens)?;
        non_negative("p90_tokens", self.p90_tokens)?;
        if !(self.type_token_ratio.is_finite() && (0.0..=1.0).contains(&self.type_token_ratio)) {
            return Err(("type_token_ratio", format!("{} must lie in [0, 1]", self.type_token_ratio)));
        }
        for (field, value) in [("teacher_score", self.teacher_score), ("teacher_params", self.teacher_params), ("student_params", self.student_params)] {
            if let Some(v) = value {
                non_negative(field, v)?;
            }
        }
        if let Some((_, v)) = self.extra.iter().find(|(_, v)| !v.is_finite()) {
            return Err(("extra", format!("{v} is not a finite number")));
        }
        Ok(())
    }

    /// Computes the meta-features of a training set.
    pub fn from_examples(examples: &[Example], kind: &LabelKind) -> Self {
        let mut lengths: Vec<usize> = Vec::with_capacity(examples.len());
        let mut vocab = std::collections::HashSet::new();
        let mut total = 0usize;
        for e in examples {
            let mut n = 0;
            for text in std::iter::once(&e.text_a).chain(e.text_b.as_ref()) {
                for word in text.split_whitespace() {
                    vocab.insert(word.to_lowercase());
                    n += 1;
                }
            }
            total += n;
            lengths.push(n);
        }
        lengths.sort_unstable();
        let n_labels = match kind {
            LabelKind::Classification { labels } => labels.len() as u64,
            LabelKind::Regression => 1,
        };
        let mut counts = vec![0usize; n_labels as usize];
        for e in examples {
            if let Label::Class(c) = e.label
                && c < counts.len()
            {
                counts[c] += 1;
            }
        }
        let labelled: usize = counts.iter().sum();
        let label_entropy = counts.iter().filter(|&&c| c > 0).map(|&c| c as f64 / labelled as f64).map(|p| -p * p.ln()).sum::<f64>();
        let p90 = lengths.get((lengths.len() * 9 / 10).min(lengths.len().saturating_sub(1))).copied().unwrap_or(0);
        Self {
            task_type: if matches!(kind, LabelKind::Regression) { TaskType::Regression } else { TaskType::Classification },
            pair: examples.iter().any(|e| e.text_b.is_some()),
            n_train: examples.len() as u64,
            n_labels,
            label_entropy,
            mean_tokens: total as f64 / examples.len().max(1) as f64,
            p90_tokens: p90 as f64,
            vocab_size: vocab.len() as u64,
            type_token_ratio: vocab.len() as f64 / total.max(1) as f64,
            teacher_score: None,
            teacher_params: None,
            student_params: None,
            extra: BTreeMap::new(),
        }
    }

    /// How far apart two datasets are, for showing a new task its nearest known tasks: Euclidean
    /// over task type, pairing, label count and entropy, type-token ratio, and the logarithms of
    /// size, lengths and vocabulary (a factor e in a count weighs as much as a whole label of
    /// entropy). Teacher and student fields are left out: they describe the run, not the data.
    pub fn distance(&self, other: &Self) -> f64 {
        let features = |m: &Self| {
            let ln = |v: f64| v.max(1.0).ln();
            [
                f64::from(m.task_type == TaskType::Regression),
                f64::from(m.pair),
                ln(m.n_train as f64),
                ln(m.n_labels as f64),
                m.label_entropy,
                ln(m.mean_tokens),
                ln(m.p90_tokens),
                ln(m.vocab_size as f64),
                m.type_token_ratio,
            ]
        };
        features(self).iter().zip(features(other)).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt()
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("meta serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computes_parses_and_names_bad_fields() {
        let examples =
            vec![Example { text_a: "a good film".into(), text_b: None, label: Label::Class(1) }, Example { text_a: "A bad one".into(), text_b: None, label: Label::Class(0) }];
        let meta = DatasetMeta::from_examples(&examples, &LabelKind::Classification { labels: vec!["0".into(), "1".into()] });
        assert_eq!((meta.n_train, meta.n_labels, meta.vocab_size), (2, 2, 5));
        assert!((meta.label_entropy - 2f64.ln()).abs() < 1e-12);
        assert!((meta.mean_tokens - 3.0).abs() < 1e-12 && !meta.pair);
        let pairs: Vec<Example> = examples.iter().map(|e| Example { text_b: Some("and more words here".into()), ..e.clone() }).collect();
        let paired = DatasetMeta::from_examples(&pairs, &LabelKind::Classification { labels: vec!["0".into(), "1".into()] });
        assert_eq!(meta.distance(&meta), 0.0);
        assert!(meta.distance(&paired) > 1.0 && (meta.distance(&paired) - paired.distance(&meta)).abs() < 1e-12);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.meta");
        std::fs::write(&path, meta.to_toml()).unwrap();
        assert_eq!(DatasetMeta::from_file(&path).unwrap(), meta);
        // missing field
        std::fs::write(&path, meta.to_toml().replace("n_train = 2\n", "")).unwrap();
        let e = DatasetMeta::from_file(&path).unwrap_err().to_string();
        assert!(e.contains("x.meta") && e.contains("n_train"), "{e}");
        // wrong type, with its line
        std::fs::write(&path, meta.to_toml().replace("n_train = 2", "n_train = \"many\"")).unwrap();
        let e = DatasetMeta::from_file(&path).unwrap_err().to_string();
        assert!(e.contains("x.meta:3"), "{e}");
    }
}
