//! `recommend --candidates FILE`: the pipelines to rank, instead of the whole space. FILE is a
//! CSV in the column layout of the paper's released table (its choice columns are read; score,
//! ratio and any other columns are ignored) or JSONL with one pipeline per line (a pipeline record
//! as `distiller recommend -f json` prints it, whole or in part: a field left out takes its
//! default, as in a pipeline file, or the space's fixed value). Each candidate must be a pipeline of the space: an error names its line and field.

use serde_json::Value;
use std::path::Path;

use super::paper_trials::{CHOICE_COLUMNS, for_each_row, map_choices};
use crate::error::{Error, Result};
use crate::pipeline::Pipeline;
use crate::search::space::{Point, Space};

/// One pipeline to rank.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Its line in the file (a CSV header is line 1).
    pub line: usize,
    pub point: Point,
    pub pipeline: Pipeline,
}

/// Reads a candidates file for `space`: JSONL when the name ends in `.jsonl`/`.json` or the text
/// starts with `{`, else the paper's CSV layout.
pub fn load(path: &Path, space: &Space) -> Result<Vec<Candidate>> {
    let text = crate::data::read_utf8(path)?;
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let jsonl = matches!(extension.as_str(), "jsonl" | "json" | "ndjson") || (extension != "csv" && text.trim_start().starts_with('{'));
    let candidates = if jsonl { from_jsonl(&text, path, space)? } else { from_csv(&text, path, space)? };
    if candidates.is_empty() {
        return Err(Error::malformed(path, 1, "no candidates: the file is empty"));
    }
    Ok(candidates)
}

fn from_csv(text: &str, path: &Path, space: &Space) -> Result<Vec<Candidate>> {
    let mut candidates = Vec::new();
    for_each_row(text, path, &CHOICE_COLUMNS, "a candidates table in the paper's column layout", |line, row| {
        let choices = map_choices(row).map_err(|reason| Error::malformed(path, line, reason))?;
        candidates.push(candidate(&choices.fields(), line, path, space)?);
        Ok(())
    })?;
    Ok(candidates)
}

fn from_jsonl(text: &str, path: &Path, space: &Space) -> Result<Vec<Candidate>> {
    let mut candidates = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(raw).map_err(|e| Error::malformed(path, line, format!("not JSON: {e}")))?;
        if !value.is_object() {
            return Err(Error::malformed(path, line, "expected a pipeline record (a JSON object)"));
        }
        let mut fields = Vec::new();
        flatten("", &value, &mut fields);
        candidates.push(candidate(&fields, line, path, space)?);
    }
    Ok(candidates)
}

/// Nested objects as dotted fields (`{"kd": {"loss": "ce"}}` → `kd.loss`).
fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, Value)>) {
    match value.as_object() {
        Some(map) if !map.is_empty() || prefix.is_empty() => {
            for (key, inner) in map {
                let field = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                flatten(&field, inner, out);
            }
        }
        _ => out.push((prefix.to_string(), value.clone())),
    }
}

fn candidate(fields: &[(String, Value)], line: usize, path: &Path, space: &Space) -> Result<Candidate> {
    let point = space.point_of(fields).map_err(|(field, message)| Error::malformed(path, line, format!("field `{field}`: {message}")))?;
    let pipeline = space.compose(&point).map_err(|e| match e {
        Error::Pipeline { field, message } => Error::malformed(path, line, format!("field `{field}`: {message}")),
        other => Error::malformed(path, line, other.to_string()),
    })?;
    Ok(Candidate { line, point, pipeline })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pipeline_record_as_distiller_writes_it_is_a_candidate() {
        // `best -f json` and `export` write f32 fields at single precision (weight_decay 0.1),
        // which the space composes as 0.10000000149…: the same value.
        let space = Space::builtin_default();
        let pipeline = space.compose(&space.finite_points(usize::MAX).expect("the default space is finite")[0]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        std::fs::write(&path, serde_json::to_string(&pipeline).unwrap()).unwrap();
        let loaded = load(&path, &space).unwrap();
        assert_eq!(loaded[0].pipeline, pipeline);
        // A fixed field the space makes otherwise is still refused, naming it.
        let mut other = serde_json::to_value(&pipeline).unwrap();
        other["train"]["weight_decay"] = serde_json::json!(0.2);
        std::fs::write(&path, other.to_string()).unwrap();
        assert!(load(&path, &space).unwrap_err().to_string().contains("train.weight_decay"));
    }
}
