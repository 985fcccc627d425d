//! Making sure a task has a teacher: the one given, the workspace's, or a fresh fine-tune.

use burn::tensor::Device;
use std::path::PathBuf;

use crate::data::Task;
use crate::error::{Error, Result};
use crate::model::Pooling;
pub use crate::teacher::{TeacherJob, TeacherReport, train_teacher, tune_teacher};
use crate::workspace::Workspace;

/// Whether `dir` holds a checkpoint (its `config.json`).
fn is_checkpoint(dir: &std::path::Path) -> bool {
    dir.join("config.json").is_file()
}

/// The teacher to distil from: `explicit`, else the workspace's for `task`; an error saying how
/// to make one when there is none.
pub fn existing_teacher(explicit: Option<PathBuf>, workspace: &Workspace, task: &Task) -> Result<PathBuf> {
    let dir = explicit.unwrap_or_else(|| workspace.teacher_dir(&task.name()));
    if is_checkpoint(&dir) {
        Ok(dir)
    } else {
        Err(Error::Usage(format!("no teacher checkpoint at {}: run `distiller teacher --task {}` first or pass --teacher DIR", dir.display(), task.name())))
    }
}

/// The teacher to distil from; when neither `explicit` nor the workspace has one, fine-tunes the
/// pretrained MiniLM on `task` into the workspace first, with the recipe `distiller teacher` uses
/// by default ([`crate::teacher::default_recipe`], epochs adapted to the data), saying so through
/// `log`.
pub fn ensure_teacher(explicit: Option<PathBuf>, workspace: &Workspace, task: &Task, data_dir: Option<PathBuf>, device: &Device, log: &mut dyn FnMut(&str)) -> Result<PathBuf> {
    if explicit.is_some() {
        return existing_teacher(explicit, workspace, task);
    }
    let dir = workspace.teacher_dir(&task.name());
    if is_checkpoint(&dir) {
        return Ok(dir);
    }
    log(&format!("no teacher for {} in {}: fine-tuning one first with `distiller teacher`'s defaults", task.name(), workspace.root().display()));
    let job = TeacherJob {
        task: task.clone(),
        data_dir,
        workspace: workspace.clone(),
        init: None,
        max_train: None,
        max_len: None,
        train: crate::teacher::default_recipe(),
        adaptive: true,
        seeds: 1,
        fresh_pooler: false,
        pooling: Pooling::Cls,
    };
    let outcome = train_teacher(&job, device, log)?;
    log(&format!("teacher ready: {} ({})", outcome.dir.display(), outcome.report.summary()));
    Ok(outcome.dir)
}
