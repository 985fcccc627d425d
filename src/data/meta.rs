//! Dataset meta-features (`.meta` files, TOML): what the recommender knows about a task without
//! training on it. `distiller meta --task T` computes one from the data; `meta/*.meta` ship one
//! per GLUE task with what is public about it (the statistics we cannot compute without its data
//! are `"unknown"`).
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
//! The five statistics from `label_entropy` to `type_token_ratio` may be `"unknown"`; every field
//! must be written (a missing one is an error, so a typo cannot silently drop a feature).

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
    #[serde(with = "unknown_or")]
    pub label_entropy: Option<f64>,
    #[serde(with = "unknown_or")]
    pub mean_tokens: Option<f64>,
    #[serde(with = "unknown_or")]
    pub p90_tokens: Option<f64>,
    #[serde(with = "unknown_or")]
    pub vocab_size: Option<f64>,
    #[serde(with = "unknown_or")]
    pub type_token_ratio: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher_score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher_params: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub student_params: Option<f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, f64>,
}

/// A number, or the string `"unknown"` for `None`; the field must be present either way.
mod unknown_or {
    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        Number(f64),
        Word(String),
    }

    pub fn serialize<S: Serializer>(value: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            // Counts (vocab_size) read as integers.
            Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => s.serialize_i64(*v as i64),
            Some(v) => s.serialize_f64(*v),
            None => s.serialize_str("unknown"),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        match Written::deserialize(d) {
            Ok(Written::Number(v)) => Ok(Some(v)),
            Ok(Written::Word(w)) if w == "unknown" => Ok(None),
            _ => Err(serde::de::Error::custom("expected a number or \"unknown\"")),
        }
    }
}

/// The `.meta` of each GLUE task, shipped in `meta/`: its public facts (size, labels, pairing,
/// task type), the statistics that need the data marked unknown.
const GLUE_META: [(&str, &str); 8] = [
    ("cola", include_str!("../../meta/cola.meta")),
    ("sst2", include_str!("../../meta/sst2.meta")),
    ("mrpc", include_str!("../../meta/mrpc.meta")),
    ("stsb", include_str!("../../meta/stsb.meta")),
    ("qqp", include_str!("../../meta/qqp.meta")),
    ("mnli", include_str!("../../meta/mnli.meta")),
    ("qnli", include_str!("../../meta/qnli.meta")),
    ("rte", include_str!("../../meta/rte.meta")),
];

impl DatasetMeta {
    /// Reads a `.meta` file; errors name the file, the line and the field.
    pub fn from_file(path: &Path) -> Result<Self> {
        Self::parse(&crate::data::read_utf8(path)?, path)
    }

    /// The shipped `.meta` of a GLUE task (`sst2`, `mnli`, ...), if it is one.
    pub fn glue(task: &str) -> Option<Self> {
        let (name, text) = GLUE_META.iter().find(|(name, _)| *name == task)?;
        Some(Self::parse(text, Path::new(&format!("meta/{name}.meta"))).expect("the shipped .meta files parse (tested)"))
    }

