//! Importing the paper's released trials into the store: what `distiller import-trials` does.

use std::path::{Path, PathBuf};

use crate::data::{DatasetMeta, Task};
use crate::error::Result;
use crate::recommend::paper_trials::{self, ImportedStudy, PaperTrial, Skipped};
use crate::store::Storage;

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
    let computed = Task::resolve(task).ok().and_then(|t| DatasetMeta::of_task(&t, data_dir).ok());
    match computed {
        Some(meta) => Some((meta, MetaSource::Data)),
        None => DatasetMeta::glue(task).map(|m| (m, MetaSource::Shipped)),
    }
}

/// What an import stored.
#[derive(Debug, Clone)]
pub struct ImportOutcome {
    /// Rows read (mapped or not).
    pub rows: usize,
    pub studies: Vec<ImportedStudy>,
    /// Per task, where its meta-features came from (`None`: none known).
    pub metas: Vec<(String, Option<MetaSource>)>,
    /// Rows not imported, with the reason.
    pub skipped: Skipped,
}

/// Imports the paper's table (as [`paper_trials::load`] read it) as studies
/// `<prefix>-<task>-<teacher>-<student>` over the paper's space, each with its task's
/// meta-features.
pub fn import_trials(storage: &dyn Storage, table: (Vec<PaperTrial>, Skipped), prefix: &str, data_dir: Option<PathBuf>) -> Result<ImportOutcome> {
    let (trials, mut skipped) = table;
    let rows = trials.len() + skipped.lines.len();
    let mut tasks: Vec<String> = trials.iter().map(|t| t.task.clone()).collect();
    tasks.sort();
    tasks.dedup();
    let found: Vec<(String, Option<(DatasetMeta, MetaSource)>)> = tasks.into_iter().map(|t| (t.clone(), task_meta(&t, data_dir.as_deref()))).collect();
    let meta_of = |task: &str| found.iter().find(|(t, _)| t == task).and_then(|(_, m)| m.as_ref().map(|(meta, _)| meta.clone()));
    let studies = paper_trials::import(storage, &trials, prefix, &meta_of, &mut skipped)?;
    let metas = found.iter().map(|(t, m)| (t.clone(), m.as_ref().map(|(_, source)| *source))).collect();
    Ok(ImportOutcome { rows, studies, metas, skipped })
}
