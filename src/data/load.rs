//! Reading task files into [`Example`]s: GLUE TSVs (no quoting, BOM, missing header, extra
//! columns) and user TSV/CSV/JSONL files, with one-line errors naming file and line.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use super::task::{Columns, CustomTask, FileFormat, GlueTask, LabelKind, Split, Task};
use crate::error::{Error, Result};

/// The label of one example: a class id or a regression score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Label {
    Class(usize),
    Score(f32),
}

impl Label {
    /// The value a metric or loss sees (class id as f32, or the score).
    pub fn value(self) -> f32 {
        match self {
            Label::Class(c) => c as f32,
            Label::Score(s) => s,
        }
    }
}

/// One row of a task: text (or text pair) and its label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    pub text_a: String,
    pub text_b: Option<String>,
    pub label: Label,
}

/// Reads a file as UTF-8, naming the first bad line when it is not.
pub fn read_utf8(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    String::from_utf8(bytes).map_err(|e| {
        let line = e.as_bytes()[..e.utf8_error().valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1;
        Error::malformed(path, line, "not valid UTF-8")
    })
}

/// Where GLUE data is searched, in order: `--data-dir`, `$DISTILLER_DATA`, `./data/glue`,
/// `../shared/data/glue`.
pub fn data_dir_candidates(explicit: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = explicit {
        dirs.push(d.to_path_buf());
    }
    if let Some(d) = std::env::var_os("DISTILLER_DATA") {
        dirs.push(PathBuf::from(d));
    }
    dirs.push(PathBuf::from("data/glue"));
    dirs.push(PathBuf::from("../shared/data/glue"));
    dirs
}

/// The first candidate directory that holds the task's split file.
pub fn locate(task: GlueTask, split: Split, explicit: Option<&Path>) -> Result<PathBuf> {
    let looked = data_dir_candidates(explicit);
    looked
        .iter()
        .map(|d| d.join(task.dir_name()).join(task.file_name(split)))
        .find(|p| p.is_file())
        .ok_or_else(|| Error::DataNotFound { task: format!("{} ({})", task.name(), split.name()), looked })
}

/// Loads a split of any task, finding GLUE files through [`locate`].
/// An explicit data directory must exist: it is never silently replaced by the default ones.
fn check_data_dir(data_dir: Option<&Path>) -> Result<()> {
    match data_dir.filter(|d| !d.is_dir()) {
        Some(dir) => Err(Error::io(dir, std::io::Error::new(std::io::ErrorKind::NotFound, "data directory not found"))),
        None => Ok(()),
    }
}

/// Checks that a task's train and dev files can be found (a search checks this before its first
/// trial instead of failing every trial).
pub fn check_data(task: &Task, data_dir: Option<&Path>) -> Result<()> {
    check_data_dir(data_dir)?;
    for split in [Split::Train, Split::Dev] {
        match task {
            Task::Glue(t) => {
                locate(*t, split, data_dir)?;
            }
            Task::Custom(c) => {
                let path = c.path_of(split);
                if !path.is_file() {
                    return Err(Error::io(path, std::io::Error::new(std::io::ErrorKind::NotFound, format!("{} file of task {} not found", split.name(), c.name))));
                }
            }
        }
    }
    Ok(())
}

/// A split's rows; an explicit `data_dir` that does not exist, and a file with no rows after its
/// header, are errors naming the path.
pub fn load_split(task: &Task, split: Split, data_dir: Option<&Path>) -> Result<Vec<Example>> {
    check_data_dir(data_dir)?;
    let (rows, path) = match task {
        Task::Glue(t) => {
            let path = locate(*t, split, data_dir)?;
            (load_glue_file(*t, &path)?, path)
        }
        Task::Custom(c) => (load_custom(c, split)?, c.path_of(split).to_path_buf()),
    };
    if rows.is_empty() {
        return Err(Error::malformed(path, 0, format!("no {} rows (nothing after the header)", split.name())));
    }
    Ok(rows)
}

fn parse_label(kind: &LabelKind, raw: &str, path: &Path, line: usize) -> Result<Label> {
    let raw = raw.trim();
    match kind {
        LabelKind::Regression => {
            raw.parse::<f32>().ok().filter(|v| v.is_finite()).map(Label::Score).ok_or_else(|| Error::malformed(path, line, format!("bad score `{raw}` (expected a number)")))
        }
        LabelKind::Classification { labels } => {
            labels.iter().position(|l| l == raw).map(Label::Class).ok_or_else(|| Error::malformed(path, line, format!("bad label `{raw}` (expected one of {})", labels.join(", "))))
        }
    }
}

/// Reads one official GLUE TSV file.
pub fn load_glue_file(task: GlueTask, path: &Path) -> Result<Vec<Example>> {
    let text = read_utf8(path)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    parse_tsv_rows(text, task.columns(), &task.label_kind(), path)
}

fn parse_tsv_rows(text: &str, cols: Columns, kind: &LabelKind, path: &Path) -> Result<Vec<Example>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        if (cols.header && i == 0) || line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() < cols.min_columns {
            return Err(Error::malformed(path, lineno, format!("expected {} tab-separated columns, found {}", cols.min_columns, fields.len())));
        }
        let label_idx = if cols.label < 0 { fields.len() - cols.label.unsigned_abs() } else { cols.label as usize };
        out.push(Example {
            text_a: fields[cols.text_a].trim().to_string(),
            text_b: cols.text_b.map(|b| fields[b].trim().to_string()),
            label: parse_label(kind, fields[label_idx], path, lineno)?,
        });
    }
    Ok(out)
}

