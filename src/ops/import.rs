//! Importing the paper's released trials into the store: what `distiller import-trials` does.

use std::path::{Path, PathBuf};

use crate::data::{DatasetMeta, MetaSource, Task, task_meta};
use crate::error::Result;
use crate::recommend::paper_trials::{self, ImportedStudy, Skipped};
use crate::workspace::Workspace;

/// A `distiller import-trials` request.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// The paper's released trials (`auto_distiller_tabular_data.csv`).
    pub csv: PathBuf,
    /// Study names are `<prefix>-<task>-<teacher>-<student>`.
    pub prefix: String,
    pub data_dir: Option<PathBuf>,
    pub workspace: Workspace,
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

/// Imports the paper's table as studies `<prefix>-<task>-<teacher>-<student>` over the paper's
/// space, each with its task's meta-features, into the workspace's store.
pub fn import_trials(request: &ImportRequest, log: &mut dyn FnMut(&str)) -> Result<ImportOutcome> {
    let (trials, mut skipped) = paper_trials::load(&request.csv)?;
    let (prefix, data_dir) = (request.prefix.as_str(), &request.data_dir);
    let storage = super::open_store(&request.workspace, log)?;
    let rows = trials.len() + skipped.lines.len();
    let mut tasks: Vec<String> = trials.iter().map(|t| t.task.clone()).collect();
    tasks.sort();
    tasks.dedup();
    let found: Vec<(String, Option<(DatasetMeta, MetaSource)>)> = tasks.into_iter().map(|t| (t.clone(), task_meta(&t, data_dir.as_deref()))).collect();
    let meta_of = |task: &str| found.iter().find(|(t, _)| t == task).and_then(|(_, m)| m.as_ref().map(|(meta, _)| meta.clone()));
    let studies = paper_trials::import(storage.as_ref(), &trials, prefix, &meta_of, &mut skipped)?;
    let metas = found.iter().map(|(t, m)| (t.clone(), m.as_ref().map(|(_, source)| *source))).collect();
    Ok(ImportOutcome { rows, studies, metas, skipped })
}

/// A task's dataset meta-features, computed from its training data: what `distiller meta` prints.
pub fn meta(task: &Task, data_dir: Option<&Path>) -> Result<DatasetMeta> {
    DatasetMeta::of_task(task, data_dir)
}
