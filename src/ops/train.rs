//! One distillation run from a pipeline: what `distiller train` does.

use burn::tensor::Device;
use std::path::PathBuf;

use crate::data::Task;
use crate::distill::{DistillJob, DistillOutcome, distill};
use crate::error::Result;
use crate::pipeline::Pipeline;
use crate::workspace::Workspace;

/// A `distiller train` request.
#[derive(Debug, Clone)]
pub struct TrainRequest {
    pub task: Task,
    pub pipeline: Pipeline,
    /// Teacher checkpoint (default: the workspace's for the task).
    pub teacher: Option<PathBuf>,
    /// Where the student goes (default: the workspace's run folder for the pipeline).
    pub out: Option<PathBuf>,
    /// Read teacher outputs from the cache (`false`: run the teacher on every batch).
    pub use_cache: bool,
    pub data_dir: Option<PathBuf>,
    pub workspace: Workspace,
}

/// Distils the pipeline's student from the task's teacher; `log` hears progress.
pub fn train(request: TrainRequest, device: &Device, log: &mut dyn FnMut(&str)) -> Result<DistillOutcome> {
    let teacher_dir = super::existing_teacher(request.teacher, &request.workspace, &request.task)?;
    let job = DistillJob {
        task: request.task,
        pipeline: request.pipeline,
        teacher_dir,
        data_dir: request.data_dir,
        workspace: request.workspace,
        out_dir: request.out,
        use_cache: request.use_cache,
    };
    let outcome = distill(&job, device, log)?;
    let student = crate::model::BertConfig::from_file(&outcome.student_dir.join(crate::model::checkpoint::CONFIG_FILE))?;
    if let Some(note) = student.classifier_pooling.hf_note() {
        log(&format!("note: {note}"));
    }
    Ok(outcome)
}
