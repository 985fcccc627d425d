//! The GLUE task registry and user-defined tasks: where each task's files live, which columns
//! hold text and label, and which metric decides.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use crate::error::{Error, Result};

/// How a task's label is read and scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelKind {
    /// Named classes; the index in this list is the class id.
    Classification { labels: Vec<String> },
    /// A real-valued score (STS-B).
    Regression,
}

impl LabelKind {
    /// Width of the model's output layer.
    pub fn num_outputs(&self) -> usize {
        match self {
            LabelKind::Classification { labels } => labels.len(),
            LabelKind::Regression => 1,
        }
    }
}

/// The dev metric reported for a task; the first value of [`crate::data::Metrics`] is the one
/// compared across runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    Accuracy,
    F1Accuracy,
    Matthews,
    PearsonSpearman,
}

/// Where text and label sit in one row of a GLUE TSV (indices; a negative label index counts
/// from the end, for files whose middle columns vary).
#[derive(Debug, Clone, Copy)]
pub struct Columns {
    pub text_a: usize,
    pub text_b: Option<usize>,
    pub label: isize,
    pub min_columns: usize,
    pub header: bool,
}

/// The eight GLUE tasks the paper studies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GlueTask {
    Sst2,
    Cola,
    Mrpc,
    Stsb,
    Rte,
    Qnli,
    Qqp,
    Mnli,
}

const ALL: [GlueTask; 8] = [GlueTask::Sst2, GlueTask::Cola, GlueTask::Mrpc, GlueTask::Stsb, GlueTask::Rte, GlueTask::Qnli, GlueTask::Qqp, GlueTask::Mnli];

fn classes(names: &[&str]) -> LabelKind {
    LabelKind::Classification { labels: names.iter().map(|s| s.to_string()).collect() }
}

impl GlueTask {
    /// Canonical short names (`sst2`, `cola`, ...), as used on the command line.
    pub fn names() -> Vec<&'static str> {
        ALL.iter().map(|t| t.name()).collect()
    }

    pub fn name(self) -> &'static str {
        match self {
            GlueTask::Sst2 => "sst2",
            GlueTask::Cola => "cola",
            GlueTask::Mrpc => "mrpc",
            GlueTask::Stsb => "stsb",
            GlueTask::Rte => "rte",
            GlueTask::Qnli => "qnli",
            GlueTask::Qqp => "qqp",
            GlueTask::Mnli => "mnli",
        }
    }

    /// Accepts `sst2`, `SST-2`, `sst_2`, ... .
    pub fn parse(name: &str) -> Result<Self> {
        let norm: String = name.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_lowercase();
        ALL.iter().copied().find(|t| t.name() == norm).ok_or_else(|| Error::UnknownTask { name: name.to_string(), known: Self::names().join(", ") })
    }

    /// Folder name inside a GLUE data directory.
    pub fn dir_name(self) -> &'static str {
        match self {
            GlueTask::Sst2 => "SST-2",
            GlueTask::Cola => "CoLA",
            GlueTask::Mrpc => "MRPC",
            GlueTask::Stsb => "STS-B",
            GlueTask::Rte => "RTE",
            GlueTask::Qnli => "QNLI",
            GlueTask::Qqp => "QQP",
            GlueTask::Mnli => "MNLI",
        }
    }

    /// File name of a split; MNLI evaluates on the matched dev set.
    pub fn file_name(self, split: Split) -> &'static str {
        match (self, split) {
            (_, Split::Train) => "train.tsv",
            (GlueTask::Mnli, Split::Dev) => "dev_matched.tsv",
            (_, Split::Dev) => "dev.tsv",
        }
    }

    pub fn label_kind(self) -> LabelKind {
        match self {
            GlueTask::Stsb => LabelKind::Regression,
            GlueTask::Rte | GlueTask::Qnli => classes(&["entailment", "not_entailment"]),
            GlueTask::Mnli => classes(&["contradiction", "entailment", "neutral"]),
            _ => classes(&["0", "1"]),
        }
    }

    pub fn metric(self) -> MetricKind {
        match self {
            GlueTask::Cola => MetricKind::Matthews,
            GlueTask::Mrpc | GlueTask::Qqp => MetricKind::F1Accuracy,
            GlueTask::Stsb => MetricKind::PearsonSpearman,
            _ => MetricKind::Accuracy,
        }
    }

    /// The paper's max sequence length: 64 for single short sentences, 128 otherwise.
    pub fn default_max_len(self) -> usize {
        match self {
            GlueTask::Sst2 | GlueTask::Cola => 64,
            _ => 128,
        }
    }

    /// Column layout of the official files (quirks: CoLA has no header, MRPC's header has a BOM,
    /// STS-B and MNLI carry extra columns before the label, which is the last one).
    pub fn columns(self) -> Columns {
        let c = |text_a, text_b, label, min_columns, header| Columns { text_a, text_b, label, min_columns, header };
        match self {
            GlueTask::Sst2 => c(0, None, 1, 2, true),
            GlueTask::Cola => c(3, None, 1, 4, false),
            GlueTask::Mrpc => c(3, Some(4), 0, 5, true),
            GlueTask::Stsb => c(7, Some(8), -1, 10, true),
            GlueTask::Rte | GlueTask::Qnli => c(1, Some(2), 3, 4, true),
            GlueTask::Qqp => c(3, Some(4), 5, 6, true),
            GlueTask::Mnli => c(8, Some(9), -1, 11, true),
        }
    }
}

