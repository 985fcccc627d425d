//! A task's teacher: fine-tuning one (`distiller teacher`), and making sure a search or a run
//! has one.

use burn::tensor::Device;
use std::path::PathBuf;

use crate::data::Task;
use crate::error::{Error, Result};
use crate::model::Pooling;
use crate::teacher::{TeacherJob, TeacherOutcome, check_tuning, train_teacher, tune_teacher};
use crate::workspace::Workspace;

/// A `distiller teacher` request.
#[derive(Debug, Clone)]
pub struct TeacherRequest {
    pub job: TeacherJob,
    /// Fine-tune this installed encoder ([`crate::model::find_encoder`]) instead of `job.init`.
    pub encoder: Option<String>,
    /// Search the recipe first with this many trials of the study `teacher-<task>` in the
    /// workspace's store, then train on every row with the best ([`tune_teacher`]).
    pub trials: Option<usize>,
}

/// Fine-tunes the task teacher into the workspace (after searching its recipe when asked);
/// `log` hears progress.
pub fn teacher(request: &TeacherRequest, device: &Device, log: &mut dyn FnMut(&str)) -> Result<TeacherOutcome> {
    let mut job = request.job.clone();
    if let Some(name) = &request.encoder {
        job.init = Some(crate::model::find_encoder(name)?);
    }
    let job = &job;
    match request.trials {
        Some(trials) => {
            // Everything that can be checked is checked before the store is opened.
            check_tuning(job, trials)?;
            let storage = super::open_store(&job.workspace, log)?;
            tune_teacher(job, trials, storage.as_ref(), device, log)
        }
        None => train_teacher(job, device, log),
    }
}

/// Whether `dir` holds a checkpoint (its `config.json`).
fn is_checkpoint(dir: &std::path::Path) -> bool {
    dir.join("config.json").is_file()
}

/// The teacher to distil from: `explicit`, else the workspace's for `task`.
pub fn existing_teacher(explicit: Option<PathBuf>, workspace: &Workspace, task: &Task) -> Result<PathBuf> {
    let dir = explicit.unwrap_or_else(|| workspace.teacher_dir(&task.name()));
    if is_checkpoint(&dir) { Ok(dir) } else { Err(Error::NoTeacher { dir, task: task.name() }) }
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