fn load_custom(spec: &CustomTask, split: Split) -> Result<Vec<Example>> {
    let path = spec.path_of(split);
    let kind = spec.label_kind();
    let text = read_utf8(path)?;
    match spec.format_of(path) {
        FileFormat::Jsonl => load_jsonl(&text, spec, &kind, path),
        format => load_delimited(&text, format, spec, &kind, path),
    }
}

fn load_delimited(text: &str, format: FileFormat, spec: &CustomTask, kind: &LabelKind, path: &Path) -> Result<Vec<Example>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader =
        csv::ReaderBuilder::new().delimiter(if format == FileFormat::Csv { b',' } else { b'\t' }).quoting(format == FileFormat::Csv).flexible(true).from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().map_err(|e| Error::malformed(path, 1, e.to_string()))?.iter().map(|h| h.trim().to_string()).collect();
    let column = |name: &str| header.iter().position(|h| h == name).ok_or_else(|| Error::malformed(path, 1, format!("no column `{name}` in header ({})", header.join(", "))));
    let (ia, ib, il) = (column(&spec.text)?, spec.text_pair.as_deref().map(column).transpose()?, column(&spec.label)?);
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| p.line() as usize).unwrap_or(0);
            Error::malformed(path, line, e.to_string())
        })?;
        let line = record.position().map(|p| p.line() as usize).unwrap_or(0);
        let field = |i: usize| record.get(i).ok_or_else(|| Error::malformed(path, line, format!("expected {} columns, found {}", header.len(), record.len())));
        out.push(Example {
            text_a: field(ia)?.trim().to_string(),
            text_b: ib.map(|b| field(b).map(|s| s.trim().to_string())).transpose()?,
            label: parse_label(kind, field(il)?, path, line)?,
        });
    }
    Ok(out)
}

fn load_jsonl(text: &str, spec: &CustomTask, kind: &LabelKind, path: &Path) -> Result<Vec<Example>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(line).map_err(|e| Error::malformed(path, lineno, e.to_string()))?;
        let get = |key: &str| -> Result<String> {
            match value.get(key) {
                Some(serde_json::Value::String(s)) => Ok(s.clone()),
                Some(serde_json::Value::Number(n)) => Ok(n.to_string()),
                Some(serde_json::Value::Bool(b)) => Ok(b.to_string()),
                _ => Err(Error::malformed(path, lineno, format!("missing string field `{key}`"))),
            }
        };
        out.push(Example { text_a: get(&spec.text)?, text_b: spec.text_pair.as_deref().map(get).transpose()?, label: parse_label(kind, &get(&spec.label)?, path, lineno)? });
    }
    Ok(out)
}

/// A seeded random subset of at most `cap` rows (all rows when `cap` is `None`).
pub fn subsample(mut rows: Vec<Example>, cap: Option<usize>, seed: u64) -> Vec<Example> {
    if let Some(cap) = cap.filter(|&c| c < rows.len()) {
        rows.shuffle(&mut StdRng::seed_from_u64(seed));
        rows.truncate(cap);
    }
    rows
}