/// Train or dev split (GLUE test labels are private).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    Train,
    Dev,
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Dev => "dev",
        }
    }
}

/// File format of a user-defined task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    Tsv,
    Csv,
    Jsonl,
}

/// A user-defined task, read from a TOML spec file:
///
/// ```toml
/// name = "reviews"
/// train = "reviews/train.csv"      # relative to the spec file
/// dev = "reviews/dev.csv"
/// format = "csv"                    # tsv | csv | jsonl (default: from the extension)
/// text = "review"                   # column (or JSON key) with the text
/// text_pair = "title"               # optional second text
/// label = "stars"
/// labels = ["1", "2", "3", "4", "5"]  # classification; omit and set regression = true for scores
/// regression = false
/// max_len = 128
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomTask {
    pub name: String,
    pub train: PathBuf,
    pub dev: PathBuf,
    pub format: Option<FileFormat>,
    pub text: String,
    pub text_pair: Option<String>,
    pub label: String,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub regression: bool,
    pub max_len: Option<usize>,
}

impl CustomTask {
    /// The file of a split.
    pub fn path_of(&self, split: Split) -> &std::path::Path {
        match split {
            Split::Train => &self.train,
            Split::Dev => &self.dev,
        }
    }

    /// Reads a spec; relative data paths are resolved against the spec's folder.
    pub fn from_file(path: &std::path::Path) -> Result<Self> {
        let text = crate::data::read_utf8(path)?;
        let mut spec: CustomTask = crate::error::from_toml(&text).map_err(|(line, message)| Error::malformed(path, line, message))?;
        if !spec.regression && spec.labels.is_empty() {
            return Err(Error::malformed(path, 0, "field `labels`: a classification task needs its label list (or set regression = true)"));
        }
        if spec.regression && !spec.labels.is_empty() {
            let line = text.lines().position(|l| l.trim_start().starts_with("labels")).map_or(0, |i| i + 1);
            return Err(Error::malformed(path, line, "field `labels`: a regression task (regression = true) has scores, not labels: give one or the other"));
        }
        let base = path.parent().unwrap_or(std::path::Path::new("."));
        spec.train = base.join(&spec.train);
        spec.dev = base.join(&spec.dev);
        Ok(spec)
    }

    pub fn label_kind(&self) -> LabelKind {
        if self.regression { LabelKind::Regression } else { LabelKind::Classification { labels: self.labels.clone() } }
    }

    pub fn format_of(&self, path: &std::path::Path) -> FileFormat {
        self.format.unwrap_or_else(|| match path.extension().and_then(|e| e.to_str()) {
            Some("csv") => FileFormat::Csv,
            Some("jsonl") | Some("json") => FileFormat::Jsonl,
            _ => FileFormat::Tsv,
        })
    }
}

/// A task: a GLUE task or a user's own.
#[derive(Debug, Clone)]
pub enum Task {
    Glue(GlueTask),
    Custom(CustomTask),
}

impl Task {
    /// A GLUE name, or a path to a custom task spec (`*.toml`).
    pub fn resolve(name: &str) -> Result<Self> {
        if name.ends_with(".toml") {
            return Ok(Task::Custom(CustomTask::from_file(std::path::Path::new(name))?));
        }
        GlueTask::parse(name).map(Task::Glue)
    }

    pub fn name(&self) -> String {
        match self {
            Task::Glue(t) => t.name().to_string(),
            Task::Custom(c) => c.name.clone(),
        }
    }

    pub fn label_kind(&self) -> LabelKind {
        match self {
            Task::Glue(t) => t.label_kind(),
            Task::Custom(c) => c.label_kind(),
        }
    }

    pub fn metric(&self) -> MetricKind {
        match self {
            Task::Glue(t) => t.metric(),
            Task::Custom(c) if c.regression => MetricKind::PearsonSpearman,
            Task::Custom(_) => MetricKind::Accuracy,
        }
    }

    pub fn default_max_len(&self) -> usize {
        match self {
            Task::Glue(t) => t.default_max_len(),
            Task::Custom(c) => c.max_len.unwrap_or(128),
        }
    }

    /// Whether a row holds two texts (a sentence pair) rather than one.
    pub fn is_pair(&self) -> bool {
        match self {
            Task::Glue(t) => t.columns().text_b.is_some(),
            Task::Custom(c) => c.text_pair.is_some(),
        }
    }
}