    /// Parses `.meta` text read from `path` (named in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let meta: Self = crate::error::from_toml(text).map_err(|(line, message)| Error::malformed(path, line, message))?;
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
        if let Some(ratio) = self.type_token_ratio.filter(|r| !(r.is_finite() && (0.0..=1.0).contains(r))) {
            return Err(("type_token_ratio", format!("{ratio} must lie in [0, 1]")));
        }
        for (field, value) in [
            ("label_entropy", self.label_entropy),
            ("mean_tokens", self.mean_tokens),
            ("p90_tokens", self.p90_tokens),
            ("vocab_size", self.vocab_size),
            ("teacher_score", self.teacher_score),
            ("teacher_params", self.teacher_params),
            ("student_params", self.student_params),
        ] {
            if let Some(v) = value {
                non_negative(field, v)?;
            }
        }
        if let Some((_, v)) = self.extra.iter().find(|(_, v)| !v.is_finite()) {
            return Err(("extra", format!("{v} is not a finite number")));
        }
        Ok(())
    }

    /// The meta-features of a task's training data (found in `data_dir` or the usual places).
    pub fn of_task(task: &crate::data::Task, data_dir: Option<&Path>) -> Result<Self> {
        let train = crate::data::load_split(task, crate::data::Split::Train, data_dir)?;
        Ok(Self::from_examples(&train, &task.label_kind()))
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
            label_entropy: Some(label_entropy),
            mean_tokens: Some(total as f64 / examples.len().max(1) as f64),
            p90_tokens: Some(p90 as f64),
            vocab_size: Some(vocab.len() as f64),
            type_token_ratio: Some(vocab.len() as f64 / total.max(1) as f64),
            teacher_score: None,
            teacher_params: None,
            student_params: None,
            extra: BTreeMap::new(),
        }
    }

    /// What the recommender compares datasets on (`None` where unknown): task type, pairing,
    /// label count and entropy, type-token ratio, and the logarithms of size, lengths and
    /// vocabulary. Teacher and student fields are left out: they describe the run, not the data.
    pub fn features(&self) -> [Option<f64>; 9] {
        let ln = |v: f64| v.max(1.0).ln();
        [
            Some(f64::from(self.task_type == TaskType::Regression)),
            Some(f64::from(self.pair)),
            Some(ln(self.n_train as f64)),
            Some(ln(self.n_labels as f64)),
            self.label_entropy,
            self.mean_tokens.map(ln),
            self.p90_tokens.map(ln),
            self.vocab_size.map(ln),
            self.type_token_ratio,
        ]
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("meta serialises")
    }
}

/// Where a past task's meta-features came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaSource {
    /// Computed from its training data, found here.
    Data,
    /// The `.meta` shipped for the GLUE task (public facts; the rest unknown).
    Shipped,
}

/// A task's meta-features: computed from its training data when found (in `data_dir` or the
/// usual places), else the shipped `.meta` of a GLUE task; `None` for an unknown task without data.
pub fn task_meta(task: &str, data_dir: Option<&Path>) -> Option<(DatasetMeta, MetaSource)> {
    let computed = super::Task::resolve(task).ok().and_then(|t| DatasetMeta::of_task(&t, data_dir).ok());
    match computed {
        Some(meta) => Some((meta, MetaSource::Data)),
        None => DatasetMeta::glue(task).map(|m| (m, MetaSource::Shipped)),
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
        assert_eq!((meta.n_train, meta.n_labels, meta.vocab_size), (2, 2, Some(5.0)));
        assert!((meta.label_entropy.unwrap() - 2f64.ln()).abs() < 1e-12);
        assert!((meta.mean_tokens.unwrap() - 3.0).abs() < 1e-12 && !meta.pair);
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
        // "unknown" statistics round-trip; other words do not parse
        let unknown = DatasetMeta { mean_tokens: None, vocab_size: None, ..meta.clone() };
        assert!(unknown.to_toml().contains("mean_tokens = \"unknown\""));
        std::fs::write(&path, unknown.to_toml()).unwrap();
        assert_eq!(DatasetMeta::from_file(&path).unwrap(), unknown);
        assert_eq!(unknown.features()[5], None);
        std::fs::write(&path, unknown.to_toml().replace("mean_tokens = \"unknown\"", "mean_tokens = \"many\"")).unwrap();
        let e = DatasetMeta::from_file(&path).unwrap_err().to_string();
        assert!(e.contains("x.meta:") && e.contains("unknown"), "{e}");
    }

    #[test]
    fn every_glue_task_ships_a_meta() {
        for name in crate::data::GlueTask::names() {
            let meta = DatasetMeta::glue(name).unwrap_or_else(|| panic!("no shipped meta for {name}"));
            let task = crate::data::GlueTask::parse(name).unwrap();
            assert_eq!(meta.task_type == TaskType::Regression, matches!(task.label_kind(), LabelKind::Regression), "{name}");
            let labels = match task.label_kind() {
                LabelKind::Classification { labels } => labels.len() as u64,
                LabelKind::Regression => 1,
            };
            assert_eq!(meta.n_labels, labels, "{name}");
            assert_eq!(meta.pair, !matches!(name, "sst2" | "cola"), "{name}");
        }
        assert!(DatasetMeta::glue("boolq").is_none());
    }
}
